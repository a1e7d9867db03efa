"""Comparisons of received media with what was sent."""

from __future__ import annotations

import numpy as np

THUMB = 32


def thumbnail(luma: np.ndarray, size: int = THUMB) -> np.ndarray:
    """Area-average a luma plane down to size x size float32 (crops the remainder)."""
    h, w = luma.shape
    bh, bw = h // size, w // size
    cropped = luma[: bh * size, : bw * size].astype(np.float32)
    return cropped.reshape(size, bh, size, bw).mean(axis=(1, 3))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denom) if denom else 0.0


def best_frame_match(thumb: np.ndarray, reference: list[np.ndarray]) -> float:
    """The highest correlation of a received thumbnail with any frame of a reference clip."""
    return max(correlation(thumb, ref) for ref in reference)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0


def peak_normalized_xcorr(segment: np.ndarray, reference: np.ndarray) -> float:
    """Max over lags of the Pearson-style correlation of `segment` with a window of `reference`.

    1.0 means the segment occurs verbatim somewhere in the reference.
    """
    x = segment.astype(np.float64)
    y = reference.astype(np.float64)
    m, n = len(x), len(y)
    x = x - x.mean()
    if not np.any(x):
        return 0.0  # a silent segment is found nowhere (and would divide by zero)
    size = 1 << (n + m).bit_length()
    numerator = np.fft.irfft(np.fft.rfft(y, size) * np.conj(np.fft.rfft(x, size)), size)[: n - m + 1]
    window_energy = sliding_sum(y**2, m)
    window_sum = sliding_sum(y, m)
    window_var = np.maximum(window_energy - window_sum**2 / m, 1e-9)
    return float(np.max(numerator / (np.linalg.norm(x) * np.sqrt(window_var))))


def sliding_sum(values: np.ndarray, width: int) -> np.ndarray:
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    return cumulative[width:] - cumulative[:-width]


def downsample(samples: np.ndarray, factor: int) -> np.ndarray:
    """Band-limited decimation by an integer factor (keeps what lies below the new Nyquist)."""
    kept = len(samples) // factor
    spectrum = np.fft.rfft(samples.astype(np.float64))[: kept // 2 + 1]
    return np.fft.irfft(spectrum, kept)


def decoded_pieces(samples: np.ndarray, rate: int, piece_s: float = 0.3, min_rms: float = 300) -> list[np.ndarray]:
    """Short loud pieces of received audio that a receiver decoded from packets that arrived.

    A WebRTC receiver fills missing packets with an extrapolation that fades to exact zeros, so a
    piece with a run of exact zeros inside (1 ms or more) is not what was sent. Short pieces,
    because a jitter buffer catching up stretches and squeezes time, which breaks sample alignment
    over longer stretches."""
    size = int(rate * piece_s)
    zero_run = rate // 1000
    pieces = []
    for start in range(0, len(samples) - size + 1, size):
        piece = samples[start : start + size]
        if rms(piece) < min_rms:
            continue
        zeros = np.concatenate([[0], (piece == 0).astype(np.int8), [0]])
        edges = np.flatnonzero(np.diff(zeros))
        if len(edges) and (edges[1::2] - edges[::2]).max() >= zero_run:
            continue
        pieces.append(piece)
    return pieces
