"""ptyxanes_gui: the PyQt6 desktop application on top of the ptyxanes engine."""
