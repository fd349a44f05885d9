"""``ptyxanes explore``: PCA, clustering and linear-combination maps of a spectral stack."""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``explore`` subcommand.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The dispatcher's subparsers.
    """
    p = sub.add_parser(
        "explore",
        help="model-free exploration: PCA, k-means clusters and reference fraction maps",
        description=(
            "Normalise the spectrum of every pixel (2D stack, E x M x N) or voxel (volumes, "
            "E x P x M x N) of a NeXus stack (pre-/post-edge lines, sample mask by edge jump), "
            "then: principal components (explained variance, component spectra, score maps), "
            "k-means clusters of the scores (cluster map, cluster-mean spectra), and the "
            "fractions of reference spectra in every pixel (non-negative, summing to one "
            "unless told otherwise). Writes a project file with maps pca_score_<k>, "
            "fraction_<reference>, lcf_residual, edge_jump, labels/clusters and tables "
            "pca_components, pca_variance, cluster_spectra, plus a PNG summary figure."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("stack", help="input stack: any input of `ptyxanes import` (file or folder)")
    p.add_argument("-o", "--output", required=True, help="result project file (.h5) to write")
    p.add_argument("--edge", default="Ni-K",
                   help="absorption edge ELEMENT-EDGE (Ni-K, Co-K, Fe-L3, ...): its pre-/post-edge "
                        "windows and normalisation, as for ptyxanes fit")
    p.add_argument("--pca", type=int, default=4, metavar="N",
                   help="principal components kept (0: no PCA and no clustering)")
    p.add_argument("--clusters", type=int, default=0, metavar="K",
                   help="k-means clusters of the PCA scores (0: none)")
    p.add_argument("--ref", action="append", default=None, metavar="FILE",
                   help="reference spectrum (two-column ASCII or XDI) for the fraction maps; "
                        "repeat for each reference (any number)")
    p.add_argument("--free-sum", action="store_true",
                   help="do not force the fractions to add up to one")
    p.add_argument("--allow-negative", action="store_true",
                   help="allow negative fractions")
    p.add_argument("--threshold", default="otsu",
                   help="edge-jump threshold of the sample mask (input absorption units) or "
                        "'otsu'")
    p.add_argument("--seed", type=int, default=0, help="seed of the k-means initialisations")
    p.add_argument("--figure", default=None,
                   help="summary figure path (.png/.tif/.svg/.pdf); default OUTPUT with .png")
    p.add_argument("--dpi", type=float, default=150, help="summary figure resolution, dots/inch")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-+]", "_", name) or "ref"


def _references(paths: Sequence[str], energy: NDArray[np.float64], norm_kwargs: dict[str, Any]
                ) -> tuple[list[str], NDArray[np.float64]]:
    from ptyxanes.io.spectra import read_spectrum
    from ptyxanes.xanes.normalize import normalize

    names, refs = [], []
    for path in paths:
        s = read_spectrum(path)
        e = np.asarray(s.energy, float)
        if energy.min() < e.min() - 1e-6 or energy.max() > e.max() + 1e-6:
            raise ValueError(f"{path}: the reference covers {e.min():.1f}-{e.max():.1f} eV, "
                             f"the stack {energy.min():.1f}-{energy.max():.1f} eV")
        # normalised on the stack's own energies, exactly like the pixel spectra
        try:
            nrm = normalize(energy, np.interp(energy, e, np.asarray(s.mu, float)), **norm_kwargs)
        except ValueError as exc:
            raise ValueError(f"{path}: cannot normalise the reference ({exc})") from exc
        mu = np.asarray(nrm.mu, float)
        if not np.isfinite(mu).all():
            raise ValueError(f"{path}: the reference has no positive absorption edge")
        refs.append(mu)
        names.append(_safe(Path(path).stem))
    seen: dict[str, int] = {}
    for i, n in enumerate(names):  # make names unique
        if n in seen:
            seen[n] += 1
            names[i] = f"{n}_{seen[n]}"
        else:
            seen[n] = 1
    return names, np.asarray(refs)


def _run(args: argparse.Namespace) -> int:
    from ptyxanes.cli._progress import run_with_bar
    from ptyxanes.explore import kmeans_gen, linear_combination_gen, normalized_spectra, pca_gen
    from ptyxanes.explore.spectra import edge_norm_kwargs
    from ptyxanes.figures import save_figure
    from ptyxanes.figures.explore import explore_figure
    from ptyxanes.io.formats import open_stack
    from ptyxanes.io.project import MapData, Project, save_project
    from ptyxanes.provenance import provenance
    from ptyxanes.xanes.edges import edge_spec

    out = Path(args.output)
    fig_path = Path(args.figure) if args.figure else out.with_suffix(".png")
    for p in (out, fig_path):
        if p.exists() and not args.overwrite:
            raise FileExistsError(f"{p} exists; use --overwrite to replace it")
        if p.resolve() == Path(args.stack).resolve():
            raise ValueError("an output must not be the input stack")
    if args.pca < 0 or args.clusters < 0:
        raise ValueError("--pca and --clusters must be 0 or more")
    if args.clusters and not args.pca:
        raise ValueError("--clusters works on the PCA scores: give --pca N (N >= 1)")
    if not args.pca and not args.ref:
        raise ValueError("nothing to do: give --pca N and/or --ref FILE")
    thr = args.threshold if str(args.threshold).lower() == "otsu" else float(args.threshold)
    stack = open_stack(args.stack, lazy=False)
    energy = np.asarray(stack.energy, float)
    px = float(np.asarray(stack.pixel_size)[0])
    if stack.is_3d and stack.angle is not None:
        raise ValueError(f"{args.stack} is a tilt series (angles); explore reconstructed "
                         "volumes or 2D stacks")
    spec = edge_spec(args.edge)
    norm_kwargs = edge_norm_kwargs(spec)
    sd = normalized_spectra(energy, stack.data, kind=stack.kind, energy_axis=0, threshold=thr,
                            edge=spec)
    maps = {"edge_jump": MapData(np.where(sd.mask, sd.edge_jump, np.nan).astype(np.float32), px,
                                 "edge_jump", "", "edge jump (input absorption units)")}
    tables: dict[str, dict[str, np.ndarray]] = {}
    labels: dict[str, np.ndarray] = {}
    params = {"edge": args.edge, "pca": args.pca, "clusters": args.clusters, "threshold": sd.threshold,
              "references": list(args.ref or []), "sum_to_one": not args.free_sum,
              "nonnegative": not args.allow_negative, "seed": args.seed}
    pca_res = clu = lcf = None
    if args.pca:
        pca_res = run_with_bar(pca_gen(sd, args.pca), "PCA", quiet=args.quiet)
        for k in range(pca_res.n_components):
            maps[f"pca_score_{k + 1}"] = MapData(pca_res.scores[..., k], px, f"pca_score_{k + 1}",
                                                 "", f"PC{k + 1} score")
        tables["pca_components"] = {"energy": energy, "mean": pca_res.mean,
                                    **{f"pc{k + 1}": pca_res.components[k]
                                       for k in range(pca_res.n_components)}}
        tables["pca_variance"] = {
            "component": np.arange(1, pca_res.n_components + 1),
            "explained_variance": pca_res.explained_variance,
            "explained_variance_ratio": pca_res.explained_variance_ratio}
    if args.clusters and pca_res is not None:  # --clusters needs --pca (checked above)
        clu = run_with_bar(kmeans_gen(pca_res, args.clusters, spectra=sd.mu, seed=args.seed),
                           "k-means", quiet=args.quiet)
        labels["clusters"] = clu.labels
        tables["cluster_spectra"] = {"energy": energy, **{
            f"cluster{j + 1}": clu.mean_spectra[j] for j in range(clu.n_clusters)}}
    if args.ref:
        names, refs = _references(args.ref, energy, norm_kwargs)
        lcf = run_with_bar(linear_combination_gen(sd, refs, names=names,
                                                  nonnegative=not args.allow_negative,
                                                  sum_to_one=not args.free_sum),
                           "fractions", quiet=args.quiet)
        for i, n in enumerate(names):
            maps[f"fraction_{n}"] = MapData(lcf.fractions[..., i], px, f"fraction_{n}", "",
                                            f"fraction of {n}")
        maps["lcf_residual"] = MapData(lcf.residual, px, "lcf_residual", "",
                                       "RMS misfit (normalised mu)")
    proj = Project(maps=maps, labels=labels, tables=tables, parameters={"explore": params},
                   inputs={"stack": str(Path(args.stack).resolve())},
                   provenance=[provenance("explore", params)])
    fig = explore_figure(pca_res, clu, lcf, pixel_size_m=px,
                         title=f"{Path(args.stack).name}: {int(sd.mask.sum())} spectra")
    save_project(out, proj, overwrite=args.overwrite)
    save_figure(fig, fig_path, dpi=args.dpi, overwrite=args.overwrite)
    msg = f"wrote {out} and {fig_path}: {int(sd.mask.sum())} spectra"
    if pca_res is not None:
        r = pca_res.explained_variance_ratio
        msg += f"; PCA variance {', '.join(f'{100 * x:.1f}%' for x in r[:4])}"
    if clu is not None:
        msg += f"; clusters of {', '.join(str(c) for c in clu.counts)} pixels"
    if lcf is not None:
        means = np.nanmean(lcf.fractions.reshape(-1, len(lcf.names)), axis=0)
        msg += "; mean fractions " + ", ".join(f"{n} {m:.2f}" for n, m in zip(lcf.names, means, strict=True))
    print(msg)  # noqa: T201 - CLI output
    return 0
