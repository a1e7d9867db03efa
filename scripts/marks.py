"""Timing marks that survive a WebRTC round trip: a frame counter painted into video, tone bursts in
audio. Used by scripts/bench_agent.py; pure numpy, no LiveKit.

Video: a band of 2 x 12 square cells across the top of the frame (cell = width // 12, so 53 px at
640x360): a white and a black reference cell, 16 bits of frame counter, 6 check bits. Cells are
full-scale black or white luma with neutral chroma, large enough that VP8 at any sane bitrate keeps
them; the reader samples only the inner half of each cell, thresholds halfway between the two
reference cells and rejects frames whose contrast is too low or whose check bits disagree (blurry
frames from an encoder still ramping up, the body's holding frame, another plugin's output).

Audio: once a second a 40 ms tone burst on a quiet noise floor (the floor keeps Opus out of DTX).
Burst k has tone `TONES[k % 4]`, so a receiver can tell bursts apart for up to 4 s of latency. The
detector finds the first sample over a threshold after a quiet spell (the onset) and, 20 ms of
audio later, which tone it was.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

COLS = 12
ROWS = 2
DATA_BITS = 16
CHECK_BITS = 6
WHITE, BLACK = 235, 16  # video-range luma
MIN_CONTRAST = 80.0

TONES = (500.0, 1000.0, 2000.0, 4000.0)
BURST_MS = 40
BURST_AMPLITUDE = 0.5  # of full scale
NOISE_AMPLITUDE = 60  # int16 counts, about -55 dBFS
ONSET_THRESHOLD = 4000  # int16 counts; the burst peaks at 16384, the floor at ~200
CLASSIFY_MS = 20
REFRACTORY_MS = 300


# --- video ------------------------------------------------------------------------------------


def cell_size(width: int, height: int) -> int:
    size = width // COLS
    if size < 8 or ROWS * size > height:
        raise ValueError(f"{width}x{height} is too small for a {COLS}x{ROWS} mark band")
    return size


def _check(counter: int) -> int:
    return zlib.crc32(counter.to_bytes(2, "big")) & ((1 << CHECK_BITS) - 1)


def _cell_values(counter: int) -> list[int]:
    if not 0 <= counter < 1 << DATA_BITS:
        raise ValueError(f"counter {counter} does not fit {DATA_BITS} bits")
    data = [(counter >> (DATA_BITS - 1 - i)) & 1 for i in range(DATA_BITS)]
    check = [(_check(counter) >> (CHECK_BITS - 1 - i)) & 1 for i in range(CHECK_BITS)]
    return [WHITE, BLACK] + [WHITE if bit else BLACK for bit in data + check]


def paint_video_mark(i420: np.ndarray, width: int, height: int, counter: int) -> None:
    """Paint `counter % 2**16` into a flat I420 buffer (modified in place)."""
    size = cell_size(width, height)
    luma = i420[: width * height].reshape(height, width)
    values = np.array(_cell_values(counter % (1 << DATA_BITS)), dtype=np.uint8).reshape(ROWS, COLS)
    luma[: ROWS * size, : COLS * size] = np.repeat(np.repeat(values, size, axis=0), size, axis=1)
    # Neutral chroma under the band: colour never bleeds into the cells.
    cw, ch = (width + 1) // 2, (height + 1) // 2
    u = i420[width * height : width * height + cw * ch].reshape(ch, cw)
    v = i420[width * height + cw * ch : width * height + 2 * cw * ch].reshape(ch, cw)
    band_h, band_w = (ROWS * size + 1) // 2, (COLS * size + 1) // 2
    u[:band_h, :band_w] = 128
    v[:band_h, :band_w] = 128


def read_video_mark(luma: np.ndarray) -> int | None:
    """The counter painted into a (height, width) luma plane, or None when there is no valid mark."""
    height, width = luma.shape
    try:
        size = cell_size(width, height)
    except ValueError:
        return None
    q = size // 4
    band = luma[: ROWS * size, : COLS * size].reshape(ROWS, size, COLS, size)
    means = band[:, q : size - q, :, q : size - q].mean(axis=(1, 3), dtype=np.float32).reshape(-1)
    white, black = float(means[0]), float(means[1])
    if white - black < MIN_CONTRAST:
        return None
    bits = [1 if m > (white + black) / 2 else 0 for m in means[2:]]
    counter = 0
    for bit in bits[:DATA_BITS]:
        counter = counter << 1 | bit
    check = 0
    for bit in bits[DATA_BITS:]:
        check = check << 1 | bit
    return counter if check == _check(counter) else None


# --- audio ------------------------------------------------------------------------------------


def burst(index: int, rate: int) -> np.ndarray:
    """The int16 tone burst number `index` (abrupt start, so its onset is sharp)."""
    t = np.arange(int(rate * BURST_MS / 1000)) / rate
    wave = np.sin(2 * np.pi * TONES[index % len(TONES)] * t) * BURST_AMPLITUDE * 32767
    return wave.astype(np.int16)


def noise_floor(samples: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(-NOISE_AMPLITUDE, NOISE_AMPLITUDE + 1, samples).astype(np.int16)


def classify_tone(samples: np.ndarray, rate: int) -> int:
    """Index into TONES of the strongest of the tones in `samples`."""
    x = samples.astype(np.float64) * np.hanning(len(samples))
    t = np.arange(len(samples)) / rate
    energy = [abs(np.dot(x, np.exp(-2j * np.pi * f * t))) for f in TONES]
    return int(np.argmax(energy))


@dataclass
class Onset:
    tone: int  # index into TONES
    time: float  # arrival time of the onset sample (the caller's clock)
    sample: int  # index of the onset sample in the stream fed so far


class BurstDetector:
    """Feed received PCM frame by frame with each frame's arrival time; get the bursts found.

    A frame's last sample is taken to arrive at the frame's arrival time, and earlier samples
    1/rate apart before it (frames are delivered as they are played out, in real time).
    """

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._fed = 0  # samples fed so far
        self._last_onset = -(10**12)
        self._pending: Onset | None = None
        self._pending_samples: list[np.ndarray] = []
        self._classify_len = rate * CLASSIFY_MS // 1000
        self._refractory = rate * REFRACTORY_MS // 1000

    def feed(self, samples: np.ndarray, arrival: float) -> list[Onset]:
        found: list[Onset] = []
        start = self._fed
        self._fed += len(samples)
        if self._pending is not None:
            self._pending_samples.append(samples)
        else:
            loud = np.flatnonzero(np.abs(samples.astype(np.int32)) >= ONSET_THRESHOLD)
            if len(loud):
                index = start + int(loud[0])
                if index - self._last_onset >= self._refractory:
                    self._last_onset = index
                    when = arrival - (self._fed - 1 - index) / self.rate
                    self._pending = Onset(-1, when, index)
                    self._pending_samples = [samples[int(loud[0]) :]]
        if self._pending is not None:
            collected = np.concatenate(self._pending_samples)
            if len(collected) >= self._classify_len:
                self._pending.tone = classify_tone(collected[: self._classify_len], self.rate)
                found.append(self._pending)
                self._pending, self._pending_samples = None, []
        return found
