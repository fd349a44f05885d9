"""Benchmark: seconds per ePIE iteration vs the FFT floor and PtyLab, on twin-like data.

Data: the tiny twin sample (200 cycles) at 8350 eV on the demo geometry
(128 x 128 patterns, 77 nm pixels, 2 µm zone-plate spot, fly scan) over a
field of >= 1000 positions. The floor is the time of the same number of
forward + inverse 2D FFT pairs (complex64, 128 x 128, same workers, batched)
-- what any ePIE must at least do per iteration -- measured with two FFTs:
``floor-scipy`` with ``scipy.fft`` in batches of 32, and ``floor`` with the
engine's own (pocketfft through rocket-fft, whose AVX2 build is faster), the
fastest of batches of 8, 16 and 32 (wall and CPU seconds of that run). The
ratios against ``floor`` are the strict ones.

ptyxanes runs two ways: one reconstruction with ``workers`` threads (each group
of positions split over the threads), and the way ``ptyxanes reconstruct`` runs
a series: ``workers`` reconstructions (energies) at once, one thread each
(seconds per iteration of one of them, divided by ``workers``).

PtyLab (ePIE, its defaults, CPU) runs in a venv of its own, in a subprocess
that times its ``reconstruct()`` only. The codes run interleaved (the order
rotates every repeat); min and median over the repeats are printed with the
ratios, and the load average before and after (the machine may be shared).
On a machine with more runnable threads than cores the wall-clock ratios
mostly measure the scheduler; the CPU seconds of all threads (``process_time``,
also printed) measure the work and stay comparable under load.

Set up the peers' venv once::

    python3 -m venv benchmarks/.venv-peers
    benchmarks/.venv-peers/bin/pip install ptylab==0.3.7

Also measures (``--warm``) the iterations saved by a warm start (probe of a
neighbouring energy) against a cold start (zone-plate probe) to reach the same
Fourier error.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/ptycho.py [--iterations 2] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import numpy as np
from scipy import fft as sfft

from ptyxanes.progress import run_sync
from ptyxanes.ptycho import PtychoParams, reconstruct
from ptyxanes.ptycho.series import rescale_probe
from ptyxanes.simulate import imaging
from ptyxanes.simulate import ptycho as sp
from ptyxanes.simulate.sample import make_sample

logger = logging.getLogger(__name__)


def make_data(energy: float, n_pos: int, seed: int = 0, window: int = 128):
    geo = sp.with_geometry("demo", window=window)
    px = sp.object_pixel(energy, window)
    n_col = int(np.ceil(np.sqrt(n_pos * geo.step[0] / geo.step[1])))
    n_row = int(np.ceil(n_pos / n_col))
    extent = ((n_row - 1) * geo.step[0], (n_col - 1) * geo.step[1])
    rng = np.random.default_rng(seed)
    pos = sp.scan_positions(extent, geo.step, jitter=geo.jitter, rng=rng, snake=True)
    t = imaging.transmission_2d(make_sample("tiny", 200), energy, px)
    data, rec, probe = sp.simulate_scan(t, energy, px, pos, geo, rng=rng)
    truth, corners = sp.scan_frame(t, np.rint(rec / px), window)
    return data, corners, probe, truth.shape, px


def fft_floor(n_pairs: int, shape: tuple[int, int], workers: int, batch: int = 32) -> float:
    a = (
        np.random.default_rng(0).normal(size=(batch, *shape))
        + 1j * np.random.default_rng(1).normal(size=(batch, *shape))
    ).astype(np.complex64)
    sfft.ifft2(sfft.fft2(a, workers=workers), workers=workers)  # plan/warm-up
    t0 = time.perf_counter()
    done = 0
    while done < n_pairs:
        b = min(batch, n_pairs - done)
        x = sfft.fft2(a[:b], norm="ortho", workers=workers)
        sfft.ifft2(x, norm="ortho", workers=workers, overwrite_x=True)
        done += b
    return time.perf_counter() - t0


def fft_floor_engine(n_pairs: int, shape: tuple[int, int], workers: int, batch: int = 32) -> float:
    """:func:`fft_floor` with the engine's FFT (rocket-fft's pocketfft, in place, from numba)."""
    from ptyxanes.ptycho._kernels import fft_pairs

    a = (
        np.random.default_rng(0).normal(size=(batch, *shape))
        + 1j * np.random.default_rng(1).normal(size=(batch, *shape))
    ).astype(np.complex64)
    fft_pairs(a, 1, workers)  # compile / warm-up
    t0 = time.perf_counter()
    fft_pairs(a, n_pairs, workers)
    return time.perf_counter() - t0


def _ptylab_input(path, data, corners, px, energy, spot=2e-6) -> None:
    """The scan in PtyLab's CPM HDF5 format (encoder in m, centred patterns)."""
    import h5py

    lam = sp.wavelength(energy)
    with h5py.File(path, "w") as f:
        f["ptychogram"] = np.asarray(data, np.float32)
        f["encoder"] = (corners - corners.mean(axis=0)) * px
        f["wavelength"] = lam
        f["dxd"] = sp.DETECTOR_PIXEL
        f["zo"] = px * data.shape[-1] * sp.DETECTOR_PIXEL / lam  # gives PtyLab the same pixel
        f["entrancePupilDiameter"] = spot


def _ptylab(
    python: str, path: str, iterations: int, modes: int, threads: int
) -> tuple[float, float]:
    import json
    import os
    import subprocess
    from pathlib import Path

    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    worker = Path(__file__).with_name("_ptylab_worker.py")
    r = subprocess.run(
        [python, str(worker), path, str(iterations), str(modes)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    out = json.loads(r.stdout.strip().splitlines()[-1])
    return float(out["seconds_per_iteration"]), float(out["cpu_per_iteration"])


def _ptyxanes(
    data, corners, probe, shape, iterations, modes, workers, algorithm
) -> tuple[float, float]:
    res = run_sync(
        reconstruct(
            data,
            corners,
            probe,
            obj_shape=shape,
            params=PtychoParams(
                algorithm=algorithm,
                iterations=iterations,
                modes=modes,
                workers=workers,
                preview_every=0,
            ),
        )
    )
    return (
        float(np.sum(res.info["iteration_seconds"])) / iterations,
        float(np.sum(res.info["iteration_cpu_seconds"])) / iterations,
    )


def _ptyxanes_series(
    data, corners, probe, shape, iterations, modes, jobs, algorithm
) -> tuple[float, float]:
    """``jobs`` single-threaded reconstructions at once; per iteration of one of them.

    Their iterations run side by side (the set-up before them is short and the
    same for all), so an iteration of one of them, divided by ``jobs``, is the
    time per reconstruction-iteration; the process CPU seconds likewise.
    """
    import concurrent.futures as cf

    with cf.ThreadPoolExecutor(jobs) as pool:
        runs = list(
            pool.map(
                lambda _: _ptyxanes(data, corners, probe, shape, iterations, modes, 1, algorithm),
                range(jobs),
            )
        )
    return max(t for t, _ in runs) / jobs, max(c for _, c in runs) / jobs


def main(argv: list[str] | None = None) -> int:
    import os
    import tempfile
    from pathlib import Path

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=2, help="iterations per timed run")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats")
    ap.add_argument("--positions", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--modes", default="1,3", help="comma-separated mode counts")
    ap.add_argument(
        "--peers",
        default=str(Path(__file__).with_name(".venv-peers") / "bin" / "python"),
        help="python of the venv with PtyLab (skipped if missing)",
    )
    ap.add_argument("--warm", action="store_true", help="also measure the warm-start saving")
    args = ap.parse_args(argv)
    out = sys.stdout.write
    out(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs\n")
    t0 = time.perf_counter()
    data, corners, probe, shape, px = make_data(8350.0, args.positions)
    out(
        f"data: {data.shape[0]} patterns {data.shape[1]}x{data.shape[2]}, pixel {px * 1e9:.1f} nm,"
        f" object {shape}, simulated in {time.perf_counter() - t0:.1f} s\n"
    )
    have_peer = Path(args.peers).exists()
    if not have_peer:
        out(f"PtyLab venv {args.peers} not found: PtyLab skipped (see docs/ptycho.md)\n")
    tmp = tempfile.TemporaryDirectory()
    h5 = str(Path(tmp.name) / "scan.h5")
    if have_peer:
        _ptylab_input(h5, data, corners.astype(float), px, 8350.0)
    # compile the kernels
    _ptyxanes(data[:50], corners[:50], probe, shape, 1, 2, args.workers, "epie")
    for modes in [int(m) for m in args.modes.split(",")]:
        times: dict[str, list[float]] = {
            "ptyxanes": [],
            "series": [],
            "floor": [],
            "floor-scipy": [],
        }
        if have_peer:
            times["ptylab"] = []
        cpu: dict[str, list[float]] = {code: [] for code in times}
        for rep in range(args.repeats):
            order = list(times)
            order = order[rep % len(order) :] + order[: rep % len(order)]
            for code in order:
                if code == "ptyxanes":
                    t, c = _ptyxanes(
                        data, corners, probe, shape, args.iterations, modes, args.workers, "epie"
                    )
                elif code == "series":
                    t, c = _ptyxanes_series(
                        data, corners, probe, shape, args.iterations, modes, args.workers, "epie"
                    )
                elif code.startswith("floor"):
                    n = len(corners) * modes * args.iterations
                    runs = []  # (wall, CPU) per batch size
                    # the engine's FFT at its best batch: 32 patterns overflow the L2 cache
                    for batch in (32,) if code == "floor-scipy" else (8, 16, 32):
                        floor = fft_floor if code == "floor-scipy" else fft_floor_engine
                        c0 = time.process_time()
                        t = floor(n, data.shape[1:], args.workers, batch)
                        runs.append((t, time.process_time() - c0))
                    t, c = (x / args.iterations for x in min(runs))
                else:
                    t, c = _ptylab(args.peers, h5, args.iterations, modes, args.workers)
                times[code].append(t)
                cpu[code].append(c)
        out(f"ePIE, {modes} mode(s), {args.workers} threads, s/iteration (min / median):\n")
        for code, v in times.items():
            out(f"  {code:9s} {min(v):.3f} / {float(np.median(v)):.3f}\n")
        for code in ("ptyxanes", "series"):
            for fl in ("floor", "floor-scipy"):
                x, f = times[code], times[fl]
                out(
                    f"  {code} / {fl}: {min(x) / min(f):.2f} (min)  "
                    f"{float(np.median(x)) / float(np.median(f)):.2f} (median)  target <= 1.5\n"
                )
        x = times["ptyxanes"]
        if have_peer:
            y = times["ptylab"]
            out(
                f"  PtyLab / ptyxanes: {min(y) / min(x):.2f} (min)  "
                f"{float(np.median(y)) / float(np.median(x)):.2f} (median)  target >= 2\n"
            )
        out("  CPU seconds per iteration, all threads (min / median):\n")
        for code, v in cpu.items():
            out(f"  {code:9s} {min(v):.3f} / {float(np.median(v)):.3f}\n")
        for code in ("ptyxanes", "series"):
            x, f = cpu[code], cpu["floor"]
            out(
                f"  CPU {code} / floor: {min(x) / min(f):.2f} (min)  "
                f"{float(np.median(x)) / float(np.median(f)):.2f} (median)\n"
            )
        x = cpu["ptyxanes"]
        if have_peer:
            y = cpu["ptylab"]
            out(
                f"  CPU PtyLab / ptyxanes: {min(y) / min(x):.2f} (min)  "
                f"{float(np.median(y)) / float(np.median(x)):.2f} (median)\n"
            )
    out(f"load average at end: {os.getloadavg()[0]:.2f}\n")
    tmp.cleanup()
    if args.warm:
        _warm(out, args)
    return 0


def _warm(out, args) -> None:
    """Iterations to reach a common error: cold (zone-plate model) vs warm (neighbour's probe).

    The cold start uses the zone-plate probe with a 20 % error in the spot size
    (defocus), as the optics are never known exactly; the neighbour (1 eV
    lower) was reconstructed from the same guess with 100 iterations.
    """
    n = 600
    d1, c1, _, s1, px1 = make_data(8349.0, n, seed=1)
    d2, c2, _, s2, px2 = make_data(8350.0, n, seed=2)
    guess1 = sp.fzp_probe(8349.0, 128, px1, spot=1.6e-6)
    guess2 = sp.fzp_probe(8350.0, 128, px2, spot=1.6e-6)
    its = 80
    base = run_sync(reconstruct(d1, c1, guess1, obj_shape=s1, params=PtychoParams(iterations=100)))
    cold = run_sync(reconstruct(d2, c2, guess2, obj_shape=s2, params=PtychoParams(iterations=its)))
    warm_probe = rescale_probe(base.probe, px1, px2, guess2.shape)
    warm = run_sync(
        reconstruct(
            d2, c2, warm_probe, obj_shape=s2, params=PtychoParams(iterations=its, probe_start=0)
        )
    )
    target = 1.1 * min(cold.errors[-1], warm.errors[-1])
    n_cold = int(np.argmax(cold.errors <= target)) + 1 if (cold.errors <= target).any() else its
    n_warm = int(np.argmax(warm.errors <= target)) + 1 if (warm.errors <= target).any() else its
    out(
        f"warm start: {n_warm} iterations vs cold {n_cold} to reach Fourier error {target:.3g} "
        f"(1.1 x the better of the two {its}-iteration runs); saves {n_cold - n_warm}\n"
    )
    out(f"  final errors after {its}: cold {cold.errors[-1]:.3g}, warm {warm.errors[-1]:.3g}\n")


if __name__ == "__main__":
    raise SystemExit(main())
