"""One driver wearing one body: track, smooth, transfer motion, render.

Tracking: dlib's HOG detector finds the face only when there is no track (half resolution first,
about 5 ms; full resolution every few frames for small faces), and every CHECK_EVERY frames to
notice a second face or a track that slid off the face. Between detections the 68-point model is
refitted each frame inside a box placed from the previous frame's points (about 1 ms); where that
box sits on the points follows the detector's own boxes at each check. A track is dropped when its
face patch stops looking like the face it started on and the detector agrees.

Smoothing: a One-Euro filter on the landmarks in face units (iod). MIN_CUTOFF 1.7 Hz smooths
landmark noise on a still face (slow motion lags about 90 ms, the filter's time constant at that
cutoff); BETA 6 opens the cutoff to 10-15 Hz for a blink or a syllable, which then lags 10-20 ms.

Motion transfer: each frame's points are aligned (similarity, on the skull's rigid points) to the
driver's neutral face; the residual is the expression, in iod units, added to the target's neutral
landmarks. The head's own motion (roll, scale, translation) is taken relative to a slowly
following baseline (it forgets where the driver sits over about 10 s) and clamped, so the body
moves its head but never leaves its framing. Eye closure is not warped (a squashed iris looks
dead): it is drawn as a lid; eye widening and everything else is warped.

No face, several faces, a face half out of the frame: the body eases back to its neutral pose in
about 0.3 s, and holds it. A hand over the mouth (the lips lose their colour against the cheeks):
the mouth alone eases back to closed. The driver's pixels never reach the output: every output
pixel is sampled from the target's photo or drawn from its colours.
"""

from __future__ import annotations

import cv2
import numpy as np
from bodyswap_api import SwapSession, VideoFrame

from . import _geometry as geo
from . import _models
from ._render import Renderer
from .profile import Profile

CHECK_EVERY = 30  # frames between detector checks while tracking
BOX_FOLLOW = 0.45  # share of the detector's box-to-points relation taken at each check
MIN_CUTOFF, BETA, D_CUTOFF = 1.7, 6.0, 1.0
EASE_OUT_S, EASE_IN_S = 0.15, 0.25  # time constants of easing to neutral and back
BASELINE_S = 10.0  # the head pose baseline forgets where the driver sat over this long
CALIBRATION_FRAMES = 40  # the neutral face is estimated over the first frames of the track
MAX_ROLL, MIN_SCALE, MAX_SCALE, MAX_SHIFT = 0.3, 0.92, 1.1, 0.35
SCALE_SHARE, SHIFT_SHARE = 0.5, 0.7  # leaning in zooms the face only, not the hair: take part of it
MAX_EXPRESSION = 0.4  # iod
NEUTRAL_EYE_PERCENTILE = 65  # the driver's open-eye ratio, from the calibration frames
WIDEN_GAIN = 0.8
# An eye aspect ratio this much below neutral draws the lid fully shut. The lid's travel is then
# proportional to the driver's relative closing: dlib reads a shut eye (lashes) at about 0.2 of open,
# on the driver and on the drawn lid alike. (At 0.6 a glance down already shut the body's eyes.)
CLOSED_AT = 0.8
PATCH = 20  # side of the normalised face patch the tracker compares
PATCH_MIN_CORR = 0.45
SECOND_FACE_SHARE = 0.35  # a second detected face at least this share of the first's area


class CpuFaceSession(SwapSession):
    def __init__(self, target: Profile, source: Profile | None) -> None:
        self.target = target
        self.renderer = Renderer(target)
        self.out_w, self.out_h = target.width, target.height
        self.drivable = target.kind == "face"
        if self.drivable:
            a, b = geo.canonical_transform(target.landmarks)
            self.to_target_image = geo.invert(a, b)
            self.target_ctrl_can = geo.apply(a, b, target.ctrl)
            self.target_can = self.target_ctrl_can[:68].copy()
        self.fixed_neutral = source.canonical if source is not None and source.kind == "face" else None
        self.calibration: list[np.ndarray] = []
        self.calibration_mouth: list[float] = []
        self.calibration_eyes: list[tuple[float, float]] = []
        self.neutral = self.fixed_neutral
        self.neutral_ear: np.ndarray | None = None
        self.neutral_redness: float | None = None
        self.red_samples = 0
        # tracking
        self.raw: np.ndarray | None = None
        self.box_offset, self.box_scale = _models.BOX_OFFSET.copy(), _models.BOX_SCALE
        self.template: np.ndarray | None = None
        self.frames = 0
        self.since_check = 0
        self.misses = 0
        self.several = False
        self.lost_frames = 0
        self.filter = geo.OneEuro(MIN_CUTOFF, BETA, D_CUTOFF)
        self.track_iod = 1.0
        # motion state, held while the face is away
        self.baseline: tuple[complex, complex] | None = None
        self.expression = np.zeros((68, 2))
        self.motion = (1.0 + 0j, 0j)
        self.closure = np.zeros(2)
        self.presence = 0.0
        self.mouth_presence = 1.0
        self.clock = 0.0
        self.last_ts: int | None = None

    # -- the worker's call ---------------------------------------------------------------------
    def convert_video(self, frame: VideoFrame) -> VideoFrame:
        dt = self._tick(frame.timestamp_us)
        if not self.drivable:
            return self._frame(self.renderer.still())
        gray = frame.luma()
        points, ok = self._track(gray)
        if ok and points is not None:
            self._observe(frame, gray, points)
        target = 1.0 if ok and not self.several else 0.0
        tau = EASE_IN_S if target > self.presence else EASE_OUT_S
        self.presence += (target - self.presence) * (1 - np.exp(-dt / tau))
        if self.presence < 0.02 and target == 0.0:  # close enough: show the photo itself
            self.presence = 0.0
            return self._frame(self.renderer.still())
        return self._frame(self.renderer.render(*self._pose()))

    def close(self) -> None:
        self.raw = None
        self.template = None

    # -- time ------------------------------------------------------------------------------------
    def _tick(self, timestamp_us: int) -> float:
        dt = 1 / 25
        if self.last_ts is not None and timestamp_us > self.last_ts:
            dt = min(0.5, (timestamp_us - self.last_ts) / 1e6)
        self.last_ts = timestamp_us
        self.clock += dt
        self.frames += 1
        return dt

    def _frame(self, data: np.ndarray) -> VideoFrame:
        return VideoFrame(self.out_w, self.out_h, "i420", data, self.last_ts or 0)

    # -- tracking --------------------------------------------------------------------------------
    def _track(self, gray: np.ndarray) -> tuple[np.ndarray | None, bool]:
        if self.raw is None:
            self.lost_frames += 1
            return self._acquire(gray, full=self.lost_frames % 10 == 0), False
        box = _models.box_from_landmarks(self.raw, self.box_offset, self.box_scale)
        points = _models.landmarks(gray, box)
        self.since_check += 1
        corr = self._patch_corr(gray, points)
        if corr < PATCH_MIN_CORR or self.since_check >= CHECK_EVERY or self.several:
            if not self._check(gray, points):
                return None, False
            points = self.raw
        inside = self._inside(points, gray.shape)
        self.raw = points
        if corr > 0.8 and inside:
            self.template = 0.95 * self.template + 0.05 * self._patch(gray, points)
        return points, inside

    def _acquire(self, gray: np.ndarray, full: bool) -> np.ndarray | None:
        boxes = self._detect(gray, full)
        self.several = _several(boxes)
        if not boxes:
            return None
        box = boxes[0]
        points = _models.landmarks(gray, box)
        self.box_offset, self.box_scale = _models.box_relation(points, box)
        self.raw = points
        self.template = self._patch(gray, points)
        self.since_check = self.misses = self.lost_frames = 0
        right, left = geo.eye_centres(points)
        self.track_iod = float(np.linalg.norm(left - right)) or 1.0
        self.filter.reset()
        return points

    def _detect(self, gray: np.ndarray, full: bool) -> list[tuple[float, float, float, float]]:
        if not full and min(gray.shape) >= 160:
            half = cv2.resize(gray, (gray.shape[1] // 2, gray.shape[0] // 2), interpolation=cv2.INTER_AREA)
            boxes = [tuple(2 * c for c in b) for b in _models.detect(half, 0)]
            if boxes:
                return boxes
            if self.raw is None:
                return []
        return _models.detect(gray, 0)

    def _check(self, gray: np.ndarray, points: np.ndarray) -> bool:
        """Ask the detector: is the tracked face still there, and is it alone?"""
        self.since_check = 0
        width = float(np.linalg.norm(points[16] - points[0]))
        boxes = self._detect(gray, full=width < 180)
        self.several = _several(boxes)
        mine = _models.box_from_landmarks(points, self.box_offset, self.box_scale)
        overlaps = [b for b in boxes if _iou(b, mine) > 0.3]
        if overlaps:
            self.misses = 0
            if _iou(overlaps[0], mine) < 0.6:  # re-seat a track that drifted
                self.raw = _models.landmarks(gray, overlaps[0])
            else:
                self.raw = points
            # Where the detector's box sits on the points changes with pose and expression, and the
            # model's points depend on the box: one frame's relation, kept for the whole track,
            # biased the eyes and pitch of some players. Follow it at every check.
            offset, scale = _models.box_relation(self.raw, overlaps[0])
            self.box_offset += BOX_FOLLOW * (offset - self.box_offset)
            self.box_scale += BOX_FOLLOW * (scale - self.box_scale)
            return True
        self.misses += 1
        if self._patch_corr(gray, points) < PATCH_MIN_CORR or self.misses >= 2:
            self.raw = None
            self.template = None
            self.lost_frames = 0
            return False
        self.raw = points
        return True

    def _inside(self, points: np.ndarray, shape: tuple[int, ...]) -> bool:
        h, w = shape
        core = points[27:]
        return bool((core[:, 0] >= 0).all() and (core[:, 0] < w).all() and (core[:, 1] >= 0).all() and (core[:, 1] < h).all()
                    and (points[:, 0] > -0.1 * w).all() and (points[:, 0] < 1.1 * w).all()
                    and (points[:, 1] < 1.1 * h).all())

    def _patch(self, gray: np.ndarray, points: np.ndarray) -> np.ndarray:
        a, b = geo.canonical_transform(points)
        ai, bi = geo.invert(a, b)
        # patch pixel (j, i) -> canonical (-1.1 + 2.2 j / PATCH, -0.7 + 2.4 i / PATCH) -> image
        sx, sy = 2.2 / PATCH, 2.4 / PATCH
        m = np.array([[ai.real * sx, -ai.imag * sy, 0.0], [ai.imag * sx, ai.real * sy, 0.0]])
        origin = ai * complex(-1.1, -0.7) + bi
        m[0, 2], m[1, 2] = origin.real, origin.imag
        patch = cv2.warpAffine(gray, m, (PATCH, PATCH), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        patch -= patch.mean()
        return patch / (np.linalg.norm(patch) + 1e-6)

    def _patch_corr(self, gray: np.ndarray, points: np.ndarray) -> float:
        if self.template is None:
            return 1.0
        t = self.template / (np.linalg.norm(self.template) + 1e-6)
        return float(np.sum(t * self._patch(gray, points)))

    # -- motion ------------------------------------------------------------------------------------
    def _observe(self, frame: VideoFrame, gray: np.ndarray, raw: np.ndarray) -> None:
        smooth = self.filter(raw / self.track_iod, self.clock) * self.track_iod
        if self.fixed_neutral is None and len(self.calibration) < CALIBRATION_FRAMES:
            a, b = geo.canonical_transform(smooth)
            self.calibration.append(geo.apply(a, b, smooth))
            self.calibration_mouth.append(geo.mouth_opening(smooth))
            self.calibration_eyes.append(geo.eye_openings(smooth))
            calm = np.argsort(self.calibration_mouth)[: max(1, len(self.calibration) // 3)]
            self.neutral = np.mean([self.calibration[i] for i in calm], axis=0)
            # eyes are open most of the time; blinks and glances down only lower the ratio
            self.neutral_ear = np.percentile(np.array(self.calibration_eyes), NEUTRAL_EYE_PERCENTILE, axis=0)
        neutral = self.neutral
        if self.neutral_ear is None:
            self.neutral_ear = np.array(geo.eye_openings(neutral))
        a_t, b_t = geo.fit_similarity(smooth[geo.RIGID], neutral[geo.RIGID])
        expression = geo.apply(a_t, b_t, smooth) - neutral
        # head pose relative to a slowly following baseline
        if self.baseline is None:
            self.baseline = (a_t, b_t)
        else:
            k = 1 - np.exp(-(1 / 25) / BASELINE_S)
            self.baseline = (self.baseline[0] + k * (a_t - self.baseline[0]), self.baseline[1] + k * (b_t - self.baseline[1]))
        a_b, b_b = self.baseline
        m_a = a_b / a_t
        m_b = b_b - a_b * b_t / a_t
        mag = float(np.clip(abs(m_a) ** SCALE_SHARE, MIN_SCALE, MAX_SCALE))
        m_b = m_b * SHIFT_SHARE
        ang = float(np.clip(np.angle(m_a), -MAX_ROLL, MAX_ROLL))
        m_a = mag * np.exp(1j * ang)
        if abs(m_b) > MAX_SHIFT:
            m_b = m_b / abs(m_b) * MAX_SHIFT
        self.motion = (complex(m_a), complex(m_b))
        # eyes: closing is drawn (lids), widening is warped
        ear = np.array(geo.eye_openings(smooth))
        ratio = ear / np.maximum(self.neutral_ear, 1e-3)
        closure = np.clip((1.0 - ratio) / CLOSED_AT, 0, 1)
        self.closure = 0.8 * closure + 0.2 * closure[::-1]  # dlib's single-eye noise, not winks, is damped
        for k, eye in enumerate((geo.RIGHT_EYE, geo.LEFT_EYE)):
            corners = expression[eye[[0, 3]]].mean(axis=0)
            if ratio[k] < 1.0:
                expression[eye[[1, 2, 4, 5]]] = corners
            else:  # widening is warped, at a reduced gain: a stretched eye soon stares
                lids = eye[[1, 2, 4, 5]]
                expression[lids] = corners + WIDEN_GAIN * (expression[lids] - corners)
        np.clip(expression, -MAX_EXPRESSION, MAX_EXPRESSION, out=expression)
        # a hand over the mouth: the lips stop being redder than the cheeks
        occluded = self._mouth_occluded(frame, raw)
        tau = EASE_IN_S if not occluded else EASE_OUT_S
        self.mouth_presence += ((0.0 if occluded else 1.0) - self.mouth_presence) * (1 - np.exp(-(1 / 25) / tau))
        expression[geo.MOUTH] *= self.mouth_presence
        self.expression = expression

    def _mouth_occluded(self, frame: VideoFrame, points: np.ndarray) -> bool:
        if frame.format != "i420" or frame.width % 2 or frame.height % 2:
            return False
        w, h = frame.width, frame.height
        q = (w // 2) * (h // 2)
        u = frame.data[w * h : w * h + q].reshape(h // 2, w // 2)
        v = frame.data[w * h + q : w * h + 2 * q].reshape(h // 2, w // 2)
        half = points / 2

        def mean_red(polygon: np.ndarray, hole: np.ndarray | None = None) -> float | None:
            """How red against yellow the skin inside a polygon is: the ratio of its mean V to its mean
            -U (chroma at half resolution). Lips are redder than cheeks at any brightness."""
            x0, y0 = np.floor(polygon.min(axis=0)).astype(int)
            x1, y1 = np.ceil(polygon.max(axis=0)).astype(int) + 1
            if x0 < 0 or y0 < 0 or x1 > w // 2 or y1 > h // 2 or x1 - x0 < 2 or y1 - y0 < 2:
                return None
            mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.fillPoly(mask, [np.round(polygon - (x0, y0)).astype(np.int32)], 1)
            if hole is not None:
                cv2.fillPoly(mask, [np.round(hole - (x0, y0)).astype(np.int32)], 0)
            if mask.sum() < 3:
                return None
            inside = mask > 0
            mean_v = float(v[y0:y1, x0:x1][inside].mean()) - 128
            mean_u = 128 - float(u[y0:y1, x0:x1][inside].mean())
            return mean_v / max(mean_u, 3.0)

        lips = mean_red(half[geo.OUTER_LIPS], half[geo.INNER_LIPS])
        cheeks = [mean_red(half[[1, 2, 3, 31, 40]]), mean_red(half[[15, 14, 13, 35, 47]])]
        if lips is None or None in cheeks:
            return False
        redness = lips - float(np.mean(cheeks))
        if self.red_samples < CALIBRATION_FRAMES:  # the driver's own lips against cheeks, uncovered
            self.red_samples += 1
            prior = self.neutral_redness or 0.0
            self.neutral_redness = prior + (redness - prior) / self.red_samples
            return False
        return self.neutral_redness > 0.1 and redness < 0.35 * self.neutral_redness

    def _pose(self) -> tuple[np.ndarray, tuple[float, float]]:
        """The deformed mesh for the current (eased) motion."""
        w = self.presence
        can = self.target_ctrl_can.copy()
        expression = self.expression * w
        can[:68] += expression
        # keep the lips from crossing
        up, lo = can[geo.UPPER_INNER], can[geo.LOWER_INNER]
        crossed = lo[:, 1] < up[:, 1]
        if crossed.any():
            mid = (up[crossed] + lo[crossed]) / 2
            up[crossed], lo[crossed] = mid, mid
            can[geo.UPPER_INNER], can[geo.LOWER_INNER] = up, lo
        can[68:78] += 0.3 * expression[geo.BROWS]  # the forehead goes a little with the brows
        m_a, m_b = self.motion
        m_a = 1 + w * (m_a - 1)
        m_b = w * m_b
        z = geo.to_complex(can)
        moved = m_a * z + m_b
        z = z + self.target.follow * (moved - z)
        ai, bi = self.to_target_image
        ctrl = geo.to_points(ai * z + bi)
        return ctrl, (float(self.closure[0] * w), float(self.closure[1] * w))


def _several(boxes) -> bool:
    if len(boxes) < 2:
        return False
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    return area(boxes[1]) >= SECOND_FACE_SHARE * area(boxes[0])


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
