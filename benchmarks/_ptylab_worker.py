"""PtyLab ePIE timing worker, run by ``benchmarks/ptycho.py`` in the peers' venv.

Usage: ``python _ptylab_worker.py INPUT.h5 ITERATIONS MODES`` with INPUT.h5 in
PtyLab's CPM format (ptychogram, encoder, wavelength, dxd, zo,
entrancePupilDiameter). Prints one JSON line: wall and CPU seconds per iteration.
"""

from __future__ import annotations

import json
import logging
import sys
import time

logging.disable(logging.INFO)


def main() -> int:
    from PtyLab import Engines, easyInitialize

    path, iterations, modes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    exp, rec, params, monitor, _ = easyInitialize(
        path, engine=Engines.ePIE, operationMode="CPM", dummyMonitor=True
    )
    params.gpuSwitch = False
    params.positionOrder = "random"
    rec.npsm = modes
    rec.initializeObjectProbe()
    engine = Engines.ePIE(rec, exp, params, monitor)
    engine.numIterations = iterations
    t0 = time.perf_counter()
    c0 = time.process_time()
    engine.reconstruct()
    dt = time.perf_counter() - t0
    dc = time.process_time() - c0
    sys.stdout.write(
        json.dumps({"seconds_per_iteration": dt / iterations, "cpu_per_iteration": dc / iterations})
        + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
