"""Labels follow the sample: optical density for an STXM stack, its element before a fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

STXM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / \
    "stxm_fe_L_edge_als_stack" / "71214078_aligned"


@pytest.fixture(scope="module")
def stxm_path(tmp_path_factory):
    """A 32 x 32 crop of the real STXM optical-density stack as NeXus (its attributes kept)."""
    import dataclasses

    from ptyxanes.io.formats import open_stack
    from ptyxanes.io.nexus import write_stack

    if not STXM.exists():
        pytest.skip(f"{STXM} not found")
    stack = open_stack(STXM, lazy=False)
    crop = dataclasses.replace(stack, data=np.ascontiguousarray(
        np.asarray(stack.data)[:, 40:72, 20:52]))
    path = tmp_path_factory.mktemp("od") / "fe_od.h5"
    write_stack(path, crop)
    return path


def test_stxm_optical_density_is_named_so(stxm_path, tiny_stack_file) -> None:
    from ptyxanes_gui.presenters import channels, opening, spectra

    (s,) = opening.load_path(stxm_path)
    assert channels.channel_label(s, "absorption") == "optical density −ln(I/I₀)"
    fit = spectra.fit_spectrum(s.energy, spectra.pixel_spectrum(s, 20, 12), s)
    assert fit.raw_label == "optical density −ln(I/I₀)"
    # before any fit the inspector normalises with the sample's own edge (Fe-L3), not Ni-K
    assert fit.fit is not None and not fit.message.startswith("fit failed"), fit.message
    assert fit.fit.mu_norm.shape == s.energy.shape and np.isfinite(fit.normalized).all()
    # a ptychographic (complex transmission) stack keeps −ln|T|
    (t,) = opening.load_path(tiny_stack_file)
    assert channels.channel_label(t, "absorption") == "−ln|T|"


def test_histogram_names_the_element_before_a_fit(window, stxm_path) -> None:
    """An Fe L-edge sample opened, not fitted: the histogram speaks of Fe, not Ni."""
    window.open_paths([str(stxm_path)], recent=False)
    assert window.current_sample() is not None
    window.update_histogram()
    hp = window.histogram_panel
    assert hp.plot.getAxis("bottom").labelText == "Fe valence"
    assert "Fe-weighted" in hp.plot.getAxis("left").labelText
    texts = [line.label.textItem.toPlainText() for line in hp.ref_lines]
    assert texts == ["Fe²⁺", "Fe³⁺"]
    assert np.all([line.value() in (2.0, 3.0) for line in hp.ref_lines])
