"""LivePortrait's implicit keypoints and relative motion transfer, in numpy (batched).

The motion extractor gives, per image, head pose as 66-bin logits (pitch, yaw, roll), a
translation t (3), an expression deformation exp (21 x 3), a scale (1) and canonical keypoints
kp (21 x 3). A pose is turned into keypoints as x = scale * (kp @ R + exp) + [tx, ty, 0].

Relative transfer (LivePortrait's video mode): the target (source image) keeps its own canonical
keypoints and takes the driver's change since the driver's neutral frame:

    R     = R_driver @ R_neutral^T @ R_target
    exp   = exp_target + (exp_driver - exp_neutral)
    scale = scale_target * scale_driver / scale_neutral
    t     = t_target + (t_driver - t_neutral), with t_z = 0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_KP = 21
NUM_BINS = 66


def headpose_degrees(logits: np.ndarray) -> np.ndarray:
    """(B, 66) bin logits -> (B,) degrees: the softmax expectation over 3-degree bins from -99."""
    z = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    return (p * np.arange(NUM_BINS, dtype=np.float32)).sum(-1) * 3.0 - 97.5


def rotation(pitch: np.ndarray, yaw: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Degrees (B,) -> (B, 3, 3), as LivePortrait's get_rotation_matrix (returned transposed)."""
    x, y, z = (np.deg2rad(a.astype(np.float32)) for a in (pitch, yaw, roll))
    b = x.shape[0]
    one, zero = np.ones(b, np.float32), np.zeros(b, np.float32)
    rx = np.stack([one, zero, zero, zero, np.cos(x), -np.sin(x), zero, np.sin(x), np.cos(x)], 1).reshape(b, 3, 3)
    ry = np.stack([np.cos(y), zero, np.sin(y), zero, one, zero, -np.sin(y), zero, np.cos(y)], 1).reshape(b, 3, 3)
    rz = np.stack([np.cos(z), -np.sin(z), zero, np.sin(z), np.cos(z), zero, zero, zero, one], 1).reshape(b, 3, 3)
    return np.transpose(rz @ ry @ rx, (0, 2, 1)).astype(np.float32)


@dataclass
class Motion:
    """The motion extractor's output for B images, decoded."""

    pitch: np.ndarray  # (B,) degrees
    yaw: np.ndarray
    roll: np.ndarray
    t: np.ndarray  # (B, 3)
    exp: np.ndarray  # (B, 21, 3)
    scale: np.ndarray  # (B, 1)
    kp: np.ndarray  # (B, 21, 3) canonical keypoints

    @classmethod
    def decode(cls, pitch, yaw, roll, t, exp, scale, kp) -> Motion:
        b = t.shape[0]
        return cls(headpose_degrees(pitch), headpose_degrees(yaw), headpose_degrees(roll),
                   t.reshape(b, 3).astype(np.float32), exp.reshape(b, NUM_KP, 3).astype(np.float32),
                   scale.reshape(b, 1).astype(np.float32), kp.reshape(b, NUM_KP, 3).astype(np.float32))

    @property
    def R(self) -> np.ndarray:  # noqa: N802 - the paper's name
        return rotation(self.pitch, self.yaw, self.roll)

    def item(self, i: int) -> Motion:
        return Motion(*(getattr(self, f)[i : i + 1] for f in ("pitch", "yaw", "roll", "t", "exp", "scale", "kp")))

    @classmethod
    def stack(cls, items: list[Motion]) -> Motion:
        return cls(*(np.concatenate([getattr(m, f) for m in items])
                     for f in ("pitch", "yaw", "roll", "t", "exp", "scale", "kp")))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {f: getattr(self, f) for f in ("pitch", "yaw", "roll", "t", "exp", "scale", "kp")}

    def keypoints(self) -> np.ndarray:
        """(B, 21, 3): this pose applied to this image's own canonical keypoints."""
        x = self.scale[:, :, None] * (self.kp @ self.R + self.exp)
        x[..., :2] += self.t[:, None, :2]
        return x


def relative_keypoints(target: Motion, neutral: Motion, driver: Motion) -> np.ndarray:
    """(B, 21, 3) driving keypoints for the target: all three are batched alike (B items)."""
    r = driver.R @ np.transpose(neutral.R, (0, 2, 1)) @ target.R
    exp = target.exp + (driver.exp - neutral.exp)
    scale = target.scale * (driver.scale / np.maximum(neutral.scale, 1e-6))
    t = target.t + (driver.t - neutral.t)
    t[:, 2] = 0.0
    return (scale[:, :, None] * (target.kp @ r + exp) + t[:, None, :]).astype(np.float32)


def apply_stitching(x_d: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """LivePortrait's stitching: delta (B, 65) = 63 keypoint offsets + a 2-D shift."""
    b = x_d.shape[0]
    out = x_d + delta[:, : NUM_KP * 3].reshape(b, NUM_KP, 3)
    out[..., :2] += delta[:, NUM_KP * 3 : NUM_KP * 3 + 2].reshape(b, 1, 2)
    return out.astype(np.float32)
