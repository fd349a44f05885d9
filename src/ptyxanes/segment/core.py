"""Threshold seeding, island cleaning, crystal labelling and slab orientation."""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ptyxanes.progress import Control, Progress, run_sync

logger = logging.getLogger(__name__)

_AXIS_NAMES = {2: ("row", "col"), 3: ("plane", "row", "col")}


def _check_ndim(a: NDArray, name: str) -> None:
    if a.ndim not in (2, 3):
        raise ValueError(f"{name} must be 2D (M, N) or 3D (P, M, N); got shape {a.shape}")


def _structure(ndim: int, connectivity: int) -> NDArray[np.bool_]:
    if not 1 <= connectivity <= ndim:
        raise ValueError(f"connectivity must be in 1..{ndim}; got {connectivity}")
    return ndimage.generate_binary_structure(ndim, connectivity)


def threshold_labels(
    valence: NDArray[np.floating],
    threshold: float = 3.0,
    *,
    mask: NDArray[np.bool_] | None = None,
    label: int = 1,
) -> NDArray[np.uint8]:
    """Seed a label image with the >Ni³⁺ voxels (valence above a threshold).

    Parameters
    ----------
    valence : ndarray of shape (M, N) or (P, M, N)
        Ni valence; NaN outside the sample (never selected).
    threshold : float, optional
        Valence above which a voxel is labelled.
    mask : ndarray of bool, optional
        Restrict the seeding to these voxels (e.g. the sample mask).
    label : int, optional
        Label value given to selected voxels (1..255).

    Returns
    -------
    labels : ndarray of uint8, same shape as ``valence``
        ``label`` where ``valence > threshold``, 0 elsewhere.

    Raises
    ------
    ValueError
        If ``mask`` does not match ``valence`` or ``label`` is out of range.

    Examples
    --------
    >>> threshold_labels(np.array([[2.5, 3.2], [np.nan, 3.0]]), 3.0)
    array([[0, 1],
           [0, 0]], dtype=uint8)
    """
    v = np.asarray(valence)
    if not 1 <= label <= 255:
        raise ValueError(f"label must be in 1..255; got {label}")
    with np.errstate(invalid="ignore"):
        sel = v > threshold
    if mask is not None:
        if np.shape(mask) != v.shape:
            raise ValueError(f"mask shape {np.shape(mask)} differs from valence shape {v.shape}")
        sel &= np.asarray(mask, bool)
    return (sel * np.uint8(label)).astype(np.uint8)


def remove_small_islands(
    labels: NDArray[np.integer] | NDArray[np.bool_], min_size: int, *, connectivity: int = 1
) -> NDArray:
    """Remove connected islands smaller than ``min_size`` voxels from each label.

    Parameters
    ----------
    labels : ndarray of int or bool, shape (M, N) or (P, M, N)
        Label image; 0 (or False) is background. Every non-zero value is cleaned
        separately.
    min_size : int
        Islands with fewer voxels than this are set to background.
    connectivity : int, optional
        1 = faces only (6-connected in 3D), up to ``ndim`` = faces, edges and corners.

    Returns
    -------
    cleaned : ndarray, same shape and dtype as ``labels``
        A new array.

    Raises
    ------
    ValueError
        For a negative ``min_size`` or a bad ``connectivity``.

    Examples
    --------
    >>> a = np.zeros((5, 5), np.uint8); a[0, 0] = 1; a[2:5, 2:5] = 1
    >>> int(remove_small_islands(a, 2).sum())
    9
    """
    lab = np.asarray(labels)
    if min_size < 0:
        raise ValueError(f"min_size must be >= 0; got {min_size}")
    out = lab.copy()
    if min_size <= 1 or not lab.any():
        return out
    st = _structure(lab.ndim, connectivity)
    for value in np.unique(lab[lab != 0]):
        comp, n = ndimage.label(lab == value, structure=st)
        if n == 0:
            continue
        sizes = np.bincount(comp.ravel())
        small = sizes < min_size
        small[0] = False
        out[small[comp]] = 0
    return out


def label_crystals(
    mask: NDArray[np.bool_],
    *,
    method: str = "watershed",
    min_size: int = 8,
    min_distance: int = 2,
    merge_ratio: float = 0.8,
    smooth: float = 0.5,
    connectivity: int = 1,
) -> NDArray[np.int32]:
    """Label the crystals of a sample mask, splitting crystals that touch.

    Parameters
    ----------
    mask : ndarray of bool, shape (M, N) or (P, M, N)
        Sample voxels (e.g. ``np.isfinite(valence)``).
    method : {"watershed", "components"}, optional
        ``"watershed"`` (default): a watershed of the distance transform seeded
        at its local maxima, then neighbouring regions are merged again when the
        neck between them is wide (see ``merge_ratio``), so touching crystals are
        split but one convex crystal is not.
        ``"components"``: connected components (touching crystals merge).
    min_size : int, optional
        Regions smaller than this (voxels) are dropped.
    min_distance : int, optional
        Minimum distance between watershed seeds, voxels.
    merge_ratio : float, optional
        Two neighbouring watershed regions are merged when the distance-map value
        on their common boundary (the neck half-width, voxels) plus a quarter
        voxel is at least ``merge_ratio`` times the smaller of their two maxima
        (inscribed radii). Two touching spheres of radius r with a neck of
        half-width h stay split while h + 0.25 < ``merge_ratio`` r; the ridge of an elongated convex crystal has
        no such dip and merges back into one region.
    smooth : float, optional
        Gaussian sigma (voxels) applied to the distance map before seeding, so
        that plateaus do not seed twice; 0 disables.
    connectivity : int, optional
        Neighbourhood of the connected components (1 = faces only).

    Returns
    -------
    labels : ndarray of int32, same shape as ``mask``
        0 = background, crystals numbered 1..n by decreasing size.

    Raises
    ------
    ValueError
        For an unknown method, a bad parameter or a mask that is not 2D/3D.

    Notes
    -----
    On the digital twin ("tiny", 3D, seeds 0-7, 200 and 500 cycles) the default
    finds the true number of crystals in 15 of 16 samples (each found crystal
    matching one true crystal with IoU > 0.95); on the 3D demo's reconstructed
    volume (156 nm voxels, two crystals touching) it finds the 3 crystals, IoU
    0.83-0.89 against the truth resampled onto its grid; connected components find 2.
    One twin (seed 4, 500 cycles) has two crystals joined by a wide flat facet
    and stays merged: no distance-map criterion can split that.

    Examples
    --------
    >>> m = np.zeros((6, 9), bool); m[1:4, 1:3] = True; m[2:5, 5:8] = True
    >>> int(label_crystals(m, min_size=1).max())
    2
    """
    m = np.asarray(mask, bool)
    _check_ndim(m, "mask")
    if not 0.0 < merge_ratio <= 1.0:
        raise ValueError(f"merge_ratio must be in (0, 1]; got {merge_ratio}")
    st = _structure(m.ndim, connectivity)
    comp, n = ndimage.label(m, structure=st)
    if method == "components":
        lab = comp
    elif method == "watershed":
        lab = _watershed_split(m, comp, n, st, max(int(min_distance), 1), float(smooth))
        lab = _merge_wide_necks(lab, ndimage.distance_transform_edt(m), float(merge_ratio))
    else:
        raise ValueError(f"method must be 'components' or 'watershed'; got {method!r}")
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    keep = [k for k in np.argsort(-sizes, kind="stable") if sizes[k] >= max(min_size, 1)]
    lut = np.zeros(sizes.size, np.int32)
    lut[keep] = np.arange(1, len(keep) + 1, dtype=np.int32)
    return lut[lab]


def _watershed_split(m: NDArray[np.bool_], comp: NDArray, n: int, st: NDArray,
                     min_distance: int, sigma: float) -> NDArray[np.int64]:
    """Watershed of the (smoothed) distance map, one seed per local maximum."""
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    dist = ndimage.distance_transform_edt(m)
    smooth = ndimage.gaussian_filter(dist, sigma) * m if sigma > 0 else dist
    peaks = peak_local_max(smooth, min_distance=min_distance, labels=comp, exclude_border=False)
    markers = np.zeros(m.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    # components with no peak (tiny) keep one seed at their deepest voxel
    seeded = set(np.unique(comp[markers > 0]).tolist())
    for k in range(1, n + 1):
        if k not in seeded:
            idx = np.argmax(np.where(comp == k, dist, -1))
            markers.flat[idx] = markers.max() + 1
    return np.asarray(watershed(-smooth, markers, mask=m, connectivity=st), np.int64)


def _merge_wide_necks(lab: NDArray[np.int64], dist: NDArray[np.floating],
                      ratio: float) -> NDArray[np.int64]:
    """Merge neighbouring regions whose common boundary is not a narrow neck."""
    nl = int(lab.max())
    if nl < 2:
        return lab
    peak = np.asarray(ndimage.maximum(dist, lab, np.arange(nl + 1)), float)
    keys, vals = [], []
    for ax in range(lab.ndim):
        a = np.moveaxis(lab, ax, 0)
        d = np.moveaxis(dist, ax, 0)
        la, lb = a[:-1], a[1:]
        sel = (la > 0) & (lb > 0) & (la != lb)
        lo, hi = np.minimum(la[sel], lb[sel]), np.maximum(la[sel], lb[sel])
        keys.append(lo * (nl + 1) + hi)
        vals.append(np.minimum(d[:-1][sel], d[1:][sel]))
    key = np.concatenate(keys)
    if key.size == 0:
        return lab
    uk, inv = np.unique(key, return_inverse=True)
    saddle = np.zeros(uk.size)
    np.maximum.at(saddle, inv, np.concatenate(vals))
    a_ids, b_ids = uk // (nl + 1), uk % (nl + 1)
    parent = np.arange(nl + 1)
    top = peak.copy()

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    # widest necks (relative to the smaller crystal) first; a merged region keeps
    # the larger maximum, so a chain of wide necks merges step by step
    order = np.argsort(-saddle / np.maximum(np.minimum(peak[a_ids], peak[b_ids]), 1e-12))
    for i in order:
        ra, rb = find(int(a_ids[i])), find(int(b_ids[i]))
        # a quarter voxel of slack for the coarse distance values of thin crystals
        if ra != rb and saddle[i] + 0.25 >= ratio * min(top[ra], top[rb]):
            parent[rb] = ra
            top[ra] = max(top[ra], top[rb])
    roots = np.array([find(i) for i in range(nl + 1)])
    return roots[lab]


def slab_normal(
    mask: NDArray[np.bool_], *, min_size: int = 3, connectivity: int = 3
) -> tuple[NDArray[np.float64], float]:
    """Estimate the common normal of the planar slabs in a mask.

    Each connected slab is centred on its own centroid and the scatter matrices
    of all slabs are pooled; the normal is the eigenvector with the smallest
    eigenvalue (the direction in which the slabs are thinnest). Parallel slabs
    thus reinforce each other wherever they sit.

    Parameters
    ----------
    mask : ndarray of bool, shape (M, N) or (P, M, N)
        Slab voxels (of one crystal).
    min_size : int, optional
        Connected pieces with fewer voxels are ignored.
    connectivity : int, optional
        Neighbourhood for the connected pieces (default: full, so one-voxel-thin
        oblique slabs stay in one piece); clipped to ``mask.ndim``.

    Returns
    -------
    normal : ndarray of shape (ndim,)
        Unit vector in (plane, row, col) (or (row, col)) voxel axes, sign chosen so
        its largest component is positive; NaN when no slab is large enough.
    flatness : float
        ``1 - λ_min / λ_mid`` in [0, 1]: 1 for perfect planes, 0 for blobs; NaN
        when undefined.

    Examples
    --------
    >>> m = np.zeros((12, 12, 12), bool); m[:, 5, :] = True
    >>> n, f = slab_normal(m)
    >>> np.round(n, 3).tolist(), round(f, 3)
    ([0.0, 1.0, 0.0], 1.0)
    """
    m = np.asarray(mask, bool)
    _check_ndim(m, "mask")
    nd = m.ndim
    nan = np.full(nd, np.nan)
    if not m.any():
        return nan, float("nan")
    comp, n = ndimage.label(m, structure=_structure(nd, min(connectivity, nd)))
    idx = np.nonzero(comp)
    lab = comp[idx]
    coords = np.stack(idx, axis=1).astype(np.float64)
    counts = np.bincount(lab, minlength=n + 1).astype(np.float64)
    good = counts >= max(min_size, 1)
    good[0] = False
    sel = good[lab]
    if not sel.any():
        return nan, float("nan")
    coords, lab = coords[sel], lab[sel]
    sums = np.stack([np.bincount(lab, weights=coords[:, a], minlength=n + 1) for a in range(nd)], 1)
    means = sums / np.maximum(counts, 1)[:, None]
    d = coords - means[lab]
    scatter = d.T @ d
    w, v = np.linalg.eigh(scatter)  # ascending eigenvalues
    normal = v[:, 0]
    normal = normal * np.sign(normal[np.argmax(np.abs(normal))])
    flat = float(1.0 - w[0] / w[1]) if w[1] > 0 else float("nan")
    return normal, flat


def axis_angle_deg(a: NDArray[np.floating], b: NDArray[np.floating]) -> float:
    """Angle between two axes (sign-free), in degrees.

    Parameters
    ----------
    a, b : ndarray of shape (ndim,)
        Directions.

    Returns
    -------
    angle : float
        In [0, 90] degrees.

    Examples
    --------
    >>> axis_angle_deg(np.array([1.0, 0, 0]), np.array([-1.0, 0, 0]))
    0.0
    """
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    c = abs(float(a @ b)) / float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(min(c, 1.0))))


@dataclass(frozen=True)
class CrystalTable:
    """Per-crystal statistics of a segmentation.

    Attributes
    ----------
    crystal_id : ndarray of int, shape (n,)
        Label value of each crystal.
    n_voxels : ndarray of int, shape (n,)
        Crystal size, voxels (pixels in 2D).
    size : ndarray of float, shape (n,)
        Crystal volume in m³ (area in m² for 2D); NaN without a voxel size.
    high_ox_fraction : ndarray of float, shape (n,)
        Fraction of the crystal's voxels labelled >Ni³⁺ (weighted when weights given).
    mean_valence : ndarray of float, shape (n,)
        Mean Ni valence over the crystal (weighted when weights given).
    normal : ndarray of float, shape (n, ndim)
        Slab normal (unit, (plane, row, col) axes); NaN when the crystal has no slab.
    flatness : ndarray of float, shape (n,)
        Planarity of the slabs used for the normal (see :func:`slab_normal`).
    centroid : ndarray of float, shape (n, ndim)
        Crystal centroid, voxel index units.
    """

    crystal_id: NDArray[np.int64]
    n_voxels: NDArray[np.int64]
    size: NDArray[np.float64]
    high_ox_fraction: NDArray[np.float64]
    mean_valence: NDArray[np.float64]
    normal: NDArray[np.float64]
    flatness: NDArray[np.float64]
    centroid: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.crystal_id.size)

    def columns(self) -> dict[str, NDArray]:
        """Return the table as 1-D columns (for ``Project.tables`` or CSV).

        Returns
        -------
        columns : dict of str to ndarray
            ``normal`` and ``centroid`` split into ``normal_<axis>`` /
            ``centroid_<axis>`` with axis names plane, row, col.
        """
        names = _AXIS_NAMES[self.normal.shape[1]]
        out: dict[str, NDArray] = {
            "crystal_id": self.crystal_id,
            "n_voxels": self.n_voxels,
            "size": self.size,
            "high_ox_fraction": self.high_ox_fraction,
            "mean_valence": self.mean_valence,
        }
        for a, name in enumerate(names):
            out[f"normal_{name}"] = self.normal[:, a]
        out["flatness"] = self.flatness
        for a, name in enumerate(names):
            out[f"centroid_{name}"] = self.centroid[:, a]
        return out


def crystal_table_gen(
    valence: NDArray[np.floating],
    crystals: NDArray[np.integer],
    high_ox: NDArray,
    *,
    voxel_size: float | None = None,
    weights: NDArray[np.floating] | None = None,
    surface_margin: int = 1,
    min_slab_size: int = 3,
    control: Control | None = None,
) -> Generator[Progress, None, CrystalTable]:
    """Per-crystal >Ni³⁺ fraction, mean valence and slab normal (generator).

    Parameters
    ----------
    valence : ndarray of shape (M, N) or (P, M, N)
        Ni valence; NaN voxels are left out of the means.
    crystals : ndarray of int, same shape
        Crystal labels (0 = background), e.g. from :func:`label_crystals`.
    high_ox : ndarray of bool or int, same shape
        >Ni³⁺ segmentation (non-zero = >Ni³⁺).
    voxel_size : float, optional
        Voxel (pixel) edge, m, for ``size``.
    weights : ndarray, optional
        Ni weights per voxel (e.g. thickness of a 2D map) for the fraction and mean.
    surface_margin : int, optional
        Voxels within this many voxels of the crystal surface are left out of the
        normal estimate, so that an oxidised surface shell does not mask the slabs.
    min_slab_size : int, optional
        Connected slab pieces smaller than this are ignored for the normal.
    control : Control, optional
        Checked between crystals.

    Yields
    ------
    progress : Progress
        One report per crystal.

    Returns
    -------
    table : CrystalTable

    Raises
    ------
    ValueError
        If the shapes differ.
    Cancelled
        If ``control`` is cancelled.
    """
    v = np.asarray(valence, np.float64)
    lab = np.asarray(crystals)
    hox = np.asarray(high_ox) != 0
    _check_ndim(v, "valence")
    if lab.shape != v.shape or hox.shape != v.shape:
        raise ValueError(
            f"shapes differ: valence {v.shape}, crystals {lab.shape}, high_ox {hox.shape}"
        )
    w_all = None if weights is None else np.asarray(weights, np.float64)
    if w_all is not None and w_all.shape != v.shape:
        raise ValueError(f"weights shape {w_all.shape} differs from valence shape {v.shape}")
    control = control or Control()
    nd = v.ndim
    ids = [int(k) for k in np.unique(lab) if k != 0]
    boxes = ndimage.find_objects(lab.astype(np.int64, copy=False)) if ids else []
    rows: list[tuple] = []
    yield Progress(0, max(len(ids), 1), "crystal table", "segment")
    for i, k in enumerate(ids):
        control.check()
        box = boxes[k - 1]
        inside = lab[box] == k
        vv = v[box][inside]
        hh = hox[box][inside]
        ww = np.ones_like(vv) if w_all is None else w_all[box][inside]
        finite = np.isfinite(vv)
        wsum = ww.sum()
        frac = float((ww * hh).sum() / wsum) if wsum > 0 else float("nan")
        wf = ww[finite]
        mean = float((wf * vv[finite]).sum() / wf.sum()) if wf.sum() > 0 else float("nan")
        core = inside
        if surface_margin > 0:
            padded = np.pad(inside, 1)
            core = ndimage.binary_erosion(padded, iterations=surface_margin)[
                tuple(slice(1, -1) for _ in range(nd))
            ]
        normal, flat = slab_normal(hox[box] & core, min_size=min_slab_size)
        coords = np.argwhere(inside).mean(axis=0) + np.array([s.start for s in box])
        rows.append((k, int(inside.sum()), frac, mean, normal, flat, coords))
        yield Progress(i + 1, len(ids), "crystal table", "segment")
    n = len(rows)
    cell = float("nan") if voxel_size is None else float(voxel_size) ** nd
    return CrystalTable(
        crystal_id=np.array([r[0] for r in rows], np.int64),
        n_voxels=np.array([r[1] for r in rows], np.int64),
        size=np.array([r[1] * cell for r in rows], np.float64),
        high_ox_fraction=np.array([r[2] for r in rows], np.float64),
        mean_valence=np.array([r[3] for r in rows], np.float64),
        normal=np.array([r[4] for r in rows], np.float64).reshape(n, nd),
        flatness=np.array([r[5] for r in rows], np.float64),
        centroid=np.array([r[6] for r in rows], np.float64).reshape(n, nd),
    )


def crystal_table(
    valence: NDArray[np.floating],
    crystals: NDArray[np.integer],
    high_ox: NDArray,
    **kwargs: object,
) -> CrystalTable:
    """Per-crystal table, computed at once (see :func:`crystal_table_gen`).

    Parameters
    ----------
    valence, crystals, high_ox : ndarray
        As in :func:`crystal_table_gen`.
    **kwargs
        Passed to :func:`crystal_table_gen`.

    Returns
    -------
    table : CrystalTable

    Examples
    --------
    >>> v = np.full((4, 6), np.nan); v[:, :3] = 2.5; v[0, :3] = 3.3
    >>> t = crystal_table(v, np.isfinite(v).astype(int), v > 3, surface_margin=0)
    >>> t.high_ox_fraction.tolist(), np.round(t.normal, 3).tolist()
    ([0.25], [[1.0, 0.0]])
    """
    return run_sync(crystal_table_gen(valence, crystals, high_ox, **kwargs))  # type: ignore[arg-type]
