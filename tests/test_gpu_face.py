"""The GPU face plugin (plugins/gpu-face) on onnxruntime's CPU provider, with tiny generated ONNX
models that have LivePortrait's input and output names and shapes: start-up checks, crop, motion
transfer, batching across sessions and rooms, paste-back, conformance."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from bodyswap_api import Enrollment, VideoFrame  # noqa: E402
from bodyswap_api.conformance import check_plugin  # noqa: E402
from bodyswap_gpu_face import GpuFacePlugin, ModelError  # noqa: E402
from bodyswap_gpu_face import _image, _motion  # noqa: E402

F = TensorProto.FLOAT
RNG = np.random.default_rng(7)


def _init(name: str, array: np.ndarray):
    return numpy_helper.from_array(np.asarray(array), name)


def _save(path: Path, nodes, inputs, outputs, inits) -> None:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _vi(name: str, shape) -> object:
    return helper.make_tensor_value_info(name, F, shape)


def write_face_models(folder: Path, *, spade_side: int = 512, skip: tuple[str, ...] = (), batch="batch") -> Path:
    """Tiny stand-ins for LivePortrait's exported networks (same names and shapes, tiny compute)."""
    folder.mkdir(parents=True, exist_ok=True)
    b = batch
    img = _vi("img", [b, 3, 256, 256])

    # appearance: pool to 64 x 64, a 1x1 conv to 512 channels, viewed as 32 x 16 depth planes
    _save(folder / "appearance_feature_extractor.onnx", [
        helper.make_node("AveragePool", ["img"], ["p"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("Conv", ["p", "w"], ["c"]),
        helper.make_node("Reshape", ["c", "shape"], ["feature_3d"]),
    ], [img], [_vi("feature_3d", [b, 32, 16, 64, 64])],
        [_init("w", RNG.normal(0, 0.5, (512, 3, 1, 1)).astype(np.float32)),
         _init("shape", np.array([0, 32, 16, 64, 64], np.int64))])

    # motion: image statistics (mean per channel of 4 quadrants) through one linear layer
    sizes = [66, 66, 66, 3, 63, 1, 63]
    names = ["pitch", "yaw", "roll", "t", "exp", "scale", "kp"]
    bias = np.zeros(sum(sizes), np.float32)
    bias[198 + 3 + 63] = 1.0  # scale around 1
    bias[198 + 3 + 63 + 1:] = RNG.normal(0, 0.3, 63)  # canonical keypoints spread out
    _save(folder / "motion_extractor.onnx", [
        helper.make_node("AveragePool", ["img"], ["q"], kernel_shape=[128, 128], strides=[128, 128]),
        helper.make_node("Flatten", ["q"], ["flat"]),
        helper.make_node("Gemm", ["flat", "w", "bias"], ["all"]),
        helper.make_node("Split", ["all", "sizes"], names, axis=1),
    ], [img], [_vi(n, [b, s]) for n, s in zip(names, sizes)],
        [_init("w", RNG.normal(0, 0.5, (12, sum(sizes))).astype(np.float32)), _init("bias", bias),
         _init("sizes", np.array(sizes, np.int64))])

    # warping: a real 5-D GridSample (the op the GPU backends lack) shifted by the mean keypoint
    # motion, then the 512 -> 256 channel projection LivePortrait's warping network ends with
    zs, ys, xs = np.meshgrid(np.linspace(-1, 1, 16), np.linspace(-1, 1, 64), np.linspace(-1, 1, 64), indexing="ij")
    identity = np.stack([xs, ys, zs], -1)[None].astype(np.float32)
    _save(folder / "warping_network.onnx", [
        helper.make_node("Sub", ["kp_driving", "kp_source"], ["d"]),
        helper.make_node("ReduceMean", ["d", "axis1"], ["m"], keepdims=1),
        helper.make_node("Reshape", ["m", "shape5"], ["m5"]),
        helper.make_node("Sub", ["identity", "m5"], ["grid"]),
        helper.make_node("GridSample", ["feature_3d", "grid"], ["warped"], mode="linear", align_corners=0),
        helper.make_node("Reshape", ["warped", "shape4"], ["flat"]),
        helper.make_node("Conv", ["flat", "w"], ["out"]),
    ], [_vi("feature_3d", [b, 32, 16, 64, 64]), _vi("kp_source", [b, 21, 3]), _vi("kp_driving", [b, 21, 3])],
        [_vi("out", [b, 256, 64, 64])],
        [_init("identity", identity), _init("axis1", np.array([1], np.int64)),
         _init("shape5", np.array([-1, 1, 1, 1, 3], np.int64)), _init("shape4", np.array([0, 512, 64, 64], np.int64)),
         _init("w", RNG.normal(0, 0.05, (256, 512, 1, 1)).astype(np.float32))])

    # SPADE generator: 256 channels at 64 x 64 -> RGB at 512 x 512 in [0, 1]
    scale = spade_side / 64
    _save(folder / "spade_generator.onnx", [
        helper.make_node("Conv", ["feature", "w"], ["c"]),
        helper.make_node("Resize", ["c", "", "scales"], ["r"], mode="linear"),
        helper.make_node("Sigmoid", ["r"], ["out"]),
    ], [_vi("feature", [b, 256, 64, 64])], [_vi("out", [b, 3, spade_side, spade_side])],
        [_init("w", RNG.normal(0, 0.2, (3, 256, 1, 1)).astype(np.float32)),
         _init("scales", np.array([1, 1, scale, scale], np.float32))])

    # stitching MLP: 126 -> 65, small offsets
    _save(folder / "stitching.onnx", [
        helper.make_node("Gemm", ["input", "w"], ["h"]),
        helper.make_node("Tanh", ["h"], ["t"]),
        helper.make_node("Mul", ["t", "k"], ["output"]),
    ], [_vi("input", [b, 126])], [_vi("output", [b, 65])],
        [_init("w", RNG.normal(0, 0.1, (126, 65)).astype(np.float32)), _init("k", np.array(0.01, np.float32))])
    for name in skip:
        (folder / name).unlink()
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return write_face_models(tmp_path_factory.mktemp("gpu-face-models"))


def fixed_locator(rgb: np.ndarray):
    """Stands in for dlib: the face is where the synthetic head is drawn (or the centre)."""
    h, w = rgb.shape[:2]
    return (w / 2, h / 2, min(h, w) * 0.8)


@pytest.fixture(scope="module")
def plugin(models) -> GpuFacePlugin:
    return GpuFacePlugin(models, providers="cpu", locator=fixed_locator)


def face_image(h: int, w: int, mouth: float = 0.0, shift: int = 0) -> np.ndarray:
    """A synthetic 'face': a skin-coloured disc with dark eyes and a mouth that opens."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx, r = h / 2, w / 2 + shift, min(h, w) * 0.3
    img = np.zeros((h, w, 3), np.float32) + [40, 90, 160]
    head = (x - cx) ** 2 + (y - cy) ** 2 < r * r
    img[head] = [220, 180, 150]
    for ex in (cx - r * 0.4, cx + r * 0.4):
        img[(x - ex) ** 2 + (y - cy + r * 0.2) ** 2 < (r * 0.1) ** 2] = [20, 20, 20]
    mouth_h = r * (0.05 + 0.3 * mouth)
    img[(np.abs(x - cx) < r * 0.35) & (np.abs(y - cy - r * 0.45) < mouth_h)] = [120, 20, 30]
    return img.astype(np.uint8)


@pytest.fixture(scope="module")
def profile(plugin) -> bytes:
    return plugin.prepare(Enrollment(photo_rgb=face_image(480, 360)))


def rgb_frame(data: np.ndarray) -> VideoFrame:
    return VideoFrame(data.shape[1], data.shape[0], "rgb24", data)


# -- start-up checks -------------------------------------------------------------------------------

def test_no_folder_configured_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("BODYSWAP_GPU_FACE_MODELS", raising=False)
    with pytest.raises(ModelError, match="BODYSWAP_GPU_FACE_MODELS"):
        GpuFacePlugin(providers="cpu")


def test_missing_file_is_named(tmp_path):
    folder = write_face_models(tmp_path / "m", skip=("stitching.onnx",))
    with pytest.raises(ModelError, match=r"missing model file\(s\).*stitching\.onnx"):
        GpuFacePlugin(folder, providers="cpu", locator=fixed_locator)


def test_wrong_output_shape_is_named(tmp_path):
    folder = write_face_models(tmp_path / "m", spade_side=256)
    with pytest.raises(ModelError, match=r"spade_generator\.onnx.*'out' has shape \[batch, 3, 256, 256\], "
                                         r"expected \[batch, 3, 512, 512\]"):
        GpuFacePlugin(folder, providers="cpu", locator=fixed_locator)


def test_wrong_input_name_is_named(tmp_path, models):
    folder = tmp_path / "m"
    folder.mkdir()
    for f in models.glob("*.onnx"):
        (folder / f.name).write_bytes(f.read_bytes())
    _save(folder / "stitching.onnx", [helper.make_node("Gemm", ["x", "w"], ["output"])],
          [_vi("x", ["batch", 126])], [_vi("output", ["batch", 65])],
          [_init("w", np.zeros((126, 65), np.float32))])
    with pytest.raises(ModelError, match=r"stitching\.onnx.*no input named 'input'"):
        GpuFacePlugin(folder, providers="cpu", locator=fixed_locator)


def test_unknown_provider_is_refused(models):
    with pytest.raises(ModelError, match="unknown execution provider"):
        GpuFacePlugin(models, providers="vulkan", locator=fixed_locator)


def test_providers_fall_back_to_cpu(models):
    plugin = GpuFacePlugin(models, providers="tensorrt,cuda,cpu", locator=fixed_locator, probe=False)
    assert {m.provider for m in plugin.models.values()} <= {
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"}


# -- geometry --------------------------------------------------------------------------------------

def test_crop_resamples_the_box():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[40:60, 90:110] = 255
    c = _image.crop(frame, (100, 50, 20), 16)
    assert c.shape == (16, 16, 3) and c.min() > 0.9  # the box is all white
    edge = _image.crop(frame, (5, 5, 40), 8)  # leaves the frame: border repeated, no error
    assert edge.shape == (8, 8, 3)


def test_paste_changes_only_the_masked_box():
    photo = np.full((300, 200, 3), 50, np.uint8)
    box = (100, 150, 120)
    paste = _image.Paste.for_box(photo.shape, box)
    out = paste.apply(photo, np.ones((512, 512, 3), np.float32))
    assert out.shape == photo.shape
    assert (out[:80] == 50).all() and (out[230:] == 50).all()  # outside the box: the photo
    assert out[150, 100].tolist() == [255, 255, 255]  # the middle of the face: the output
    assert 50 < out[150, 100 + 33, 0] < 255  # the mask's soft edge blends


def test_neutral_frame_gives_the_targets_own_keypoints():
    rng = np.random.default_rng(1)

    def motion(n):
        return _motion.Motion.decode(rng.normal(size=(n, 66)), rng.normal(size=(n, 66)), rng.normal(size=(n, 66)),
                                     rng.normal(size=(n, 3)), rng.normal(size=(n, 63)),
                                     1 + rng.random((n, 1)), rng.normal(size=(n, 63)))

    target, driver = motion(2), motion(2)
    x = _motion.relative_keypoints(target, driver, driver)  # the driver at their neutral pose
    own = target.keypoints()
    own[..., 2] = x[..., 2]  # relative transfer zeroes the target's own z translation
    np.testing.assert_allclose(x, own, atol=1e-4)
    r = _motion.rotation(np.array([0.0]), np.array([90.0]), np.array([0.0]))
    np.testing.assert_allclose(r @ np.transpose(r, (0, 2, 1)), np.eye(3)[None], atol=1e-6)


# -- the plugin ------------------------------------------------------------------------------------

def test_prepare_stores_the_target(plugin, profile):
    from bodyswap_gpu_face import _Target

    target = _Target(profile)
    assert target.feature.shape == (1, 32, 16, 64, 64)
    assert target.photo.shape == (480, 360, 3)
    assert target.x_s.shape == (1, 21, 3)


def test_output_is_the_target_photo_moved_by_the_driver(plugin, profile):
    session = plugin.session(None, profile)
    target_photo = face_image(480, 360)
    closed = session.convert_video(rgb_frame(face_image(360, 640, mouth=0.0)))
    again = session.convert_video(rgb_frame(face_image(360, 640, mouth=0.0)))
    opened = session.convert_video(rgb_frame(face_image(360, 640, mouth=1.0, shift=40)))
    assert (closed.width, closed.height, closed.format) == (360, 480, "rgb24")  # the photo's framing
    np.testing.assert_array_equal(closed.data, again.data)  # same driver pose: same body
    assert np.abs(opened.data.astype(int) - closed.data.astype(int)).max() > 0  # motion moves it
    corner = (slice(0, 20), slice(0, 20))
    np.testing.assert_array_equal(closed.data[corner], target_photo[corner])  # outside the mask: photo
    session.close()


def test_no_face_holds_the_target_photo(models, profile):
    plugin = GpuFacePlugin(models, providers="cpu", locator=lambda rgb: None, probe=False)
    session = plugin.session(None, profile)
    out = session.convert_video(rgb_frame(face_image(360, 640)))
    np.testing.assert_array_equal(out.data, face_image(480, 360))  # never the driver's own face
    session.close()


def test_batch_matches_one_by_one(plugin, profile):
    other = plugin.prepare(Enrollment(photo_rgb=face_image(400, 400)[:, ::-1].copy()))
    drivers = [face_image(360, 640, mouth=m, shift=s) for m, s in ((0.0, 0), (0.5, 20), (1.0, -30))]
    solo = [plugin.session(None, p) for p in (profile, other, profile)]
    batch = [plugin.session(None, p) for p in (profile, other, profile)]
    for s in solo + batch:  # the same neutral frame for all
        s.convert_video(rgb_frame(face_image(360, 640)))
    expected = [s.convert_video(rgb_frame(d)) for s, d in zip(solo, drivers)]
    assert plugin._bound  # warping -> SPADE chained with I/O binding (on the CPU device here)
    before = len(plugin.batch_sizes)
    got = plugin.convert_video_batch([(s, rgb_frame(d)) for s, d in zip(batch, drivers)])
    assert plugin.batch_sizes[before:] == [3]  # one model call for the three bodies
    for e, g in zip(expected, got):
        assert (g.width, g.height) == (e.width, e.height)
        assert np.abs(g.data.astype(int) - e.data.astype(int)).max() <= 1
    for s in solo + batch:
        s.close()


def test_models_exported_with_batch_1_run_item_by_item(tmp_path, profile):
    plugin = GpuFacePlugin(write_face_models(tmp_path / "m", batch=1), providers="cpu", locator=fixed_locator,
                           probe=False)
    assert all(m.fixed_batch for m in plugin.models.values())
    assert not plugin._bound  # host arrays between warping and SPADE
    sessions = [plugin.session(None, profile) for _ in range(2)]
    outs = plugin.convert_video_batch([(s, rgb_frame(face_image(120, 160))) for s in sessions])
    assert [(o.width, o.height) for o in outs] == [(360, 480)] * 2


def test_rooms_calling_at_once_all_get_their_frames(plugin, profile):
    sessions = [plugin.session(None, profile) for _ in range(6)]
    results: dict[int, list] = {}

    def room(k: int) -> None:
        mine = sessions[2 * k : 2 * k + 2]
        for _ in range(2):
            results[k] = plugin.convert_video_batch([(s, rgb_frame(face_image(120, 160))) for s in mine])

    threads = [threading.Thread(target=room, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == [0, 1, 2]
    assert all(len(r) == 2 and all(isinstance(f, VideoFrame) for f in r) for r in results.values())
    for s in sessions:
        s.close()


def test_a_bad_frame_costs_its_own_room_only(plugin, profile):
    good, bad = plugin.session(None, profile), plugin.session(None, profile)
    i420 = VideoFrame(64, 64, "i420", np.zeros(64 * 64 * 3 // 2, np.uint8))
    with pytest.raises(ValueError, match="rgb24"):
        plugin.convert_video_batch([(bad, i420)])
    assert plugin.convert_video_batch([(good, rgb_frame(face_image(120, 160)))])[0].width == 360


def test_conformance(plugin):
    report = check_plugin(plugin, Enrollment(photo_rgb=face_image(480, 360)), frames=4)
    assert report.passed, report.table()


def test_conformance_without_a_photo_or_a_face(models):
    plugin = GpuFacePlugin(models, providers="cpu", locator=lambda rgb: None, probe=False)
    report = check_plugin(plugin, frames=3)
    assert report.passed, report.table()
