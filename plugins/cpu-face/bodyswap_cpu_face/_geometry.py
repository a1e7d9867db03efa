"""Landmark geometry: dlib's 68 points, canonical face frames, similarity fits, One-Euro smoothing."""

from __future__ import annotations

import math

import numpy as np

# dlib / iBUG 68-point indices
JAW = np.arange(0, 17)
BROWS = np.arange(17, 27)
NOSE = np.arange(27, 36)
RIGHT_EYE = np.arange(36, 42)  # the subject's right eye: the left one in the image
LEFT_EYE = np.arange(42, 48)
OUTER_LIPS = np.arange(48, 60)
INNER_LIPS = np.arange(60, 68)
MOUTH = np.arange(48, 68)
UPPER_INNER = np.array([61, 62, 63])
LOWER_INNER = np.array([67, 66, 65])
# Points that move with the skull, not with expressions: what head pose is fitted on.
RIGID = np.array([27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45])
# Eyelid points (upper 37 38 / 43 44, lower 41 40 / 47 46).
LIDS = np.array([37, 38, 40, 41, 43, 44, 46, 47])


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return points[RIGHT_EYE].mean(axis=0), points[LEFT_EYE].mean(axis=0)


def canonical_transform(points: np.ndarray) -> tuple[complex, complex]:
    """Similarity z -> a*z + b (complex) taking image points to the face's canonical frame.

    Canonical frame: origin between the eye centres, x along the eyes, one unit = the distance
    between the eye centres (interocular distance, iod).
    """
    right, left = eye_centres(points)
    zr, zl = complex(*right), complex(*left)
    d = zl - zr
    if abs(d) < 1e-6:
        d = 1.0 + 0j
    a = 1.0 / d
    b = -a * (zr + zl) / 2
    return a, b


def to_complex(points: np.ndarray) -> np.ndarray:
    return points[:, 0].astype(np.float64) + 1j * points[:, 1].astype(np.float64)


def to_points(z: np.ndarray) -> np.ndarray:
    return np.stack([z.real, z.imag], axis=1)


def apply(a: complex, b: complex, points: np.ndarray) -> np.ndarray:
    return to_points(a * to_complex(points) + b)


def invert(a: complex, b: complex) -> tuple[complex, complex]:
    return 1.0 / a, -b / a


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> tuple[complex, complex]:
    """Least-squares similarity z -> a*z + b taking src points onto dst points."""
    zs, zd = to_complex(src), to_complex(dst)
    ms, md = zs.mean(), zd.mean()
    cs, cd = zs - ms, zd - md
    denom = float(np.sum(np.abs(cs) ** 2))
    a = complex(np.sum(np.conj(cs) * cd) / denom) if denom > 1e-9 else 1.0 + 0j
    return a, md - a * ms


def eye_opening(points: np.ndarray) -> float:
    """Eye aspect ratio, both eyes averaged (about 0.25-0.35 open, below 0.15 closed)."""
    total = 0.0
    for eye in (RIGHT_EYE, LEFT_EYE):
        p = points[eye]
        width = np.linalg.norm(p[3] - p[0]) + 1e-6
        total += (np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / (2 * width)
    return total / 2


def eye_openings(points: np.ndarray) -> tuple[float, float]:
    out = []
    for eye in (RIGHT_EYE, LEFT_EYE):
        p = points[eye]
        width = np.linalg.norm(p[3] - p[0]) + 1e-6
        out.append((np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / (2 * width))
    return out[0], out[1]


def mouth_opening(points: np.ndarray) -> float:
    """Inner-lip gap over interocular distance."""
    right, left = eye_centres(points)
    iod = np.linalg.norm(left - right) + 1e-6
    gap = np.linalg.norm(points[UPPER_INNER] - points[LOWER_INNER], axis=1).mean()
    return float(gap / iod)


class OneEuro:
    """The One-Euro filter (Casiez et al., CHI 2012) over a vector, in face units per second.

    The cutoff rises with speed: slow drift (landmark noise on a still face) is smoothed hard,
    fast motion (a blink, a word) passes with little lag.
    """

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None
        self.t: float | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def reset(self) -> None:
        self.x = self.dx = self.t = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        if self.x is None or self.t is None or t <= self.t or t - self.t > 0.5:
            self.x, self.dx, self.t = x.copy(), np.zeros_like(x), t
            return x
        dt = t - self.t
        dx = (x - self.x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self.dx = a_d * dx + (1 - a_d) * self.dx
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        a = self._alpha(cutoff, dt)
        self.x = a * x + (1 - a) * self.x
        self.t = t
        return self.x
