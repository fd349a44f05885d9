"""Make the project's versions of the paper's Fig. 3a, 3b, 3e and 5 (run from the repository root).

    .venv/bin/python docs/images/make_paper_figures.py [3d] [2d]

3D (Fig. 3a, 3b, 3e) from the paper-scale 3D demo
(:func:`ptyxanes.simulate.demo3d.ensure_paper_demo_3d`, built on first use),
segmented at valence > 3.3 (Fig. 3a overlay) or > 3.1 (Fig. 3b/e, the least
oxidised crystal) with small islands removed; each figure
is one call of :mod:`ptyxanes.figures.paper`. 2D (Fig. 5) from the four-sample
2D demo (:func:`ptyxanes.simulate.demo.ensure_demo`), each sample run through
``ptyxanes pipeline 2d`` (registration and the voxel-wise fit; the projects
are cached beside the demo), then one call of :func:`ptyxanes.figures.fig5_figure`.
Prints the time of every step.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np

from ptyxanes.figures import (
    fig3a_volume,
    fig3b_crystal_slices,
    fig3e_segmented,
    fig5_figure,
    save_figure,
)
from ptyxanes.io.project import load_project
from ptyxanes.progress import run_sync

OUT = Path(__file__).resolve().parent
logger = logging.getLogger("make_paper_figures")


def _timed(what: str, t0: float) -> float:
    t = time.perf_counter()
    logger.info("%s: %.1f s", what, t - t0)
    return t


def figures_3d() -> None:
    from ptyxanes.segment import remove_small_islands, slab_normal, threshold_labels
    from ptyxanes.simulate.demo3d import ensure_paper_demo_3d

    t = time.perf_counter()
    result = ensure_paper_demo_3d()
    t = _timed("paper-scale 3D demo (build or cache)", t)
    pr = load_project(result, lazy=False)
    v = np.asarray(pr.maps["oxidation_state"].data, np.float64)
    vs = float(pr.maps["oxidation_state"].pixel_size)
    crystals = np.asarray(pr.labels["crystals"])
    seg = remove_small_islands(threshold_labels(v, 3.3), 20).astype(bool)
    t = _timed("segmentation", t)

    fig = fig3a_volume(v, vs, labels=seg, title="NMC811, 200 cycles: Ni valence, a quarter removed")
    t = _timed("Fig. 3a render", t)
    save_figure(fig.figure, OUT / "paper_fig3a.png", dpi=150, size_px=(1050, 870), overwrite=True)
    t = _timed("Fig. 3a export", t)

    # Fig. 3b/e: the least oxidised crystal (its >Ni3+ voxels are slabs, not the whole
    # crystal), segmented at valence > 3.1 with islands under 50 voxels removed
    seg_b = remove_small_islands(threshold_labels(v, 3.1), 50).astype(bool)
    means = [np.nanmean(v[crystals == k]) for k in range(1, int(crystals.max()) + 1)]
    best = int(np.argmin(means)) + 1
    seg = seg_b
    normal, _ = slab_normal(seg & (crystals == best))
    fig = fig3b_crystal_slices(v, crystals, best, vs, normal=normal)
    t = _timed("Fig. 3b render", t)
    save_figure(fig.figure, OUT / "paper_fig3b.png", dpi=150, size_px=(900, 750), overwrite=True)
    fig = fig3e_segmented(v, crystals, best, seg, vs)
    t = _timed("Fig. 3e render", t)
    save_figure(fig.figure, OUT / "paper_fig3e.png", dpi=150, size_px=(900, 750), overwrite=True)
    _timed("Fig. 3b/3e export", t)


def figure_5() -> None:
    from ptyxanes.pipeline import PipelineParams, run_pipeline
    from ptyxanes.simulate.demo import DEMO_SAMPLES, ensure_demo

    t = time.perf_counter()
    demo = ensure_demo()
    t = _timed("2D demo (simulate or cache)", t)
    maps, weights = {}, {}
    phase = absorption = None
    px = None
    for name, cycles in DEMO_SAMPLES.items():
        out = demo / name / "fig5_project.h5"
        if not out.exists():
            refs = demo / name / "references"
            params = PipelineParams(references=((2.0, str(refs / "Ni2_NiO.xdi")),
                                                (3.0, str(refs / "Ni3_LiNiO2.xdi"))))
            run_sync(run_pipeline("2d", demo / name / "stack.nxs", out, params))
            t = _timed(f"pipeline 2d {name}", t)
        pr = load_project(out, lazy=False)
        label = "pristine" if cycles == 0 else f"{cycles} cycles"
        maps[label] = np.asarray(pr.maps["oxidation_state"].data, float)
        weights[label] = np.asarray(pr.maps["edge_jump"].data, float)
        px = float(pr.maps["oxidation_state"].pixel_size)
        if cycles == 0:
            st = pr.stacks["aligned"]
            e = np.asarray(st.energy)
            i = int(np.argmin(np.abs(e - 8400.0)))
            img = np.asarray(st.data[i])
            phase, absorption = np.angle(img), -np.log(np.abs(img))
    fig = fig5_figure(maps, px, detail="pristine", phase=phase, absorption=absorption,
                      weights=weights, title="NMC811 single crystals: Ni valence against cycling")
    t = _timed("Fig. 5 render", t)
    save_figure(fig, OUT / "paper_fig5.png", dpi=150, size_px=(1500, 800), overwrite=True)
    _timed("Fig. 5 export", t)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("ptyxanes", "numba", "matplotlib"):
        logging.getLogger(name).setLevel(logging.WARNING)
    which = sys.argv[1:] or ["3d", "2d"]
    if "3d" in which:
        figures_3d()
    if "2d" in which:
        figure_5()
