"""Data panel: the open datasets and their samples as a tree."""

from __future__ import annotations

import logging

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

logger = logging.getLogger(__name__)


class DataPanel(QWidget):
    """Tree of datasets (files/folders) → samples.

    Signals
    -------
    sample_selected(int) : index of the sample in the window's sample list
    """

    sample_selected = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("data_panel")
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Sample", "Shape", "Energies"])
        self.tree.setRootIsDecorated(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.tree)
        self.tree.currentItemChanged.connect(self._on_current_item_changed)

    def add_dataset(self, title: str, samples: list[tuple[int, str, str, str]]) -> None:
        """Add a dataset node with (index, name, shape, energies) sample rows."""
        top = QTreeWidgetItem([title, "", ""])
        top.setToolTip(0, title)
        for index, name, shape, energies in samples:
            child = QTreeWidgetItem([name, shape, energies])
            child.setData(0, Qt.ItemDataRole.UserRole, index)
            top.addChild(child)
        self.tree.addTopLevelItem(top)
        top.setExpanded(True)
        for c in range(3):
            self.tree.resizeColumnToContents(c)

    def update_sample(self, index: int, shape: str, energies: str) -> None:
        """Refresh the shape and energies columns of sample ``index`` (after a stage)."""
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            for j in range(top.childCount()):
                child = top.child(j)
                if child.data(0, Qt.ItemDataRole.UserRole) == index:
                    child.setText(1, shape)
                    child.setText(2, energies)

    def clear(self) -> None:
        self.tree.clear()

    def select(self, index: int) -> None:
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            for j in range(top.childCount()):
                if top.child(j).data(0, Qt.ItemDataRole.UserRole) == index:
                    self.tree.setCurrentItem(top.child(j))
                    return

    def _on_current_item_changed(self, item, _prev) -> None:
        if item is None:
            return
        index = item.data(0, Qt.ItemDataRole.UserRole)
        if index is None and item.childCount():
            index = item.child(0).data(0, Qt.ItemDataRole.UserRole)
        if index is not None:
            self.sample_selected.emit(int(index))
