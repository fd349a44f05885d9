"""A pyqtgraph image canvas in physical units with colour bar, scale bar, ROIs and overlays."""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from qtpy.QtCore import QPointF, Qt, Signal

from ptyxanes_gui.viewers.colormaps import grey_colormap

logger = logging.getLogger(__name__)

#: the histogram's highlight (green: the segmentation's >Ni3+ labels are magenta)
HIGHLIGHT_RGBA = (40, 220, 40, 170)
MASK_RGBA = (255, 255, 255, 90)


def nice_length(span: float) -> float:
    """A 1-2-5 length close to a fifth of ``span`` (same units)."""
    if not np.isfinite(span) or span <= 0:
        return 1.0
    target = span / 5.0
    exp = np.floor(np.log10(target))
    for m in (5.0, 2.0, 1.0):
        if m * 10**exp <= target:
            return float(m * 10**exp)
    return float(10**exp)


class ImageViewer(pg.GraphicsLayoutWidget):
    """Image in metres (1 image pixel = ``pixel_size``), with colour bar and scale bar.

    Signals
    -------
    pixel_hovered(int, int) : row, col under the cursor (-1, -1 outside)
    pixel_clicked(int, int) : row, col clicked
    levels_changed(float, float) : colour limits dragged on the colour bar
    roi_changed() : an ROI was drawn, moved or removed
    """

    pixel_hovered = Signal(int, int)
    pixel_clicked = Signal(int, int)
    levels_changed = Signal(float, float)
    roi_changed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.view = self.addViewBox(row=0, col=0, lockAspect=True, invertY=True,
                                    enableMenu=False)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.mask_item = pg.ImageItem(axisOrder="row-major")
        self.highlight_item = pg.ImageItem(axisOrder="row-major")
        self.brush_item = pg.ImageItem(axisOrder="row-major")
        lut = np.array([[0, 0, 0, 0], [0, 220, 255, 150]], np.uint8)
        self.brush_item.setLookupTable(lut)
        for z, item in enumerate((self.image_item, self.mask_item, self.highlight_item,
                                  self.brush_item)):
            item.setZValue(z)
            self.view.addItem(item)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=grey_colormap(), width=18,
                                        interactive=True, rounding=0.01)
        self.colorbar.setImageItem(self.image_item)
        self.colorbar.axis.enableAutoSIPrefix(False)
        self.addItem(self.colorbar, row=0, col=1)
        self.colorbar.sigLevelsChangeFinished.connect(self._on_colorbar_levels_changed)
        # a white bar with a black outline and black text on a white box: readable on the
        # black end of a colormap as on white
        self.scale_bar = pg.ScaleBar(size=1e-6, suffix="m", brush=pg.mkBrush("w"),
                                     pen=pg.mkPen("k", width=1))
        self.scale_bar.text.setColor("k")
        self.scale_bar.text.fill = pg.mkBrush(255, 255, 255, 200)
        self.scale_bar.setParentItem(self.view)
        self.scale_bar.anchor((1, 1), (1, 1), offset=(-20, -20))
        self.pixel_size = 1.0
        self.shape: tuple[int, int] = (0, 0)
        self.rois: list[pg.ROI] = []
        self._poly_points: list[QPointF] | None = None
        self._poly_preview: pg.PlotDataItem | None = None
        # a cross on the pixel the spectrum panel shows
        self.marker = pg.ScatterPlotItem(size=13, symbol="+", pen=pg.mkPen("#ffffff", width=3),
                                         brush=None)
        self.marker_inner = pg.ScatterPlotItem(size=11, symbol="+",
                                               pen=pg.mkPen("#000000", width=1), brush=None)
        for z, item in ((10, self.marker), (11, self.marker_inner)):
            item.setZValue(z)
            self.view.addItem(item)
        self.marked: tuple[int, int] | None = None
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_mouse_clicked)

    # ------------------------------------------------------------------ image
    def set_image(self, image: NDArray, pixel_size: float, levels: tuple[float, float],
                  colormap: pg.ColorMap, label: str) -> None:
        """Show an (M, N) image with ``pixel_size`` m per pixel."""
        new_geometry = image.shape != self.shape or pixel_size != self.pixel_size
        self.shape = image.shape
        self.pixel_size = float(pixel_size) if pixel_size > 0 else 1.0
        self.colorbar.setColorMap(colormap)
        self.image_item.setImage(np.asarray(image, np.float32), autoLevels=False, levels=levels)
        self.colorbar.setLevels(levels)
        self.colorbar.axis.setLabel(label)
        rect = (0.0, 0.0, image.shape[1] * self.pixel_size, image.shape[0] * self.pixel_size)
        if new_geometry or self.brush_item.image is None:
            self.brush_item.setImage(np.zeros(image.shape, np.float32), levels=(0, 1))
        for item in (self.image_item, self.mask_item, self.highlight_item, self.brush_item):
            item.setRect(*rect)
        if new_geometry:
            self.view.autoRange(padding=0.02)
            width = image.shape[1] * self.pixel_size
            self.scale_bar.size = nice_length(width)
            self.scale_bar.text.setText(pg.siFormat(self.scale_bar.size, suffix="m"))
            self.scale_bar.updateBar()

    def set_levels(self, levels: tuple[float, float]) -> None:
        self.image_item.setLevels(levels)
        self.colorbar.setLevels(levels)

    def _on_colorbar_levels_changed(self) -> None:
        lo, hi = self.colorbar.levels()
        self.levels_changed.emit(float(lo), float(hi))

    def set_overlay(self, which: str, mask: NDArray[np.bool_] | None) -> None:
        """Draw a boolean mask as a translucent overlay (``"highlight"`` or ``"mask"``)."""
        item = self.highlight_item if which == "highlight" else self.mask_item
        if mask is None or mask.shape != self.shape:
            item.clear()
            item.setVisible(False)
            return
        rgba = np.zeros(mask.shape + (4,), np.uint8)
        rgba[mask] = HIGHLIGHT_RGBA if which == "highlight" else MASK_RGBA
        item.setImage(rgba, autoLevels=False, levels=(0, 255))
        item.setRect(0.0, 0.0, self.shape[1] * self.pixel_size, self.shape[0] * self.pixel_size)
        item.setVisible(True)

    def set_marker(self, row: int | None, col: int | None = None) -> None:
        """Mark pixel (row, col) with a cross; ``None`` removes the mark."""
        if row is None or col is None:
            self.marked = None
            self.marker.setData([], [])
            self.marker_inner.setData([], [])
            return
        self.marked = (int(row), int(col))
        x, y = (col + 0.5) * self.pixel_size, (row + 0.5) * self.pixel_size
        self.marker.setData([x], [y])
        self.marker_inner.setData([x], [y])

    # ------------------------------------------------------------------ mouse
    def pixel_at(self, scene_pos: QPointF) -> tuple[int, int]:
        p = self.view.mapSceneToView(scene_pos)
        row = int(np.floor(p.y() / self.pixel_size))
        col = int(np.floor(p.x() / self.pixel_size))
        if 0 <= row < self.shape[0] and 0 <= col < self.shape[1]:
            return row, col
        return -1, -1

    def scene_pos_of_pixel(self, row: int, col: int) -> QPointF:
        """Scene position of a pixel's centre (for tests and scripted clicks)."""
        return self.view.mapViewToScene(
            QPointF((col + 0.5) * self.pixel_size, (row + 0.5) * self.pixel_size))

    def _on_mouse_moved(self, pos: QPointF) -> None:
        self.pixel_hovered.emit(*self.pixel_at(pos))
        if self._poly_points:
            p = self.view.mapSceneToView(pos)
            pts = self._poly_points + [p]
            self._poly_preview.setData([q.x() for q in pts], [q.y() for q in pts])

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if self._poly_points is not None:
            p = self.view.mapSceneToView(event.scenePos())
            if event.double() and len(self._poly_points) >= 3:
                self._finish_polygon()
            else:
                self._poly_points.append(p)
            return
        row, col = self.pixel_at(event.scenePos())
        if row >= 0:
            self.pixel_clicked.emit(row, col)

    # ------------------------------------------------------------------ ROIs
    def add_rect_roi(self, row0: int | None = None, col0: int | None = None,
                     rows: int | None = None, cols: int | None = None) -> pg.ROI:
        """Add a rectangle ROI (default: the middle third of the image)."""
        m, n = self.shape
        row0 = m // 3 if row0 is None else row0
        col0 = n // 3 if col0 is None else col0
        rows = max(1, m // 3) if rows is None else rows
        cols = max(1, n // 3) if cols is None else cols
        ps = self.pixel_size
        roi = pg.RectROI((col0 * ps, row0 * ps), (cols * ps, rows * ps), pen=pg.mkPen("c", width=2))
        return self._add_roi(roi)

    def start_polygon(self) -> None:
        """Start drawing a polygon: click vertices, double-click to close."""
        self._poly_points = []
        if self._poly_preview is None:
            self._poly_preview = pg.PlotDataItem(pen=pg.mkPen("c", width=2, style=Qt.PenStyle.DashLine))
            self._poly_preview.setZValue(10)
            self.view.addItem(self._poly_preview)
        self._poly_preview.setData([], [])

    def add_polygon_roi(self, points_rc: list[tuple[float, float]]) -> pg.ROI:
        """Add a closed polygon ROI from (row, col) vertices in pixels."""
        ps = self.pixel_size
        roi = pg.PolyLineROI([(c * ps, r * ps) for r, c in points_rc], closed=True,
                             pen=pg.mkPen("c", width=2))
        return self._add_roi(roi)

    def _finish_polygon(self) -> None:
        pts = self._poly_points or []
        self._poly_points = None
        self._poly_preview.setData([], [])
        ps = self.pixel_size
        self.add_polygon_roi([(p.y() / ps, p.x() / ps) for p in pts])

    def _add_roi(self, roi: pg.ROI) -> pg.ROI:
        roi.setZValue(20)
        self.view.addItem(roi)
        self.rois.append(roi)
        roi.sigRegionChangeFinished.connect(lambda *_: self.roi_changed.emit())
        self.roi_changed.emit()
        return roi

    def set_brush(self, on: bool, radius: int = 1) -> None:
        """Paint an ROI with the mouse (drag or click) while ``on``."""
        if on:
            k = 2 * radius + 1
            rr, cc = np.mgrid[:k, :k] - radius
            kernel = (rr**2 + cc**2 <= radius**2 + 0.5).astype(np.float32)
            self.brush_item.setDrawKernel(kernel, mask=None, center=(radius, radius), mode="set")
        else:
            self.brush_item.setDrawKernel(None)
            self.roi_changed.emit()

    def brush_mask(self) -> NDArray[np.bool_] | None:
        img = self.brush_item.image
        return None if img is None or not np.any(img > 0) else np.asarray(img > 0)

    def paint_brush(self, row: int, col: int) -> None:
        """Paint one brush dab at a pixel (what a mouse click does in brush mode)."""
        self.brush_item.image[row, col] = 1.0
        self.brush_item.updateImage()

    def clear_rois(self) -> None:
        for roi in self.rois:
            self.view.removeItem(roi)
        self.rois.clear()
        if self.brush_item.image is not None:
            self.brush_item.setImage(np.zeros(self.shape, np.float32), levels=(0, 1))
        self.roi_changed.emit()

    def roi_mask(self) -> NDArray[np.bool_] | None:
        """Union of all ROIs as a boolean (M, N) mask of pixel centres inside; None if none."""
        brush = self.brush_mask()
        if not self.rois:
            return brush
        from matplotlib.path import Path as MplPath

        m, n = self.shape
        rr, cc = np.mgrid[0:m, 0:n]
        centres = np.column_stack([(cc.ravel() + 0.5), (rr.ravel() + 0.5)])
        mask = np.zeros(m * n, bool)
        for roi in self.rois:
            if isinstance(roi, pg.PolyLineROI):
                local = [h.pos() for h in roi.getHandles()]
            else:
                s = roi.size()
                local = [QPointF(0, 0), QPointF(s.x(), 0), QPointF(s.x(), s.y()), QPointF(0, s.y())]
            pts = [roi.mapToParent(p) for p in local]
            verts = np.array([(p.x() / self.pixel_size, p.y() / self.pixel_size) for p in pts])
            mask |= MplPath(verts).contains_points(centres)
        mask = mask.reshape(m, n)
        return mask | brush if brush is not None and brush.shape == mask.shape else mask
