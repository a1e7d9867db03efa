"""dlib's face detector (HOG, part of dlib) and 68-point landmark model (from face_recognition_models).

Nothing is downloaded: both ship inside PyPI packages. The models are loaded once per process and
shared by every session (dlib's detector and shape predictor are const when called).
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

_lock = threading.Lock()
_detect_lock = threading.Lock()  # the HOG detector keeps scratch state: one detection at a time
_detector = None
_predictor = None


def _load() -> None:
    global _detector, _predictor
    with _lock:
        if _predictor is None:
            import dlib

            _detector = dlib.get_frontal_face_detector()
            _predictor = dlib.shape_predictor(model_path("shape_predictor_68_face_landmarks.dat"))


def model_path(name: str) -> str:
    """A model file of face_recognition_models, found without importing the package (its
    __init__ needs pkg_resources, which new setuptools no longer has)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face_recognition_models is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.exists():
        raise RuntimeError(f"face_recognition_models has no {name}")
    return str(path)


def detect(gray: np.ndarray, upsample: int = 0) -> list[tuple[float, float, float, float]]:
    """Faces as (left, top, right, bottom), largest first."""
    if _detector is None:
        _load()
    with _detect_lock:
        rects = _detector(np.ascontiguousarray(gray), upsample)
    boxes = [(float(r.left()), float(r.top()), float(r.right()), float(r.bottom())) for r in rects]
    return sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))


def landmarks(gray: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """68 (x, y) points fitted inside a detector-like box."""
    if _predictor is None:
        _load()
    import dlib

    rect = dlib.rectangle(int(round(box[0])), int(round(box[1])), int(round(box[2])), int(round(box[3])))
    shape = _predictor(gray, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


# How dlib's detector box sits on the 68 points it leads to (measured on the shared clips and
# refined per session): box centre = landmark centre + OFFSET * face width; side = SCALE * width.
BOX_OFFSET = np.array([0.0, -0.12])
BOX_SCALE = 1.05


def box_from_landmarks(points: np.ndarray, offset: np.ndarray = BOX_OFFSET, scale: float = BOX_SCALE):
    width = float(np.linalg.norm(points[16] - points[0]))
    centre = points.mean(axis=0) + offset * width
    half = scale * width / 2
    return (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)


def box_relation(points: np.ndarray, box) -> tuple[np.ndarray, float]:
    width = float(np.linalg.norm(points[16] - points[0])) + 1e-6
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    return (centre - points.mean(axis=0)) / width, (box[2] - box[0]) / width
