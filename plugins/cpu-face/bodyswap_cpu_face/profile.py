"""The target profile: everything about a body that does not depend on the live frame.

`prepare` crops nothing away (the body keeps its whole photo framing: hair, shoulders, background),
fits the 68 landmarks once, and precomputes the warp mesh (landmarks, forehead, a ring around the
head that follows the head partly, the fixed frame border, and its triangles), the I420 planes of
the photo, the closed-eyelid colours and lash darkness of each eye, and the colours of the mouth
interior (lips, cavity, teeth). The profile is an `.npz` (no pickle) that the plugin alone reads.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import cv2
import numpy as np

from . import _geometry as geo
from . import _models

FORMAT_VERSION = 1
MAX_SIDE = 512  # the body's frame: the photo's framing, at most this many pixels on a side
FOREHEAD_LIFT = 0.55  # forehead control points: eyebrows lifted by this many iod
RING_CENTRE = (0.0, 0.35)  # canonical: between the eyes = origin, iod = 1, y down
RING_RADII = (1.95, 2.45)
RING_POINTS = 16
RING_FOLLOW = 0.5  # how much of the head's motion the ring around the head takes (background wobble vs hair stretch)


@dataclass
class Profile:
    kind: str  # "face": a face to drive; "still": a photo without a usable face; "blank": no photo
    width: int
    height: int
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    landmarks: np.ndarray = field(default_factory=lambda: np.zeros((68, 2)))  # neutral, pixels
    ctrl: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # mesh points, pixels
    follow: np.ndarray = field(default_factory=lambda: np.zeros(0))  # share of head motion taken
    tris: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int32))
    lid: np.ndarray = field(default_factory=lambda: np.zeros((2, 4)))  # per eye: Y U V lid, Y lash
    mouth: np.ndarray = field(default_factory=lambda: np.zeros(6))  # lip Y U V, teeth Y, cavity Y, skin Y
    meta: dict = field(default_factory=dict)

    @property
    def canonical(self) -> np.ndarray:
        a, b = geo.canonical_transform(self.landmarks)
        return geo.apply(a, b, self.landmarks)

    @property
    def iod(self) -> float:
        right, left = geo.eye_centres(self.landmarks)
        return float(np.linalg.norm(left - right))

    def i420(self) -> np.ndarray:
        return np.concatenate([self.y.reshape(-1), self.u.reshape(-1), self.v.reshape(-1)])

    def to_bytes(self) -> bytes:
        meta = dict(self.meta, kind=self.kind, width=self.width, height=self.height, version=FORMAT_VERSION)
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
            y=self.y,
            u=self.u,
            v=self.v,
            landmarks=self.landmarks.astype(np.float64),
            ctrl=self.ctrl.astype(np.float64),
            follow=self.follow.astype(np.float64),
            tris=self.tris.astype(np.int32),
            lid=self.lid.astype(np.float64),
            mouth=self.mouth.astype(np.float64),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Profile:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            if meta.get("version") != FORMAT_VERSION:
                raise ValueError(f"cpu-face profile version {meta.get('version')} is not {FORMAT_VERSION}")
            return cls(
                kind=meta.pop("kind"),
                width=meta.pop("width"),
                height=meta.pop("height"),
                y=z["y"],
                u=z["u"],
                v=z["v"],
                landmarks=z["landmarks"],
                ctrl=z["ctrl"],
                follow=z["follow"],
                tris=z["tris"],
                lid=z["lid"],
                mouth=z["mouth"],
                meta={k: v for k, v in meta.items() if k != "version"},
            )


def frame_photo(photo: np.ndarray) -> np.ndarray:
    """The photo at most MAX_SIDE on a side, with even width and height (I420 needs them)."""
    h, w = photo.shape[:2]
    scale = min(1.0, MAX_SIDE / max(h, w))
    if scale < 1.0:
        photo = cv2.resize(photo, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    h, w = photo.shape[:2]
    return np.ascontiguousarray(photo[: h - h % 2, : w - w % 2])


def rgb_to_planes(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h, w = rgb.shape[:2]
    flat = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).reshape(-1)
    q = (h // 2) * (w // 2)
    return (
        flat[: h * w].reshape(h, w).copy(),
        flat[h * w : h * w + q].reshape(h // 2, w // 2).copy(),
        flat[h * w + q :].reshape(h // 2, w // 2).copy(),
    )


def blank_photo(width: int = 512, height: int = 512) -> np.ndarray:
    """A neutral stand-in for a body without a photo: a soft grey head-and-shoulders silhouette."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = 70 + 40 * (yy / height)
    head = ((xx - width / 2) / (0.16 * width)) ** 2 + ((yy - 0.4 * height) / (0.21 * height)) ** 2 < 1
    body = ((xx - width / 2) / (0.36 * width)) ** 2 + ((yy - 1.05 * height) / (0.4 * height)) ** 2 < 1
    img[head | body] = 150
    img = cv2.GaussianBlur(img, (0, 0), 3)
    return np.repeat(img[..., None], 3, axis=2).astype(np.uint8)


def find_face(gray: np.ndarray) -> np.ndarray | None:
    """The largest face's 68 landmarks, trying harder (upsampling) when the face is small."""
    for upsample in (0, 1):
        boxes = _models.detect(gray, upsample)
        if boxes:
            return _models.landmarks(gray, boxes[0])
    return None


def prepare_profile(photo: np.ndarray | None) -> Profile:
    if photo is None:
        y, u, v = rgb_to_planes(blank_photo())
        return Profile("blank", 512, 512, y, u, v)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError("the enrollment photo must be (height, width, 3) uint8 RGB")
    rgb = frame_photo(photo)
    h, w = rgb.shape[:2]
    y, u, v = rgb_to_planes(rgb)
    points = find_face(y)
    if points is None or not _usable(points, w, h):
        return Profile("still", w, h, y, u, v)
    profile = Profile("face", w, h, y, u, v, landmarks=points)
    profile.ctrl, profile.follow = control_points(points, w, h)
    profile.tris = triangulate(profile.ctrl, w, h)
    profile.lid, profile.mouth = sample_colours(points, y, u, v)
    return profile


def _usable(points: np.ndarray, w: int, h: int) -> bool:
    right, left = geo.eye_centres(points)
    iod = np.linalg.norm(left - right)
    inside = (points[:, 0] >= 0) & (points[:, 0] < w) & (points[:, 1] >= 0) & (points[:, 1] < h)
    return bool(iod >= 20 and inside[27:].all())


def control_points(points: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Mesh points (landmarks, forehead, ring, border) and the share of head motion each follows."""
    a, b = geo.canonical_transform(points)
    ai, bi = geo.invert(a, b)
    iod = 1.0 / abs(a)
    canon = geo.apply(a, b, points)
    forehead = canon[geo.BROWS] + np.array([0.0, -FOREHEAD_LIFT])
    angles = np.linspace(0, 2 * np.pi, RING_POINTS, endpoint=False)
    ring = np.stack(
        [RING_CENTRE[0] + RING_RADII[0] * np.cos(angles), RING_CENTRE[1] + RING_RADII[1] * np.sin(angles)], axis=1
    )
    inner = np.concatenate([points, geo.apply(ai, bi, forehead)])
    ring_px = geo.apply(ai, bi, ring)
    margin = 0.35 * iod
    keep, follow_ring = [], []
    for p in ring_px:
        d = min(p[0], p[1], w - 1 - p[0], h - 1 - p[1])
        if d < 4:  # outside or on the frame: the border points hold the frame there
            continue
        keep.append(p)
        follow_ring.append(RING_FOLLOW * min(1.0, d / margin))
    # Forehead points pushed out of the frame are clamped into it and follow less.
    inner[:, 0] = np.clip(inner[:, 0], 2, w - 3)
    inner[:, 1] = np.clip(inner[:, 1], 2, h - 3)
    border = []
    for t in np.linspace(0, 1, 5):
        border += [(t * (w - 1), 0), (t * (w - 1), h - 1)]
    for t in np.linspace(0, 1, 5)[1:-1]:
        border += [(0, t * (h - 1)), (w - 1, t * (h - 1))]
    ctrl = np.concatenate([inner, np.array(keep).reshape(-1, 2), np.array(border, dtype=np.float64)])
    follow = np.concatenate([np.ones(len(inner)), np.array(follow_ring), np.zeros(len(border))])
    return ctrl, follow


def triangulate(ctrl: np.ndarray, w: int, h: int) -> np.ndarray:
    """Delaunay triangles over the mesh points, built on a copy with the lips parted a little so
    the mouth has its own triangles (a closed mouth puts the inner lip points on top of each other)."""
    topo = ctrl.copy()
    right, left = geo.eye_centres(ctrl[:68])
    iod = float(np.linalg.norm(left - right))
    normal = np.array([-(left - right)[1], (left - right)[0]]) / iod  # points down the face
    topo[geo.UPPER_INNER] -= 0.04 * iod * normal
    topo[geo.LOWER_INNER] += 0.04 * iod * normal
    # nudge any points that would coincide (Subdiv2D merges them)
    for i in range(len(topo)):
        for _ in range(8):
            d = np.linalg.norm(topo[:i] - topo[i], axis=1) if i else np.array([np.inf])
            if d.min() > 0.5:
                break
            topo[i] += 0.7
    subdiv = cv2.Subdiv2D((-2, -2, w + 4, h + 4))
    for p in topo:
        subdiv.insert((float(np.clip(p[0], -1, w + 1)), float(np.clip(p[1], -1, h + 1))))
    tris = []
    for t in subdiv.getTriangleList().reshape(-1, 3, 2):
        if (t < -1.5).any() or (t[:, 0] > w + 1.5).any() or (t[:, 1] > h + 1.5).any():
            continue
        idx = [int(np.argmin(np.linalg.norm(topo - v, axis=1))) for v in t]
        if len(set(idx)) == 3:
            tris.append(idx)
    return np.array(tris, dtype=np.int32)


def _poly_mask(shape, polys) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(p).astype(np.int32) for p in polys], 255)
    return mask > 0


def sample_colours(points: np.ndarray, y: np.ndarray, u: np.ndarray, v: np.ndarray):
    """Closed-eyelid and mouth-interior colours, taken from the target's own skin, lids and lips."""
    h, w = y.shape
    uf = cv2.resize(u, (w, h), interpolation=cv2.INTER_LINEAR)
    vf = cv2.resize(v, (w, h), interpolation=cv2.INTER_LINEAR)
    right, left = geo.eye_centres(points)
    iod = float(np.linalg.norm(left - right))
    lid = np.zeros((2, 4))
    for k, eye in enumerate((geo.RIGHT_EYE, geo.LEFT_EYE)):
        p = points[eye]
        # the lid skin: a band just above the upper lid (below the brow), over the eye's width
        top = p[[1, 2]].mean(axis=0)
        band = np.array(
            [p[1] + [0, -0.07 * iod], p[2] + [0, -0.07 * iod], p[2] + [0, -0.24 * iod], p[1] + [0, -0.24 * iod]]
        )
        m = _poly_mask(y.shape, [band])
        if m.sum() < 4:
            m = _poly_mask(y.shape, [p])
        # and the skin under the eye, in case makeup or shadow covers the lid in the photo
        under = _poly_mask(y.shape, [np.array([p[5] + [0, 0.1 * iod], p[4] + [0, 0.1 * iod],
                                               p[4] + [0, 0.22 * iod], p[5] + [0, 0.22 * iod]])])
        ys = y[m].astype(np.float64)
        # lid skin, not liner, lashes or brow hair: the brighter part of the band
        lid_y = float(np.percentile(ys, 75))
        bright = m & (y >= np.percentile(ys, 50))
        if under.sum() >= 4 and 0.92 * np.percentile(y[under], 60) > lid_y:
            lid_y = float(0.92 * np.percentile(y[under], 60))
            bright = under
        # the lash line: the darkest pixels along the upper lid
        line = np.zeros(y.shape, np.uint8)
        cv2.polylines(line, [np.round(p[:4]).astype(np.int32)], False, 255, max(1, round(0.03 * iod)))
        lash = float(np.percentile(y[line > 0], 10)) if (line > 0).any() else 40.0
        lid[k] = (lid_y, float(np.median(uf[bright])), float(np.median(vf[bright])), min(lash, 0.6 * lid_y))
        del top
    outer = _poly_mask(y.shape, [points[geo.OUTER_LIPS]])
    inner = _poly_mask(y.shape, [points[geo.INNER_LIPS]])
    lips = outer & ~inner
    if lips.sum() < 4:
        lips = outer
    lip_y, lip_u, lip_v = (float(np.median(c[lips])) for c in (y, uf, vf))
    cheeks = _poly_mask(y.shape, [points[[1, 2, 3, 31, 39, 40, 41, 36]], points[[15, 14, 13, 35, 42, 47, 46, 45]]])
    skin_y = float(np.median(y[cheeks])) if cheeks.any() else lip_y
    teeth_y = float(np.clip(skin_y + 15, 135, 225))  # a little lighter than the skin, in the mouth's shade
    cavity_y = float(np.clip(0.3 * lip_y, 18, 45))
    return lid, np.array([lip_y, lip_u, lip_v, teeth_y, cavity_y, skin_y])
