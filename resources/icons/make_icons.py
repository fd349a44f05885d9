"""Draw the ptyxanes application icon in every size the installers need.

The icon is a cathode particle coloured with the valence colour map of the
maps (Ni²⁺ blue at the surface to >Ni³⁺ red in the core) on a dark tile, with
a white Ni K-edge XANES curve across it.  Run from the repository root::

    PYTHONPATH=src python resources/icons/make_icons.py

It writes ``ptyxanes_<N>.png`` (N = 16 … 512), ``ptyxanes.ico`` (Windows,
16–256 px) next to this script.  The macOS bundle's .icns is made from
``ptyxanes_512.png`` by PyInstaller (with Pillow) when the .app is built.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ptyxanes.figures.colormaps import valence_lut

logger = logging.getLogger(__name__)

#: Square sizes in pixels of the PNG icons (the freedesktop hicolor sizes).
SIZES: tuple[int, ...] = (16, 24, 32, 48, 64, 128, 256, 512)
#: Sizes packed into the Windows .ico file.
ICO_SIZES: tuple[int, ...] = (16, 24, 32, 48, 64, 128, 256)
#: Supersampled drawing size; the icons are downsampled from it.
MASTER = 1024
TILE_RGB = (20, 30, 56)


def _tile_mask(n: int, radius: float) -> np.ndarray:
    """Alpha (0…1) of a rounded square filling an n×n canvas with a small margin."""
    y, x = np.mgrid[0:n, 0:n] + 0.5
    m = 0.04 * n
    half = n / 2 - m
    dx = np.maximum(np.abs(x - n / 2) - (half - radius), 0)
    dy = np.maximum(np.abs(y - n / 2) - (half - radius), 0)
    d = np.hypot(dx, dy) - radius
    return np.clip(0.5 - d, 0, 1)


def _particle(n: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB and alpha of a slightly irregular round particle with a radial valence gradient."""
    y, x = np.mgrid[0:n, 0:n] + 0.5
    cy, cx = 0.45 * n, 0.5 * n
    r = np.hypot(x - cx, y - cy)
    phi = np.arctan2(y - cy, x - cx)
    edge = 0.33 * n * (1 + 0.06 * np.cos(3 * phi + 0.4) + 0.03 * np.cos(5 * phi))
    alpha = np.clip(edge - r + 0.5, 0, 1)
    lut = valence_lut(256)[:, :3]
    # Core (r = 0) at >Ni3+ (index 255), surface at Ni2+ (index 0).
    idx = np.clip(255 * (1 - (r / edge) ** 1.6), 0, 255).astype(int)
    return lut[idx].astype(float), alpha


def _edge_curve(n: int) -> list[tuple[float, float]]:
    """Points of a XANES-like curve (pre-edge, rising edge, white line, EXAFS wiggle)."""
    t = np.linspace(0, 1, 1500)
    mu = 1 / (1 + np.exp(-(t - 0.42) / 0.035))
    mu += 0.45 * np.exp(-0.5 * ((t - 0.5) / 0.045) ** 2)
    mu += 0.06 * np.sin(2 * np.pi * (t - 0.55) / 0.2) * (t > 0.55)
    x0, x1 = 0.14 * n, 0.86 * n
    y_base, y_top = 0.86 * n, 0.50 * n
    ys = y_base - (y_base - y_top) * mu / mu.max()
    return list(zip(x0 + (x1 - x0) * t, ys, strict=True))


def draw_master(n: int = MASTER) -> Image.Image:
    """Draw the icon at n×n pixels.

    Parameters
    ----------
    n : int, optional
        Width and height in pixels.

    Returns
    -------
    image : PIL.Image.Image
        RGBA image.
    """
    rgb = np.zeros((n, n, 3))
    rgb[:] = TILE_RGB
    p_rgb, p_alpha = _particle(n)
    rgb = rgb * (1 - p_alpha[..., None]) + p_rgb * p_alpha[..., None]
    alpha = _tile_mask(n, 0.18 * n)
    img = Image.fromarray(
        np.dstack([rgb, 255 * alpha]).round().clip(0, 255).astype(np.uint8), "RGBA")
    draw = ImageDraw.Draw(img)
    pts = _edge_curve(n)
    # A round pen stamped along the densely sampled curve: an outline, then the white stroke.
    for radius, colour in ((0.05 * n, TILE_RGB + (255,)), (0.024 * n, (255, 255, 255, 255))):
        for x, y in pts:
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    return img


def main(out: Path | None = None) -> list[Path]:
    """Write every icon file.

    Parameters
    ----------
    out : pathlib.Path, optional
        Output folder (default: the folder of this script).

    Returns
    -------
    paths : list of pathlib.Path
        The files written.
    """
    out = Path(__file__).resolve().parent if out is None else out
    master = draw_master()
    written = []
    images = {}
    for s in SIZES:
        im = master.resize((s, s), Image.Resampling.LANCZOS)
        images[s] = im
        p = out / f"ptyxanes_{s}.png"
        im.save(p, optimize=True)
        written.append(p)
    ico = out / "ptyxanes.ico"
    images[256].save(ico, sizes=[(s, s) for s in ICO_SIZES])
    written.append(ico)
    for p in written:
        logger.info("wrote %s", p)
    return written


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
