#!/bin/sh
# The `ptyxanes` command: runs the self-contained application in /opt/ptyxanes.
exec /opt/ptyxanes/ptyxanes "$@"
