"""What each body does per second, for Prometheus and for the structured logs.

Counters and histograms are Prometheus types, labelled by game room and opaque body identity only:
neither says who drives a body, and nothing biometric goes into a metric or a log line. Job
processes are children of the worker; LiveKit Agents collects their metrics through Prometheus'
multiprocess mode (`BODYSWAP_AGENT_METRICS_PORT` serves them, see agent/settings.py).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from prometheus_client import Counter, Histogram

_LABELS = ("room", "body")
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0)
_SKEW_BUCKETS = (-0.2, -0.125, -0.075, -0.045, -0.02, -0.005, 0.005, 0.02, 0.045, 0.075, 0.125, 0.2)

FRAMES_IN = Counter("bodyswap_body_frames_in", "Driver video frames received", _LABELS)
FRAMES_OUT = Counter("bodyswap_body_frames_out", "Converted video frames published", _LABELS)
FRAMES_DROPPED = Counter(
    "bodyswap_body_frames_dropped", "Driver frames replaced by a newer one before conversion", _LABELS
)
CONVERSION_ERRORS = Counter(
    "bodyswap_body_conversion_errors", "Plugin calls that raised", (*_LABELS, "kind")
)
AUDIO_UNDERRUNS = Counter(
    "bodyswap_body_audio_underruns", "Times a body's audio output ran dry while its driver spoke", _LABELS
)
VIDEO_LATENCY = Histogram(
    "bodyswap_body_video_latency_seconds",
    "Driver frame received to body frame published, delay for lip sync excluded",
    _LABELS,
    buckets=_LATENCY_BUCKETS,
)
AUDIO_LATENCY = Histogram(
    "bodyswap_body_audio_latency_seconds",
    "Driver audio block received to body audio sent: conversion and the plugin's declared latency",
    _LABELS,
    buckets=_LATENCY_BUCKETS,
)
BATCH_FRAMES = Histogram(
    "bodyswap_room_batch_frames",
    "Frames per batched plugin call of a room (plugins that batch video): how much of the room's "
    "bodies one GPU call carries",
    ("room",),
    buckets=(1, 2, 3, 4, 6, 8, 12, 16),
)
AV_SKEW = Histogram(
    "bodyswap_body_av_skew_seconds",
    "Audio minus video delay of a body after lip-sync delays (positive: audio late)",
    _LABELS,
    buckets=_SKEW_BUCKETS,
)


class Window:
    """The last `size` samples, for percentiles over recent behaviour."""

    def __init__(self, size: int = 200) -> None:
        self._samples: deque[float] = deque(maxlen=size)

    def add(self, value: float) -> None:
        self._samples.append(value)

    def __len__(self) -> int:
        return len(self._samples)

    def percentile(self, q: float) -> float | None:
        """Linear interpolation between closest ranks, as numpy's default. Plain Python: for a few
        hundred samples it is some twenty times cheaper than np.percentile, and it runs per block."""
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        position = (len(ordered) - 1) * q / 100
        low = int(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class BodyStats:
    """Counts and recent latencies of one body, mirrored into Prometheus as they happen."""

    room: str
    body: str
    frames_in: int = 0
    frames_out: int = 0
    frames_dropped: int = 0
    video_errors: int = 0
    audio_errors: int = 0
    audio_underruns: int = 0
    video_latency: Window = field(default_factory=Window)
    audio_latency: Window = field(default_factory=Window)
    skew: Window = field(default_factory=Window)
    _last_report: tuple[float, int, int] = (0.0, 0, 0)
    # Mean square level of audio in and out since the last report: a body gone silent shows here.
    _level_in: list[float] = field(default_factory=lambda: [0.0, 0])
    _level_out: list[float] = field(default_factory=lambda: [0.0, 0])

    def __post_init__(self) -> None:
        labels = {"room": self.room, "body": self.body}
        self._frames_in = FRAMES_IN.labels(**labels)
        self._frames_out = FRAMES_OUT.labels(**labels)
        self._frames_dropped = FRAMES_DROPPED.labels(**labels)
        self._video_errors = CONVERSION_ERRORS.labels(kind="video", **labels)
        self._audio_errors = CONVERSION_ERRORS.labels(kind="audio", **labels)
        self._underruns = AUDIO_UNDERRUNS.labels(**labels)
        self._video_latency = VIDEO_LATENCY.labels(**labels)
        self._audio_latency = AUDIO_LATENCY.labels(**labels)
        self._skew = AV_SKEW.labels(**labels)
        self._last_report = (time.monotonic(), 0, 0)

    def frame_in(self) -> None:
        self.frames_in += 1
        self._frames_in.inc()

    def frame_dropped(self) -> None:
        self.frames_dropped += 1
        self._frames_dropped.inc()

    def frame_out(self, latency_s: float) -> None:
        self.frames_out += 1
        self._frames_out.inc()
        self.video_latency.add(latency_s)
        self._video_latency.observe(latency_s)

    def audio_out(self, latency_s: float) -> None:
        self.audio_latency.add(latency_s)
        self._audio_latency.observe(latency_s)

    def audio_levels(self, samples_in: np.ndarray, samples_out: np.ndarray) -> None:
        for level, samples in ((self._level_in, samples_in), (self._level_out, samples_out)):
            level[0] += float(np.mean(samples.astype(np.float64) ** 2)) if len(samples) else 0.0
            level[1] += 1

    def av_skew(self, skew_s: float) -> None:
        self.skew.add(skew_s)
        self._skew.observe(skew_s)

    def conversion_error(self, kind: str) -> int:
        if kind == "video":
            self.video_errors += 1
            self._video_errors.inc()
            return self.video_errors
        self.audio_errors += 1
        self._audio_errors.inc()
        return self.audio_errors

    def underrun(self) -> None:
        self.audio_underruns += 1
        self._underruns.inc()

    def report(self) -> dict[str, float | int | None]:
        """Rates since the previous report and recent percentiles: one structured log line."""
        now = time.monotonic()
        since, frames_in, frames_out = self._last_report
        elapsed = max(now - since, 1e-6)
        self._last_report = (now, self.frames_in, self.frames_out)

        def dbfs(level: list[float]) -> float | None:
            mean_square = level[0] / level[1] if level[1] else 0.0
            level[0], level[1] = 0.0, 0
            return round(float(10 * np.log10(mean_square / 32768.0**2)), 1) if mean_square > 0 else None

        def ms(window: Window, q: float) -> float | None:
            value = window.percentile(q)
            return None if value is None else round(value * 1000, 1)

        return {
            "fps_in": round((self.frames_in - frames_in) / elapsed, 1),
            "fps_out": round((self.frames_out - frames_out) / elapsed, 1),
            "frames_dropped": self.frames_dropped,
            "video_errors": self.video_errors,
            "audio_errors": self.audio_errors,
            "audio_underruns": self.audio_underruns,
            "video_latency_p50_ms": ms(self.video_latency, 50),
            "video_latency_p95_ms": ms(self.video_latency, 95),
            "audio_latency_p50_ms": ms(self.audio_latency, 50),
            "audio_latency_p95_ms": ms(self.audio_latency, 95),
            "av_skew_p50_ms": ms(self.skew, 50),
            "audio_in_dbfs": dbfs(self._level_in),
            "audio_out_dbfs": dbfs(self._level_out),
        }
