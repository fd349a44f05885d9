"""normalized_spectra on another edge: the real Fe L-edge STXM stack with the Fe-L3 windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

STXM = Path(__file__).resolve().parents[3].parent / "shared" / "data" / \
    "stxm_fe_L_edge_als_stack" / "71214078_aligned"


def test_fe_l3_stack_is_normalised_with_its_own_windows():
    from ptyxanes.explore import normalized_spectra
    from ptyxanes.io.formats import open_stack
    from ptyxanes.xanes.edges import edge_spec

    assert STXM.is_dir(), f"real STXM stack missing: {STXM}"
    st = open_stack(STXM)
    e = np.asarray(st.energy, float)
    with pytest.raises(ValueError, match="pre-edge"):  # the Ni K-edge default does not fit
        normalized_spectra(e, st.data, kind=st.kind, energy_axis=0)
    spec = edge_spec("Fe-L3")
    sd = normalized_spectra(e, st.data, kind=st.kind, energy_axis=0, edge=spec)
    mu = sd.mu[sd.mask]  # (n, E)
    assert 500 < len(mu) < sd.mask.size
    # "area" normalisation: mean of (mu - pre-edge line) over the edge window is 1 and the
    # pre-edge is flat at 0, pixel by pixel
    win = (e >= spec.window[0]) & (e <= spec.window[1])
    pre = (e >= spec.pre_edge[0]) & (e <= spec.pre_edge[1])
    np.testing.assert_allclose(mu[:, win].mean(axis=1), 1.0, atol=1e-6)
    pre_median = np.median(mu[:, pre], axis=0)  # per energy; noisy real data (±0.07)
    assert abs(pre_median.mean()) < 0.02 and np.abs(pre_median).max() < 0.1
    # the edge itself rises well above the pre-edge: the Fe L3 white line peaks above 1
    assert np.median(mu[:, win].max(axis=1)) > 1.5
