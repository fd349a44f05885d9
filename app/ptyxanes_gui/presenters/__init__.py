"""Presenters: wire panels to the engine and own the background workers."""
