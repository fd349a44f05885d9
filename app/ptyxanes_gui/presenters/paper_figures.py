"""The paper's figures (Fig. 3a, 3b, 3e, 5) and the spectral exploration from the open samples.

The window gathers what a figure needs on the GUI thread (:func:`figure_input`,
which raises a readable ``ValueError`` when the data are missing), then a
worker builds and writes it (:func:`write_figure`) with the engine's
:mod:`ptyxanes.figures.paper` and :func:`ptyxanes.figures.save_figure`. The
exploration (:func:`explore_job`) is a generator for a worker as well.
Nothing here imports Qt.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ptyxanes.progress import Control, Progress

logger = logging.getLogger(__name__)

#: kind -> (menu text, default file name, needs a 3D sample)
PAPER_FIGURES: dict[str, tuple[str, str, bool]] = {
    "fig3a": ("Figure 3a: valence volume with a quarter cut", "fig3a_volume.png", True),
    "fig3b": ("Figure 3b: crystal with three slices", "fig3b_crystal.png", True),
    "fig3e": ("Figure 3e: segmented region in the crystal", "fig3e_segmented.png", True),
    "fig5": ("Figure 5: samples side by side with histogram", "fig5_samples.png", False),
}


@dataclass(frozen=True)
class FigureInput:
    """Everything a paper figure needs, copied from the document (GUI thread).

    Parameters
    ----------
    kind : str
        A key of :data:`PAPER_FIGURES`.
    title : str
    clim : tuple of float
        Valence colour limits.
    valence : ndarray of shape (P, M, N), optional
        The 3D sample's valence volume (3D figures).
    voxel_size : float
        m.
    crystal_labels : ndarray of int, optional
        Crystals of the volume (0 outside); labelled in the worker when None.
    crystal : int
        Crystal of Fig. 3b/3e (0: the largest).
    segmented : ndarray of bool, optional
        >Ni³⁺ voxels (Fig. 3a overlay, Fig. 3e).
    camera : str
        Camera preset.
    maps : dict of str to ndarray
        Valence maps of the 2D samples (Fig. 5), in document order.
    weights : dict of str to ndarray
        Edge-jump maps of those samples (histogram weights).
    pixel_size : float
        m (Fig. 5).
    detail : str, optional
        The sample whose phase and −ln|T| are drawn (Fig. 5).
    phase, absorption : ndarray, optional
        Of ``detail`` at the shown energy.
    """

    kind: str
    title: str
    clim: tuple[float, float]
    valence: NDArray[Any] | None = None
    voxel_size: float = 0.0
    crystal_labels: NDArray[Any] | None = None
    crystal: int = 0
    segmented: NDArray[Any] | None = None
    camera: str = "isometric"
    maps: dict[str, NDArray[Any]] = field(default_factory=dict)
    weights: dict[str, NDArray[Any]] = field(default_factory=dict)
    pixel_size: float = 0.0
    detail: str | None = None
    phase: NDArray[Any] | None = None
    absorption: NDArray[Any] | None = None


def volume_sample(samples: Sequence[Any], current: Any | None) -> Any:
    """The 3D sample a 3D figure shows: the current one when it has a volume, else the first.

    Raises
    ------
    ValueError
        No sample has a valence volume.
    """
    if current is not None and current.volume is not None:
        return current
    for s in samples:
        if s.volume is not None:
            return s
    raise ValueError("no 3D result is open: open a project with a valence volume "
                     "(or the demo) and fit its volumes first")


def figure_input(kind: str, samples: Sequence[Any], current: Any | None, *,
                 clim: tuple[float, float], crystal_labels: NDArray[Any] | None = None,
                 crystal: int = 0, segmented: NDArray[Any] | None = None,
                 camera: str = "isometric", energy_index: int = 0) -> FigureInput:
    """What figure ``kind`` draws from the open samples.

    Parameters
    ----------
    kind : str
        ``"fig3a"``, ``"fig3b"``, ``"fig3e"`` or ``"fig5"``.
    samples : sequence of Sample
    current : Sample or None
    clim : tuple of float
        Valence colour limits.
    crystal_labels, crystal, segmented, camera
        What the 3D view shows now (see :class:`FigureInput`); the sample's own
        ``labels["crystals"]`` / ``labels["high_ox"]`` otherwise.
    energy_index : int, optional
        Energy of the phase and −ln|T| panels of Fig. 5.

    Raises
    ------
    ValueError
        Unknown kind, or the data the figure needs are not there (the message says
        what to run).
    """
    if kind not in PAPER_FIGURES:
        raise ValueError(f"unknown figure {kind!r}; choose one of {sorted(PAPER_FIGURES)}")
    if kind == "fig5":
        two_d = [s for s in samples if s.volume is None and "valence" in s.maps
                 and np.ndim(s.maps["valence"]) == 2]
        if not two_d:
            raise ValueError("no 2D valence map yet: run Process ▸ Fit XANES of all samples")
        maps = {s.name: np.asarray(s.maps["valence"], float) for s in two_d}
        weights = {s.name: np.asarray(s.maps["edge_jump"], float) for s in two_d
                   if "edge_jump" in s.maps}
        detail = current if current in two_d else two_d[0]
        phase = absorption = None
        st = detail.stack
        if st is not None and np.shape(st.data)[1:] == np.shape(detail.maps["valence"]):
            i = int(np.clip(energy_index, 0, st.n_energies - 1))
            img = np.asarray(st.data[i])
            if np.iscomplexobj(img):
                phase = np.angle(img).astype(np.float32)
                absorption = (-np.log(np.maximum(np.abs(img), 1e-12))).astype(np.float32)
            elif st.kind == "absorption":
                absorption = img.astype(np.float32)
            else:
                absorption = (-np.log(np.maximum(img, 1e-12))).astype(np.float32)
        return FigureInput(kind, "Ni valence of every sample", tuple(clim), maps=maps,
                           weights=weights, pixel_size=float(detail.pixel_size),
                           detail=detail.name, phase=phase, absorption=absorption)
    s = volume_sample(samples, current)
    v = np.asarray(s.volume)
    if crystal_labels is None or np.shape(crystal_labels) != v.shape:
        crystal_labels = s.labels.get("crystals")
        if crystal_labels is not None and np.shape(crystal_labels) != v.shape:
            crystal_labels = None
    if segmented is None or np.shape(segmented) != v.shape:
        segmented = s.labels.get("high_ox")
        if segmented is not None and np.shape(segmented) != v.shape:
            segmented = None
    if kind == "fig3e" and (segmented is None or not np.any(segmented)):
        raise ValueError(f"{s.name} has no >Ni³⁺ segmentation yet: run Process ▸ Segment "
                         "(or draw labels in the Segmentation panel) first")
    return FigureInput(kind, s.name, tuple(clim), valence=v,
                       voxel_size=float(s.voxel_size or s.pixel_size),
                       crystal_labels=None if crystal_labels is None else np.asarray(crystal_labels),
                       crystal=int(crystal),
                       segmented=None if segmented is None else np.asarray(segmented) > 0,
                       camera=camera)


def _crystals(inp: FigureInput) -> tuple[NDArray[np.int32], int]:
    """Crystal labels (labelled here when missing) and the crystal to show."""
    labels = inp.crystal_labels
    if labels is None:
        from ptyxanes.segment import label_crystals

        labels = label_crystals(np.isfinite(inp.valence), method="components")
    labels = np.asarray(labels, np.int32)
    crystal = inp.crystal
    if crystal <= 0:
        counts = np.bincount(labels.ravel())
        counts[0] = 0
        if inp.kind == "fig3e" and inp.segmented is not None:
            seg_counts = np.bincount(labels[inp.segmented].ravel(), minlength=counts.size)
            seg_counts[0] = 0
            if seg_counts.any():
                counts = seg_counts
        if not counts.any():
            raise ValueError("the volume has no crystal (no voxel with a valence)")
        crystal = int(np.argmax(counts))
    return labels, crystal


def build_figure(inp: FigureInput):
    """The matplotlib figure of ``inp`` (worker thread: Agg canvas, no Qt)."""
    from ptyxanes.figures import paper

    if inp.kind == "fig5":
        return paper.fig5_figure(inp.maps, inp.pixel_size, detail=inp.detail, phase=inp.phase,
                                 absorption=inp.absorption, weights=inp.weights or None,
                                 clim=inp.clim, title=inp.title)
    if inp.kind == "fig3a":
        return paper.fig3a_volume(inp.valence, inp.voxel_size, camera=inp.camera,
                                  labels=inp.segmented, clim=inp.clim,
                                  title=f"{inp.title}: Ni valence, one quarter removed").figure
    labels, crystal = _crystals(inp)
    if inp.kind == "fig3b":
        return paper.fig3b_crystal_slices(inp.valence, labels, crystal, inp.voxel_size,
                                          camera=inp.camera, clim=inp.clim).figure
    return paper.fig3e_segmented(inp.valence, labels, crystal, inp.segmented, inp.voxel_size,
                                 camera=inp.camera).figure


def write_figure(inp: FigureInput, path: str | Path, *, dpi: float = 300,
                 size_px: tuple[int, int] | None = None) -> Path:
    """Build figure ``inp`` and save it (PNG/TIFF at ``size_px`` and ``dpi``, SVG, PDF).

    Returns
    -------
    path : Path
        The written file (replaced if it existed: the user chose it in a save dialog).
    """
    from ptyxanes.figures import save_figure

    fig = build_figure(inp)
    return save_figure(fig, path, dpi, overwrite=True, size_px=size_px)


# ----------------------------------------------------------------------------- exploration
@dataclass(frozen=True)
class ExploreResult:
    """PCA score maps and k-means cluster map of one sample.

    Parameters
    ----------
    scores : ndarray of shape (M, N, K)
        PCA scores, NaN outside the sample mask.
    clusters : ndarray of int32, shape (M, N)
        0 outside the mask, 1..C the cluster.
    explained : ndarray of shape (K,)
        Explained variance ratio of each component.
    n_spectra : int
        Spectra inside the mask.
    """

    scores: NDArray[np.float32]
    clusters: NDArray[np.int32]
    explained: NDArray[np.float64]
    n_spectra: int


def explore_job(energy: NDArray[np.floating], data: Any, kind: str, n_components: int = 4,
                n_clusters: int = 3, seed: int = 0, control: Control | None = None
                ) -> Generator[Progress, None, ExploreResult]:
    """Normalised spectra, PCA and k-means of an (E, M, N) stack (generator for a worker).

    Parameters
    ----------
    energy : ndarray of shape (E,)
        eV.
    data : ndarray of shape (E, M, N)
    kind : str
        The stack's kind (``"complex"``, ``"modulus"``, ``"absorption"``).
    n_components, n_clusters : int
    seed : int
        k-means seed (the result is reproducible).
    control : Control, optional

    Raises
    ------
    ValueError
        Too few energies or spectra (from :mod:`ptyxanes.explore`).
    """
    from ptyxanes.explore import kmeans_gen, normalized_spectra, pca_gen
    from ptyxanes.xanes.edges import edge_for_energies

    yield Progress(0, 3, "normalising spectra", "explore")
    e = np.asarray(energy, float)
    sd = normalized_spectra(e, np.asarray(data), kind=kind, energy_axis=0,
                            edge=edge_for_energies(e))
    if control is not None:
        control.check()
    p = yield from pca_gen(sd, n_components, control=control)
    c = yield from kmeans_gen(p, n_clusters, spectra=sd.mu, seed=seed, control=control)
    return ExploreResult(np.asarray(p.scores, np.float32), np.asarray(c.labels, np.int32),
                         np.asarray(p.explained_variance_ratio, float), int(sd.mask.sum()))
