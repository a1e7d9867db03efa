"""GPU face swap plugin: LivePortrait-class models on ONNX Runtime (TensorRT, CUDA or CPU).

The operator supplies the model files (the released LivePortrait weights exported to ONNX, see
README.md) in the folder named by BODYSWAP_GPU_FACE_MODELS; the plugin checks every file's inputs
and outputs at start-up and runs each once, so a wrong folder fails before any game.

- prepare (once per player): find the face in the photo, crop it to 256 x 256, run the appearance
  feature extractor (the 32 x 16 x 64 x 64 feature volume) and the motion extractor (the target's
  own pose, expression and canonical keypoints); the profile keeps these and the photo.
- every tick, for every body of every room at once (one batched call): crop the driver's face,
  motion extractor, relative motion transfer from the driver's neutral frame (the first frame the
  session saw a face in), stitching MLP, warping network + SPADE generator (512 x 512), paste back
  into the target photo with a soft mask.
"""

from __future__ import annotations

import io
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from bodyswap_api import Enrollment, Requirements, SwapPlugin, SwapSession, VideoFrame

from . import _image
from ._motion import Motion, apply_stitching, relative_keypoints
from bodyswap_api.onnx_models import BATCH, Model, ModelError, ModelSpec, env_flag, env_path, env_threads, load_models, parse_providers

__all__ = ["GpuFacePlugin", "GpuFaceSession", "ModelError", "MODEL_SPECS"]

logger = logging.getLogger(__name__)

ENV_MODELS = "BODYSWAP_GPU_FACE_MODELS"
ENV_PROVIDERS = "BODYSWAP_GPU_FACE_PROVIDERS"
ENV_FP16 = "BODYSWAP_GPU_FACE_FP16"
ENV_TRT_CACHE = "BODYSWAP_GPU_FACE_TRT_CACHE"
ENV_PROBE = "BODYSWAP_GPU_FACE_PROBE"
PROFILE_VERSION = 1
MOTION_OUTPUTS = {"pitch": (BATCH, 66), "yaw": (BATCH, 66), "roll": (BATCH, 66), "t": (BATCH, 3),
                  "exp": (BATCH, 63), "scale": (BATCH, 1), "kp": (BATCH, 63)}
IMG = {"img": (BATCH, 3, 256, 256)}

MODEL_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec("appearance", "appearance_feature_extractor.onnx", "appearance feature extractor",
              IMG, {"feature_3d": (BATCH, 32, 16, 64, 64)}),
    # Kept in fp32 even when fp16 is asked for: its pose bins and scale overflow in half precision.
    ModelSpec("motion", "motion_extractor.onnx", "motion extractor", IMG, MOTION_OUTPUTS, fp16_ok=False),
    ModelSpec("warping", "warping_network.onnx", "warping network",
              {"feature_3d": (BATCH, 32, 16, 64, 64), "kp_source": (BATCH, 21, 3), "kp_driving": (BATCH, 21, 3)},
              {"out": (BATCH, 256, 64, 64)}),
    ModelSpec("spade", "spade_generator.onnx", "SPADE generator",
              {"feature": (BATCH, 256, 64, 64)}, {"out": (BATCH, 3, 512, 512)}),
    ModelSpec("stitching", "stitching.onnx", "stitching MLP", {"input": (BATCH, 126)}, {"output": (BATCH, 65)},
              fp16_ok=False),
    ModelSpec("retarget_eye", "retargeting_eye.onnx", "eye retargeting MLP", {"input": (BATCH, 66)},
              {"output": (BATCH, 63)}, optional=True, fp16_ok=False),
    ModelSpec("retarget_lip", "retargeting_lip.onnx", "lip retargeting MLP", {"input": (BATCH, 65)},
              {"output": (BATCH, 63)}, optional=True, fp16_ok=False),
)


class _Target:
    """A target profile, decoded."""

    def __init__(self, profile: bytes) -> None:
        with np.load(io.BytesIO(profile), allow_pickle=False) as z:
            if int(z["version"]) != PROFILE_VERSION:
                raise ValueError("profile from another version of the gpu-face plugin: enroll again")
            self.photo = z["photo"]
            self.box = tuple(float(v) for v in z["box"])
            self.feature = z["feature_3d"].astype(np.float32)
            self.motion = Motion(*(z[f"motion_{f}"] for f in ("pitch", "yaw", "roll", "t", "exp", "scale", "kp")))
        self.x_s = self.motion.keypoints()  # (1, 21, 3)
        self.paste = _image.Paste.for_box(self.photo.shape, self.box)


class GpuFaceSession(SwapSession):
    """One driver wearing one body; the models run in the plugin's batched call."""

    def __init__(self, plugin: GpuFacePlugin, target: _Target) -> None:
        self._plugin = plugin
        self.target = target
        self.neutral: Motion | None = None  # the driver's first frame with a face
        self.box: _image.Box | None = None
        self.frames = 0
        self.misses = 0

    def convert_video(self, frame: VideoFrame) -> VideoFrame:
        return self._plugin.convert_video_batch([(self, frame)])[0]

    def holding_frame(self) -> VideoFrame:
        """The target photo as it is: the neutral body while no face drives it."""
        photo = self.target.photo
        return VideoFrame(photo.shape[1], photo.shape[0], "rgb24", photo)

    def reset_neutral(self) -> None:
        """Take the driver's next frame as their neutral pose again (e.g. at a new round)."""
        self.neutral = None

    def track(self, rgb: np.ndarray) -> _image.Box | None:
        """The driver's face box for this frame, re-located every few frames, or None (no face)."""
        due = self.box is None or self.frames % self._plugin.redetect_every == 0
        self.frames += 1
        if due:
            found = self._plugin.locator(rgb)
            if found is None:
                self.misses += 1
                if self.misses >= 2:  # lost, not a blurred frame: hold the neutral body
                    self.box = None
                    self.frames = 0
            else:
                self.misses = 0
                self.box = _image.smooth(self.box, found)
        return self.box

    def close(self) -> None:
        self._plugin._forget(self)


def _warn_native_grid_sample(model: Model) -> None:
    """A native 5-D GridSample runs only on onnxruntime's CPU provider: say so when on a GPU."""
    if model.provider == "CPUExecutionProvider":
        return
    try:
        import onnx  # noqa: PLC0415 - optional, only to read the graph

        graph = onnx.load(str(model.path), load_external_data=False).graph
    except Exception:  # noqa: BLE001
        return
    if any(node.op_type == "GridSample" for node in graph.node):
        logger.warning("gpu-face: %s has a native GridSample node, which %s does not run in 5-D: "
                       "onnxruntime places it on the CPU. Export it with "
                       "bodyswap_gpu_face.grid_sample.patched_grid_sample() (see the README)",
                       model.path.name, model.provider)


def _output_dtype(model: Model, name: str):
    from bodyswap_api.onnx_models import DTYPES

    return next(DTYPES.get(o.type) for o in model.session.get_outputs() if o.name == name)


class _Stacked:
    """A batch's stacked feature volumes, and their copy on the device once uploaded."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self._device_value = None

    def on_device(self, device: str, dtype):
        if self._device_value is None:
            import onnxruntime as ort

            self._device_value = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(self.array, dtype), device, 0)
        return self._device_value


class _Request:
    __slots__ = ("items", "result", "error", "done")

    def __init__(self, items) -> None:
        self.items = items
        self.result: list[VideoFrame] | None = None
        self.error: BaseException | None = None
        self.done = False


class GpuFacePlugin(SwapPlugin):
    name = "gpu-face"
    swaps = frozenset({"video"})
    requirements = Requirements(device="gpu", memory_mb=600)
    video_format = "rgb24"
    batches_video = True

    def __init__(
        self,
        models_dir: str | Path | None = None,
        *,
        providers: Sequence[str] | str | None = None,
        fp16: bool | None = None,
        locator: _image.Locator | None = None,
        probe: bool | None = None,
        redetect_every: int = 10,
        max_side: int = 640,
        trt_cache: str | Path | None = None,
    ) -> None:
        folder = Path(models_dir) if models_dir is not None else env_path(ENV_MODELS)
        if folder is None:
            raise ModelError(f"gpu-face: set {ENV_MODELS} to the folder holding the LivePortrait ONNX "
                             "files (see plugins/gpu-face/README.md)")
        if providers is None or isinstance(providers, str):
            import os

            providers = parse_providers(providers or os.environ.get(ENV_PROVIDERS))
        self.fp16 = env_flag(ENV_FP16, False) if fp16 is None else fp16
        cache = Path(trt_cache) if trt_cache else (env_path(ENV_TRT_CACHE) or folder / ".trt-cache")
        self.models: dict[str, Model] = load_models(
            MODEL_SPECS, folder, list(providers), plugin="gpu-face", env_var=ENV_MODELS, fp16=self.fp16,
            trt_cache=cache, threads=env_threads("BODYSWAP_GPU_FACE_THREADS"), probe=env_flag(ENV_PROBE, True) if probe is None else probe)
        _warn_native_grid_sample(self.models["warping"])
        self.locator = locator or _image.default_locator()
        self.redetect_every = max(1, redetect_every)
        self.max_side = max_side
        self._features: OrderedDict[tuple[int, ...], _Stacked] = OrderedDict()
        warping, spade = self.models["warping"], self.models["spade"]
        gpu = {"CUDAExecutionProvider", "TensorrtExecutionProvider"}
        self._device = "cuda" if warping.provider in gpu else "cpu"
        # I/O binding chains the two models on the device; it needs dynamic batches and the same
        # dtype for the warped features on both sides.
        self._bound = (not warping.fixed_batch and not spade.fixed_batch
                       and "out" in [o.name for o in warping.session.get_outputs()]
                       and _output_dtype(warping, "out") == spade.input_dtypes["feature"])
        self._lock = threading.Condition()
        self._pending: list[_Request] = []
        self._running = False
        self.batch_sizes: list[int] = []  # frames per model call, for tests and metrics

    # -- prepare ---------------------------------------------------------------------------------
    def prepare(self, enrollment: Enrollment) -> bytes:
        if enrollment.photo_rgb is None:
            # Nobody in particular: a plain grey body with a centred crop.
            photo = np.full((512, 512, 3), 128, np.uint8)
            box = _image.centre_box(photo.shape)
        else:
            photo = _image.fit_photo(np.asarray(enrollment.photo_rgb, np.uint8)[..., :3], self.max_side)
            box = self.locator(photo)
            if box is None:
                logger.warning("gpu-face: no face found in an enrollment photo; using its centre")
                box = _image.centre_box(photo.shape)
        img = _image.crop(photo, box).transpose(2, 0, 1)[None]
        (feature,) = self.models["appearance"].run({"img": img})
        motion = Motion.decode(*self.models["motion"].run({"img": img}))
        buf = io.BytesIO()
        np.savez(buf, version=np.int32(PROFILE_VERSION), photo=photo, box=np.asarray(box, np.float32),
                 feature_3d=feature.astype(np.float16),
                 **{f"motion_{k}": v for k, v in motion.to_arrays().items()})
        return buf.getvalue()

    def session(self, source: bytes | None, target: bytes) -> GpuFaceSession:
        return GpuFaceSession(self, _Target(target))

    # -- the batched call ------------------------------------------------------------------------
    def convert_video_batch(self, items: Sequence[tuple[SwapSession, VideoFrame]]) -> list[VideoFrame]:
        """One call for the newest frame of every body. Calls from several rooms' threads that
        arrive while a batch is running are merged into the next one (one model call per tick for
        the whole worker); a call that finds the models idle runs at once."""
        request = _Request(list(items))
        with self._lock:
            self._pending.append(request)
            while not request.done:
                if self._running:
                    self._lock.wait()
                    continue
                self._running, batch, self._pending = True, self._pending, []
                self._lock.release()
                try:
                    self._run_merged(batch)
                finally:
                    self._lock.acquire()
                    self._running = False
                    self._lock.notify_all()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _run_merged(self, batch: list[_Request]) -> None:
        flat = [item for request in batch for item in request.items]
        try:
            results = self._convert(flat)
        except Exception as e:  # noqa: BLE001
            if len(batch) == 1:  # the caller's bodies lose this frame
                batch[0].error, batch[0].done = e, True
                return
            for request in batch:  # merged rooms: one room's bad frame must not cost another's
                self._run_merged([request])
            return
        start = 0
        for request in batch:
            request.result = results[start : start + len(request.items)]
            start += len(request.items)
            request.done = True

    def _convert(self, items: list[tuple[SwapSession, VideoFrame]]) -> list[VideoFrame]:
        outs: list[VideoFrame | None] = [None] * len(items)
        live: list[tuple[int, GpuFaceSession, np.ndarray]] = []
        for index, (session, frame) in enumerate(items):
            assert isinstance(session, GpuFaceSession)
            if frame.format != "rgb24":
                raise ValueError(f"gpu-face takes rgb24 frames, got {frame.format}")
            box = session.track(frame.data)
            if box is None:
                outs[index] = session.holding_frame()
            else:
                live.append((index, session, _image.crop(frame.data, box).transpose(2, 0, 1)))
        if live:
            sessions = [s for _, s, _ in live]
            images = self._animate(sessions, np.stack([c for _, _, c in live]))
            for (index, session, _), image in zip(live, images):
                out = session.target.paste.apply(session.target.photo, image.transpose(1, 2, 0))
                outs[index] = VideoFrame(out.shape[1], out.shape[0], "rgb24", out)
        return outs  # type: ignore[return-value]

    def _animate(self, sessions: list[GpuFaceSession], crops: np.ndarray) -> np.ndarray:
        """(B, 3, 256, 256) driver crops -> (B, 3, 512, 512) target faces in the drivers' motion."""
        self.batch_sizes.append(len(sessions))
        driver = Motion.decode(*self.models["motion"].run({"img": crops}))
        for i, session in enumerate(sessions):
            if session.neutral is None:
                session.neutral = driver.item(i)
        target = Motion.stack([s.target.motion for s in sessions])
        neutral = Motion.stack([s.neutral for s in sessions])  # type: ignore[misc]
        x_s = np.concatenate([s.target.x_s for s in sessions])
        x_d = relative_keypoints(target, neutral, driver)
        b = len(sessions)
        (delta,) = self.models["stitching"].run({"input": np.concatenate([x_s.reshape(b, -1), x_d.reshape(b, -1)], 1)})
        x_d = apply_stitching(x_d, delta)
        image = self._warp_and_generate(sessions, x_s, x_d)
        return np.clip(image, 0.0, 1.0)

    def _warp_and_generate(self, sessions: list[GpuFaceSession], x_s: np.ndarray, x_d: np.ndarray) -> np.ndarray:
        """Warping + SPADE. With I/O binding the targets' feature volumes stay on the device
        (uploaded once per batch membership) and the warped features go from one model to the
        other without visiting the host: only keypoints go up and the 512 x 512 images come down."""
        warping, spade = self.models["warping"], self.models["spade"]
        stacked = self._stacked_features(sessions)
        if not self._bound:
            (warped,) = warping.run({"feature_3d": stacked.array, "kp_source": x_s, "kp_driving": x_d})
            (image,) = spade.run({"feature": warped})
            return image
        kp_dtype = warping.input_dtypes["kp_source"]
        io = warping.session.io_binding()
        io.bind_ortvalue_input("feature_3d", stacked.on_device(self._device, warping.input_dtypes["feature_3d"]))
        io.bind_cpu_input("kp_source", np.ascontiguousarray(x_s, kp_dtype))
        io.bind_cpu_input("kp_driving", np.ascontiguousarray(x_d, kp_dtype))
        io.bind_output("out", self._device)
        warping.session.run_with_iobinding(io)
        io2 = spade.session.io_binding()
        io2.bind_ortvalue_input("feature", io.get_outputs()[0])
        io2.bind_output("out", "cpu")
        spade.session.run_with_iobinding(io2)
        return io2.copy_outputs_to_cpu()[0].astype(np.float32, copy=False)

    def _stacked_features(self, sessions: list[GpuFaceSession]) -> _Stacked:
        """The targets' feature volumes as one array, restacked only when the batch's members
        change (8 MB a player: copying them every tick would cost more than the warp)."""
        key = tuple(id(s) for s in sessions)
        with self._lock:
            stacked = self._features.get(key)
            if stacked is not None:
                self._features.move_to_end(key)
                return stacked
        stacked = _Stacked(np.concatenate([s.target.feature for s in sessions]))
        with self._lock:
            self._features[key] = stacked
            while len(self._features) > 4:
                self._features.popitem(last=False)
        return stacked

    def _forget(self, session: GpuFaceSession) -> None:
        with self._lock:
            for key in [k for k in self._features if id(session) in k]:
                del self._features[key]
