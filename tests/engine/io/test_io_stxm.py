"""aXis2000 / ALS STXM stacks: the real Fe L-edge stack of ../shared/data, and written ones."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from ptyxanes.cli import main
from ptyxanes.io import FormatError
from ptyxanes.io.formats import detect_format, open_stack

REAL = Path(__file__).resolve().parents[3].parent / "shared/data/stxm_fe_L_edge_als_stack"
STACK = REAL / "71214078_aligned"


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def write_als_stack(folder: Path, images: np.ndarray, energies: np.ndarray, step_um: float,
                    i0: np.ndarray | None) -> Path:
    """Header and images laid out as the ALS STXM program writes them (the real stack's
    71214078.hdr is the model: ScanDefinition, PAxis/QAxis in um, StackAxis in eV;
    <stem>_aNNN.xim tab-separated rows; i0.xsp two columns)."""
    folder.mkdir(parents=True, exist_ok=True)
    e, m, n = images.shape
    x = -100.0 + step_um * np.arange(n)
    y = 20.0 + step_um * np.arange(m)

    def pts(v):
        return f"({v.size}, " + ", ".join(f"{a:.3f}" for a in v) + ")"

    hdr = (
        'ScanDefinition = { Label = "s1.hdr"; Type = "NEXAFS Image Scan"; Flags = "Image Stack"; '
        "Dwell = 1.0;\n\tRegions = (1,\n{\n"
        f'\t\t\tPAxis = {{ Name = "Sample X"; Unit = "um"; Min = {x[0]}; Max = {x[-1]}; Dir = 1;\n'
        f"\t\t\t\tPoints = {pts(x)};\n}};\n\n"
        f'\t\t\tQAxis = {{ Name = "Sample Y"; Unit = "um"; Min = {y[0]}; Max = {y[-1]}; Dir = 1;\n'
        f"\t\t\t\tPoints = {pts(y)};\n}};\n}});\n\n"
        f'\tStackAxis = {{ Name = "Energy"; Unit = "eV"; Min = {energies[0]}; '
        f"Max = {energies[-1]}; Dir = 1;\n\t\tPoints = {pts(energies)};\n}};\n"
    )
    (folder / "s1.hdr").write_text(hdr)
    for k in range(e):
        np.savetxt(folder / f"s1_a{k:03d}.xim", images[k], fmt="%.6f", delimiter="\t")
    if i0 is not None:
        np.savetxt(folder / "i0.xsp", np.column_stack([energies, i0]), fmt="%.7E")
    return folder / "s1.hdr"


def test_real_stack_optical_density_equals_minus_ln_i_over_i0():
    reports = []
    s = open_stack(STACK, progress=reports.append)
    assert len(reports) == 124 and reports[-1].fraction == 1.0  # one per image, one per file
    i0 = np.loadtxt(STACK / "i0.xsp")
    energy_txt = np.loadtxt(REAL / "Energy.txt")
    assert s.kind == "absorption" and s.data.shape == (123, 125, 125)
    assert s.attrs["format"] == "stxm" and s.attrs["sources"] == [str(STACK)]
    assert_allclose(s.energy, energy_txt, atol=1e-9)
    assert_allclose(i0[:, 0], s.energy, atol=1e-4)
    assert s.pixel_size == pytest.approx(np.full(123, 0.08e-6), rel=1e-9)  # 0.08 um step
    for k in (0, 61, 122):  # independent reading of the .xim text images
        counts = np.loadtxt(STACK / f"71214078_a{k:03d}.xim")
        assert_allclose(s.data[k], -np.log(counts / i0[k, 1]), rtol=2e-6, atol=2e-6)
    # the README's check: OD of the thickest 20 % of pixels peaks at the Fe L3 edge
    thick = s.data.mean(0) >= np.quantile(s.data.mean(0), 0.8)
    assert s.energy[np.argmax(s.data[:, thick].mean(1))] == pytest.approx(709.87, abs=0.3)


def test_real_stack_info_names_format(capsys):
    assert detect_format(STACK) == "stxm" == detect_format(STACK / "71214078.hdr")
    assert main(["info", str(STACK)]) == 0
    out = capsys.readouterr().out
    assert "format stxm" in out and "(123, 125, 125) absorption" in out
    assert "700.000–730.353 eV" in out and "80.000 nm" in out


@pytest.mark.slow
def test_real_stack_fits_directly(tmp_path, capsys):
    """``ptyxanes fit`` on the STXM folder, with its Fe2+/Fe3+ reference spectra."""
    out = tmp_path / "fe.h5"
    code = main(["fit", str(STACK), "-o", str(out), "-q",
                 "--ref", f"2:{STACK / 'reduced.r'}", "--ref", f"3:{STACK / 'oxidized.r'}",
                 "--window", "702", "716", "--pre-edge", "700", "703",
                 "--post-edge", "712", "714", "--e0", "708"])
    assert code == 0, capsys.readouterr().err
    from ptyxanes.io.project import load_project

    v = load_project(out).maps["oxidation_state"].data
    fitted = v[np.isfinite(v)]
    # measured: 1021 pixels, mean 3.01 (the particle is mostly Fe3+, as Breier et al.)
    assert fitted.size > 500
    assert 2.5 < np.median(fitted) < 3.5


def test_written_stack_with_i0_file_and_interpolation(tmp_path):
    rng = np.random.default_rng(1)
    counts = rng.uniform(50, 400, (4, 3, 5))
    e = np.array([700.0, 700.5, 701.25, 702.0])
    write_als_stack(tmp_path / "st", counts, e, 0.05, None)
    flux = tmp_path / "flux.txt"
    np.savetxt(flux, np.column_stack([[699.0, 703.0], [800.0, 1200.0]]))  # I0 = 800 + 100 (E-699)
    s = open_stack(tmp_path / "st", i0=flux)
    i0 = 800.0 + 100.0 * (e - 699.0)
    assert_allclose(s.data, -np.log(counts / i0[:, None, None]), rtol=1e-5)
    assert s.pixel_size[0] == pytest.approx(50e-9, rel=1e-9)


@pytest.mark.parametrize("damage, message", [
    ("no-i0", "missing I0: no i0.xsp next to the header; give the incident flux with --i0"),
    ("missing-image", "1 of 3 images missing .first: s1_a002.xim."),
    ("ragged", "different numbers of values"),
    ("energies", "energies are not strictly increasing"),
    ("zero", "pixels with counts <= 0"),
])
def test_malformed_stacks_error_and_stay_untouched(tmp_path, damage, message):
    counts = np.full((3, 2, 4), 100.0)
    e = np.array([700.0, 701.0, 702.0])
    hdr = write_als_stack(tmp_path / "st", counts, e, 0.1, np.full(3, 900.0))
    d = hdr.parent
    if damage == "no-i0":
        (d / "i0.xsp").unlink()
    elif damage == "missing-image":
        (d / "s1_a002.xim").unlink()
    elif damage == "ragged":
        (d / "s1_a001.xim").write_text("1\t2\t3\t4\n5\t6\n")
    elif damage == "energies":
        hdr.write_text(hdr.read_text().replace("(3, 700.000, 701.000, 702.000)",
                                               "(3, 700.000, 702.000, 701.000)"))
    elif damage == "zero":
        np.savetxt(d / "s1_a001.xim", np.zeros((2, 4)), delimiter="\t")
    before = {p: sha(p) for p in d.iterdir()}
    with pytest.raises(FormatError, match=message):
        open_stack(d)
    assert {p: sha(p) for p in d.iterdir()} == before


def test_real_stack_copy_without_i0_needs_i0_option(tmp_path):
    d = tmp_path / "copy"
    d.mkdir()
    for p in [STACK / "71214078.hdr", *sorted(STACK.glob("*.xim"))]:
        shutil.copy(p, d)
    with pytest.raises(FormatError, match="missing I0"):
        open_stack(d)
    s = open_stack(d, i0=STACK / "i0.xsp")
    assert s.data.shape == (123, 125, 125)
