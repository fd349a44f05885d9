"""Turn XANES fit results into the project file's map groups and tables."""

from __future__ import annotations

from typing import Any

import numpy as np

from ptyxanes.io.project import MapData
from ptyxanes.xanes.status import status_names


def result_maps(result: Any, pixel_size: float) -> dict[str, MapData]:
    """The per-pixel (per-voxel) maps of a fit, NaN outside the sample mask.

    Parameters
    ----------
    result : XanesResult
        Its float maps are masked **in place** (a 375³ volume must not be
        copied once per map).
    pixel_size : float
        Pixel (voxel) size of the fitted grid, m.

    Returns
    -------
    maps : dict of str to MapData
        ``oxidation_state``, ``oxidation_state_sigma``, ``edge_energy`` (eV),
        ``edge_energy_sigma`` (eV), ``edge_jump``, ``fit_quality`` (R²),
        ``status`` (codes in its attrs) and ``mask``.
    """
    m = result.mask
    px = float(pixel_size)
    method = result.options.method

    def masked(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, np.float32)
        a[~m] = np.nan
        return a

    fit_attrs: dict[str, Any] = {"fit_shape": result.options.shape, "edge_method": method}
    if result.template is not None:
        # the map's shared edge shape: the GUI inspector refits a pixel with it
        fit_attrs["template_params"] = np.asarray(result.template, np.float64).tolist()
    cal = result.calibration
    if cal is not None:
        fit_attrs["calibration_eV"] = [float(cal.intercept), float(cal.slope)]
        fit_attrs["calibration_covariance"] = np.asarray(cal.covariance, np.float64).tolist()
    return {
        "oxidation_state": MapData(masked(result.valence), px, "oxidation_state", "",
                                   "Ni oxidation state", fit_attrs),
        "oxidation_state_sigma": MapData(masked(result.valence_sigma), px,
                                         "oxidation_state_sigma", "", "Ni oxidation state 1 sigma"),
        "edge_energy": MapData(masked(result.edge_energy), px, "edge_energy", "eV",
                               f"edge energy ({method}) (eV)"),
        "edge_energy_sigma": MapData(masked(result.edge_sigma), px, "edge_energy_sigma", "eV",
                                     "edge energy 1 sigma (eV)"),
        "edge_jump": MapData(masked(result.edge_jump), px, "edge_jump", "",
                             "edge jump (input absorption units)"),
        "fit_quality": MapData(masked(result.fit_quality), px, "fit_quality", "", "fit R^2"),
        "status": MapData(result.status.astype(np.uint8), px, "status", "", "status code",
                          {"codes": status_names()}),
        "mask": MapData(m.astype(np.uint8), px, "mask", "", "sample mask (1 = sample)",
                        {"threshold": result.threshold}),
    }


def calibration_table(calibration: Any) -> dict[str, np.ndarray]:
    """The references of a calibration as table columns.

    Parameters
    ----------
    calibration : Calibration

    Returns
    -------
    table : dict of str to ndarray
        ``valence``, ``edge_energy_eV`` and ``residual_eV`` per reference.
    """
    return {"valence": np.array([r.valence for r in calibration.references], dtype=float),
            "edge_energy_eV": np.array([r.edge_energy for r in calibration.references], dtype=float),
            "residual_eV": np.asarray(calibration.residuals, dtype=float)}
