"""Model-free exploration of XANES maps and volumes: PCA, clustering, linear combinations.

Arrays in, frozen dataclasses out; each long computation also exists as a
generator yielding :class:`~ptyxanes.progress.Progress` (``*_gen``).
"""

from ptyxanes.explore.cluster import ClusterResult, kmeans, kmeans_gen
from ptyxanes.explore.lcf import (
    LCFResult,
    linear_combination,
    linear_combination_gen,
    references_on,
)
from ptyxanes.explore.pca import PCAResult, pca, pca_gen
from ptyxanes.explore.spectra import SpectralData, normalized_spectra

__all__ = [
    "ClusterResult",
    "LCFResult",
    "PCAResult",
    "SpectralData",
    "kmeans",
    "kmeans_gen",
    "linear_combination",
    "linear_combination_gen",
    "normalized_spectra",
    "pca",
    "pca_gen",
    "references_on",
]
