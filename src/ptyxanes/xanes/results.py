"""Turn XANES fit results into the project file's map groups and tables."""

from __future__ import annotations

from typing import Any

import numpy as np

from ptyxanes.io.project import MapData
from ptyxanes.xanes.status import status_names


def fit_model_attrs(result: Any) -> dict[str, Any]:
    """What is needed to refit one pixel exactly as the map was fitted (JSON-able).

    Parameters
    ----------
    result : XanesResult

    Returns
    -------
    attrs : dict
        ``fit_shape``, ``edge_method``, the options' windows (eV), ``step``,
        ``post_order``, ``e0_eV``, ``template_params`` (the shared shape, when
        used) and ``calibration_eV`` = [intercept, slope] with
        ``calibration_covariance`` (when calibrated). Stored as attributes of
        the ``oxidation_state`` map; :func:`fit_model_from_attrs` reads them back.
    """
    o = result.options
    attrs: dict[str, Any] = {
        "fit_shape": o.shape, "edge_method": o.method, "window_eV": list(o.window),
        "pre_edge_eV": list(o.pre_edge), "post_edge_eV": list(o.post_edge),
        "post_order": int(o.post_order), "e0_eV": float(o.e0), "step": bool(o.step),
        "edge": o.edge, "normalization": o.normalization}
    if result.template is not None:
        attrs["template_params"] = np.asarray(result.template, np.float64).tolist()
    cal = result.calibration
    if cal is not None:
        attrs["calibration_eV"] = [float(cal.intercept), float(cal.slope)]
        attrs["calibration_covariance"] = np.asarray(cal.covariance, np.float64).tolist()
    return attrs


def fit_model_from_attrs(attrs: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Options, template and calibration from :func:`fit_model_attrs` (missing: defaults/None).

    Parameters
    ----------
    attrs : dict

    Returns
    -------
    options : FitOptions
    template : ndarray or None
    calibration : Calibration or None

    Examples
    --------
    >>> o, t, c = fit_model_from_attrs({"fit_shape": "free", "window_eV": [8330, 8365]})
    >>> o.shape, o.window, t, c
    ('free', (8330.0, 8365.0), None, None)
    """
    from ptyxanes.xanes.batch import FitOptions
    from ptyxanes.xanes.calibration import Calibration

    kw: dict[str, Any] = {}
    for key, name in (("window_eV", "window"), ("pre_edge_eV", "pre_edge"),
                      ("post_edge_eV", "post_edge")):
        if key in attrs:
            kw[name] = tuple(float(x) for x in attrs[key])
    for key, name, typ in (("fit_shape", "shape", str), ("edge_method", "method", str),
                           ("post_order", "post_order", int), ("e0_eV", "e0", float),
                           ("step", "step", bool), ("edge", "edge", str),
                           ("normalization", "normalization", str)):
        if key in attrs:
            kw[name] = typ(attrs[key])
    options = FitOptions(**kw)
    tp = attrs.get("template_params")
    template = None if tp is None else np.asarray(tp, np.float64)
    cal = None
    if "calibration_eV" in attrs:
        a, b = (float(x) for x in attrs["calibration_eV"])
        cov = np.asarray(attrs.get("calibration_covariance", np.zeros((2, 2))), np.float64)
        cal = Calibration(a, b, cov, (), options.curve_method)
    return options, template, cal


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
    element = result.options.edge.split("-")[0]

    def masked(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, np.float32)
        a[~m] = np.nan
        return a

    fit_attrs = fit_model_attrs(result)
    return {
        "oxidation_state": MapData(masked(result.valence), px, "oxidation_state", "",
                                   f"{element} oxidation state", fit_attrs),
        "oxidation_state_sigma": MapData(masked(result.valence_sigma), px,
                                         "oxidation_state_sigma", "",
                                         f"{element} oxidation state 1 sigma"),
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
