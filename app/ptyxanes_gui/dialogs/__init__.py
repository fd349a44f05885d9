"""Modal and non-modal dialogs of the ptyxanes GUI."""

from __future__ import annotations

from ptyxanes_gui.dialogs.import_dialog import ImportDialog, ImportPreview, accept_drop_paths

__all__ = ["ImportDialog", "ImportPreview", "accept_drop_paths"]
