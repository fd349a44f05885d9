"""Dock panels: widgets only; they emit intent signals and presenters fill them."""
