"""A process that compiles the CPU kernels and one that loads them from numba's cache
compute the same bits (Dask workers load what the client compiled), on one thread and
on two."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_SCRIPT = r"""
import hashlib
import numpy as np
from ptyxanes.ptycho import _kernels as K

rng = np.random.default_rng(0)
h = w = 32
cplx = lambda *s: (rng.normal(size=s) + 1j * rng.normal(size=s)).astype(np.complex64)
ob, probe = cplx(80, 80), cplx(1, h, w)
meas = (rng.random((8, h, w)) * 3).astype(np.float32)
good = np.ones((h, w), np.float32)
rows, cols = rng.integers(0, 40, (2, 8)).astype(np.int64)
frac = rng.uniform(-0.4, 0.4, (8, 2))
members = np.arange(8, dtype=np.int64)
starts = np.array([0, 3, 6, 8], np.int64)
order = np.array([2, 0, 1], np.int64)
coef = (rng.random((1, h, w)) * 0.01).astype(np.float32)
cuts = np.array([[0, 2, 3], [0, 1, 3], [0, 1, 2]], np.int64)  # chunks of 2 threads
bands = np.array([[int(rows[starts[g]:starts[g + 1]].min()), 50,
                   int(rows[starts[g]:starts[g + 1]].max()) + h] for g in range(3)], np.int64)
out = []
for epie in (True, False):
    for fr in (np.zeros((0, 2)), frac):  # whole pixels, then shifted probes
        for nt in (1, 2):  # serial_groups, parallel_groups
            o, p = ob.copy(), probe.copy()
            buf = lambda: np.zeros((3, 1, h, w), np.complex64)
            head = (o, p, rows, cols, fr, members, starts)
            tail = (order, meas, good, coef, buf(), buf(), buf(), np.zeros((3, h, w), np.float32),
                    np.zeros((nt, 1, h, w), np.complex64), np.zeros((nt, h, w), np.float32),
                    np.zeros(3, np.float32), True, epie, 0.25, 0.9, 1.0)
            e = (K.serial_groups(*head, *tail) if nt == 1
                 else K.parallel_groups(*head, cuts, bands, *tail))
            out.append(f"{e!r} " + hashlib.md5(o.tobytes() + p.tobytes()).hexdigest())
print(" | ".join(out))
"""


@pytest.mark.slow
def test_compiled_and_cached_kernels_agree(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"))

    def run():
        r = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True,
                           text=True, check=True, timeout=600)
        return r.stdout.strip().splitlines()[-1]

    compiled = run()
    assert any((tmp_path / "numba").rglob("*.nbc")), "the first run wrote no cache"
    assert run() == compiled
