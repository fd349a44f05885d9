# ruff: noqa: T201 - a benchmark script prints its numbers
"""Benchmark: all-slices SIRT (ptyxanes CPU path) vs a loop of ASTRA's 2D CPU SIRT over slices.

1. Phantom: 200 SIRT iterations on a 128^3 phantom with 181 projections over
   180 degrees, both with non-negativity and the same 'linear' projector model.
   ptyxanes runs with both CPU projectors (ASTRA's stored sparse matrix and
   the matrix-free one); ASTRA's 2D CPU SIRT is timed on a subset of slices
   (``--astra-slices``) and scaled linearly to all 128 slices (its cost per
   slice does not depend on the slice).
2. The real TomoPy tooth (../shared/data/tomo_tomopy_tooth: 181 angles, 2 rows,
   640 columns, flat/dark normalised): ptyxanes SIRT of both 640^2 slices at
   the rotation centre found from the data, against ASTRA's 2D CPU SIRT run on
   each slice in turn, interleaved ``--repeats`` times; min and median times
   and their ratio, and the largest difference of the two results.

TomoPy is not benchmarked: it is distributed through conda-forge only and does
not install with pip. Run:

    .venv/bin/python benchmarks/tomo.py [--astra-slices 8] [--size 128] [--skip-phantom]
        [--tooth-iterations 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from ptyxanes.backend import astra_has_cuda
from ptyxanes.progress import run_sync
from ptyxanes.tomo import center_projections, find_rotation_center, parallel_projector, sirt
from ptyxanes.tomo.projector import FEW_SLICES

TOOTH = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tomo_tomopy_tooth" / "tooth.h5"


def phantom(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p, r, c = np.ogrid[:n, :n, :n]
    vol = np.zeros((n, n, n), np.float32)
    for _ in range(30):
        ctr = rng.uniform(0.3 * n, 0.7 * n, 3)
        rad = rng.uniform(0.04 * n, 0.12 * n)
        vol += (((p - ctr[0]) ** 2 + (r - ctr[1]) ** 2 + (c - ctr[2]) ** 2) < rad**2) * rng.uniform(
            0.3, 1
        )
    return ndimage.gaussian_filter(vol, 0.8).astype(np.float32)


def astra_sirt_slices(
    proj: np.ndarray, angles: np.ndarray, rows: list[int], iterations: int
) -> np.ndarray:
    import astra

    n = proj.shape[2]
    vg = astra.create_vol_geom(n, n)
    pg = astra.create_proj_geom("parallel", 1.0, n, np.deg2rad(angles))
    pid = astra.create_projector("linear", pg, vg)
    out = []
    try:
        for r in rows:
            sid = astra.data2d.create("-sino", pg, proj[:, r, :])
            rid = astra.data2d.create("-vol", vg, 0.0)
            cfg = astra.astra_dict("SIRT")
            cfg.update(ProjectorId=pid, ProjectionDataId=sid, ReconstructionDataId=rid)
            cfg["option"] = {"MinConstraint": 0.0}
            aid = astra.algorithm.create(cfg)
            try:
                astra.algorithm.run(aid, iterations)
                out.append(astra.data2d.get(rid))
            finally:
                astra.algorithm.delete(aid)
                astra.data2d.delete([sid, rid])
    finally:
        astra.projector.delete(pid)
    return np.stack(out, axis=1)  # (plane, subset rows, col)


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def tooth(iterations: int, repeats: int) -> None:
    """The real tooth: ptyxanes all-slices SIRT vs ASTRA's 2D SIRT per slice, interleaved."""
    from ptyxanes.io.dxchange import read_dxchange

    if not TOOTH.exists():
        print(f"tooth: {TOOTH} not found; skipped")
        return
    st = read_dxchange(TOOTH)
    proj = 2 * st.data[0]  # ∫μ dl = −ln T
    angles = st.angle
    c = find_rotation_center(proj, angles)
    centred = center_projections(proj, c)  # padded: the axis at the centre, nothing cut
    rows = list(range(proj.shape[1]))
    print(
        f"\ntooth: {proj.shape[0]} angles x {proj.shape[1]} rows x {proj.shape[2]} columns, "
        f"centre {c:.2f} px (found; padded to {centred.shape[2]} columns around it), "
        f"{iterations} SIRT iterations, non-negative"
    )
    t_ours, t_astra, c_ours, c_astra = [], [], [], []
    rec = ref = None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        rec = run_sync(sirt(centred, angles, iterations=iterations, backend="cpu"))
        t_ours.append(time.perf_counter() - t0)
        c_ours.append(time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        ref = astra_sirt_slices(centred, angles, rows, iterations)
        t_astra.append(time.perf_counter() - t0)
        c_astra.append(time.process_time() - c0)
    assert rec is not None and ref is not None
    pr = parallel_projector(angles, centred.shape[2])
    mo, ma = float(np.min(t_ours)), float(np.min(t_astra))
    do, da = float(np.median(t_ours)), float(np.median(t_astra))
    kernel = "line-driven few-slice kernel" if proj.shape[1] <= FEW_SLICES else "ray-driven kernel"
    print(f"ptyxanes SIRT, both slices ({pr.strategy} projector, {kernel}): "
          f"min {mo:7.2f} s, median {do:7.2f} s")
    print(f"ASTRA 2D CPU SIRT, slice by slice     : min {ma:7.2f} s, median {da:7.2f} s")
    print(f"ratio ASTRA / ptyxanes                : min {ma / mo:5.2f} x, median {da / do:5.2f} x")
    # CPU time of all threads: robust where other jobs share the cores (wall times are not)
    co, ca = float(np.min(c_ours)), float(np.min(c_astra))
    print(f"CPU time (all threads), min: ptyxanes {co:7.2f} s, ASTRA {ca:7.2f} s, "
          f"ratio ASTRA / ptyxanes {ca / co:5.2f} x (median {np.median(c_astra) / np.median(c_ours):5.2f} x)")
    print(f"max |ptyxanes - ASTRA| / max          : {np.abs(rec - ref).max() / ref.max():.2e}")
    print(
        "matrix that a stored-matrix projector would need: "
        f"{2 * len(angles) * proj.shape[2] ** 2 * 16 / 2**30:.1f} GB; "
        f"data {proj.nbytes / 2**20:.1f} MB, volume {rec.nbytes / 2**20:.1f} MB"
    )
    print("TomoPy: not measured (conda-forge only, no pip package)")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", type=int, default=128, help="volume edge, voxels")
    ap.add_argument("--angles", type=int, default=181, help="projections over 180 deg")
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--astra-slices", type=int, default=8, help="slices timed for ASTRA 2D SIRT")
    ap.add_argument("--skip-phantom", action="store_true", help="only the tooth")
    ap.add_argument("--tooth-iterations", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats on the tooth")
    a = ap.parse_args()
    if not a.skip_phantom:
        phantom_benchmark(a)
    tooth(a.tooth_iterations, a.repeats)


def phantom_benchmark(a: argparse.Namespace) -> None:
    """Phantom volume: all-slices SIRT (both projectors) vs ASTRA's 2D loop scaled."""
    n = a.size
    angles = np.linspace(0, 180, a.angles, endpoint=False)
    vol = phantom(n)
    pr = parallel_projector(angles, n)
    proj = pr.forward(vol)  # exact data for both solvers
    rng = np.random.default_rng(1)
    proj = proj + rng.normal(0, 0.01 * proj.max(), proj.shape).astype(np.float32)

    t0 = time.perf_counter()
    rec = run_sync(sirt(proj, angles, iterations=a.iterations, backend="cpu", projector="joseph"))
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    rec_m = run_sync(sirt(proj, angles, iterations=a.iterations, backend="cpu", projector="matrix"))
    t_matrix = time.perf_counter() - t0

    rows = np.linspace(0, n - 1, a.astra_slices).round().astype(int).tolist()
    t0 = time.perf_counter()
    ref = astra_sirt_slices(proj, angles, rows, a.iterations)
    t_sub = time.perf_counter() - t0
    t_astra = t_sub * n / len(rows)

    e_ours_sub = rel_err(rec[:, rows, :], vol[:, rows, :])
    e_astra_sub = rel_err(ref, vol[:, rows, :])
    print(
        f"volume {n}^3, {a.angles} projections, {a.iterations} SIRT iterations, non-negative, 1% noise"
    )
    print(f"ptyxanes CPU all-slices SIRT : {t_ours:8.2f} s  (all {n} slices, matrix-free projector)")
    print(f"  same, stored ASTRA matrix  : {t_matrix:8.2f} s  (max difference "
          f"{np.abs(rec_m - rec).max() / rec.max():.1e} of the maximum)")
    print(
        f"ASTRA 2D CPU SIRT loop      : {t_astra:8.2f} s  (measured {t_sub:.2f} s on {len(rows)} slices,"
        f" scaled linearly to {n})"
    )
    print(f"speed-up                     : {t_astra / t_ours:8.1f} x  (required >= 8)")
    print(
        f"relative L2 error vs truth   : ptyxanes {e_ours_sub:.4f}, ASTRA loop {e_astra_sub:.4f} (same {len(rows)} slices);"
        f" ptyxanes whole volume {rel_err(rec, vol):.4f}"
    )
    print(f"max |ptyxanes - ASTRA| / max : {np.abs(rec[:, rows, :] - ref).max() / ref.max():.2e}")
    if astra_has_cuda():
        t0 = time.perf_counter()
        gpu = run_sync(sirt(proj, angles, iterations=a.iterations, backend="cuda"))
        t_gpu = time.perf_counter() - t0
        print(f"ASTRA SIRT3D_CUDA            : {t_gpu:8.2f} s, error {rel_err(gpu, vol):.4f}")
    else:
        print("GPU path (SIRT3D_CUDA)       : unavailable (astra_has_cuda() is False)")
    ok = t_astra / t_ours >= 8 and e_ours_sub <= e_astra_sub * 1.001
    print("PASS" if ok else "FAIL")


if __name__ == "__main__":
    main()
