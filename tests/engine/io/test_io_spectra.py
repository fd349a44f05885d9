"""Reference spectra: XDI and two-column ASCII, on real data and on crafted bad files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from ptyxanes.io import FormatError
from ptyxanes.io.spectra import Spectrum, read_spectrum, write_spectrum

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


def _data(*parts: str) -> Path:
    p = DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data {p} not found")
    return p


def _half_height(s: Spectrum, lo: float, hi: float) -> float:
    """Energy where mu crosses halfway between its pre-edge (<lo) and post-edge (>hi) means."""
    pre = s.mu[s.energy < lo].mean()
    post = s.mu[(s.energy > hi) & (s.energy < hi + 60)].mean()
    norm = (s.mu - pre) / (post - pre)
    sel = (s.energy > lo) & (s.energy < hi)
    e, n = s.energy[sel], norm[sel]
    i = int(np.argmax(n >= 0.5))
    return float(np.interp(0.5, n[i - 1 : i + 1], e[i - 1 : i + 1]))


def test_xdi_mutrans_lisa():
    s = read_spectrum(_data("ni_kedge_lisa_esrf", "NiO_111.xdi"))
    assert s.meta["column"] == "mutrans"
    assert s.name == "Nickel(II) oxide"
    assert s.energy.shape == (585,) and s.mu.shape == (585,)
    assert_allclose(s.energy[0], 8183.1431)
    assert_allclose(s.mu[0], -0.23658975e-01)
    assert s.meta["Element.symbol"] == "Ni"
    # the edge of NiO lies ~8340-8345 eV
    assert 8336 < _half_height(s, 8320, 8360) < 8348


def test_xdi_column_choice_murefer():
    s = read_spectrum(_data("ni_kedge_lisa_esrf", "NiO_111.xdi"), column="murefer")
    assert s.meta["column"] == "murefer"
    assert_allclose(s.mu[0], 0.25840309)
    s2 = read_spectrum(_data("ni_kedge_lisa_esrf", "NiO_111.xdi"), column=2)
    assert_allclose(s2.mu, s.mu)


def test_xdi_raw_i0_itrans_gives_log_ratio():
    p = _data("ni_kedge_xasdatalibrary", "Ni_metal_rt_01.xdi")
    s = read_spectrum(p)
    raw = np.loadtxt(p, comments="#")
    assert s.meta["column"] == "ln(i0/itrans)"
    assert_allclose(s.mu, np.log(raw[:, 1] / raw[:, 2]))
    # Ni foil edge near 8333 eV: the edge step is positive
    assert s.mu[s.energy > 8400][:5].mean() > s.mu[s.energy < 8300][-5:].mean()
    s_ref = read_spectrum(
        _data("ni_kedge_xasdatalibrary", "NiOH2_rt_01.xdi"), column="ln(itrans/irefer)"
    )
    assert s_ref.meta["column"] == "ln(itrans/irefer)"


def test_two_column_kev_autodetected():
    s = read_spectrum(_data("ni_refs_pyxas_nio_linio2", "ref_NiO.txt"))
    assert s.meta["energy_converted_from"] == "keV"
    assert_allclose(s.energy[0], 8200.0)
    assert_allclose(s.energy[-1], 9000.0, atol=1e-6)
    assert s.name == "ref_NiO"
    # README: NiO half-height 8340.05 eV, LiNiO2 8341.81 eV
    assert abs(_half_height(s, 8320, 8360) - 8340.05) < 1.0
    li = read_spectrum(_data("ni_refs_pyxas_nio_linio2", "ref_LiNiO2.txt"))
    assert _half_height(li, 8320, 8360) > _half_height(s, 8320, 8360)


def test_every_real_xdi_reads():
    files = sorted(_data("ni_kedge_lisa_esrf").glob("*.xdi")) + sorted(
        _data("ni_kedge_xasdatalibrary").glob("*.xdi")
    )
    assert len(files) >= 10
    for f in files:
        s = read_spectrum(f)
        assert np.all(np.diff(s.energy) > 0) and np.all(np.isfinite(s.mu))
        assert 7000 < s.energy.min() < 8400


def test_write_read_roundtrip(tmp_path):
    e = np.linspace(8300, 8400, 51)
    s = Spectrum(e, np.tanh((e - 8345) / 3), "LiNiO2", 3.0, meta={"Element.symbol": "Ni"})
    p = write_spectrum(tmp_path / "a.xdi", s)
    r = read_spectrum(p)
    assert_allclose(r.energy, e)
    assert_allclose(r.mu, s.mu, rtol=1e-9)
    assert (r.name, r.valence, r.meta["Element.symbol"]) == ("LiNiO2", 3.0, "Ni")
    with pytest.raises(FileExistsError):
        write_spectrum(p, s)
    assert read_spectrum(p, valence=2.5).valence == 2.5


def test_plain_valence_comment(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("# valence: 2\n8330 0\n8340 1\n8350 2\n")
    assert read_spectrum(p).valence == 2.0


@pytest.mark.parametrize(
    "content, problem",
    [
        ("8330 0\n8340 1\n8340 2\n", "not strictly increasing"),
        ("8350 0\n8340 1\n8330 2\n", "not strictly increasing"),
        ("8330 0\n8340 nan\n8350 2\n", "NaN or inf"),
        ("8330 0\n8340 inf\n8350 2\n", "NaN or inf"),
        ("8330\n8340\n8350\n", "two columns"),
        ("# only comments\n", "no numeric data"),
        ("8330 0 1\n8340 1 1\n8350\n", "truncated"),
        ("8330 0\n8340 1\n", "at least 3"),
        ("\x89HDF\r\n\x1a\n\x00\x00binary", "non-numeric"),
    ],
)
def test_bad_files_raise_and_stay_unchanged(tmp_path, content, problem):
    p = tmp_path / "bad.txt"
    p.write_text(content)
    before = hashlib.sha256(p.read_bytes()).hexdigest()
    with pytest.raises(FormatError) as err:
        read_spectrum(p)
    assert problem in str(err.value) and str(p) in str(err.value)
    assert hashlib.sha256(p.read_bytes()).hexdigest() == before


def test_missing_file_and_unknown_column(tmp_path):
    with pytest.raises(FormatError, match="cannot read"):
        read_spectrum(tmp_path / "nope.txt")
    p = tmp_path / "ok.xdi"
    write_spectrum(p, Spectrum(np.array([1.0e4, 1.1e4, 1.2e4]), np.zeros(3)))
    with pytest.raises(FormatError, match="no column 'itrans'"):
        read_spectrum(p, column="itrans")
