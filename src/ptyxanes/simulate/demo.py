"""The demo dataset: four 2D samples (pristine, 200, 350, 500 cycles), cached,
and a small 3D sample (200 cycles) processed to a valence volume.

The README's first command and ``ptyxanes gui --demo`` open it. It is built
once with :func:`ptyxanes.simulate.twin.simulate` (size ``demo``, level
``stack``, photon noise) in a temporary folder beside the cache and renamed
into place, so an interrupted build never leaves a half-written demo.

The 3D demo (:func:`ensure_demo_3d`, ``demo3d-v<DEMO_3D_VERSION>``) is a ``tiny``
3D twin at level ``stack`` run through :func:`ptyxanes.pipeline.run_pipeline`
(tomography with 100 SIRT iterations, XANES fit against the twin's own
references); it keeps the result project ``result.h5`` (valence volume
``oxidation_state`` of shape (P, M, N)) next to the simulated input and truth.

The raw-scan demo (:func:`ensure_demo_scans`, ``demoscans-v<DEMO_SCANS_VERSION>``)
is the ``tiny`` 2D twin (200 cycles) at level ``cxi``: a folder of CXI
ptychography scans, one per energy, for ``ptyxanes reconstruct`` and the GUI's
reconstruct stage.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from ptyxanes.progress import Control, Progress, run_sync, sub_progress
from ptyxanes.simulate.twin import simulate

logger = logging.getLogger(__name__)

#: Bump when the simulator changes in a way that makes old demos stale
#: (2: every sample is fitted on first build and kept as ``<sample>/result.h5``).
DEMO_VERSION: int = 2
#: Sample folder name -> cycle number.
DEMO_SAMPLES: dict[str, int] = {"pristine": 0, "cycles_200": 200, "cycles_350": 350, "cycles_500": 500}
INDEX_NAME = "demo.json"
#: Bump when the 3D demo's simulation or processing changes.
DEMO_3D_VERSION: int = 2
#: Cycle number of the 3D demo sample.
DEMO_3D_CYCLES: int = 200
#: SIRT iterations of the 3D demo's tomography.
DEMO_3D_TOMO_ITERATIONS: int = 100
RESULT_NAME = "result.h5"


def default_cache_dir() -> Path:
    """The user cache folder of ptyxanes: ``$XDG_CACHE_HOME/ptyxanes`` or ``~/.cache/ptyxanes``.

    Returns
    -------
    path : pathlib.Path
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ptyxanes"


def demo_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the demo lives: ``<cache_dir>/demo-v<DEMO_VERSION>``.

    Parameters
    ----------
    cache_dir : path-like, optional
        Default :func:`default_cache_dir`.

    Returns
    -------
    path : pathlib.Path
    """
    return Path(cache_dir or default_cache_dir()) / f"demo-v{DEMO_VERSION}"


def is_complete(folder: str | os.PathLike[str]) -> bool:
    """True when ``folder`` holds a finished demo (index and every stack present)."""
    p = Path(folder)
    if not (p / INDEX_NAME).is_file():
        return False
    return all((p / name / "stack.nxs").is_file() and (p / name / "truth.h5").is_file()
               and (p / name / RESULT_NAME).is_file() for name in DEMO_SAMPLES)


def demo_sample_name(folder_name: str) -> str:
    """The name a demo sample is shown with: ``cycles_200`` -> ``200 cycles``."""
    cycles = DEMO_SAMPLES.get(folder_name)
    return "pristine" if not cycles else f"{cycles} cycles"


def fit_demo_sample(folder: Path, name: str, control: Control | None = None,
                    final: Path | None = None) -> Generator[Progress, None, Path]:
    """Fit one simulated sample with its own references and save ``result.h5`` beside it.

    The project holds the stack, the valence maps (``ptyxanes fit`` layout), the
    calibration table and the parameters, so the demo opens with its maps ready.

    Parameters
    ----------
    folder : pathlib.Path
        The sample folder (``stack.nxs``, ``references/``).
    name : str
        The sample's display name.
    control : Control, optional
    final : pathlib.Path, optional
        Where ``folder`` will be once the build is renamed into place (the
        reference paths recorded in the project point there).

    Yields
    ------
    progress : Progress

    Returns
    -------
    path : pathlib.Path
        ``folder / "result.h5"``.
    """
    import numpy as np

    from ptyxanes.io.nexus import read_stack
    from ptyxanes.io.project import Project, save_project
    from ptyxanes.provenance import provenance
    from ptyxanes.stages import FitParams, fit_stage, folder_references, params_as_dict
    from ptyxanes.xanes.results import calibration_table, result_maps

    stack = read_stack(folder / "stack.nxs", lazy=False)
    params = FitParams(references=folder_references(folder / "references"))
    res = yield from fit_stage(stack, params, control)
    where = final or folder
    plain = params_as_dict(params)
    plain["references"] = [[v, str(where / Path(f).relative_to(folder))]
                           for v, f in params.references]
    project = Project(
        maps=result_maps(res, float(np.asarray(stack.pixel_size).ravel()[0])),
        stacks={folder.name: stack},
        tables={"calibration": calibration_table(res.calibration)},
        parameters={"fit": plain, "sample": {"name": name, "stack": folder.name,
                                             "references": plain["references"]}},
        inputs={"stack": str(folder / "stack.nxs")},
        provenance=[provenance("demo.fit", plain)])
    return save_project(folder / RESULT_NAME, project, overwrite=True)


def _build_cached(
    final: Path,
    is_done: Callable[[Path], bool],
    fill: Callable[[Path], Generator[Progress, None, dict[str, Any]]],
) -> Generator[Progress, None, Path]:
    """Build a cache folder atomically: ``fill(tmp)`` writes into a temporary
    sibling and returns the index; the folder is renamed into place only when
    complete, and removed on any failure or cancellation."""
    if is_done(final):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        index = yield from fill(tmp)
        (tmp / INDEX_NAME).write_text(json.dumps(index, indent=1), encoding="utf-8")
        if final.exists() and not is_done(final):
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:
            if not is_done(final):  # someone else won the race only if theirs is whole
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def build_demo(cache_dir: str | os.PathLike[str] | None = None, *, seed: int = 0,
               control: Control | None = None) -> Generator[Progress, None, Path]:
    """Generate the demo if it is not cached yet (generator for progress bars).

    Parameters
    ----------
    cache_dir : path-like, optional
        Parent folder of ``demo-v1`` (default :func:`default_cache_dir`).
    seed : int, optional
    control : Control, optional

    Yields
    ------
    progress : Progress

    Returns
    -------
    folder : pathlib.Path
        The demo folder (``pristine/``, ``cycles_200/`` ... each with
        ``stack.nxs``, ``truth.h5`` and ``references/``; plus ``demo.json``).
    """
    n = len(DEMO_SAMPLES)

    def fill(tmp: Path) -> Generator[Progress, None, dict[str, Any]]:
        index: dict[str, Any] = {"version": DEMO_VERSION, "samples": {}}
        for k, (name, cycles) in enumerate(DEMO_SAMPLES.items()):
            files = yield from sub_progress(
                simulate("2d", "demo", cycles, "stack", tmp / name, seed=seed, control=control),
                k, 0.6, n, stage="demo")
            yield from sub_progress(
                fit_demo_sample(tmp / name, demo_sample_name(name), control,
                                final=demo_dir(cache_dir) / name),
                k + 0.6, 0.4, n, stage="demo fit")
            index["samples"][name] = {"cycles": cycles, "stack": f"{name}/stack.nxs",
                                      "result": f"{name}/{RESULT_NAME}",
                                      "truth": f"{name}/truth.h5", "references": f"{name}/references",
                                      "seconds": round(files.seconds, 2),
                                      "mean_valence": files.summary.get("mean_valence")}
        return index

    final = yield from _build_cached(demo_dir(cache_dir), is_complete, fill)
    logger.info("demo dataset ready in %s", final)
    yield Progress(n, n, "demo ready", "demo")
    return final


def ensure_demo(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the cached demo folder, generating it on first use (about 10 s).

    Parameters
    ----------
    cache_dir : path-like, optional
        Parent folder of ``demo-v1`` (default ``$XDG_CACHE_HOME/ptyxanes`` or
        ``~/.cache/ptyxanes``).

    Returns
    -------
    folder : pathlib.Path
    """
    return run_sync(build_demo(cache_dir))


def demo_stacks(folder: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """Stack files of the demo, by sample name, in the order pristine, 200, 350, 500.

    Parameters
    ----------
    folder : path-like, optional
        A demo folder (default: :func:`ensure_demo`).

    Returns
    -------
    stacks : dict of str to pathlib.Path
    """
    root = Path(folder) if folder is not None else ensure_demo()
    return {name: root / name / "stack.nxs" for name in DEMO_SAMPLES}


def demo_3d_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the 3D demo lives: ``<cache_dir>/demo3d-v<DEMO_3D_VERSION>``.

    Parameters
    ----------
    cache_dir : path-like, optional
        Default :func:`default_cache_dir`.

    Returns
    -------
    path : pathlib.Path
    """
    return Path(cache_dir or default_cache_dir()) / f"demo3d-v{DEMO_3D_VERSION}"


def is_complete_3d(folder: str | os.PathLike[str]) -> bool:
    """True when ``folder`` holds a finished 3D demo (index, result, input and truth)."""
    p = Path(folder)
    return all((p / f).is_file() for f in (INDEX_NAME, RESULT_NAME, "input/stack.nxs",
                                            "input/truth.h5"))


def build_demo_3d(cache_dir: str | os.PathLike[str] | None = None, *, seed: int = 0,
                  control: Control | None = None) -> Generator[Progress, None, Path]:
    """Generate and process the 3D demo if it is not cached yet (about 3 s on 2 cores).

    Parameters
    ----------
    cache_dir : path-like, optional
        Parent folder of ``demo3d-v<N>`` (default :func:`default_cache_dir`).
    seed : int, optional
    control : Control, optional

    Yields
    ------
    progress : Progress

    Returns
    -------
    folder : pathlib.Path
        The 3D demo folder: ``result.h5`` (the pipeline's project: stacks and the
        valence volume), ``input/`` (``stack.nxs`` tilt series, ``truth.h5``,
        ``references/``) and ``demo.json``.
    """
    from ptyxanes.pipeline import PipelineParams, run_pipeline

    control = control or Control()

    def fill(tmp: Path) -> Generator[Progress, None, dict[str, Any]]:
        files = yield from sub_progress(
            simulate("3d", "tiny", DEMO_3D_CYCLES, "stack", tmp / "input", seed=seed,
                     control=control), 0, 1, 2, stage="demo")
        refs = tmp / "input" / "references"
        params = PipelineParams(tomo={"iterations": DEMO_3D_TOMO_ITERATIONS},
                                references=((2.0, str(refs / "Ni2_NiO.xdi")),
                                            (3.0, str(refs / "Ni3_LiNiO2.xdi"))))
        yield from sub_progress(run_pipeline("3d", files.data[0], tmp / RESULT_NAME, params,
                                             control=control), 1, 1, 2, stage="demo")
        return {"version": DEMO_3D_VERSION, "cycles": DEMO_3D_CYCLES, "size": "tiny",
                "result": RESULT_NAME, "stack": "input/stack.nxs", "truth": "input/truth.h5",
                "references": "input/references", "tomo_iterations": DEMO_3D_TOMO_ITERATIONS,
                "mean_valence": files.summary.get("mean_valence")}

    final = yield from _build_cached(demo_3d_dir(cache_dir), is_complete_3d, fill)
    logger.info("3D demo ready in %s", final)
    yield Progress(2, 2, "3D demo ready", "demo")
    return final


def ensure_demo_3d(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the cached 3D demo's result project, generating it on first use (about 3 s).

    Parameters
    ----------
    cache_dir : path-like, optional
        Parent folder of ``demo3d-v<N>`` (default ``$XDG_CACHE_HOME/ptyxanes`` or
        ``~/.cache/ptyxanes``).

    Returns
    -------
    result : pathlib.Path
        ``<cache_dir>/demo3d-v<N>/result.h5``: a pipeline project whose maps
        (``oxidation_state`` ...) are volumes of shape (P, M, N).
    """
    return run_sync(build_demo_3d(cache_dir)) / RESULT_NAME


#: Bump when the demo scans' simulation changes.
DEMO_SCANS_VERSION: int = 1
#: Cycle number of the demo scans' sample.
DEMO_SCANS_CYCLES: int = 200


def demo_scans_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the demo scans live: ``<cache_dir>/demoscans-v<DEMO_SCANS_VERSION>``.

    Parameters
    ----------
    cache_dir : path-like, optional
        Default :func:`default_cache_dir`.

    Returns
    -------
    path : pathlib.Path
    """
    return Path(cache_dir or default_cache_dir()) / f"demoscans-v{DEMO_SCANS_VERSION}"


def is_complete_scans(folder: str | os.PathLike[str]) -> bool:
    """True when ``folder`` holds finished demo scans (index, truth and every CXI file)."""
    p = Path(folder)
    index = p / INDEX_NAME
    if not (index.is_file() and (p / "truth.h5").is_file()):
        return False
    try:
        files = json.loads(index.read_text(encoding="utf-8")).get("scans", [])
    except (OSError, ValueError):
        return False
    return bool(files) and all((p / f).is_file() for f in files)


def build_demo_scans(cache_dir: str | os.PathLike[str] | None = None, *, seed: int = 0,
                     control: Control | None = None) -> Generator[Progress, None, Path]:
    """Simulate the raw-scan demo if it is not cached yet (about 4 s on 2 cores).

    The ``tiny`` 2D twin (200 cycles) at level ``cxi``: one CXI ptychography
    scan per energy (18 energies, 64 px detector window, 1 µm probe spot, the
    spot recorded in each file's ``process_simulate_ptycho`` parameters).

    Parameters
    ----------
    cache_dir : path-like, optional
        Parent folder of ``demoscans-v1`` (default :func:`default_cache_dir`).
    seed : int, optional
    control : Control, optional

    Yields
    ------
    progress : Progress

    Returns
    -------
    folder : pathlib.Path
        The folder of ``scan_<E>eV.cxi`` files, with ``truth.h5``,
        ``references/`` and ``demo.json``.
    """
    control = control or Control()

    def fill(tmp: Path) -> Generator[Progress, None, dict[str, Any]]:
        files = yield from simulate("2d", "tiny", DEMO_SCANS_CYCLES, "cxi", tmp, seed=seed,
                                    control=control)
        return {"version": DEMO_SCANS_VERSION, "cycles": DEMO_SCANS_CYCLES, "size": "tiny",
                "scans": [Path(f).name for f in files.data], "truth": "truth.h5",
                "references": "references", "seconds": round(files.seconds, 2),
                "mean_valence": files.summary.get("mean_valence")}

    final = yield from _build_cached(demo_scans_dir(cache_dir), is_complete_scans, fill)
    logger.info("demo scans ready in %s", final)
    return final


def ensure_demo_scans(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the cached folder of demo CXI scans, simulating them on first use (about 4 s).

    Parameters
    ----------
    cache_dir : path-like, optional
        Parent folder of ``demoscans-v1`` (default ``$XDG_CACHE_HOME/ptyxanes`` or
        ``~/.cache/ptyxanes``).

    Returns
    -------
    folder : pathlib.Path
        A folder of CXI files, one per energy, for ``ptyxanes reconstruct`` or
        the GUI's reconstruct stage.
    """
    return run_sync(build_demo_scans(cache_dir))
from ptyxanes.simulate.demo3d import build_paper_demo_3d, ensure_paper_demo_3d  # noqa: E402,F401  paper-scale 3D demo
