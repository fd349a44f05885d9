"""The main window's actions, menus and toolbar, and which actions apply to the current
sample (with the reason as tooltip when one does not)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from qtpy.QtGui import QAction, QKeySequence

from ptyxanes_gui.presenters import stage_jobs

logger = logging.getLogger(__name__)


def _action(window: Any, text: str, slot, shortcut=None, tip: str = "") -> QAction:
    a = QAction(text, window)
    if shortcut is not None:
        a.setShortcut(QKeySequence(shortcut))
    if tip:
        a.setToolTip(tip)
        a.setStatusTip(tip)
    a.triggered.connect(lambda _checked=False: slot())
    return a


def build_actions(window: Any) -> None:
    """Create the window's actions (``window.act_<name>``), each calling a presenter."""
    S = QKeySequence.StandardKey
    d, ex, fig, run = window.data, window.export, window.figures, window.run_stage
    for name, text, slot, key, tip in (
        ("open", "&Open…", d.open_dialog, S.Open,
         "Open a NeXus stack, a result/project file or a folder"),
        ("import", "&Import…", d.import_dialog, "Ctrl+I",
         "Preview any readable stack (NeXus, TIFF series, STXM, HDF5 …), check its "
         "energies and load it as a new sample"),
        ("open_folder", "Open &folder…", d.open_folder_dialog, None,
         "Open every stack file in a folder as samples"),
        ("demo", "Open &demo dataset", d.open_demo, None,
         "The built-in simulated NMC811 dataset (4 samples)"),
        ("open_scans", "Open &scans (CXI folder)…", d.open_scans_dialog, None,
         "A folder of CXI ptychography scans, one per energy: reconstruct it in the "
         "Processing panel"),
        ("demo_scans", "Open demo s&cans", d.open_demo_scans, None,
         "Simulated raw ptychography scans (tiny NMC811 twin, 18 energies) to reconstruct"),
        ("save", "&Save project", d.save_project, S.Save,
         "Save every sample with its stacks, maps, registration, labels and tables in "
         "one project file"),
        ("save_as", "Save project &as…", lambda: d.save_project(ask=True), S.SaveAs,
         "Save the project under a new name"),
        ("export_fig", "Export &figure…", ex.export_figure_dialog, "Ctrl+E",
         "Image with colour bar and scale bar: PNG/TIFF (chosen DPI), SVG, PDF"),
        ("export_samples", "Export all samples' &valence maps…",
         ex.export_samples_figure_dialog, None,
         "Valence maps of every sample side by side, shared colour limits"),
        ("export_spec", "Export &spectrum CSV…", ex.export_spectrum_dialog, None,
         "The curves in the Spectrum panel as CSV"),
        ("export_hist", "Export &histogram CSV…", ex.export_histogram_dialog, None,
         "The histograms in the Histogram panel as CSV"),
        ("export_3d", "Export &3D view…", window.volume.export_view, None,
         "Screenshot of the napari 3D view at a chosen size (PNG/TIFF)"),
        ("export_movie", "Export rotating 3D &movie…", fig.export_movie_dialog, None,
         "The 3D view turning 360° as an animated GIF (MP4 with imageio-ffmpeg)"),
        ("explore", "&Explore spectra (PCA, clusters)…", window.explore.explore_dialog, None,
         "Principal components and k-means clusters of the current sample's normalised "
         "spectra, shown as result channels (click a cluster to highlight its pixels)"),
        ("quit", "&Quit", window.close, S.Quit, ""),
        ("undo", "&Undo", window.undo, S.Undo, ""),
        ("redo", "&Redo", window.redo, S.Redo, ""),
        ("reset", "&Reset layout", window.reset_layout, None,
         "Put every panel back where it started"),
        ("3d", "&3D volume", window.show_volume_dock, None,
         "The valence volume in napari (3D results only)"),
        ("fit", "&Fit XANES (current sample)", lambda: run("fit"), "Ctrl+R", ""),
        ("fit_all", "Fit XANES of &all samples",
         lambda: window.processing.fit_all(window.samples), None,
         "Fit every open sample, one after the other"),
        ("register", "&Register energies (current sample)", lambda: run("register"),
         None, ""),
        ("reconstruct", "Re&construct scans (current sample)", lambda: run("reconstruct"),
         None, "Ptychography of every energy of the sample's CXI scans, with a live "
               "preview"),
        ("tomo", "&Tomography (current sample)", lambda: run("tomo"), None,
         "Align and reconstruct the tilt series of every energy into volumes (SIRT)"),
        ("segment", "&Segment >Ni³⁺ and crystals (current sample)", lambda: run("segment"),
         None, "Threshold the valence (map or volume), remove small islands, label the "
               "crystals and tabulate their >Ni³⁺ fraction, mean valence and slab normal"),
        ("cancel", "&Cancel all", window.processing.cancel_all, "Esc", ""),
        ("about", "&About ptyxanes", window.show_about, None, ""),
        ("docs", "&Documentation", window.open_docs, None, ""),
    ):
        setattr(window, f"act_{name}", _action(window, text, slot, key, tip))
    window.act_undo.setEnabled(False)
    window.act_redo.setEnabled(False)
    window.act_reconstruct.setIconText("Reconstruct")  # short toolbar labels
    window.act_tomo.setIconText("Tomography")
    from ptyxanes_gui.presenters.paper_figures import PAPER_FIGURES

    window.act_paper: dict[str, QAction] = {}
    for kind, (text, _default, three_d) in PAPER_FIGURES.items():
        window.act_paper[kind] = _action(window,
            text, lambda k=kind: fig.paper_figure_dialog(k), None,
            ("From the 3D sample (current, else the first): " if three_d else
             "From every 2D sample's valence map: ")
            + "PNG/TIFF at a chosen size and DPI, SVG, PDF")


def build_menus(window: Any) -> None:
    """File, Edit, View, Process and Help."""
    mb = window.menuBar()
    f = mb.addMenu("&File")
    for a in (window.act_open, window.act_import, window.act_open_folder, window.act_open_scans,
              window.act_demo, window.act_demo_scans):
        f.addAction(a)
    window.recent_menu = f.addMenu("Open &recent")
    f.addSeparator()
    for a in (window.act_save, window.act_save_as):
        f.addAction(a)
    f.addSeparator()
    exp = f.addMenu("E&xport")
    for a in (window.act_export_fig, window.act_export_samples, window.act_export_spec,
              window.act_export_hist, window.act_export_3d, window.act_export_movie):
        exp.addAction(a)
    exp.addSeparator()
    for a in window.act_paper.values():
        exp.addAction(a)
    f.addSeparator()
    f.addAction(window.act_quit)
    f.setToolTipsVisible(True)
    exp.setToolTipsVisible(True)
    e = mb.addMenu("&Edit")
    e.addAction(window.act_undo)
    e.addAction(window.act_redo)
    v = mb.addMenu("&View")
    window.view_menu = v
    for key in window.docks:
        v.addAction(window.docks[key].toggleViewAction())
    v.addAction(window.act_3d)
    v.addSeparator()
    v.addAction(window.act_reset)
    v.setToolTipsVisible(True)
    p = mb.addMenu("&Process")
    for a in (window.act_reconstruct, window.act_register, window.act_tomo, window.act_fit,
              window.act_fit_all, window.act_segment, window.act_cancel):
        p.addAction(a)
    p.insertAction(window.act_cancel, window.act_explore)
    p.setToolTipsVisible(True)
    h = mb.addMenu("&Help")
    h.addAction(window.act_docs)
    h.addAction(window.act_about)
    window._refresh_recent_menu()


def build_toolbar(window: Any) -> None:
    """The main toolbar: open, demo, save, export and the stages."""
    tb = window.addToolBar("Main")
    tb.setObjectName("toolbar_main")
    for a in (window.act_open, window.act_demo, window.act_save, window.act_export_fig):
        tb.addAction(a)
    tb.addSeparator()
    for a in (window.act_reconstruct, window.act_register, window.act_tomo, window.act_fit,
              window.act_cancel):
        tb.addAction(a)


def update_actions(window: Any) -> None:
    """Enable what applies to the current sample, with the reason as tooltip otherwise."""
    sample = window.current_sample()
    for action, stage in ((window.act_fit, "fit"), (window.act_register, "register"),
                          (window.act_reconstruct, "reconstruct"), (window.act_tomo, "tomo"),
                          (window.act_segment, "segment")):
        reason = stage_jobs.stage_input_problem(stage, sample)
        action.setEnabled(reason is None)
        action.setToolTip(reason or action.text().replace("&", ""))
        action.setStatusTip(reason or "")
    has_data = bool(window.samples)
    for a in (window.act_save, window.act_save_as, window.act_fit_all):
        a.setEnabled(has_data)
        a.setToolTip("" if has_data else "open a dataset first")
    any_3d = any(s.volume is not None for s in window.samples)
    window.act_3d.setEnabled(any_3d)
    has_3d = window.volume.panel is not None and window.volume.shown_volume is not None
    window.act_export_3d.setEnabled(has_3d)
    window.act_export_3d.setToolTip("" if has_3d else "open a 3D result first (the 3D dock)")
    any_2d = any(s.volume is None and "valence" in s.maps for s in window.samples)
    for kind, act in window.act_paper.items():
        act.setEnabled(any_2d if kind == "fig5" else any_3d)
    window.act_export_movie.setEnabled(any_3d)
    window.act_export_movie.setToolTip("" if any_3d else "open a 3D result first")
    explore_ok = sample is not None and sample.stack is not None and \
        np.ndim(sample.stack.data) == 3
    window.act_explore.setEnabled(explore_ok)
    window.act_explore.setToolTip("" if explore_ok else "the current sample has no energy stack")
    if not any_3d:
        window.act_3d.setToolTip("no 3D result is open (open a project with a valence volume)")
