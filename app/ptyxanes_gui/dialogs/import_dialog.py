"""File ▸ Import…: preview any readable input, then load it as one ImageStack.

The dialog takes a file or folder (picked, typed, or dropped on it), reads it
off the GUI thread with :func:`ptyxanes.io.formats.iter_open_stack` (the dialog
asks by ``read_requested``; :class:`ptyxanes_gui.presenters.data_presenter.ImportReader`
runs :func:`preview_job` or :func:`load_job` in a worker and hands the progress and
the result back) and shows what would be loaded — format, shape, values, pixel size (nm), angles, and an
editable table of the energies (eV). *Load* reads it again in a worker with a
progress bar, time left and a working *Cancel*; the result is emitted as
:attr:`ImportDialog.stack_loaded` and kept as :meth:`ImportDialog.result`.

Bad input never raises: the message area names the file, the format tried and
what is wrong. Nothing is written anywhere; the dialog keeps no settings.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from qtpy.QtCore import QMimeData, Qt, Signal
from qtpy.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ptyxanes.io.errors import FormatError
from ptyxanes.io.stack import ImageStack
from ptyxanes.progress import Cancelled, Control, Progress

logger = logging.getLogger(__name__)

AUTO = "auto"


# ======================================================================== helpers
def accept_drop_paths(mime: QMimeData | None) -> list[Path]:
    """The existing local files and folders carried by a drag-and-drop payload.

    Parameters
    ----------
    mime : QMimeData or None
        ``event.mimeData()`` of a drag-enter or drop event.

    Returns
    -------
    paths : list of Path
        Local paths that exist, in the dropped order, without duplicates; empty
        when the payload holds no local file (e.g. text or a web link).
    """
    if mime is None or not mime.hasUrls():
        return []
    out: list[Path] = []
    for url in mime.urls():
        if not url.isLocalFile():
            continue
        p = Path(url.toLocalFile())
        if p.exists() and p not in out:
            out.append(p)
    return out


def stack_formats() -> list[str]:
    """Names of the registry's formats that read into an image stack (not raw scans)."""
    from ptyxanes.io.formats import FORMATS

    return [f.name for f in FORMATS if not f.raw]


def _range_text(values: NDArray[np.float64], unit: str, fmt: str = ".3f") -> str:
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return "none"
    if np.allclose(a, a.flat[0]):
        return f"{a.flat[0]:{fmt}} {unit}"
    return f"{a.min():{fmt}}–{a.max():{fmt}} {unit}"


def _time_text(seconds: float) -> str:
    if not np.isfinite(seconds):
        return ""
    s = int(round(seconds))
    if s < 60:
        return f"about {s} s left"
    return f"about {s // 60} min {s % 60:02d} s left"


def _energy_text(value: float) -> str:
    return f"{value:.3f}"


def _gui_words(problem: str) -> str:
    """Turn the engine's command-line hints into the dialog's controls."""
    return (problem.replace("--energies FILE", "an energies file (Load energies from file…)")
            .replace("--i0 FILE", "an I0 file")
            .replace("--angles FILE", "an angles file"))


# ======================================================================== worker side
@dataclass(frozen=True)
class ImportRequest:
    """What to read, as chosen in the dialog.

    Parameters
    ----------
    sources : tuple of Path
        Files and/or folders.
    format : str or None
        Forced format name, or None to detect it.
    energies_file, angles_file, i0_file : Path or None
        Optional lists (energies in eV or keV, angles in deg, I0 as energy/counts).
    lazy : bool
        Keep a NeXus stack's data on disk (h5py) instead of reading it into memory.
    """

    sources: tuple[Path, ...]
    format: str | None = None
    energies_file: Path | None = None
    angles_file: Path | None = None
    i0_file: Path | None = None
    lazy: bool = False


@dataclass(frozen=True)
class ImportPreview:
    """What a source would load as (all from the files, before any edit).

    Parameters
    ----------
    sources : tuple of Path
        The sources read.
    format : str
        Registry name of the format read (``"a+b"`` for mixed folders).
    shape : tuple of int
        Shape of the stack's data, e.g. (E, M, N).
    dims : tuple of str
        Axis names.
    kind : str
        ``"complex"``, ``"modulus"`` or ``"absorption"``.
    quantity : str
        What the values are, when the reader says (e.g. optical density).
    energy : ndarray of shape (E,)
        Energies, eV.
    pixel_size : ndarray of shape (E,)
        Pixel sizes, m.
    pixel_size_known : bool
        False when the file stores no pixel size (a default was used).
    angle : ndarray of shape (A,) or None
        Rotation angles of a tilt series, deg.
    angle_deg : float or None
        The single rotation angle of a 2D stack, deg, when stored.
    n_files : int
        Number of files the stack is read from.
    regridded : bool
        True when objects of different shapes were rescaled onto one grid.
    """

    sources: tuple[Path, ...]
    format: str
    shape: tuple[int, ...]
    dims: tuple[str, ...]
    kind: str
    quantity: str
    energy: NDArray[np.float64]
    pixel_size: NDArray[np.float64]
    pixel_size_known: bool
    angle: NDArray[np.float64] | None
    angle_deg: float | None
    n_files: int
    regridded: bool

    @classmethod
    def from_stack(cls, stack: ImageStack, sources: Sequence[Path]) -> ImportPreview:
        """Summarise a freshly read stack."""
        attrs = stack.attrs
        angle_deg = attrs.get("angle_deg")
        return cls(
            sources=tuple(sources),
            format=str(attrs.get("format", "?")),
            shape=tuple(int(n) for n in stack.data.shape),
            dims=tuple(stack.dims),
            kind=str(stack.kind),
            quantity=str(attrs.get("quantity", "")),
            energy=np.asarray(stack.energy, dtype=np.float64).copy(),
            pixel_size=np.asarray(stack.pixel_size, dtype=np.float64).copy(),
            pixel_size_known=bool(attrs.get("pixel_size_known", True)),
            angle=None if stack.angle is None else np.asarray(stack.angle, np.float64).copy(),
            angle_deg=None if angle_deg is None else float(angle_deg),
            n_files=len(attrs.get("sources", sources)),
            regridded=bool(attrs.get("regridded")),
        )

    @property
    def shape_text(self) -> str:
        """Shape with axis names, e.g. ``123 energies × 125 × 125 px``."""
        rest = " × ".join(str(n) for n in self.shape[1:])
        extra = {"angle": " (angles × rows × cols)", "plane": " (planes × rows × cols)"}
        return f"{self.shape[0]} energies × {rest} px" + extra.get(
            self.dims[1] if len(self.dims) == 4 else "", "")

    @property
    def pixel_text(self) -> str:
        """Pixel size in nm (a range when it changes with energy)."""
        text = _range_text(self.pixel_size * 1e9, "nm", ".2f")
        return text if self.pixel_size_known else text + " (not stored in the file)"

    @property
    def angles_text(self) -> str:
        """Rotation angles in deg, or ``none``."""
        if self.angle is not None:
            return f"{self.angle.size}, {_range_text(self.angle, 'deg', '.2f')}"
        if self.angle_deg is not None:
            return f"{self.angle_deg:g} deg (one angle)"
        return "none"

    @property
    def values_text(self) -> str:
        """What the values are."""
        return f"{self.kind}" + (f": {self.quantity}" if self.quantity else "")


class ImportProblem(Exception):
    """A source that cannot be read, in words for the message area.

    Parameters
    ----------
    path : str
        The offending file or folder.
    format : str
        The format tried.
    problem : str
        What is missing or wrong.
    """

    def __init__(self, path: str, format: str, problem: str) -> None:
        self.path, self.format, self.problem = str(path), format, problem
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """Three plain lines: the file, the format tried, the problem."""
        return (f"Could not read {self.path}\nFormat tried: {self.format}\n"
                f"Problem: {_gui_words(self.problem)}")


def _format_tried(request: ImportRequest) -> str:
    from ptyxanes.io.formats import detect_format

    if request.format:
        return f"{request.format} (chosen)"
    names = []
    for s in request.sources:
        try:
            names.append(detect_format(s))
        except (FormatError, OSError):
            return "auto-detect: no format recognised"
    return "+".join(dict.fromkeys(names))


def _checked(gen: Generator[Progress, None, Any], control: Control
             ) -> Generator[Progress, None, Any]:
    """Forward a generator's progress, checking ``control`` before every step."""
    try:
        while True:
            control.check()
            try:
                p = next(gen)
            except StopIteration as stop:
                return stop.value
            yield p
    finally:
        gen.close()


def _plain(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _open(request: ImportRequest, control: Control, lazy: bool
          ) -> Generator[Progress, None, ImageStack]:
    from ptyxanes.io.formats import iter_open_stack

    fmt = _format_tried(request)
    try:
        gen = iter_open_stack(
            list(request.sources), energies=request.energies_file, angles=request.angles_file,
            i0=request.i0_file, format=request.format, lazy=lazy, control=control)
        return (yield from _checked(gen, control))
    except Cancelled:
        raise
    except FormatError as exc:
        raise ImportProblem(exc.path, fmt, exc.problem + _subfolder_hint(Path(exc.path))) from None
    except Exception as exc:  # any reader failure becomes a message, never a traceback
        logger.debug("reading %s failed", request.sources, exc_info=True)
        raise ImportProblem(str(request.sources[0]), fmt, _plain(exc)) from None


def _subfolder_hint(path: Path, limit: int = 50) -> str:
    """Name the readable folders inside an unreadable one (e.g. a dataset's top folder)."""
    from ptyxanes.io.formats import find_format

    if not path.is_dir():
        return ""
    found = []
    try:
        subs = sorted(q for q in path.iterdir() if q.is_dir() and not q.name.startswith("."))
    except OSError:
        return ""
    for q in subs[:limit]:
        f = find_format(q)
        if f is not None and not f.raw:
            found.append(f"{q.name} ({f.name})")
    if not found:
        return ""
    return f". It holds readable folders: {', '.join(found)}; choose one of them"


def _close(stack: ImageStack) -> None:
    f = getattr(stack.data, "file", None)
    if f is not None:
        f.close()


def preview_job(request: ImportRequest, control: Control
                ) -> Generator[Progress, None, ImportPreview]:
    """Read a source to describe it (worker thread).

    Yields
    ------
    progress : Progress

    Returns
    -------
    preview : ImportPreview

    Raises
    ------
    ImportProblem
        Unreadable input.
    Cancelled
        When ``control`` is cancelled.
    """
    stack = yield from _open(request, control, lazy=True)
    try:
        return ImportPreview.from_stack(stack, request.sources)
    finally:
        _close(stack)


def load_job(request: ImportRequest, energies: NDArray[np.float64] | None, control: Control
             ) -> Generator[Progress, None, ImageStack]:
    """Read a source into the stack the GUI uses (worker thread).

    Parameters
    ----------
    request : ImportRequest
    energies : ndarray of shape (E,) or None
        Energies (eV) that replace the file's, row for row of the stack.
    control : Control

    Returns
    -------
    stack : ImageStack
        ``attrs["energies_edited"]`` is True when ``energies`` changed them.

    Raises
    ------
    ImportProblem
        Unreadable input, or ``energies`` of the wrong length.
    Cancelled
        When ``control`` is cancelled.
    """
    stack = yield from _open(request, control, lazy=request.lazy)
    if energies is not None:
        e = np.asarray(energies, dtype=np.float64)
        if e.size != stack.n_energies:
            _close(stack)
            raise ImportProblem(str(request.sources[0]), str(stack.attrs.get("format", "?")),
                                f"{e.size} energies in the table for {stack.n_energies} images")
        if not np.array_equal(e, stack.energy):
            stack = dataclasses.replace(stack, energy=e,
                                        attrs={**stack.attrs, "energies_edited": True})
    control.check()
    return stack


# ======================================================================== the dialog
class ImportDialog(QDialog):
    """Preview a file or folder of any readable format and load it as an ImageStack.

    Parameters
    ----------
    parent : QWidget, optional
    start_dir : path-like, optional
        Folder the file pickers open in (default: the current folder).
    source : path-like or sequence of path-like, optional
        Preview this at once (only when something answers ``read_requested``, which
        can connect only later: better :meth:`set_sources` once a reader is attached).
    lazy : bool, optional
        Keep NeXus stacks on disk (h5py) instead of reading them into memory.

    Signals
    -------
    preview_ready(ImportPreview)
        A preview was read and shown.
    stack_loaded(ImageStack)
        *Load* succeeded (then the dialog is accepted).
    failed(str)
        Preview or load failed; the message shown.
    load_cancelled()
        *Cancel* stopped a load; no stack.
    progress_changed(float)
        Fraction done of the running read, in [0, 1].
    read_requested(int, str, ImportRequest, ndarray or None, Control)
        A read to run in a worker: job number, ``"preview"`` (:func:`preview_job`) or
        ``"load"`` (:func:`load_job`, with the edited energies), the request and its
        control; the reader answers with :meth:`job_progress`, :meth:`job_returned`
        and :meth:`job_failed`.
    """

    preview_ready = Signal(object)
    stack_loaded = Signal(object)
    failed = Signal(str)
    load_cancelled = Signal()
    progress_changed = Signal(float)
    read_requested = Signal(int, str, object, object, object)

    def __init__(self, parent: QWidget | None = None, *, start_dir: str | Path | None = None,
                 source: str | Path | Sequence[str | Path] | None = None,
                 lazy: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import data")
        self.setAcceptDrops(True)
        self._start_dir = str(Path(start_dir) if start_dir else Path.cwd())
        self._lazy = lazy
        self._sources: tuple[Path, ...] = ()
        self._energies_file: Path | None = None
        self._preview: ImportPreview | None = None
        self._stack: ImageStack | None = None
        self._control: Control | None = None
        self._job = 0  # generation of the running job; results of older jobs are dropped
        self._job_kind = ""  # "preview" | "load" | ""
        self._t0 = 0.0
        self._filling = False
        self._build()
        self._update_enabled()
        if source is not None:
            self.set_sources([source] if isinstance(source, str | Path) else list(source))

    # ---------------------------------------------------------------- layout
    def _build(self) -> None:
        outer = QVBoxLayout(self)

        src_box = QGroupBox("Source (file or folder; or drop it here)")
        src_row = QHBoxLayout(src_box)
        self.source_edit = QLineEdit()
        self.source_edit.setPlaceholderText("a file or folder of any readable format")
        self.source_edit.editingFinished.connect(self._on_source_edit_finished)
        self.source_edit.setAcceptDrops(False)  # a dropped file goes to the dialog
        self.file_button = QPushButton("File…")
        self.file_button.clicked.connect(self._on_file_button_clicked)
        self.folder_button = QPushButton("Folder…")
        self.folder_button.clicked.connect(self._on_folder_button_clicked)
        src_row.addWidget(self.source_edit, 1)
        src_row.addWidget(self.file_button)
        src_row.addWidget(self.folder_button)
        outer.addWidget(src_box)

        middle = QHBoxLayout()
        left = QVBoxLayout()
        opt_box = QGroupBox("Options")
        opt = QFormLayout(opt_box)
        self.format_combo = QComboBox()
        self.format_combo.addItems([AUTO, *stack_formats()])
        self.format_combo.setToolTip("auto: detect the format from the content")
        self.format_combo.currentTextChanged.connect(self._on_option_changed)
        opt.addRow("Format", self.format_combo)
        self.i0_edit, i0_row = self._file_row("I0 file (STXM; default i0.xsp)")
        opt.addRow("I0", i0_row)
        self.angles_edit, angles_row = self._file_row("angles file, deg (tilt series)")
        opt.addRow("Angles", angles_row)
        left.addWidget(opt_box)

        prev_box = QGroupBox("Preview")
        prev = QFormLayout(prev_box)
        self.format_label = QLabel("–")
        self.shape_label = QLabel("–")
        self.values_label = QLabel("–")
        self.pixel_label = QLabel("–")
        self.angles_label = QLabel("–")
        self.energy_range_label = QLabel("–")
        for name, w in (("Format", self.format_label), ("Shape", self.shape_label),
                        ("Values", self.values_label), ("Pixel size", self.pixel_label),
                        ("Energies", self.energy_range_label), ("Angles", self.angles_label)):
            w.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            w.setWordWrap(True)
            prev.addRow(name, w)
        left.addWidget(prev_box, 1)
        middle.addLayout(left, 3)

        e_box = QGroupBox("Energies (eV, editable)")
        e_lay = QVBoxLayout(e_box)
        self.energy_table = QTableWidget(0, 1)
        self.energy_table.setHorizontalHeaderLabels(["Energy (eV)"])
        self.energy_table.horizontalHeader().setStretchLastSection(True)
        self.energy_table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.energy_table.itemChanged.connect(self._on_energy_item_changed)
        e_lay.addWidget(self.energy_table, 1)
        e_buttons = QHBoxLayout()
        self.energies_button = QPushButton("Load energies from file…")
        self.energies_button.clicked.connect(self._on_energies_button_clicked)
        self.reset_energies_button = QPushButton("Reset")
        self.reset_energies_button.setToolTip("the energies read from the files")
        self.reset_energies_button.clicked.connect(self._on_reset_energies_clicked)
        e_buttons.addWidget(self.energies_button)
        e_buttons.addWidget(self.reset_energies_button)
        e_lay.addLayout(e_buttons)
        self.energies_file_label = QLabel("")
        self.energies_file_label.setWordWrap(True)
        e_lay.addWidget(self.energies_file_label)
        middle.addWidget(e_box, 2)
        outer.addLayout(middle, 1)

        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        self.message_label.setTextFormat(Qt.TextFormat.PlainText)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.setMinimumHeight(48)
        self.message_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        outer.addWidget(self.message_label)

        bottom = QHBoxLayout()
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.time_label = QLabel("")
        self.time_label.setMinimumWidth(150)
        self.load_button = QPushButton("Load")
        self.load_button.setDefault(True)
        self.load_button.clicked.connect(self.load)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        bottom.addWidget(self.progress_bar, 1)
        bottom.addWidget(self.time_label)
        bottom.addWidget(self.load_button)
        bottom.addWidget(self.cancel_button)
        bottom.addWidget(self.close_button)
        outer.addLayout(bottom)
        self.resize(900, 600)

    def _file_row(self, placeholder: str) -> tuple[QLineEdit, QWidget]:
        row = QWidget()
        lay = QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        edit = QLineEdit()
        edit.setPlaceholderText(placeholder)
        edit.setAcceptDrops(False)
        edit.editingFinished.connect(self._on_option_changed)
        browse = QPushButton("…")
        browse.setFixedWidth(32)
        browse.clicked.connect(lambda: self._browse_into(edit, placeholder))
        lay.addWidget(edit, 1)
        lay.addWidget(browse)
        return edit, row

    # ---------------------------------------------------------------- public API
    def result(self) -> ImageStack | None:  # type: ignore[override]
        """The loaded stack, or None before a successful *Load*.

        (The dialog code is what ``exec()`` returns.)
        """
        return self._stack

    def preview(self) -> ImportPreview | None:
        """The current preview, or None."""
        return self._preview

    def message(self) -> str:
        """The text of the message area."""
        return self.message_label.text()

    def is_busy(self) -> bool:
        """True while a preview or a load runs."""
        return bool(self._job_kind)

    def set_sources(self, paths: Sequence[str | Path]) -> None:
        """Preview these files/folders (replaces the current source)."""
        self._sources = tuple(Path(p) for p in paths)
        self.source_edit.setText(" ; ".join(str(p) for p in self._sources))
        self._energies_file = None
        self.energies_file_label.setText("")
        self._start_preview()

    def set_format(self, name: str) -> None:
        """Force a format (a registry name) or ``"auto"``; re-reads the preview."""
        self.format_combo.setCurrentText(name)

    def set_energies_file(self, path: str | Path | None) -> None:
        """Use an energy list (eV, or keV when all < 100; one per image or file)."""
        self._energies_file = Path(path) if path else None
        self.energies_file_label.setText(
            f"energies from {self._energies_file.name}" if self._energies_file else "")
        self._start_preview()

    def energies(self) -> NDArray[np.float64] | None:
        """The energies in the table (eV).

        Raises
        ------
        ValueError
            A cell that is not a finite number, or energies not strictly increasing.
        """
        n = self.energy_table.rowCount()
        if n == 0:
            return None
        out = np.empty(n)
        for i in range(n):
            item = self.energy_table.item(i, 0)
            text = item.text().strip() if item is not None else ""
            exact = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
            if exact is not None and text == _energy_text(exact):
                out[i] = float(exact)  # unedited: keep the file's value to the last digit
                continue
            try:
                out[i] = float(text)
            except ValueError:
                raise ValueError(f"energy row {i + 1}: {text!r} is not a number") from None
            if not np.isfinite(out[i]) or out[i] <= 0:
                raise ValueError(f"energy row {i + 1}: {text} eV is not a positive energy")
        d = np.diff(out)
        if np.any(d <= 0):
            i = int(np.argmax(d <= 0))
            raise ValueError(f"energies are not strictly increasing (row {i + 2}: "
                             f"{out[i + 1]:g} eV after {out[i]:g} eV)")
        return out

    def set_energies(self, values: Sequence[float] | NDArray[np.float64]) -> None:
        """Fill the energy table (eV)."""
        self._filling = True
        try:
            vals = list(np.asarray(values, dtype=np.float64).ravel())
            self.energy_table.setRowCount(len(vals))
            for i, v in enumerate(vals):
                item = QTableWidgetItem(_energy_text(v))
                item.setData(Qt.ItemDataRole.UserRole, float(v))  # exact value behind the text
                self.energy_table.setItem(i, 0, item)
        finally:
            self._filling = False

    def load(self) -> None:
        """Read the source in a worker (progress, time left, Cancel); see ``stack_loaded``."""
        if self._preview is None or self.is_busy():
            return
        try:
            table = self.energies()
        except ValueError as exc:
            self._show_message(f"Energies: {exc}", error=True)
            self.failed.emit(self.message())
            return
        energies = None
        if table is not None and not np.array_equal(table, self._preview.energy):
            energies = table
        self._stack = None
        self._start("load", energies)

    def cancel(self) -> None:
        """Stop the running preview or load (the worker stops at its next step)."""
        if self._control is not None:
            self._control.cancel()
        self.cancel_button.setEnabled(False)

    # ---------------------------------------------------------------- drag and drop
    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if accept_drop_paths(event.mimeData()) and self._job_kind != "load":
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = accept_drop_paths(event.mimeData())
        if paths and self._job_kind != "load":
            event.acceptProposedAction()
            self.set_sources(paths)

    def done(self, code: int) -> None:  # closing stops any read
        if self._control is not None:
            self._control.cancel()
        self._job += 1  # what a stopping read still reports is dropped, widgets untouched
        self._idle()
        super().done(code)

    # ---------------------------------------------------------------- slots
    def _on_source_edit_finished(self) -> None:
        text = self.source_edit.text().strip()
        paths = tuple(Path(t.strip()) for t in text.split(" ; ") if t.strip())
        if paths and paths != self._sources:
            self.set_sources(paths)

    def _on_file_button_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a file", self._start_dir)
        if path:
            self.set_sources([path])

    def _on_folder_button_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Import a folder", self._start_dir)
        if path:
            self.set_sources([path])

    def _browse_into(self, edit: QLineEdit, title: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, title, self._start_dir)
        if path:
            edit.setText(path)
            self._on_option_changed()

    def _on_energies_button_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Energies (eV, one per image or file)", self._start_dir,
            "Text (*.txt *.dat *.csv);;All files (*)")
        if path:
            self.set_energies_file(path)

    def _on_reset_energies_clicked(self) -> None:
        if self._preview is not None:
            self.set_energies(self._preview.energy)

    def _on_energy_item_changed(self, _item: QTableWidgetItem) -> None:
        if self._filling:
            return
        try:
            self.energies()
        except ValueError as exc:
            self._show_message(f"Energies: {exc}", error=True)
        else:
            self._show_message("Energies edited: they replace the files' energies on Load.")

    def _on_option_changed(self, *_: Any) -> None:
        if self._sources:
            self._start_preview()

    # ---------------------------------------------------------------- jobs
    def _request(self) -> ImportRequest:
        fmt = self.format_combo.currentText()
        i0 = self.i0_edit.text().strip()
        angles = self.angles_edit.text().strip()
        return ImportRequest(
            sources=self._sources, format=None if fmt == AUTO else fmt,
            energies_file=self._energies_file, angles_file=Path(angles) if angles else None,
            i0_file=Path(i0) if i0 else None, lazy=self._lazy)

    def _start_preview(self) -> None:
        if self._job_kind == "load":
            return
        self._preview = None
        self._clear_preview()
        if not self._sources:
            return
        self._show_message("Reading the preview…")
        self._start("preview")

    def _start(self, kind: str, energies: NDArray[np.float64] | None = None) -> None:
        if self._control is not None:
            self._control.cancel()  # a stale preview stops at its next step
        self._job += 1
        job = self._job
        self._control = control = Control()
        self._job_kind = kind
        self._t0 = time.monotonic()
        self.progress_bar.setValue(0)
        self.time_label.setText("")
        self._update_enabled()
        self.read_requested.emit(job, kind, self._request(), energies, control)

    def job_progress(self, job: int, p: Progress) -> None:
        """Progress of read ``job`` (an older job's is ignored)."""
        if job != self._job:
            return
        f = p.fraction
        self.progress_bar.setValue(int(round(f * 1000)))
        elapsed = time.monotonic() - self._t0
        left = elapsed * (1 - f) / f if f > 0 else float("nan")
        self.time_label.setText(_time_text(left) if elapsed > 0.5 and f < 1 else "")
        self.progress_changed.emit(f)

    def job_returned(self, job: int, result: Any) -> None:
        """Read ``job`` finished: its :class:`ImportPreview` or stack (an older job's is
        closed and dropped)."""
        if job != self._job:
            if isinstance(result, ImageStack):
                _close(result)
            return
        kind = self._job_kind
        self._idle()
        if isinstance(result, BaseException):  # superqt returns RuntimeErrors
            self.job_failed(job, result, idle=True)
            return
        if kind == "preview":
            self._show_preview(result)
        else:
            self._stack = result
            self._show_message(f"Loaded {result.n_energies} energies, "
                               f"{' × '.join(str(n) for n in result.data.shape[1:])} px.")
            self.stack_loaded.emit(result)
            self.accept()

    def job_failed(self, job: int, exc: BaseException, idle: bool = False) -> None:
        """Read ``job`` failed or was cancelled: the message area says so."""
        if job != self._job:
            return
        kind = self._job_kind
        if not idle:
            self._idle()
        if isinstance(exc, Cancelled):
            if kind == "load":
                self._show_message("Load cancelled; nothing was loaded.")
                self.load_cancelled.emit()
            else:
                self._show_message("Preview cancelled.")
            return
        if isinstance(exc, ImportProblem):
            text = exc.message
        else:  # not expected: the jobs wrap every failure; still no traceback
            logger.debug("import failed", exc_info=exc)
            text = f"Could not read {' ; '.join(map(str, self._sources))}\nProblem: {_plain(exc)}"
        logger.warning("%s", text.replace("\n", "; "))
        self._show_message(text, error=True)
        self.failed.emit(text)

    def _idle(self) -> None:
        self._job_kind = ""
        self._control = None
        self.time_label.setText("")
        self._update_enabled()

    # ---------------------------------------------------------------- display
    def _clear_preview(self) -> None:
        for w in (self.format_label, self.shape_label, self.values_label, self.pixel_label,
                  self.angles_label, self.energy_range_label):
            w.setText("–")
        self.set_energies([])

    def _show_preview(self, pv: ImportPreview) -> None:
        self._preview = pv
        from ptyxanes.io.formats import FORMATS

        desc = {f.name: f.description for f in FORMATS}
        names = pv.format.split("+")
        text = pv.format + "".join(f" — {desc[n]}" for n in names[:1] if n in desc)
        if pv.n_files > 1:
            text += f" ({pv.n_files} files)"
        self.format_label.setText(text)
        self.shape_label.setText(pv.shape_text + (" (rescaled onto one grid)"
                                                  if pv.regridded else ""))
        self.values_label.setText(pv.values_text)
        self.pixel_label.setText(pv.pixel_text)
        self.energy_range_label.setText(
            f"{pv.energy.size}, {_range_text(pv.energy, 'eV')}")
        self.angles_label.setText(pv.angles_text)
        self.set_energies(pv.energy)
        self.progress_bar.setValue(1000)
        self._show_message("Check the preview, edit energies if needed, then Load.")
        self._update_enabled()
        self.preview_ready.emit(pv)

    def _show_message(self, text: str, error: bool = False) -> None:
        self.message_label.setStyleSheet("color: #b00020;" if error else "")
        self.message_label.setText(text)

    def _update_enabled(self) -> None:
        busy = bool(self._job_kind)
        loading = self._job_kind == "load"
        self.load_button.setEnabled(self._preview is not None and not busy)
        self.cancel_button.setEnabled(busy)
        for w in (self.source_edit, self.file_button, self.folder_button, self.format_combo,
                  self.i0_edit, self.angles_edit, self.energies_button,
                  self.reset_energies_button, self.energy_table):
            w.setEnabled(not loading)
