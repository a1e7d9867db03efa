"""Drawing the body: one dense piecewise-affine warp of the target photo, then the parts a warp
cannot give (the inside of an open mouth with teeth, closed eyelids with their lash line).

Everything is done in I420, the format the worker hands us and publishes: luma at full size, chroma
at half size, so a frame costs 1.5 planes instead of 3 channels, and no colour conversion.

The warp: the mesh's deformed triangles are rasterised (their index) on a half-resolution grid
over the moving region only; each grid point takes its triangle's affine map back to the photo,
which gives the chroma map directly and, upsampled, the luma map; `cv2.remap` then samples the
photo once per plane. Outside that region the frame is the photo itself.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import _geometry as geo
from .profile import Profile

SHIFT = 4  # fixed-point bits for cv2's polygon drawing (1/16 pixel)
ONE = 1 << SHIFT
GRID = 4  # luma pixels per warp-map grid step

LID_LIFT = 0.15  # iod above the upper lid points where a closing lid starts
LID_FEATHER = 0.05  # iod: the blur of the lid's top edge
_TOOTH_EDGES = np.array([0.0, -0.27, 0.27, -0.48, 0.48])


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * ONE).astype(np.int32)


class Renderer:
    def __init__(self, profile: Profile) -> None:
        self.p = profile
        self.w, self.h = profile.width, profile.height
        self.frame = profile.i420()
        self.neutral = profile.ctrl
        self.tris = profile.tris
        self.static_tri = np.zeros(len(self.tris), bool)
        if len(self.tris):
            self.static_tri = (profile.follow[self.tris] == 0).all(axis=1)
        self.moving_tris = np.flatnonzero(~self.static_tri)
        self.moving = profile.follow > 0
        self._grids: tuple[np.ndarray, np.ndarray] | None = None
        self.iod = profile.iod if profile.kind == "face" else 1.0
        lm = profile.landmarks
        self.neutral_gap = lm[geo.LOWER_INNER] - lm[geo.UPPER_INNER]  # (3, 2): lower minus upper

    def still(self) -> np.ndarray:
        return self.frame.copy()

    def render(self, ctrl: np.ndarray, closure: tuple[float, float]) -> np.ndarray:
        """The body's I420 frame for deformed mesh points `ctrl` and eyelid closures."""
        out = self.frame.copy()
        w, h = self.w, self.h
        hw, q = w * h, (w // 2) * (h // 2)
        y = out[:hw].reshape(h, w)
        u = out[hw : hw + q].reshape(h // 2, w // 2)
        v = out[hw + q :].reshape(h // 2, w // 2)
        self._warp(ctrl, y, u, v)
        scale = _scale(ctrl[:68]) / max(self.iod, 1e-6)
        iod = self.iod * scale
        for k, eye in enumerate((geo.RIGHT_EYE, geo.LEFT_EYE)):
            if closure[k] > 0.03:
                self._lid(ctrl[eye], closure[k], self.p.lid[k], iod, y, u, v)
        self._mouth(ctrl[geo.INNER_LIPS], iod, y, u, v)
        return out

    # -- the warp ------------------------------------------------------------------------------
    def _warp(self, ctrl: np.ndarray, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        w, h = self.w, self.h
        region = np.concatenate([ctrl[self.moving], self.neutral[self.moving]])
        x0 = max(0, int(np.floor(region[:, 0].min())) - 4) & ~3
        y0 = max(0, int(np.floor(region[:, 1].min())) - 4) & ~3
        x1 = min(w, (int(np.ceil(region[:, 0].max())) + 8) & ~3)
        y1 = min(h, (int(np.ceil(region[:, 1].max())) + 8) & ~3)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return
        # The map is piecewise affine: it is computed on a grid of one point per 4x4 luma pixels
        # and interpolated (exact inside each triangle, smoothed over 4 pixels across its edges).
        # Grid point (j, i) sits at luma (x0 + 4j + 1.5, y0 + 4i + 1.5), which is where
        # cv2.resize puts it for both the luma (x4) and the chroma (x2) maps.
        gw, gh = -(-(x1 - x0) // GRID), -(-(y1 - y0) // GRID)
        grid_pts = (ctrl - np.array([x0 + 1.5, y0 + 1.5])) / GRID
        tris = self.tris[self.moving_tris]
        dst = grid_pts[tris]  # (T, 3, 2)
        src = self.neutral[tris]  # (T, 3, 2) photo pixels
        # affine per triangle: src = A @ [x, y, 1] of dst
        x_a, y_a = dst[:, 0, 0], dst[:, 0, 1]
        x_b, y_b = dst[:, 1, 0], dst[:, 1, 1]
        x_c, y_c = dst[:, 2, 0], dst[:, 2, 1]
        det = (x_b - x_a) * (y_c - y_a) - (x_c - x_a) * (y_b - y_a)
        ok = np.abs(det) > 1e-5
        det = np.where(ok, det, 1.0)
        # barycentric weights as affine functions of (x, y): l_b, l_c; l_a = 1 - l_b - l_c
        lb = np.stack([(y_c - y_a), -(x_c - x_a), -(y_c - y_a) * x_a + (x_c - x_a) * y_a], axis=1) / det[:, None]
        lc = np.stack([-(y_b - y_a), (x_b - x_a), (y_b - y_a) * x_a - (x_b - x_a) * y_a], axis=1) / det[:, None]
        la = -lb - lc
        la[:, 2] += 1.0
        bary = np.stack([la, lb, lc], axis=1)  # (T, 3 vertices, 3 coeffs)
        affine = np.einsum("tvk,tvc->tkc", src, bary)  # (T, 2, 3)
        centroid = src.mean(axis=1)
        affine[~ok] = 0.0
        affine[~ok, :, 2] = centroid[~ok]
        # identity for grid points no moving triangle covers (the static frame)
        ident = np.array([[[GRID, 0.0, x0 + 1.5], [0.0, GRID, y0 + 1.5]]])
        table = np.concatenate([affine, ident]).reshape(-1, 6).T.astype(np.float32)  # (6, T + 1)
        ids = np.full((gh, gw), len(tris), np.int32)
        fixed = _fixed(dst)
        for t in np.flatnonzero(ok):
            cv2.fillConvexPoly(ids, fixed[t], int(t), cv2.LINE_8, SHIFT)
        gx, gy = self._grid(gw, gh)
        a00, a01, a02, a10, a11, a12 = (row[ids] for row in table)
        map_x = a00 * gx + a01 * gy + a02
        map_y = a10 * gx + a11 * gy + a12
        lx = cv2.resize(map_x, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        ly = cv2.resize(map_y, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        y[y0:y1, x0:x1] = cv2.remap(self.p.y, lx, ly, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        size = ((x1 - x0) // 2, (y1 - y0) // 2)
        cx = cv2.resize((map_x - 0.5) * 0.5, size, interpolation=cv2.INTER_LINEAR)
        cy = cv2.resize((map_y - 0.5) * 0.5, size, interpolation=cv2.INTER_LINEAR)
        u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = cv2.remap(self.p.u, cx, cy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        v[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = cv2.remap(self.p.v, cx, cy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def _grid(self, gw: int, gh: int) -> tuple[np.ndarray, np.ndarray]:
        if self._grids is None or self._grids[0].shape != (gh, gw):
            gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float32)
            self._grids = (gx, gy)
        return self._grids

    # -- closed eyelids ------------------------------------------------------------------------
    def _lid(self, eye: np.ndarray, closure: float, colours: np.ndarray, iod: float, y, u, v) -> None:
        """Draw the upper lid down over the eye by `closure` (0 open .. 1 shut), lash line at its edge.

        The lid is the skin just above it, carried down column by column (so it has the skin's own
        colour and blends in), shaded darker towards its edge, with a tapered lash line there. It
        starts above the photo's own lashes and liner, which would otherwise show as a second,
        open-looking eye line above a shut lid, and its top edge is feathered into the socket.
        """
        closure = min(1.0, closure)
        upper = eye[[1, 2]]
        lower = eye[[5, 4]]
        edge = upper + closure * (lower - upper) * 1.04  # a shut lid overlaps the lower lid a little
        lift = np.array([0.0, LID_LIFT * iod * min(1.0, 2 * closure)])
        top_curve = _smooth(np.array([eye[0], upper[0] - lift, upper[1] - lift, eye[3]]))
        lash_curve = _smooth(np.array([eye[0], edge[0], edge[1], eye[3]]))
        lid = np.concatenate([top_curve, lash_curve[::-1][1:-1]])
        opening = np.concatenate([_smooth(eye[:4]), lash_curve[::-1][1:-1]])  # what must be covered
        pad = max(3, int(0.15 * iod))
        x0 = max(0, int(lid[:, 0].min()) - pad) & ~1
        y0 = max(0, int(lid[:, 1].min()) - pad) & ~1
        x1 = min(self.w, (int(lid[:, 0].max()) + pad + 2) & ~1)
        y1 = min(self.h, (int(lid[:, 1].max()) + pad + 2) & ~1)
        if x1 - x0 < 4 or y1 - y0 < 4:
            return
        off = np.array([x0, y0])
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [_fixed(lid - off)], 255, cv2.LINE_AA, SHIFT)
        alpha = cv2.GaussianBlur(mask, (0, 0), max(0.8, LID_FEATHER * iod))
        cv2.fillPoly(alpha, [_fixed(opening - off)], 255, cv2.LINE_AA, SHIFT)
        alpha = alpha.astype(np.float32) / 255.0
        # lashes: a dark line along the lid's edge, full in the middle, tapering to the corners
        lash = np.zeros_like(mask)
        thin = max(1, int(round(0.015 * iod)))
        cv2.polylines(lash, [_fixed(lash_curve - off)], False, 255, thin, cv2.LINE_AA, SHIFT)
        n = len(lash_curve)
        cv2.polylines(lash, [_fixed(lash_curve[n // 5 : n - n // 5] - off)], False, 255,
                      max(thin + 1, int(round(0.03 * iod))), cv2.LINE_AA, SHIFT)
        lash_alpha = cv2.GaussianBlur(lash, (0, 0), 0.7).astype(np.float32) / 255.0 * min(1.0, 0.3 + closure)
        # the skin above the lid, per column: the brighter part of a band just above its top (not
        # the lashes, liner or brow hair there), smoothed along the row
        cols = np.arange(x0, x1)
        order = np.argsort(top_curve[:, 0])
        above = np.interp(cols, top_curve[order, 0], top_curve[order, 1]) - 0.02 * iod
        band = np.round(above)[None, :] - np.arange(max(3, int(0.1 * iod)))[:, None]
        samples = y[np.clip(band, 0, self.h - 1).astype(int), cols].astype(np.float32)
        lid_y, lid_u, lid_v, lash_y = colours
        # a brow or eye shadow right above the lid: no darker than the profile's lid colour allows
        skin_y = np.maximum(np.percentile(samples, 80, axis=0), 0.9 * lid_y)[None, :]
        skin_y = cv2.GaussianBlur(skin_y, (0, 0), max(1.0, 0.06 * iod), borderType=cv2.BORDER_REPLICATE)
        grid_rows = np.arange(y0, y1, dtype=np.float32)[:, None]
        top, bottom = float(top_curve[:, 1].min()), float(lash_curve[:, 1].max())
        t = np.clip((grid_rows - top) / max(bottom - top, 1.0), 0.0, 1.0)
        shade = skin_y * (1.0 - 0.12 * t * t)  # rounded over the eyeball, darker into the lash line
        roi = y[y0:y1, x0:x1].astype(np.float32)
        roi = roi * (1 - alpha) + shade * alpha
        roi = roi * (1 - lash_alpha) + min(lash_y, 0.45 * lid_y) * lash_alpha
        y[y0:y1, x0:x1] = np.clip(roi, 0, 255).astype(np.uint8)
        a2 = cv2.resize(alpha, ((x1 - x0) // 2, (y1 - y0) // 2), interpolation=cv2.INTER_AREA)
        for plane, value in ((u, lid_u), (v, lid_v)):
            r = plane[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2].astype(np.float32)
            plane[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = np.clip(r * (1 - a2) + value * a2, 0, 255).astype(np.uint8)

    # -- the inside of the mouth ---------------------------------------------------------------
    def _mouth(self, inner: np.ndarray, iod: float, y, u, v) -> None:
        """Fill the gap between the inner lips: dark cavity, upper teeth hanging from the upper lip,
        lower teeth on the lower lip, shading towards the corners and under the lips."""
        upper = inner[[0, 1, 2, 3, 4]].copy()
        lower = inner[[0, 7, 6, 5, 4]].copy()
        # what the photo already shows between its lips stays the photo's (warped): only the
        # opening beyond it is drawn
        half_gap = self.neutral_gap * (iod / max(self.iod, 1e-6)) / 2
        upper[1:4] += half_gap
        lower[1:4] -= half_gap
        crossed = (lower[1:4] - upper[1:4]) @ np.array([0.0, 1.0]) < 0
        lower[1:4][crossed] = upper[1:4][crossed]
        gap = float(np.linalg.norm(upper[1:4] - lower[1:4], axis=1).mean())
        if gap < 0.8:
            return
        upper, lower = _smooth(upper), _smooth(lower)
        inner = np.concatenate([upper, lower[::-1][1:-1]])
        left, right = upper[0], upper[-1]
        axis = right - left
        length = float(np.linalg.norm(axis))
        if length < 4:
            return
        axis /= length
        normal = np.array([-axis[1], axis[0]])
        x0 = max(0, int(inner[:, 0].min()) - 2) & ~1
        y0 = max(0, int(inner[:, 1].min()) - 2) & ~1
        x1 = min(self.w, (int(inner[:, 0].max()) + 4) & ~1)
        y1 = min(self.h, (int(inner[:, 1].max()) + 4) & ~1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        off = np.array([x0, y0])
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [_fixed(inner - off)], 255, cv2.LINE_AA, SHIFT)
        alpha = mask.astype(np.float32) / 255.0
        gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        rel_x, rel_y = gx - left[0], gy - left[1]
        s = (rel_x * axis[0] + rel_y * axis[1]) / length  # 0 .. 1 from corner to corner
        n = rel_x * normal[0] + rel_y * normal[1]  # pixels down the face
        su = ((upper - left) @ axis) / length
        nu = (upper - left) @ normal
        sl = ((lower - left) @ axis) / length
        nl = (lower - left) @ normal
        ou, ol = np.argsort(su), np.argsort(sl)
        top = np.interp(s, su[ou], nu[ou])
        bottom = np.interp(s, sl[ol], nl[ol])
        d_top, d_bot = n - top, bottom - n
        c = np.clip(2 * s - 1, -1, 1)
        lip_y, lip_u, lip_v, teeth_y, cavity_y, _skin = self.p.mouth
        # a mouth just parted shows mostly teeth; the cavity behind them darkens as it opens
        teeth_h = 0.12 * iod
        # the cavity: dark, a little lighter towards the corners, a tongue low in a wide mouth
        lum = cavity_y * (0.85 + 0.3 * np.abs(c))
        cu = np.full_like(lum, 128 + 0.5 * (lip_u - 128))
        cv = np.full_like(lum, 128 + 0.5 * (lip_v - 128))
        tongue = (d_bot < 0.3 * gap) & (gap > 0.25 * iod)
        lum = np.where(tongue, 0.5 * lip_y * (1 - 0.4 * c * c), lum)
        cu = np.where(tongue, lip_u, cu)
        cv = np.where(tongue, lip_v, cv)
        gaps = np.exp(-(((c[..., None] - _TOOTH_EDGES) * length / 2) ** 2) / 0.5).max(axis=-1)
        lower_teeth = (d_bot < 0.5 * teeth_h * (1 - 0.6 * c * c)) & (gap > 0.45 * teeth_h)
        lum = np.where(lower_teeth, 0.7 * teeth_y * (1 - 0.5 * c * c) * (1 - 0.05 * gaps), lum)
        upper_teeth = d_top < teeth_h * (1 - 0.45 * c * c)
        under_lip = 0.8 + 0.2 * np.clip(d_top / max(1.0, 0.25 * teeth_h), 0, 1)
        edge = 1 - 0.15 * np.clip(d_top / teeth_h, 0, 1) ** 2  # the biting edge is a little darker
        lum = np.where(upper_teeth, teeth_y * (1 - 0.35 * c * c) * under_lip * edge * (1 - 0.05 * gaps), lum)
        teeth = upper_teeth | lower_teeth
        cu = np.where(teeth, 121.0, cu)  # an ivory white: grey teeth look false against the lips
        cv = np.where(teeth, 131.0, cv)
        # shading where the lips meet the inside
        lum *= 0.8 + 0.2 * np.clip(np.minimum(d_top, d_bot) / 1.5, 0, 1)
        roi = y[y0:y1, x0:x1].astype(np.float32)
        y[y0:y1, x0:x1] = np.clip(roi * (1 - alpha) + lum * alpha, 0, 255).astype(np.uint8)
        size = ((x1 - x0) // 2, (y1 - y0) // 2)
        a2 = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
        for plane, value in ((u, cu), (v, cv)):
            val = cv2.resize((value * alpha).astype(np.float32), size, interpolation=cv2.INTER_AREA)
            r = plane[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2].astype(np.float32)
            plane[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = np.clip(r * (1 - a2) + val, 0, 255).astype(np.uint8)


def _smooth(curve: np.ndarray, steps: int = 6) -> np.ndarray:
    """A Catmull-Rom curve through the points (end points kept): lips are round, not polygons."""
    padded = np.concatenate([2 * curve[:1] - curve[1:2], curve, 2 * curve[-1:] - curve[-2:-1]])
    t = np.linspace(0, 1, steps, endpoint=False)[:, None]
    out = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3))
    out.append(curve[-1:])
    return np.concatenate(out)


def _scale(points: np.ndarray) -> float:
    right, left = geo.eye_centres(points)
    return float(np.linalg.norm(left - right))
