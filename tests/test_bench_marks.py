"""The timing marks of scripts/bench_agent.py: video counters and audio bursts read back what was
written, through the kind of damage a codec does (noise, blur, level changes)."""

from __future__ import annotations

import numpy as np
import pytest

from scripts.marks import (
    TONES,
    BurstDetector,
    burst,
    noise_floor,
    paint_video_mark,
    read_video_mark,
)


def frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, width * height * 3 // 2).astype(np.uint8)


def luma(i420: np.ndarray, width: int, height: int) -> np.ndarray:
    return i420[: width * height].reshape(height, width)


@pytest.mark.parametrize("size", [(640, 360), (320, 180), (1280, 720), (642, 362)])
@pytest.mark.parametrize("counter", [0, 1, 24, 4095, 65535])
def test_video_mark_round_trip(size, counter):
    width, height = size
    data = frame(width, height, counter)
    paint_video_mark(data, width, height, counter)
    assert read_video_mark(luma(data, width, height)) == counter


def test_video_mark_wraps_at_16_bits():
    data = frame(640, 360)
    paint_video_mark(data, 640, 360, 65536 + 7)
    assert read_video_mark(luma(data, 640, 360)) == 7


def test_video_mark_survives_noise_blur_and_level_changes():
    width, height = 640, 360
    rng = np.random.default_rng(1)
    for counter in range(0, 3000, 97):
        data = frame(width, height, counter)
        paint_video_mark(data, width, height, counter)
        y = luma(data, width, height).astype(np.float32)
        y = (y + np.roll(y, 3, axis=0) + np.roll(y, 3, axis=1) + np.roll(y, -3, axis=1)) / 4  # blur
        y = y * 0.8 + 20 + rng.normal(0, 12, y.shape)  # contrast, level, noise
        assert read_video_mark(np.clip(y, 0, 255).astype(np.uint8)) == counter


def test_frames_without_a_mark_read_as_none():
    assert read_video_mark(np.full((360, 640), 40, np.uint8)) is None  # a flat holding frame
    assert read_video_mark(np.full((512, 512), 40, np.uint8)) is None
    assert read_video_mark(np.zeros((10, 10), np.uint8)) is None  # too small for the band
    rng = np.random.default_rng(2)
    wrong = sum(
        read_video_mark(rng.integers(0, 256, (360, 640)).astype(np.uint8)) is not None for _ in range(50)
    )
    assert wrong <= 2  # random pictures pass the reference and check cells only by chance


def test_a_corrupted_bit_is_rejected():
    width, height = 640, 360
    data = frame(width, height)
    paint_video_mark(data, width, height, 1234)
    y = luma(data, width, height)
    cell = width // 12
    y[:cell, 5 * cell : 6 * cell] = 255 - y[cell // 2, 5 * cell + cell // 2]  # flip one data cell
    assert read_video_mark(y) is None


def test_bursts_are_found_at_their_onset_with_their_tone():
    rate, block = 48000, 480
    rng = np.random.default_rng(3)
    seconds = 6
    signal = noise_floor(rate * seconds, rng)
    onsets = [int(rate * (0.37 + k)) for k in range(seconds - 1)]
    for k, at in enumerate(onsets):
        b = burst(k, rate)
        signal[at : at + len(b)] = (b * 0.7).astype(np.int16) + signal[at : at + len(b)]  # quieter
    detector = BurstDetector(rate)
    found = []
    for i in range(0, len(signal), block):
        # each block "arrives" when its last sample is due, at 100 s + its end time
        found += detector.feed(signal[i : i + block], 100.0 + (i + block - 1) / rate)
    assert [f.tone for f in found] == [k % len(TONES) for k in range(len(onsets))]
    for f, at in zip(found, onsets):
        assert 0 <= f.sample - at <= rate // 2000  # within 0.5 ms: the sine's rise to the threshold
        assert f.time == pytest.approx(100.0 + f.sample / rate, abs=1e-9)


def test_silence_and_noise_give_no_bursts():
    rate = 48000
    detector = BurstDetector(rate)
    rng = np.random.default_rng(4)
    for i in range(200):
        assert detector.feed(noise_floor(480, rng), float(i)) == []
