"""Agglomerates of faceted NMC811 single crystals with a Ni valence field.

Each crystal is a convex polyhedron (intersection of half-spaces): two basal
facets normal to its own c-axis, six prism facets around it and a few random
truncating facets. The Ni valence of every voxel is a crystal base value
(spread between crystals growing with cycle number) plus an oxidised surface
shell and >Ni3+ slabs parallel to the crystal's c-plane (basal plane), then
shifted so the sample mean follows the paper (see ``CYCLE_MODELS`` and
``docs/simulator.md``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

logger = logging.getLogger(__name__)

#: Voxels with valence above this are labelled >Ni3+ (``Sample.high_ox``).
HIGH_OX_THRESHOLD: float = 3.0


@dataclass(frozen=True)
class CycleModel:
    """Valence statistics of one ageing state.

    Attributes
    ----------
    mean : float
        Target sample-mean Ni valence (voxel average over all crystals).
    spread : float
        Standard deviation of the crystal base valences.
    shell : float
        Valence added at the crystal surface (decays with depth).
    shell_depth : float
        1/e depth of the shell, m.
    slabs : tuple of int
        (min, max) number of >Ni3+ slabs per crystal.
    slab_excess : float
        Slab valence above max(base, 3.0).
    """

    mean: float
    spread: float
    shell: float
    shell_depth: float
    slabs: tuple[int, int]
    slab_excess: float


#: Paper (Fig. 5g): pristine ~2.3, 200 cycles ~3.0 (2.3-3.5), 350 ~3.1, 500 slightly above 3.1.
CYCLE_MODELS: dict[int, CycleModel] = {
    0: CycleModel(2.30, 0.02, 0.00, 100e-9, (0, 0), 0.0),
    200: CycleModel(3.00, 0.20, 0.25, 100e-9, (0, 2), 0.30),
    350: CycleModel(3.10, 0.24, 0.30, 120e-9, (1, 3), 0.35),
    500: CycleModel(3.15, 0.28, 0.35, 150e-9, (2, 4), 0.40),
}


@dataclass(frozen=True)
class SampleGeometry:
    """Grid and crystal population of a sample size.

    Attributes
    ----------
    shape : tuple of int
        (P, M, N) voxels; the beam runs along P at 0 deg.
    voxel_size : float
        m.
    n_crystals : int
        Crystals to place (fewer if they do not fit).
    diameter : tuple of float
        (min, max) crystal diameter, m.
    """

    shape: tuple[int, int, int]
    voxel_size: float
    n_crystals: int
    diameter: tuple[float, float]


#: (dim, size) -> geometry. 2D samples are flat layers of crystals on tape;
#: 3D samples are compact agglomerates inside the cylinder the rotation sweeps.
GEOMETRIES: dict[tuple[str, str], SampleGeometry] = {
    ("2d", "tiny"): SampleGeometry((24, 56, 56), 100e-9, 3, (1.0e-6, 2.0e-6)),
    ("2d", "small"): SampleGeometry((32, 96, 96), 50e-9, 2, (1.6e-6, 2.4e-6)),
    ("2d", "demo"): SampleGeometry((64, 200, 200), 40e-9, 7, (1.2e-6, 2.5e-6)),
    ("2d", "paper"): SampleGeometry((80, 1000, 1000), 40e-9, 160, (1.0e-6, 3.0e-6)),
    ("3d", "tiny"): SampleGeometry((40, 40, 40), 100e-9, 3, (1.0e-6, 1.8e-6)),
    ("3d", "demo"): SampleGeometry((120, 120, 120), 50e-9, 5, (1.2e-6, 2.5e-6)),
    ("3d", "paper"): SampleGeometry((375, 375, 375), 40e-9, 30, (1.0e-6, 3.0e-6)),
}


@dataclass(frozen=True, eq=False)
class Sample:
    """A simulated NMC811 agglomerate with its ground truth.

    Attributes
    ----------
    voxel_size : float
        m.
    crystal_labels : ndarray of int32, shape (P, M, N)
        0 = empty, k = crystal k (1-based).
    valence : ndarray of float32, shape (P, M, N)
        Ni oxidation state; NaN outside crystals.
    high_ox : ndarray of bool, shape (P, M, N)
        Voxels above :data:`HIGH_OX_THRESHOLD` (surface shells, slabs).
    c_axes : ndarray of shape (n_crystals, 3)
        Unit c-axis of each crystal in (plane, row, col) components.
    cycles : int
        Number of charge-discharge cycles.
    slab_mask : ndarray of bool, shape (P, M, N)
        Voxels inside >Ni3+ slabs.
    """

    voxel_size: float
    crystal_labels: NDArray[np.int32]
    valence: NDArray[np.float32]
    high_ox: NDArray[np.bool_]
    c_axes: NDArray[np.float64]
    cycles: int
    slab_mask: NDArray[np.bool_] | None = None
    dim: str = "2d"

    @property
    def shape(self) -> tuple[int, int, int]:
        """(P, M, N) voxels."""
        return tuple(self.crystal_labels.shape)

    @property
    def occupancy(self) -> NDArray[np.bool_]:
        """Voxels inside any crystal."""
        return self.crystal_labels > 0

    def thickness(self) -> NDArray[np.float64]:
        """Crystal thickness along the beam (plane axis), m, shape (M, N)."""
        return self.occupancy.sum(axis=0) * self.voxel_size

    def projected_valence(self) -> NDArray[np.float64]:
        """Ni-weighted mean valence along the beam, shape (M, N); NaN where empty.

        Ni density is uniform in NMC811, so the Ni weighting is the voxel count.
        """
        occ = self.occupancy
        s = np.where(occ, self.valence, 0.0).sum(axis=0, dtype=np.float64)
        n = occ.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, s / np.maximum(n, 1), np.nan)

    def mean_valence(self) -> float:
        """Voxel-averaged (Ni-weighted) valence of the whole sample."""
        return float(np.nanmean(self.valence[self.occupancy], dtype=np.float64))

    def crystal_means(self) -> NDArray[np.float64]:
        """Mean valence of each crystal, shape (n_crystals,)."""
        lab = self.crystal_labels
        n = int(lab.max())
        v = np.where(lab > 0, self.valence, 0.0)
        return np.asarray(ndimage.mean(v, lab, index=np.arange(1, n + 1)), dtype=np.float64)


def _random_unit(rng: np.random.Generator) -> NDArray[np.float64]:
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def _crystal_facets(
    rng: np.random.Generator, c: NDArray[np.float64], radius: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Facet normals (K, 3) and offsets (K,) (m) of one crystal around its centre."""
    half_h = radius * rng.uniform(0.55, 0.9)
    u = np.cross(c, [1.0, 0.0, 0.0] if abs(c[0]) < 0.9 else [0.0, 1.0, 0.0])
    u /= np.linalg.norm(u)
    w = np.cross(c, u)
    normals = [c, -c]
    offsets = [half_h, half_h]
    phase = rng.uniform(0, np.pi / 3)
    for k in range(6):
        phi = phase + k * np.pi / 3
        normals.append(np.cos(phi) * u + np.sin(phi) * w)
        offsets.append(radius * rng.uniform(0.88, 1.0))
    for _ in range(int(rng.integers(3, 7))):
        n = _random_unit(rng)
        cz = abs(float(n @ c))
        support = cz * half_h + np.sqrt(max(0.0, 1 - cz**2)) * radius
        normals.append(n)
        offsets.append(support * rng.uniform(0.8, 0.95))
    return np.asarray(normals), np.asarray(offsets)


def _place_centres(
    rng: np.random.Generator, geom: SampleGeometry, dim: str
) -> list[tuple[NDArray[np.float64], float]]:
    """Crystal centres (m, (plane, row, col)) and radii; touching, few overlaps."""
    p, m, n = geom.shape
    vs = geom.voxel_size
    ext = np.array([p, m, n]) * vs
    placed: list[tuple[NDArray[np.float64], float]] = []
    tries = 0
    while len(placed) < geom.n_crystals and tries < 400 * geom.n_crystals:
        tries += 1
        r = 0.5 * rng.uniform(*geom.diameter)
        if dim == "2d":
            # an empty margin of 10 % keeps crystals inside the field of view when shifted
            r = min(r, 0.45 * ext[0])
            mr, mc = 0.1 * ext[1] + r, 0.1 * ext[2] + r
            if mr >= ext[1] - mr or mc >= ext[2] - mc:
                continue
            c = np.array([ext[0] / 2 + rng.uniform(-0.1, 0.1) * (ext[0] / 2 - r),
                          rng.uniform(mr, ext[1] - mr), rng.uniform(mc, ext[2] - mc)])
        else:
            # inside the cylinder swept by rotation about the row axis
            rad = 0.5 * min(ext[0], ext[2]) - 1.05 * r
            if rad <= 0:
                continue
            ang, rr = rng.uniform(0, 2 * np.pi), rad * np.sqrt(rng.uniform(0, 1))
            c = np.array([ext[0] / 2 + rr * np.cos(ang),
                          rng.uniform(r, ext[1] - r), ext[2] / 2 + rr * np.sin(ang)])
        ok = all(np.linalg.norm(c - c2) > 0.85 * (r + r2) for c2, r2 in placed)
        if ok:
            placed.append((c, r))
    return placed


def make_sample(
    size: str = "tiny",
    cycles: int = 0,
    seed: int = 0,
    *,
    dim: str = "2d",
    geometry: SampleGeometry | None = None,
) -> Sample:
    """Build an agglomerate of NMC811 crystals with a Ni valence field.

    Parameters
    ----------
    size : {"tiny", "demo", "paper"}
        Grid and population (see :data:`GEOMETRIES`).
    cycles : {0, 200, 350, 500}
        Ageing state (see :data:`CYCLE_MODELS`).
    seed : int
        Random seed; the same arguments give the same sample.
    dim : {"2d", "3d"}, optional
        Flat layer (2D imaging) or compact agglomerate for tomography.
    geometry : SampleGeometry, optional
        Overrides the grid of ``size``.

    Returns
    -------
    sample : Sample

    Raises
    ------
    ValueError
        For an unknown size, dim or cycle number.

    Examples
    --------
    >>> s = make_sample("tiny", 0, seed=1)
    >>> round(s.mean_valence(), 1)
    2.3
    """
    if cycles not in CYCLE_MODELS:
        raise ValueError(f"cycles must be one of {sorted(CYCLE_MODELS)}; got {cycles}")
    if geometry is None:
        if (dim, size) not in GEOMETRIES:
            raise ValueError(f"unknown sample size/dim {size!r}/{dim!r}; sizes tiny, demo, paper; dim 2d, 3d")
        geometry = GEOMETRIES[(dim, size)]
    model = CYCLE_MODELS[cycles]
    rng = np.random.default_rng([seed, cycles, 0 if dim == "2d" else 1])
    vs = geometry.voxel_size
    shape = geometry.shape
    labels = np.zeros(shape, np.int32)
    valence = np.full(shape, np.nan, np.float32)
    slab_mask = np.zeros(shape, bool)
    c_axes = []
    for k, (centre, radius) in enumerate(_place_centres(rng, geometry, dim), start=1):
        c = _random_unit(rng)
        normals, offsets = _crystal_facets(rng, c, radius)
        reach = float(np.sqrt(radius**2 + offsets[0] ** 2))
        lo = np.maximum(np.floor((centre - reach) / vs).astype(int), 0)
        hi = np.minimum(np.ceil((centre + reach) / vs).astype(int) + 1, shape)
        grids = [(np.arange(lo[a], hi[a]) + 0.5) * vs - centre[a] for a in range(3)]
        x = np.stack(np.meshgrid(*grids, indexing="ij"), axis=-1)  # (..., 3) m
        depth = np.min(offsets - x @ normals.T, axis=-1)  # distance to nearest facet, m
        box = tuple(slice(lo[a], hi[a]) for a in range(3))
        inside = (depth > 0) & (labels[box] == 0)
        if inside.sum() < 8:
            continue
        c_axes.append(c)
        lab = len(c_axes)
        base = model.mean + model.spread * rng.standard_normal()
        v = np.full(depth.shape, base)
        v += model.shell * np.exp(-np.maximum(depth, 0) / model.shell_depth)
        along = x @ c  # coordinate along the c-axis, m
        slabs = np.zeros(depth.shape, bool)
        half_h = offsets[0]
        for _ in range(int(rng.integers(model.slabs[0], model.slabs[1] + 1))):
            pos = rng.uniform(-0.7, 0.7) * half_h
            thick = rng.uniform(60e-9, 200e-9)
            slabs |= np.abs(along - pos) < thick / 2
        v = np.where(slabs, np.maximum(v, HIGH_OX_THRESHOLD) + model.slab_excess, v)
        v += 0.015 * rng.standard_normal(v.shape)
        labels[box][inside] = lab
        valence[box][inside] = v[inside]
        slab_mask[box][inside] = slabs[inside]
        logger.debug("crystal %d: r=%.2f um base=%.2f", k, radius * 1e6, base)
    occ = labels > 0
    if not occ.any():
        raise ValueError("no crystal fits the sample grid; enlarge the geometry")
    # shift so the voxel mean meets the paper's mean for this cycle number
    valence[occ] += np.float32(model.mean - float(valence[occ].mean(dtype=np.float64)))
    np.clip(valence, 2.0, 3.9, out=valence)
    # slabs stay above Ni3+; the other voxels take up the difference in the mean
    floor = np.float32(HIGH_OX_THRESHOLD + 0.1)
    valence[slab_mask] = np.maximum(valence[slab_mask], floor)
    rest = occ & ~slab_mask
    if rest.any():
        excess = float(valence[occ].mean(dtype=np.float64)) - model.mean
        valence[rest] -= np.float32(excess * occ.sum() / rest.sum())
        np.clip(valence, 2.0, 3.9, out=valence)
    high_ox = occ & (valence > HIGH_OX_THRESHOLD)
    return Sample(
        voxel_size=vs,
        crystal_labels=labels,
        valence=valence,
        high_ox=high_ox,
        c_axes=np.asarray(c_axes, np.float64).reshape(-1, 3),
        cycles=int(cycles),
        slab_mask=slab_mask,
        dim=dim,
    )


def sample_summary(sample: Sample) -> dict[str, Any]:
    """Numbers describing a sample (for logs and ground-truth attributes).

    Returns
    -------
    summary : dict
        ``n_crystals``, ``mean_valence``, ``crystal_mean_min``/``max``,
        ``high_ox_fraction``, ``voxel_size`` (m), ``shape``.
    """
    cm = sample.crystal_means()
    occ = sample.occupancy
    return {
        "n_crystals": int(sample.c_axes.shape[0]),
        "mean_valence": sample.mean_valence(),
        "crystal_mean_min": float(cm.min()),
        "crystal_mean_max": float(cm.max()),
        "high_ox_fraction": float(sample.high_ox[occ].mean()),
        "voxel_size": sample.voxel_size,
        "shape": list(sample.shape),
        "cycles": sample.cycles,
    }
