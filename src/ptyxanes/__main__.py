"""``python -m ptyxanes``: the headless command line (everything but ``gui``)."""

from ptyxanes.cli import main

raise SystemExit(main())
