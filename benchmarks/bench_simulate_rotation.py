# ruff: noqa: T201 - a benchmark script prints its numbers
"""Rotated projection of a simulated 3D sample: scipy affine path vs fused numba kernel.

Run: ``python benchmarks/bench_simulate_rotation.py [demo|paper]`` (default demo).
Prints the time per angle of both paths, measured side by side, and their ratio.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from ptyxanes.simulate import imaging
from ptyxanes.simulate.sample import make_sample


def main(size: str = "demo") -> None:
    """Time both projection paths on one sample and print the ratio."""
    sample = make_sample(size, 350, 0, dim="3d")
    imaging._projected_paths_uncached(sample, 1.0, use_numba=True)  # compile outside timing
    angles = [17.0, 61.0, 133.0]
    times = {}
    results = {}
    for use in (False, True):
        t0 = time.perf_counter()
        for a in angles:
            results[use] = imaging._projected_paths_uncached(sample, a, use_numba=use)[1]
        times[use] = (time.perf_counter() - t0) / len(angles)
    diff = float(np.abs(results[True] - results[False]).max())
    print(f"{size}: volume {sample.shape}, scipy {times[False]:.3f} s/angle, "
          f"numba {times[True]:.3f} s/angle, ratio {times[False] / times[True]:.1f}x, "
          f"max |difference| {diff:.2e} m")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo")
