"""cpu-face: prepare on a real photo, tracking loss and recovery, the no-face / several-faces / hand
over the mouth paths (the body never shows the driver's face), and the plugin kit's conformance."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("cv2")
pytest.importorskip("dlib")

import cv2  # noqa: E402
from bodyswap_api import Enrollment, VideoFrame, i420_size  # noqa: E402
from bodyswap_api.conformance import check_plugin, no_face_frame  # noqa: E402
from bodyswap_cpu_face import CpuFacePlugin, Profile  # noqa: E402
from bodyswap_cpu_face import _models  # noqa: E402
from bodyswap_cpu_face.profile import find_face  # noqa: E402

from .support.media import i420_to_rgb, load_clip, media_players  # noqa: E402

FPS = 25


@pytest.fixture(scope="module")
def clips():
    players = {p.id: p for p in media_players()}
    return {pid: load_clip(players[pid].video, max_seconds=2.0) for pid in ("p1", "p2")}


@pytest.fixture(scope="module")
def target_photo(clips):
    clip = clips["p2"]
    return i420_to_rgb(clip.frames[int(0.5 * clip.fps)], clip.width, clip.height)


@pytest.fixture(scope="module")
def profile_bytes(target_photo):
    return CpuFacePlugin().prepare(Enrollment(photo_rgb=target_photo))


def frames_of(clip, start: int = 0) -> list[VideoFrame]:
    return [
        VideoFrame(clip.width, clip.height, "i420", data, int((start + i) * 1e6 / FPS))
        for i, data in enumerate(clip.frames)
    ]


def luma(frame: VideoFrame) -> np.ndarray:
    return frame.data[: frame.width * frame.height].reshape(frame.height, frame.width).astype(np.float64)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-9))


def i420_from_rgb(rgb: np.ndarray, ts: int) -> VideoFrame:
    h, w = rgb.shape[:2]
    return VideoFrame(w, h, "i420", cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).reshape(-1), ts)


def test_prepare_finds_the_face_and_the_profile_round_trips(profile_bytes, target_photo):
    profile = Profile.from_bytes(profile_bytes)
    assert profile.kind == "face"
    assert (profile.width, profile.height) == (target_photo.shape[1], target_photo.shape[0])
    # the landmarks sit on the face: eyes above the nose tip above the mouth, inside the frame
    p = profile.landmarks
    assert p.shape == (68, 2)
    assert (p[:, 0] > 0).all() and (p[:, 0] < profile.width).all()
    assert p[36:48, 1].mean() < p[30, 1] < p[48:68, 1].mean()
    assert profile.iod > 30
    assert len(profile.tris) > 100 and profile.tris.max() < len(profile.ctrl)
    assert profile.lid.shape == (2, 4) and profile.mouth.shape == (6,)
    # serialisable: bytes in, the same profile out, and bytes again
    again = Profile.from_bytes(profile.to_bytes())
    for name in ("y", "u", "v", "landmarks", "ctrl", "follow", "tris", "lid", "mouth"):
        np.testing.assert_array_equal(getattr(again, name), getattr(profile, name))
    assert again.kind == profile.kind and again.to_bytes() == profile.to_bytes()


def test_prepare_without_a_usable_face_gives_a_still_body():
    plugin = CpuFacePlugin()
    blank = Profile.from_bytes(plugin.prepare(Enrollment()))
    assert blank.kind == "blank"
    noise = np.random.default_rng(1).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    still = Profile.from_bytes(plugin.prepare(Enrollment(photo_rgb=noise)))
    assert still.kind == "still" and (still.width, still.height) == (400, 300)
    session = plugin.session(None, still.to_bytes())
    out = session.convert_video(no_face_frame(512, 512, "i420", 0))
    assert (out.width, out.height) == (400, 300)
    np.testing.assert_array_equal(out.data, still.i420())


def test_the_body_moves_with_the_driver_and_looks_like_the_target(profile_bytes, clips):
    plugin = CpuFacePlugin()
    target = Profile.from_bytes(profile_bytes)
    session = plugin.session(None, profile_bytes)
    driver = frames_of(clips["p1"])[:30]
    outs = [session.convert_video(f) for f in driver]
    assert session.raw is not None  # tracking
    assert all((o.width, o.height, o.format) == (target.width, target.height, "i420") for o in outs)
    neutral = target.y.astype(np.float64)
    moved = [np.abs(luma(o) - neutral).mean() for o in outs[10:]]
    assert max(moved) > 1.0  # the face moves
    for f, o in zip(driver[::5], outs[::5]):
        assert corr(luma(o), neutral) > corr(luma(o), luma(f)) + 0.2


def test_tracking_loss_eases_back_to_neutral_and_recovers(profile_bytes, clips):
    plugin = CpuFacePlugin()
    target = Profile.from_bytes(profile_bytes)
    session = plugin.session(None, profile_bytes)
    driver = frames_of(clips["p1"])
    for f in driver[:25]:
        session.convert_video(f)
    assert session.raw is not None
    # the player steps away: a plain wall
    wall = np.full(i420_size(clips["p1"].width, clips["p1"].height), 128, np.uint8)
    wall[: clips["p1"].width * clips["p1"].height] = 90
    outs = [
        session.convert_video(VideoFrame(clips["p1"].width, clips["p1"].height, "i420", wall, int((25 + i) * 40_000)))
        for i in range(25)
    ]
    assert session.raw is None  # the track is dropped, not kept on the wall
    np.testing.assert_array_equal(outs[-1].data, target.i420())  # eased all the way back to the photo
    # the easing is gradual: the first frames after the loss are between the last pose and neutral
    diffs = [np.abs(luma(o) - target.y).mean() for o in outs[:8]]
    assert diffs[0] >= diffs[-1]
    # the player comes back: found again, and the body moves again
    back = [session.convert_video(f) for f in frames_of(clips["p1"], start=50)[25:50]]
    assert session.raw is not None
    assert np.abs(luma(back[-1]) - target.y).mean() > 0.5


def test_several_faces_ease_to_neutral_never_to_the_driver(profile_bytes, clips):
    plugin = CpuFacePlugin()
    target = Profile.from_bytes(profile_bytes)
    session = plugin.session(None, profile_bytes)
    clip = clips["p1"]
    rgb = i420_to_rgb(clip.frames[10], clip.width, clip.height)
    small = cv2.resize(rgb, (320, 320), interpolation=cv2.INTER_AREA)
    assert len(_models.detect(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))) == 1
    pair = np.hstack([small, small[:, ::-1]])  # two people in front of the camera
    outs = [session.convert_video(i420_from_rgb(pair, i * 40_000)) for i in range(20)]
    assert session.several
    np.testing.assert_array_equal(outs[-1].data, target.i420())
    gray = cv2.cvtColor(pair, cv2.COLOR_RGB2GRAY).astype(np.float64)
    for o in outs:
        assert corr(luma(o), target.y.astype(np.float64)) > corr(luma(o), gray)


def test_no_face_at_all_gives_the_neutral_body(profile_bytes):
    plugin = CpuFacePlugin()
    target = Profile.from_bytes(profile_bytes)
    session = plugin.session(None, profile_bytes)
    for i in range(10):
        out = session.convert_video(no_face_frame(512, 512, "i420", i))
        np.testing.assert_array_equal(out.data, target.i420())
    # a frame in the other format works too
    out = session.convert_video(no_face_frame(320, 240, "rgb24", 11))
    assert (out.width, out.height, out.format) == (target.width, target.height, "i420")


def test_a_face_half_out_of_the_frame_eases_to_neutral(profile_bytes, clips):
    plugin = CpuFacePlugin()
    target = Profile.from_bytes(profile_bytes)
    session = plugin.session(None, profile_bytes)
    clip = clips["p1"]
    for f in frames_of(clip)[:20]:
        session.convert_video(f)
    rgb = i420_to_rgb(clip.frames[20], clip.width, clip.height)
    points = find_face(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    assert points is not None
    cut = int(points[30, 0])  # the camera sees up to the nose: half the face is out of the frame
    shifted = np.zeros_like(rgb)
    shifted[:, : rgb.shape[1] - cut] = rgb[:, cut:]
    outs = [session.convert_video(i420_from_rgb(shifted, (20 + i) * 40_000)) for i in range(20)]
    np.testing.assert_array_equal(outs[-1].data, target.i420())


def test_a_hand_over_the_mouth_closes_the_bodys_mouth(profile_bytes, clips):
    plugin = CpuFacePlugin()
    session = plugin.session(None, profile_bytes)
    clip = clips["p1"]
    frames = frames_of(clip)
    for f in frames[:45]:  # past the calibration of the neutral face
        session.convert_video(f)
    assert session.mouth_presence > 0.9
    rgb = i420_to_rgb(clip.frames[45], clip.width, clip.height)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    points = find_face(gray)
    cheek = rgb[int(points[29, 1]) : int(points[30, 1]), int(points[3, 0]) + 5 : int(points[31, 0]) - 5]
    colour = cheek.reshape(-1, 3).mean(axis=0).astype(np.uint8)
    covered = rgb.copy()
    x0, y0 = points[48:60].min(axis=0).astype(int) - 6
    x1, y1 = points[48:60].max(axis=0).astype(int) + 6
    covered[y0:y1, x0:x1] = colour  # a hand, skin-coloured, over the lips
    for i in range(15):
        session.convert_video(i420_from_rgb(covered, (45 + i) * 40_000))
    assert session.raw is not None  # the face is still tracked ...
    assert session.mouth_presence < 0.2  # ... but its mouth is no longer driven


def test_conformance(target_photo):
    report = check_plugin(CpuFacePlugin(), Enrollment(photo_rgb=target_photo), frames=10)
    assert report.passed, report.table()
    # a room without enrollments: the body is a silhouette, and still conformant
    assert check_plugin(CpuFacePlugin(), Enrollment(), frames=5).passed


def test_the_drivers_own_profile_sets_their_neutral_face(profile_bytes, clips):
    plugin = CpuFacePlugin()
    session = plugin.session(profile_bytes, profile_bytes)
    np.testing.assert_allclose(session.neutral, Profile.from_bytes(profile_bytes).canonical)
    out = session.convert_video(frames_of(clips["p1"])[0])
    assert out.format == "i420"
    # a profile it cannot read is only a missing refinement, not a broken session
    assert plugin.session(b"not a profile", profile_bytes).neutral is None


def test_a_closing_lid_covers_the_eye_with_the_skin_above_it(profile_bytes):
    from bodyswap_cpu_face import _geometry as geo
    from bodyswap_cpu_face._render import Renderer

    profile = Profile.from_bytes(profile_bytes)
    renderer = Renderer(profile)
    lm = profile.landmarks

    def body(closure: float) -> np.ndarray:
        i420 = renderer.render(profile.ctrl, (closure, closure))
        return i420[: profile.width * profile.height].reshape(profile.height, profile.width)

    def eye_inside(y: np.ndarray, eye: np.ndarray) -> np.ndarray:
        """The open eye's upper half (between the corners and the upper lid): above the lash line."""
        mask = np.zeros(y.shape, np.uint8)
        cv2.fillPoly(mask, [np.round(lm[eye[:4]]).astype(np.int32)], 1)
        return y[mask > 0].astype(np.float64)

    opened, shut = body(0.0), body(1.0)
    for eye in (geo.RIGHT_EYE, geo.LEFT_EYE):
        # the white, iris and pupil give way to an even skin-coloured lid ...
        assert eye_inside(shut, eye).std() < 0.5 * eye_inside(opened, eye).std()
        # ... near the cheeks' own lightness (not a dark patch, not a white sticker)
        cheeks = profile.mouth[5]
        assert 0.7 * cheeks < float(np.median(eye_inside(shut, eye))) < 1.1 * cheeks
    # and the landmark model that found the open eyes sees them shut (its eye aspect ratio drops)
    found = find_face(shut)
    assert found is not None and geo.eye_opening(found) < 0.6 * geo.eye_opening(lm)


def test_the_tracker_box_follows_where_the_detector_puts_it(profile_bytes, clips):
    session = CpuFacePlugin().session(None, profile_bytes)
    frames = frames_of(clips["p1"])
    session.convert_video(frames[0])
    assert session.raw is not None
    relation = lambda: np.array([*session.box_offset, session.box_scale])  # noqa: E731
    start = relation()
    detector = []
    for f in frames[1:40]:
        before = session.since_check
        session.convert_video(f)
        if session.since_check < before:  # a detector check ran on this frame
            gray = f.luma()
            box = session._detect(gray, full=False)[0]
            offset, scale = _models.box_relation(session.raw, box)
            detector.append(np.array([*offset, scale]))
    assert detector  # a check ran within 40 frames
    # the relation moved from the first frame's towards the detector's latest
    assert np.linalg.norm(relation() - detector[-1]) < np.linalg.norm(start - detector[-1])
