"""pyqtgraph wrappers used by the panels."""
