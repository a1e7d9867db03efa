"""Find the player's face in a photo and describe it with dlib's 128-d face embedding.

The models ship inside the `face_recognition_models` package (run with `dlib-bin`): the MMOD
CNN face detector, the 5-point shape predictor and dlib_face_recognition_resnet_model_v1; the
HOG frontal face detector is part of dlib itself.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import dlib
import numpy as np
from PIL import Image

from .errors import EnrollmentError

MIN_FACE_PX = 80  # face box side in photo pixels: below it the body would be a blurry upscale
MIN_FACE_FRACTION = 0.10  # of the photo's shorter side
MAX_CUT_OFF_FRACTION = 0.10  # of the face box that may lie outside the photo
# HOG detection runs on a copy whose shorter side is at most this: a face of MIN_FACE_FRACTION
# then still spans the detector's 80 px window, and a phone photo costs ~100 ms, not ~1 s.
HOG_SHORT_SIDE = 800
HOG_LONG_SIDE = 1600
# HOG misses some frontal faces (one of the seven shared portraits: a grimace under curls and
# glasses). The MMOD CNN finds it, but costs ~1.3 s at this size on one core, so it only runs
# when HOG found nothing.
CNN_SHORT_SIDE = 400
CNN_LONG_SIDE = 800
SAME_PERSON_DISTANCE = 0.6  # dlib's threshold for this embedding (99.38% on LFW)


@dataclass(frozen=True)
class FaceBox:
    """A face's bounding box in image pixels; right and bottom are exclusive and may lie
    outside the image when the face is cut off by its edge."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def side(self) -> int:
        return min(self.width, self.height)


class FaceModels:
    """dlib's detectors, landmarks and embedding network, loaded once.

    dlib's objects keep scratch buffers and are not documented thread-safe, so each is used
    under its own lock; that serialises face work across the thread pool, which the GIL
    mostly does anyway.
    """

    def __init__(self, models_dir: Path) -> None:
        self._hog = dlib.get_frontal_face_detector()
        self._cnn = dlib.cnn_face_detection_model_v1(
            str(models_dir / "mmod_human_face_detector.dat")
        )
        self._landmarks = dlib.shape_predictor(
            str(models_dir / "shape_predictor_5_face_landmarks.dat")
        )
        self._embedder = dlib.face_recognition_model_v1(
            str(models_dir / "dlib_face_recognition_resnet_model_v1.dat")
        )
        self._hog_lock = threading.Lock()
        self._cnn_lock = threading.Lock()
        self._embedder_lock = threading.Lock()

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        """Faces in `rgb`, in its own pixel coordinates: HOG first, the CNN if HOG finds none."""
        return self.detect_hog(rgb) or self.detect_cnn(rgb)

    def detect_hog(self, rgb: np.ndarray, upsample: int = 0) -> list[FaceBox]:
        small, scale = _downscaled(rgb, HOG_SHORT_SIDE, HOG_LONG_SIDE)
        with self._hog_lock:
            rects = self._hog(small, upsample)
        return [_face_box(rect, scale) for rect in rects]

    def detect_cnn(self, rgb: np.ndarray) -> list[FaceBox]:
        small, scale = _downscaled(rgb, CNN_SHORT_SIDE, CNN_LONG_SIDE)
        with self._cnn_lock:
            detections = self._cnn(small, 0)
        return [_face_box(detection.rect, scale) for detection in detections]

    def embed(self, rgb: np.ndarray, face: FaceBox) -> np.ndarray:
        """The 128-d embedding of `face`; the same person lies within SAME_PERSON_DISTANCE."""
        rgb = np.ascontiguousarray(rgb)  # dlib reads the buffer directly
        rect = dlib.rectangle(face.left, face.top, face.right - 1, face.bottom - 1)
        with self._embedder_lock:
            shape = self._landmarks(rgb, rect)
            descriptor = self._embedder.compute_face_descriptor(rgb, shape)
        return np.asarray(descriptor, dtype=np.float32)


def _downscaled(rgb: np.ndarray, short_side: int, long_side: int) -> tuple[np.ndarray, float]:
    """`rgb` scaled down to fit `short_side` x `long_side`, contiguous as dlib reads it, and the
    scale."""
    height, width = rgb.shape[:2]
    scale = min(1.0, short_side / min(height, width), long_side / max(height, width))
    if scale == 1.0:
        return np.ascontiguousarray(rgb), scale
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(resized), scale


def _face_box(rect: dlib.rectangle, scale: float) -> FaceBox:
    return FaceBox(
        round(rect.left() / scale),
        round(rect.top() / scale),
        round((rect.right() + 1) / scale),  # dlib's right and bottom are inclusive
        round((rect.bottom() + 1) / scale),
    )


_models: FaceModels | None = None
_models_lock = threading.Lock()


def face_models() -> FaceModels:
    """The process-wide models, loaded on first use (about 0.5 s)."""
    global _models
    if _models is None:
        with _models_lock:
            if _models is None:
                _models = FaceModels(_face_recognition_models_dir())
    return _models


def _face_recognition_models_dir() -> Path:
    # Located without importing the package: its __init__ needs pkg_resources, which recent
    # setuptools no longer ships.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the face_recognition_models package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def face_distance(embedding: np.ndarray, other: np.ndarray) -> float:
    """Euclidean distance between two face embeddings: below SAME_PERSON_DISTANCE, one person."""
    return float(np.linalg.norm(np.asarray(embedding, np.float32) - np.asarray(other, np.float32)))


def find_enrollment_face(photo_rgb: np.ndarray) -> FaceBox:
    """The one usable face of an enrollment photo, or the error that tells the player why not.

    Usable: a side of at least MIN_FACE_PX and MIN_FACE_FRACTION of the photo's shorter side.
    Smaller faces (people in the background) are ignored when a usable one is present.
    """
    models = face_models()
    min_side = max(MIN_FACE_PX, MIN_FACE_FRACTION * min(photo_rgb.shape[:2]))
    faces = models.detect(photo_rgb)
    usable = [face for face in faces if face.side >= min_side]
    if len(usable) > 1:
        raise EnrollmentError(
            "several_faces", f"We found {len(usable)} faces in the photo; take it alone."
        )
    if not usable:
        # A second, 4x costlier look finds faces too small for the first: it tells a player who
        # stood too far away from one whose face is not visible at all.
        if faces or models.detect_hog(photo_rgb, upsample=1):
            raise EnrollmentError(
                "face_too_small", "Your face is too small in the photo; come closer to the camera."
            )
        raise EnrollmentError(
            "no_face", "We found no face in the photo; face the camera in good light."
        )
    face = usable[0]
    if _cut_off_fraction(face, photo_rgb.shape[1], photo_rgb.shape[0]) > MAX_CUT_OFF_FRACTION:
        raise EnrollmentError(
            "face_cut_off", "Your face is cut off by the edge of the photo; center it in the frame."
        )
    return face


def _cut_off_fraction(face: FaceBox, width: int, height: int) -> float:
    inside_width = min(face.right, width) - max(face.left, 0)
    inside_height = min(face.bottom, height) - max(face.top, 0)
    return 1.0 - (inside_width * inside_height) / (face.width * face.height)
