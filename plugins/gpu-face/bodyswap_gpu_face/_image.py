"""Crops, paste-back and face location, in numpy (no OpenCV in the plugin's dependencies).

A face box is a square (cx, cy, size) in pixels of the frame. Crops resample it to 256 x 256
(bilinear, border pixels repeated where the box leaves the frame); paste-back resamples the 512 x
512 generator output into the target photo's box and blends it with a soft elliptic mask, so only
the face region changes and the photo's background, hair edge and clothes stay the photo's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

CROP = 256
OUT = 512
Box = tuple[float, float, float]  # cx, cy, size
Locator = Callable[[np.ndarray], Box | None]


def _axis(start: float, size: float, n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices (i0, i1) and weight of i1 for n_out samples spanning [start, start + size)."""
    pos = start + (np.arange(n_out, dtype=np.float32) + 0.5) * (size / n_out) - 0.5
    pos = np.clip(pos, 0.0, n_in - 1.0)
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (pos - i0).astype(np.float32)


def _sample(img: np.ndarray, ys, xs) -> np.ndarray:
    """Separable bilinear resampling of (H, W, C) with per-axis (i0, i1, w)."""
    y0, y1, wy = ys
    x0, x1, wx = xs
    rows = img[y0].astype(np.float32) * (1 - wy)[:, None, None] + img[y1].astype(np.float32) * wy[:, None, None]
    return rows[:, x0] * (1 - wx)[None, :, None] + rows[:, x1] * wx[None, :, None]


def crop(frame: np.ndarray, box: Box, size: int = CROP) -> np.ndarray:
    """(size, size, 3) float32 in [0, 1] of the square box."""
    cx, cy, s = box
    h, w = frame.shape[:2]
    out = _sample(frame, _axis(cy - s / 2, s, size, h), _axis(cx - s / 2, s, size, w))
    return out * (1.0 / 255.0)


def resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    h, w = img.shape[:2]
    out = _sample(img, _axis(0, h, height, h), _axis(0, w, width, w))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8) if img.dtype == np.uint8 else out


def fit_photo(photo: np.ndarray, max_side: int) -> np.ndarray:
    """The target photo at most max_side on its long side, even dimensions (for I420 encoders)."""
    h, w = photo.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    nh, nw = max(2, int(h * scale) // 2 * 2), max(2, int(w * scale) // 2 * 2)
    return photo if (nh, nw) == (h, w) else resize(photo, nh, nw)


@dataclass
class Paste:
    """Precomputed paste-back of a 512 x 512 output into one target photo's box."""

    y: slice
    x: slice
    ys: tuple
    xs: tuple
    mask: np.ndarray  # (h, w, 1) float32

    @classmethod
    def for_box(cls, photo_shape: tuple[int, ...], box: Box) -> Paste:
        h, w = photo_shape[:2]
        cx, cy, s = box
        top, left = cy - s / 2, cx - s / 2
        y0, y1 = max(0, int(np.floor(top))), min(h, int(np.ceil(top + s)))
        x0, x1 = max(0, int(np.floor(left))), min(w, int(np.ceil(left + s)))
        # photo pixel centre -> output pixel coordinate
        py = (np.arange(y0, y1, dtype=np.float32) + 0.5 - top) * (OUT / s) - 0.5
        px = (np.arange(x0, x1, dtype=np.float32) + 0.5 - left) * (OUT / s) - 0.5
        mask = face_mask((py + 0.5) / OUT, (px + 0.5) / OUT)
        return cls(slice(y0, y1), slice(x0, x1), _indices(py), _indices(px), mask[..., None])

    def apply(self, photo: np.ndarray, out512: np.ndarray) -> np.ndarray:
        """photo (H, W, 3) uint8, out512 (512, 512, 3) float32 in [0, 1] -> a new uint8 frame."""
        frame = photo.copy()
        region = photo[self.y, self.x].astype(np.float32)
        face = _sample(out512, self.ys, self.xs) * 255.0
        frame[self.y, self.x] = np.clip(region + (face - region) * self.mask + 0.5, 0, 255).astype(np.uint8)
        return frame


def _indices(pos: np.ndarray) -> tuple:
    pos = np.clip(pos, 0.0, OUT - 1.0)
    i0 = np.floor(pos).astype(np.intp)
    return i0, np.minimum(i0 + 1, OUT - 1), (pos - i0).astype(np.float32)


def face_mask(v: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Soft ellipse over the face in crop coordinates (u, v in [0, 1]): 1 inside, 0 at the crop's
    edges, a smooth ramp between (LivePortrait pastes with a similar template)."""
    dy = (v[:, None] - 0.54) / 0.36
    dx = (u[None, :] - 0.5) / 0.30
    r = np.sqrt(dx * dx + dy * dy)
    t = np.clip((1.15 - r) / 0.35, 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def box_from_rect(left: float, top: float, right: float, bottom: float, scale: float = 2.2) -> Box:
    """A face detector's rectangle -> the LivePortrait-style square crop around it (the face takes
    about half the crop, centred slightly above the rectangle's centre, so hair and chin fit)."""
    size = max(right - left, bottom - top)
    return ((left + right) / 2, (top + bottom) / 2 - 0.1 * size, size * scale)


def centre_box(shape: tuple[int, ...]) -> Box:
    h, w = shape[:2]
    return (w / 2, h / 2, float(min(h, w)))


class DlibLocator:
    """dlib's HOG face detector on a downscaled grey frame (dlib ships with the worker's install)."""

    def __init__(self, work_side: int = 320) -> None:
        import dlib  # noqa: PLC0415 - optional

        self._detect = dlib.get_frontal_face_detector()
        self._side = work_side

    def __call__(self, rgb: np.ndarray) -> Box | None:
        h, w = rgb.shape[:2]
        scale = min(1.0, self._side / max(h, w))
        small = resize(rgb, max(1, int(h * scale)), max(1, int(w * scale))) if scale < 1 else rgb
        grey = np.ascontiguousarray(small.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
        rects = self._detect(grey.astype(np.uint8), 0)
        if not rects:
            return None
        r = max(rects, key=lambda r: r.width() * r.height())
        return box_from_rect(r.left() / scale, r.top() / scale, r.right() / scale, r.bottom() / scale)


def default_locator() -> Locator:
    try:
        return DlibLocator()
    except ImportError:
        logger.warning("gpu-face: dlib is not installed: faces are assumed centred in every frame")
        return lambda rgb: centre_box(rgb.shape)


def smooth(previous: Box | None, new: Box, alpha: float = 0.5) -> Box:
    """Exponential smoothing of the driver's box: a jittering crop would shake the body."""
    if previous is None:
        return new
    return tuple(p + alpha * (n - p) for p, n in zip(previous, new))  # type: ignore[return-value]
