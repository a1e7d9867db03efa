"""cpu-voice: the CPU voice swap. The body speaks in its owner's voice, with the driver's words and
intonation, live, on one core and without any downloaded model.

Method (see stream.py): streaming analysis at 16 kHz (a YIN + fixed-lag Viterbi pitch tracker,
WORLD's CheapTrick envelope and D4C aperiodicity), log-F0 mean/spread mapping, a fitted frequency
warp plus mean envelope correction, blended with retrieval of the target's nearest enrolled frames,
and WORLD-style pulse-by-pulse resynthesis whose state runs across blocks (no block-edge splices).
silero-vad keeps silence and noise silent. Short or noisy enrollments get a gentler conversion.

Latency: 40 ms of look-ahead beyond the 20 ms block (audio_latency_ms = 40).
"""

from __future__ import annotations

import threading

import numpy as np
from bodyswap_api import AudioBlock, Enrollment, Requirements, SwapPlugin, SwapSession

from . import dsp
from .profile import Profile, build_profile
from .stream import BLOCK, LOOKAHEAD, Converter

__all__ = ["CpuVoicePlugin", "CpuVoiceSession"]


class CpuVoiceSession(SwapSession):
    def __init__(self, target: Profile, source: Profile | None) -> None:
        self._target, self._source = target, source
        self._converter = Converter(target, source)
        self._rate = dsp.FS
        self._pending_in = np.zeros(0)
        self._pending_out = np.zeros(0)
        self._resample_in = self._resample_out = None
        self._lock = threading.Lock()

    def convert_audio(self, block: AudioBlock) -> AudioBlock:
        with self._lock:
            x = block.samples.astype(np.float64) / 32768.0
            if block.sample_rate != self._rate:
                self._switch_rate(block.sample_rate)
            if self._resample_in is not None:
                x = self._resample_in.resample_chunk(x)
            self._pending_in = np.concatenate([self._pending_in, x])
            out = []
            while len(self._pending_in) >= BLOCK:
                chunk, self._pending_in = self._pending_in[:BLOCK], self._pending_in[BLOCK:]
                out.append(self._converter.process(chunk))
            y = np.concatenate(out) if out else np.zeros(0)
            if self._resample_out is not None:
                y = self._resample_out.resample_chunk(y)
            # Same length out as in: the first blocks at an odd size or rate are padded with silence.
            self._pending_out = np.concatenate([self._pending_out, y])
            n = len(block.samples)
            if len(self._pending_out) < n:
                self._pending_out = np.concatenate([np.zeros(n - len(self._pending_out)), self._pending_out])
            y, self._pending_out = self._pending_out[:n], self._pending_out[n:]
            samples = np.clip(np.round(y * 32768.0), -32768, 32767).astype(np.int16)
            return AudioBlock(samples, block.sample_rate)

    def _switch_rate(self, rate: int) -> None:
        """Blocks at another rate than declared (the worker resamples, so only direct callers):
        resample in and out around the 16 kHz converter, which starts afresh."""
        import soxr

        self._rate = rate
        self._converter = Converter(self._target, self._source)
        self._pending_in = np.zeros(0)
        self._pending_out = np.zeros(0)
        if rate == dsp.FS:
            self._resample_in = self._resample_out = None
        else:
            self._resample_in = soxr.ResampleStream(rate, dsp.FS, 1, dtype="float64", quality="HQ")
            self._resample_out = soxr.ResampleStream(dsp.FS, rate, 1, dtype="float64", quality="HQ")

    def close(self) -> None:
        self._converter = None  # type: ignore[assignment]


class CpuVoicePlugin(SwapPlugin):
    name = "cpu-voice"
    swaps = frozenset({"voice"})
    requirements = Requirements(device="cpu", memory_mb=80)
    video_format = "i420"
    audio_sample_rate = dsp.FS
    audio_block_ms = 1000 * BLOCK // dsp.FS  # 20 ms
    audio_latency_ms = 1000 * LOOKAHEAD // dsp.FS  # 40 ms: analysis look-ahead

    def prepare(self, enrollment: Enrollment) -> bytes:
        if enrollment.voice_pcm is None:
            from .profile import empty_profile

            return empty_profile().to_bytes()
        return build_profile(enrollment.voice_pcm, enrollment.voice_sample_rate).to_bytes()

    def session(self, source: bytes | None, target: bytes) -> CpuVoiceSession:
        source_profile = Profile.from_bytes(source) if source else None
        return CpuVoiceSession(Profile.from_bytes(target), source_profile)
