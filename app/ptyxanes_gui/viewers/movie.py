"""Sized screenshots and rotating-volume movies: napari screenshots or GL-free frames.

:func:`volume_movie` renders a turntable without OpenGL (the meshes of
:mod:`ptyxanes.figures.volume`, re-projected per frame, with colour bar and
scale bar): safe in a worker thread and over 10x faster per frame than
screenshots of the napari canvas under software OpenGL
(``benchmarks/movie_frames.py``). :class:`MovieRecorder` records the napari view
itself.

Rendering stays in the GUI thread (napari/vispy own an OpenGL context there): the
movie is rendered one frame per Qt timer tick, so the event loop keeps running
between frames (progress dialog, Cancel button). Files are written atomically at
the end; a cancelled movie leaves no file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from qtpy.QtCore import QObject, QTimer, Signal

logger = logging.getLogger(__name__)

#: Image formats of :func:`save_image`, by file suffix (Pillow format names).
IMAGE_FORMATS = {".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF"}


def mp4_available() -> bool:
    """True when ``imageio-ffmpeg`` (with its ffmpeg binary) can write MP4 here."""
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


def movie_formats() -> tuple[str, ...]:
    """File suffixes :func:`write_movie` can write in this installation."""
    return (".gif", ".mp4") if mp4_available() else (".gif",)


def save_image(img: NDArray[np.uint8], path: str | Path, *, overwrite: bool = True) -> Path:
    """Write an RGB(A) image as PNG or TIFF (by suffix), atomically.

    Parameters
    ----------
    img : ndarray of uint8, shape (H, W, 3 or 4)
    path : path-like
        ``.png``, ``.tif`` or ``.tiff``.
    overwrite : bool, optional

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ValueError
        For another suffix.
    """
    from PIL import Image

    from ptyxanes.io._atomic import atomic_path

    p = Path(path)
    fmt = IMAGE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ValueError(f"{p.name}: image format must be one of {sorted(IMAGE_FORMATS)}")
    with atomic_path(p, overwrite=overwrite) as tmp:
        Image.fromarray(np.ascontiguousarray(img)).save(tmp, format=fmt)
    return p


def write_movie(frames: Sequence[NDArray[np.uint8]], path: str | Path, *, fps: float = 24.0,
                overwrite: bool = True) -> Path:
    """Write frames as an animated GIF (Pillow) or MP4 (imageio-ffmpeg), atomically.

    Parameters
    ----------
    frames : sequence of ndarray of uint8, shape (H, W, 3 or 4)
    path : path-like
        ``.gif`` or ``.mp4`` (MP4 only when :func:`mp4_available`).
    fps : float, optional
        Frames per second.
    overwrite : bool, optional

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ValueError
        For no frames, an unknown suffix or MP4 without imageio-ffmpeg.
    """
    from ptyxanes.io._atomic import atomic_path

    p = Path(path)
    suffix = p.suffix.lower()
    if not frames:
        raise ValueError("no frames to write")
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"{p.name}: movie format must be .gif or .mp4")
    if suffix == ".mp4" and not mp4_available():
        raise ValueError(f"{p.name}: MP4 needs imageio-ffmpeg; save as .gif instead")
    rgb = [np.ascontiguousarray(np.asarray(f)[..., :3]) for f in frames]
    with atomic_path(p, overwrite=overwrite) as tmp:
        if suffix == ".gif":
            from PIL import Image

            # one adaptive palette from a few frames, applied to all without dithering:
            # several times faster than quantising every frame on its own
            pick = rgb[:: max(1, len(rgb) // 4)][:4]
            sample = Image.fromarray(np.concatenate(pick, axis=0))
            palette = sample.quantize(colors=255, method=Image.Quantize.MEDIANCUT)
            images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE)
                      for f in rgb]
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                           duration=max(int(round(1000 / fps)), 20), loop=0, disposal=1,
                           optimize=False)
        else:
            import imageio_ffmpeg

            # ffmpeg's yuv420p wants even sizes
            h, w = (rgb[0].shape[0] // 2) * 2, (rgb[0].shape[1] // 2) * 2
            writer = imageio_ffmpeg.write_frames(
                str(tmp), (w, h), fps=fps, codec="libx264", pix_fmt_out="yuv420p",
                macro_block_size=2, quality=8, output_params=["-f", "mp4"])
            writer.send(None)  # start ffmpeg
            try:
                for f in rgb:
                    writer.send(np.ascontiguousarray(f[:h, :w]))
            finally:
                writer.close()
    return p


def _font(size: int):
    """DejaVu Sans from matplotlib (has µ, ², ³), else Pillow's default font."""
    from PIL import ImageFont

    try:
        from matplotlib import font_manager

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
    except Exception:  # no matplotlib font: Pillow's own
        return ImageFont.load_default()


def annotate_frame(frame: NDArray[np.uint8], *, clim: tuple[float, float] = (2.0, 3.5),
                   label: str = "valence", scalebar_px: float | None = None,
                   scalebar_text: str = "", title: str = "") -> NDArray[np.uint8]:
    """Add the valence colour bar, a scale bar and a title to a rendered frame.

    Parameters
    ----------
    frame : ndarray of uint8, shape (H, W, 3)
    clim : tuple of float, optional
        Colour limits written at the ends of the bar.
    label : str, optional
        Colour-bar label.
    scalebar_px : float, optional
        Scale-bar length, pixels (none if omitted).
    scalebar_text : str, optional
        Its length as text (e.g. ``"1 µm"``).
    title : str, optional

    Returns
    -------
    frame : ndarray of uint8, shape (H, W + bar, 3)
        The frame with a white strip on the right holding the colour bar.
    """
    from PIL import Image, ImageDraw

    from ptyxanes.figures.colormaps import valence_lut

    h, w = frame.shape[:2]
    strip = max(70, w // 6)
    out = np.full((h, w + strip, 3), 255, np.uint8)
    out[:, :w] = np.asarray(frame)[..., :3]
    bar_top, bar_bot = int(0.15 * h), int(0.85 * h)
    x0 = w + strip // 5
    bw = max(8, strip // 6)
    lut = valence_lut(256)[::-1, :3]
    rows = np.linspace(0, 255, bar_bot - bar_top).round().astype(int)
    out[bar_top:bar_bot, x0:x0 + bw] = lut[rows][:, None, :]
    img = Image.fromarray(out)
    draw = ImageDraw.Draw(img)
    font = _font(max(11, h // 36))
    black = (0, 0, 0)
    draw.rectangle([x0, bar_top, x0 + bw, bar_bot], outline=black)
    draw.text((x0 + bw + 3, bar_top), f"{clim[1]:g}", fill=black, font=font, anchor="lm")
    draw.text((x0 + bw + 3, bar_bot), f"{clim[0]:g}", fill=black, font=font, anchor="lm")
    draw.text((x0, bar_top - 6), label, fill=black, font=font, anchor="ld")
    if scalebar_px:
        sx, sy = int(0.05 * w), int(0.93 * h)
        draw.rectangle([sx, sy, sx + int(round(scalebar_px)), sy + max(3, h // 100)], fill=black)
        draw.text((sx + scalebar_px / 2, sy - 3), scalebar_text, fill=black, font=font,
                  anchor="md")
    if title:
        draw.text(((w + strip) / 2, 4), title, fill=black, font=font, anchor="ma")
    return np.asarray(img)


def volume_movie(valence: NDArray[np.floating], path: str | Path, *, voxel_size_m: float,
                 n_frames: int = 72, size: int = 480, camera="isometric",
                 cut_quarter: bool = True, labels: NDArray[np.bool_] | None = None,
                 crystal_labels: NDArray[np.integer] | None = None, crystal: int = 0,
                 clim: tuple[float, float] = (2.0, 3.5), fps: float = 24.0,
                 title: str = "", overwrite: bool = True, control=None,
                 label: str = "valence"):
    """Rotating-volume movie rendered without OpenGL (generator for a worker thread).

    The iso-surface (and the label overlay) is meshed once, then every frame
    re-projects it with the z-buffer renderer of :mod:`ptyxanes.figures.volume`
    while the camera turns 360° about its up axis. No napari or GL context is
    touched, so it can run in a ``superqt`` worker while the GUI stays live.

    Parameters
    ----------
    valence : ndarray of shape (P, M, N)
        NaN outside the sample.
    path : path-like
        ``.gif`` or ``.mp4`` (MP4 when :func:`mp4_available`).
    voxel_size_m : float
        m, for the scale bar.
    n_frames : int, optional
        Frames per turn.
    size : int, optional
        Rendered square, pixels (a colour-bar strip is added on the right).
    camera : Camera or str, optional
        Start camera or preset name.
    cut_quarter : bool, optional
        Remove the quadrant facing the start camera.
    labels : ndarray of bool, optional
        Segmented voxels drawn as a translucent magenta overlay.
    crystal_labels : ndarray of int, optional
        With ``crystal`` > 0: show that crystal alone (and only its labels).
    crystal : int, optional
    clim : tuple of float, optional
    fps : float, optional
    title : str, optional
    overwrite : bool, optional
    control : Control, optional
    label : str, optional
        Colour-bar label (``"Ni valence"``, ``"Fe valence"``).

    Yields
    ------
    progress : Progress

    Returns
    -------
    path : pathlib.Path
    """
    import time

    from ptyxanes.figures.paper import LABEL_COLOUR
    from ptyxanes.figures.valence import _format_length, nice_scalebar_length
    from ptyxanes.figures.volume import Camera, Layer, quarter_mask, surface_mesh, turntable
    from ptyxanes.progress import Progress

    p = Path(path)
    if p.suffix.lower() not in movie_formats():
        raise ValueError(f"{p.name}: movie format must be one of {movie_formats()}")
    cam = Camera.preset(camera) if isinstance(camera, str) else camera
    v = np.asarray(valence, np.float64)
    keep = np.isfinite(v)
    if crystal and crystal_labels is not None:
        keep &= np.asarray(crystal_labels) == int(crystal)
    if cut_quarter:
        keep &= ~quarter_mask(v.shape, cam)
    if not keep.any():
        raise ValueError("nothing to show: no voxel with a valence is left")
    t0 = time.perf_counter()
    layers = [Layer(surface_mesh(keep, v))]
    if labels is not None:
        layers.append(Layer(surface_mesh(np.asarray(labels, bool) & keep, smooth=0.6),
                            LABEL_COLOUR, 0.45))
    yield Progress(0, n_frames, "meshing done", "movie")
    t_mesh = time.perf_counter() - t0
    frames, ppv = yield from turntable(layers, v.shape, cam, n_frames=n_frames, size=size,
                                       clim=clim, control=control)
    px_m = voxel_size_m / ppv
    bar_m = nice_scalebar_length(size * px_m)
    out = [annotate_frame(f, clim=clim, scalebar_px=bar_m / px_m,
                          scalebar_text=_format_length(bar_m), title=title, label=label)
           for f in frames]
    t_frames = time.perf_counter() - t0 - t_mesh
    written = write_movie(out, p, fps=fps, overwrite=overwrite)
    logger.info("movie %s: mesh %.2f s, %d frames at %.0f ms/frame, written in %.2f s", p,
                t_mesh, n_frames, 1e3 * t_frames / n_frames,
                time.perf_counter() - t0 - t_mesh - t_frames)
    return written


def turntable_directions(view: Sequence[float], up: Sequence[float], n_frames: int,
                         ) -> NDArray[np.float64]:
    """View directions of a 360° turn about the ``up`` axis.

    Parameters
    ----------
    view, up : sequence of 3 float
        Current view and up directions (data axes plane, row, col).
    n_frames : int
        Frames per turn; frame k is rotated by 360° k / n_frames.

    Returns
    -------
    directions : ndarray of shape (n_frames, 3)
        Unit view directions; the angle to ``up`` (the elevation) is kept.
    """
    u = np.asarray(up, float)
    u /= np.linalg.norm(u)
    v = np.asarray(view, float)
    v /= np.linalg.norm(v)
    phi = 2 * np.pi * np.arange(int(n_frames)) / int(n_frames)
    c, s = np.cos(phi)[:, None], np.sin(phi)[:, None]
    out = v * c + np.cross(u, v) * s + u * (u @ v) * (1 - c)  # Rodrigues
    return out / np.linalg.norm(out, axis=1, keepdims=True)


class MovieRecorder(QObject):
    """Render a rotating-volume movie frame by frame from a napari ``QtViewer``.

    Parameters
    ----------
    qt_viewer : napari.qt.QtViewer
        The viewer widget (its ``viewer`` model's camera is turned).
    path : path-like
        ``.gif`` (or ``.mp4`` when imageio-ffmpeg is installed).
    n_frames : int, optional
        Frames per 360° turn (default 72, 5° per frame).
    size : (height, width), optional
        Frame size in pixels; default the canvas size.
    fps : float, optional

    Signals
    -------
    frame_rendered(int, int) : frames done, total.
    finished(object) : the written ``Path``.
    cancelled : the movie was cancelled; no file was written.
    failed(str) : rendering or writing failed; no file was written.
    """

    frame_rendered = Signal(int, int)
    finished = Signal(object)
    cancelled = Signal()
    failed = Signal(str)

    def __init__(self, qt_viewer, path: str | Path, *, n_frames: int = 72,
                 size: tuple[int, int] | None = None, fps: float = 24.0,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        if n_frames < 2:
            raise ValueError(f"a movie needs at least 2 frames; got {n_frames}")
        suffix = Path(path).suffix.lower()
        if suffix not in movie_formats():
            raise ValueError(f"{Path(path).name}: movie format must be one of {movie_formats()}")
        self._qt_viewer = qt_viewer
        viewer = qt_viewer.viewer
        scene = getattr(viewer, "scene", None)  # napari >= 0.9: viewer.camera is deprecated
        self._camera = scene.camera if scene is not None else viewer.camera
        self.path = Path(path)
        self.n_frames = int(n_frames)
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.fps = float(fps)
        self.frames: list[NDArray[np.uint8]] = []
        self.frame_times: list[float] = []
        self._state = None
        self._directions: NDArray[np.float64] | None = None
        self._up = None
        self._running = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._on_tick)

    @property
    def running(self) -> bool:
        """True between :meth:`start` and the end (finished, cancelled or failed)."""
        return self._running

    def start(self) -> None:
        """Remember the camera and render the first frame at the next event-loop turn."""
        cam = self._camera
        self._state = (tuple(cam.center), float(cam.zoom), tuple(cam.angles))
        self._up = tuple(cam.up_direction)
        self._directions = turntable_directions(cam.view_direction, self._up, self.n_frames)
        self.frames = []
        self.frame_times = []
        self._running = True
        self._timer.start()

    def cancel(self) -> None:
        """Stop after the current frame; nothing is written."""
        if not self._running:
            return
        self._timer.stop()
        self._end()
        logger.info("movie cancelled after %d of %d frames", len(self.frames), self.n_frames)
        self.frames = []
        self.cancelled.emit()

    def _end(self) -> None:
        self._running = False
        if self._state is not None:
            center, zoom, angles = self._state
            self._camera.angles = angles
            self._camera.center = center
            self._camera.zoom = zoom

    def _on_tick(self) -> None:
        if not self._running:
            return
        import time

        k = len(self.frames)
        t0 = time.perf_counter()
        try:
            self._camera.set_view_direction(tuple(self._directions[k]), self._up)
            img = self._qt_viewer.screenshot(path=None, flash=False, size=self.size)
        except Exception as exc:  # a GL or napari error: report, do not crash the GUI
            logger.exception("movie frame %d failed", k)
            self._end()
            self.failed.emit(f"movie frame {k + 1} could not be rendered: {exc}")
            return
        self.frames.append(np.asarray(img))
        self.frame_times.append(time.perf_counter() - t0)
        self.frame_rendered.emit(k + 1, self.n_frames)
        if not self._running:  # cancelled from a slot of frame_rendered
            return
        if len(self.frames) < self.n_frames:
            self._timer.start()
            return
        self._end()
        try:
            out = write_movie(self.frames, self.path, fps=self.fps)
        except Exception as exc:
            logger.exception("movie could not be written")
            self.failed.emit(f"{self.path.name}: the movie could not be written: {exc}")
            return
        logger.info("movie %s: %d frames, %.0f ms/frame", out, len(self.frames),
                    1e3 * float(np.mean(self.frame_times)))
        self.finished.emit(out)
