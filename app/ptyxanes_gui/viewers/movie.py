"""Sized screenshots and rotating-volume movies of an embedded napari viewer.

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
    """True when ``imageio`` with ``imageio-ffmpeg`` can write MP4 here."""
    try:
        import imageio.v3  # noqa: F401
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

            images = [Image.fromarray(f) for f in rgb]
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                           duration=max(int(round(1000 / fps)), 20), loop=0, disposal=1)
        else:
            import imageio.v3 as iio

            # ffmpeg's yuv420p wants even sizes
            h, w = (rgb[0].shape[0] // 2) * 2, (rgb[0].shape[1] // 2) * 2
            iio.imwrite(tmp, np.stack([f[:h, :w] for f in rgb]), extension=".mp4", fps=fps)
    return p


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
