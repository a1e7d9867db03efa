"""GPU voice swap plugin: RVC-family models (operator-supplied ONNX) on ONNX Runtime.

Pipeline per 100 ms chunk of a stream (16 kHz), on a 540 ms window (400 ms of left context):
content encoder (HuBERT / ContentVec, 768-d at 50 Hz) -> retrieval: each frame blended with its
nearest frames of the target's own enrollment (RVC's index, built at prepare from the body owner's
two minutes) -> repeated to 100 Hz; pitch model (F0 at 100 Hz) shifted by the source-to-target
median pitch interval -> RVC generator (NSF-HiFiGAN, 32/40/48 kHz) -> resampled to 16 kHz -> SOLA:
the new chunk's start is aligned to the previous chunk's tail (best normalised correlation within
20 ms) and crossfaded over 20 ms.

Streams of several sessions that need the models at the same moment run as one batched call (the
windows all have the same length), so one GPU serves many voices.

Latency: the chunk (100 ms, less the 20 ms block the worker already waits for) plus crossfade and
search (40 ms): audio_latency_ms = 120.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from bodyswap_api import AudioBlock, Enrollment, Requirements, SwapPlugin, SwapSession

from bodyswap_api.onnx_models import BATCH, Model, ModelError, ModelSpec, env_flag, env_path, env_threads, load_models, parse_providers

__all__ = ["GpuVoicePlugin", "GpuVoiceSession", "ModelError", "MODEL_SPECS"]

logger = logging.getLogger(__name__)

ENV_MODELS = "BODYSWAP_GPU_VOICE_MODELS"
ENV_PROVIDERS = "BODYSWAP_GPU_VOICE_PROVIDERS"
ENV_FP16 = "BODYSWAP_GPU_VOICE_FP16"
ENV_INDEX_RATE = "BODYSWAP_GPU_VOICE_INDEX_RATE"
ENV_SPEAKER = "BODYSWAP_GPU_VOICE_SPEAKER"
PROFILE_VERSION = 1

RATE = 16000
BLOCK = 320  # 20 ms, the worker's block
CHUNK = 1600  # 100 ms converted per model call
XFADE = 320  # 20 ms SOLA crossfade
SEARCH = 320  # 20 ms SOLA search range
CONTEXT = 6400  # 400 ms of left context for the content encoder and the generator
WINDOW = CONTEXT + CHUNK + XFADE + SEARCH  # 8640 samples = 27 content frames = 54 pitch frames
LATENCY = CHUNK - BLOCK + XFADE + SEARCH  # 1920 samples = 120 ms
CONTENT_HOP, PITCH_HOP = 320, 160
SILENCE_RMS = 10 ** (-50 / 20)  # chunks quieter than -50 dBFS are not converted: silence stays silence
RETRIEVAL_K = 4
MAX_INDEX = 2000  # retrieval vectors kept per target
F0_MIN, F0_MAX = 50.0, 1100.0

MODEL_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec("content", "content_encoder.onnx", "content encoder (HuBERT / ContentVec, 768-d)",
              {"audio": (BATCH, "samples")}, {"features": (BATCH, "frames", 768)}),
    ModelSpec("pitch", "pitch.onnx", "pitch estimator (F0 in Hz at 100 Hz)",
              {"audio": (BATCH, "samples")}, {"f0": (BATCH, "frames")}, fp16_ok=False),
    ModelSpec("generator", "generator.onnx", "RVC generator (NSF-HiFiGAN)",
              {"phone": (BATCH, "frames", 768), "phone_lengths": (BATCH,), "pitch": (BATCH, "frames"),
               "pitchf": (BATCH, "frames"), "ds": (BATCH,), "rnd": (BATCH, 192, "frames")},
              {"audio": (BATCH, 1, "samples")}),
)


def coarse_pitch(f0: np.ndarray) -> np.ndarray:
    """RVC's 255 mel-spaced pitch bins (1 = unvoiced)."""
    mel_min, mel_max = 1127 * np.log(1 + F0_MIN / 700), 1127 * np.log(1 + F0_MAX / 700)
    mel = 1127 * np.log(1 + np.maximum(f0, 0) / 700)
    voiced = mel > 0
    mel[voiced] = (mel[voiced] - mel_min) * 254 / (mel_max - mel_min) + 1
    return np.clip(np.rint(np.where(voiced, mel, 1)), 1, 255).astype(np.int64)


def fit_frames(x: np.ndarray, frames: int) -> np.ndarray:
    """Trim or pad (repeating the last frame) axis 1 to `frames`: encoders differ by a frame."""
    if x.shape[1] >= frames:
        return x[:, :frames]
    pad = np.repeat(x[:, -1:], frames - x.shape[1], axis=1)
    return np.concatenate([x, pad], axis=1)


def resample(y: np.ndarray, n_out: int) -> np.ndarray:
    """Band-limited resampling of (B, n) to (B, n_out) by the FFT (windows overlap, so the edges'
    wrap-around falls in the context that is thrown away)."""
    n = y.shape[-1]
    if n == n_out:
        return y
    spec = np.fft.rfft(y, axis=-1)
    bins = n_out // 2 + 1
    spec = spec[..., :bins] if spec.shape[-1] >= bins else np.pad(spec, ((0, 0), (0, bins - spec.shape[-1])))
    return (np.fft.irfft(spec, n=n_out, axis=-1) * (n_out / n)).astype(np.float32)


class _Combiner:
    """Runs `fn` on the items of every caller that arrives while a call is under way, as one call.
    A caller that finds it idle runs at once (a lone stream is never held back)."""

    def __init__(self, fn: Callable[[list], list]) -> None:
        self._fn = fn
        self._cond = threading.Condition()
        self._pending: list[list] = []  # [item, result, error, done]
        self._running = False
        self.sizes: list[int] = []

    def __call__(self, item):
        slot = [item, None, None, False]
        with self._cond:
            self._pending.append(slot)
            while not slot[3]:
                if self._running:
                    self._cond.wait()
                    continue
                self._running, batch, self._pending = True, self._pending, []
                self._cond.release()
                try:
                    self._run(batch)
                finally:
                    self._cond.acquire()
                    self._running = False
                    self._cond.notify_all()
        if slot[2] is not None:
            raise slot[2]
        return slot[1]

    def _run(self, batch: list[list]) -> None:
        self.sizes.append(len(batch))
        try:
            results = self._fn([s[0] for s in batch])
            for s, r in zip(batch, results):
                s[1], s[3] = r, True
        except Exception as e:  # noqa: BLE001
            if len(batch) == 1:
                batch[0][2], batch[0][3] = e, True
            else:
                for s in batch:
                    self._run([s])


class _Profile:
    def __init__(self, data: bytes | None) -> None:
        self.index: np.ndarray | None = None
        self.log_f0: float | None = None
        if not data:
            return
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            if int(z["version"]) != PROFILE_VERSION:
                raise ValueError("profile from another version of the gpu-voice plugin: enroll again")
            index = z["index"].astype(np.float32)
            self.index = index if len(index) else None
            self.log_f0 = float(z["log_f0"]) if np.isfinite(z["log_f0"]) else None
        if self.index is not None:
            self.index_sq = (self.index**2).sum(1)


class GpuVoiceSession(SwapSession):
    def __init__(self, plugin: GpuVoicePlugin, source: _Profile, target: _Profile, seed: int) -> None:
        self._plugin = plugin
        self.source, self.target = source, target
        self._history = np.zeros(WINDOW, np.float32)  # the newest WINDOW input samples
        self._since_chunk = 0  # input samples since the last chunk was converted
        self._out = np.zeros(LATENCY, np.float32)  # converted audio waiting to leave
        self._sola = np.zeros(XFADE, np.float32)
        self._rng = np.random.default_rng(seed)
        # Online estimate of the driver's median log F0 when they did not enroll.
        self._online_f0: list[float] = []

    @property
    def f0_shift(self) -> float:
        """Ratio applied to the driver's F0: the interval between the two speakers' median pitch."""
        if self.target.log_f0 is None:
            return 1.0
        source = self.source.log_f0
        if source is None and len(self._online_f0) >= 50:
            source = float(np.median(self._online_f0[-3000:]))
        return float(np.exp(self.target.log_f0 - source)) if source is not None else 1.0

    def convert_audio(self, block: AudioBlock) -> AudioBlock:
        if block.sample_rate != RATE:
            raise ValueError(f"gpu-voice takes {RATE} Hz blocks, got {block.sample_rate}")
        x = block.samples.astype(np.float32) / 32768.0
        pieces = []
        while len(x):  # a block that completes a chunk is split at the chunk's end
            take = min(len(x), CHUNK - self._since_chunk)
            self._history = np.concatenate([self._history[take:], x[:take]])
            self._since_chunk += take
            x = x[take:]
            if self._since_chunk == CHUNK:
                self._since_chunk = 0
                try:
                    pieces.append(self._convert_chunk())
                except Exception:
                    # the chunk becomes silence and the stream keeps its timing; the worker logs it
                    self._out = np.concatenate([self._out, *pieces, np.zeros(CHUNK, np.float32)])
                    self._sola = np.zeros(XFADE, np.float32)
                    raise
        if pieces:
            self._out = np.concatenate([self._out, *pieces])
        n = len(block.samples)
        out, self._out = self._out[:n], self._out[n:]
        return AudioBlock(np.clip(np.rint(out * 32768.0), -32768, 32767).astype(np.int16), RATE)

    def _convert_chunk(self) -> np.ndarray:
        fade_in = self._plugin.fade_in
        recent = self._history[-(CHUNK + XFADE + SEARCH) :]
        if float(np.sqrt(np.mean(recent**2))) < SILENCE_RMS:
            out = np.zeros(CHUNK, np.float32)  # no model call; the last chunk's tail fades out
            out[:XFADE] = self._sola * fade_in[::-1]
            self._sola = np.zeros(XFADE, np.float32)
            return out
        segment = self._plugin._infer(self, self._history.copy())  # CHUNK + XFADE + SEARCH samples
        # SOLA: where the new segment best continues the previous tail (normalised correlation).
        head = segment[: XFADE + SEARCH]
        if np.any(self._sola):
            num = np.correlate(head, self._sola, mode="valid")
            den = np.sqrt(np.convolve(head**2, np.ones(XFADE), mode="valid")) + 1e-8
            offset = int(np.argmax(num / den))
        else:
            offset = 0
        segment = segment[offset:]
        segment[:XFADE] = segment[:XFADE] * fade_in + self._sola * fade_in[::-1]
        self._sola = segment[CHUNK : CHUNK + XFADE].copy()
        return segment[:CHUNK]

    def close(self) -> None:
        pass


class GpuVoicePlugin(SwapPlugin):
    name = "gpu-voice"
    swaps = frozenset({"voice"})
    requirements = Requirements(device="gpu", memory_mb=400)
    video_format = "rgb24"
    audio_sample_rate = RATE
    audio_block_ms = 1000 * BLOCK // RATE  # 20
    audio_latency_ms = 1000 * LATENCY // RATE  # 120

    def __init__(
        self,
        models_dir: str | Path | None = None,
        *,
        providers: Sequence[str] | str | None = None,
        fp16: bool | None = None,
        index_rate: float | None = None,
        speaker: int | None = None,
        trt_cache: str | Path | None = None,
    ) -> None:
        folder = Path(models_dir) if models_dir is not None else env_path(ENV_MODELS)
        if folder is None:
            raise ModelError(f"gpu-voice: set {ENV_MODELS} to the folder holding the RVC ONNX files "
                             "(see plugins/gpu-voice/README.md)")
        if providers is None or isinstance(providers, str):
            providers = parse_providers(providers or os.environ.get(ENV_PROVIDERS))
        fp16 = env_flag(ENV_FP16, False) if fp16 is None else fp16
        cache = Path(trt_cache) if trt_cache else folder / ".trt-cache"
        self.models: dict[str, Model] = load_models(
            MODEL_SPECS, folder, list(providers), plugin="gpu-voice", env_var=ENV_MODELS, fp16=fp16,
            trt_cache=cache, threads=env_threads("BODYSWAP_GPU_VOICE_THREADS"), probe=False)
        self.index_rate = float(os.environ.get(ENV_INDEX_RATE, 0.75)) if index_rate is None else index_rate
        self.speaker = int(os.environ.get(ENV_SPEAKER, 0)) if speaker is None else speaker
        self.generator_rate = self._probe()
        self.fade_in = (np.sin(0.5 * np.pi * np.arange(XFADE) / XFADE) ** 2).astype(np.float32)
        self._batch = _Combiner(self._infer_batch)
        self._seed = 0

    def _probe(self) -> int:
        """Run every model once on a second of audio: checks the frame rates, finds the generator's
        sample rate, and builds TensorRT engines now rather than on the first word."""
        one_second = np.zeros((1, RATE), np.float32)
        try:
            (features,) = self.models["content"].run({"audio": one_second})
            (f0,) = self.models["pitch"].run({"audio": one_second})
        except Exception as e:  # noqa: BLE001
            raise ModelError(f"gpu-voice: the content encoder or pitch model fails on 1 s of audio: {e}") from e
        if not 48 <= features.shape[1] <= 51:
            raise ModelError(f"gpu-voice: content_encoder.onnx gives {features.shape[1]} frames for 1 s of "
                             "16 kHz audio, expected 50 (a 320-sample hop)")
        if not 98 <= f0.shape[1] <= 101:
            raise ModelError(f"gpu-voice: pitch.onnx gives {f0.shape[1]} frames for 1 s of 16 kHz audio, "
                             "expected 100 (a 160-sample hop)")
        frames = 100
        try:
            (audio,) = self.models["generator"].run(self._generator_feeds(
                np.zeros((1, frames, 768), np.float32), np.zeros((1, frames), np.float32),
                np.zeros((1, 192, frames), np.float32)))
        except Exception as e:  # noqa: BLE001
            raise ModelError(f"gpu-voice: generator.onnx fails on 1 s of features: {e}") from e
        rate = audio.shape[-1] * 100 // frames
        if audio.shape[-1] % frames or rate not in (16000, 22050, 24000, 32000, 40000, 44100, 48000):
            raise ModelError(f"gpu-voice: generator.onnx gives {audio.shape[-1]} samples for {frames} frames; "
                             "expected a whole hop per frame at 32, 40 or 48 kHz")
        logger.info("gpu-voice: generator at %d Hz", rate)
        return rate

    def _generator_feeds(self, phone, pitchf, rnd) -> dict[str, np.ndarray]:
        b, frames = pitchf.shape
        return {"phone": phone, "phone_lengths": np.full(b, frames, np.int64), "pitch": coarse_pitch(pitchf),
                "pitchf": pitchf, "ds": np.full(b, self.speaker, np.int64), "rnd": rnd}

    # -- prepare ---------------------------------------------------------------------------------
    def prepare(self, enrollment: Enrollment) -> bytes:
        index = np.zeros((0, 768), np.float16)
        log_f0 = np.nan
        if enrollment.voice_pcm is not None and len(enrollment.voice_pcm):
            pcm = np.asarray(enrollment.voice_pcm, np.float32).reshape(-1)
            if enrollment.voice_sample_rate != RATE:
                pcm = resample(pcm[None], int(len(pcm) * RATE / enrollment.voice_sample_rate))[0]
            features, f0 = [], []
            piece = 10 * RATE  # 10 s at a time
            for start in range(0, len(pcm), piece):
                chunk = pcm[start : start + piece]
                chunk = np.pad(chunk, (0, (-len(chunk)) % CONTENT_HOP))[None]
                if len(chunk[0]) < 2 * CONTENT_HOP:
                    continue
                feats = self.models["content"].run({"audio": chunk})[0][0]
                pitch = self.models["pitch"].run({"audio": chunk})[0][0]
                # keep the frames of voiced speech (a content frame spans two pitch frames)
                n = min(len(feats), len(pitch) // 2)
                energy = np.sqrt(np.mean(chunk[0, : n * CONTENT_HOP].reshape(n, CONTENT_HOP) ** 2, 1))
                voiced = (energy > SILENCE_RMS) & (pitch[: 2 * n : 2] > 0)
                features.append(feats[:n][voiced])
                f0.append(pitch[pitch > 0])
            if features:
                index = np.concatenate(features)
                if len(index) > MAX_INDEX:
                    index = index[np.linspace(0, len(index) - 1, MAX_INDEX).astype(int)]
                index = index.astype(np.float16)
            voiced_f0 = np.concatenate(f0) if f0 else np.zeros(0)
            if len(voiced_f0) >= 20:
                log_f0 = float(np.median(np.log(voiced_f0)))
        buf = io.BytesIO()
        np.savez(buf, version=np.int32(PROFILE_VERSION), index=index, log_f0=np.float64(log_f0))
        return buf.getvalue()

    def session(self, source: bytes | None, target: bytes) -> GpuVoiceSession:
        self._seed += 1
        return GpuVoiceSession(self, _Profile(source), _Profile(target), self._seed)

    # -- inference -------------------------------------------------------------------------------
    def _infer(self, session: GpuVoiceSession, window: np.ndarray) -> np.ndarray:
        return self._batch((session, window))

    def _infer_batch(self, items: list[tuple[GpuVoiceSession, np.ndarray]]) -> list[np.ndarray]:
        """(session, WINDOW samples) for several streams -> the last CHUNK + XFADE + SEARCH samples
        of each converted window, at 16 kHz."""
        windows = np.stack([w for _, w in items])
        b = len(items)
        content_frames, pitch_frames = WINDOW // CONTENT_HOP, WINDOW // PITCH_HOP
        (features,) = self.models["content"].run({"audio": windows})
        (f0,) = self.models["pitch"].run({"audio": windows})
        features = fit_frames(features, content_frames)
        f0 = fit_frames(f0, pitch_frames)
        for i, (session, _) in enumerate(items):
            features[i] = self._retrieve(features[i], session.target)
            voiced = f0[i] > 0
            if session.source.log_f0 is None:
                session._online_f0.extend(np.log(f0[i, -CHUNK // PITCH_HOP :][voiced[-CHUNK // PITCH_HOP :]]))
                del session._online_f0[:-3000]
            f0[i] = np.where(voiced, np.clip(f0[i] * session.f0_shift, F0_MIN, F0_MAX), 0.0)
        phone = np.repeat(features, 2, axis=1)  # 50 Hz -> 100 Hz, as RVC does
        rnd = np.stack([s._rng.standard_normal((192, pitch_frames)).astype(np.float32) for s, _ in items])
        (audio,) = self.models["generator"].run(self._generator_feeds(phone, f0.astype(np.float32), rnd))
        audio = resample(audio.reshape(b, -1), WINDOW)
        return list(audio[:, -(CHUNK + XFADE + SEARCH) :])

    def _retrieve(self, features: np.ndarray, target: _Profile) -> np.ndarray:
        """RVC's index: each frame blended with the mean of its nearest target frames (weights
        1 / distance^2), at `index_rate`."""
        if target.index is None or self.index_rate <= 0:
            return features
        d2 = (features**2).sum(1, keepdims=True) - 2 * features @ target.index.T + target.index_sq[None]
        k = min(RETRIEVAL_K, len(target.index))
        nearest = np.argpartition(d2, k - 1, axis=1)[:, :k]
        dist = np.take_along_axis(d2, nearest, 1).clip(min=1e-6)
        w = 1.0 / dist
        w /= w.sum(1, keepdims=True)
        retrieved = (target.index[nearest] * w[..., None]).sum(1)
        return (self.index_rate * retrieved + (1 - self.index_rate) * features).astype(np.float32)
