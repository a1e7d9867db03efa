"""Signal processing shared by `prepare` and the streaming session: WORLD, the mel envelope space,
minimum-phase spectra, silero-vad, and the YIN/Viterbi pitch tracker.

All analysis runs at 16 kHz with a 5 ms frame hop. Spectral envelopes (CheapTrick, 513 bins) are
kept as natural-log power sampled at 80 mel-spaced frequencies: small enough to store a bank of the
target's frames in the profile, smooth enough to warp and average, and expanded back to 513 bins
for synthesis.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np

FS = 16000
HOP = 80  # 5 ms frames
FFT = 1024
BINS = FFT // 2 + 1
N_MEL = 80
F0_FLOOR = 70.0
F0_CEIL = 500.0
UNVOICED_PULSE_HZ = 500.0  # WORLD's default F0: noise is shaped in 2 ms segments where unvoiced
LOG_FLOOR = 1e-12
CEP_KEY = 24  # cepstral coefficients 1..24 of the mel envelope: the retrieval key


def load_pyworld() -> ModuleType:
    """pyworld's compiled module.

    pyworld's package `__init__` imports `pkg_resources` only to read its own version, and
    setuptools 81+ no longer ships it; the extension module itself needs nothing of it, so where
    the package import fails, load the extension directly.
    """
    try:
        with warnings.catch_warnings():  # its pkg_resources deprecation warning
            warnings.simplefilter("ignore")
            import pyworld

        return pyworld
    except ImportError:
        spec = importlib.util.find_spec("pyworld")
        if spec is None or not spec.submodule_search_locations:
            raise
        folder = Path(next(iter(spec.submodule_search_locations)))
        extension = next(p for p in folder.iterdir() if p.name.startswith("pyworld.") and p.suffix in (".so", ".pyd"))
        ext_spec = importlib.util.spec_from_file_location("pyworld.pyworld", extension)
        module = importlib.util.module_from_spec(ext_spec)
        ext_spec.loader.exec_module(module)
        return module


pw = load_pyworld()


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


MEL_HZ = _mel_to_hz(np.linspace(_hz_to_mel(40.0), _hz_to_mel(FS / 2), N_MEL))
BIN_HZ = np.arange(BINS) * FS / FFT


def interp_matrix(x_new: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """(len(x_new), len(knots)) weights of linear interpolation, held flat beyond the ends."""
    x = np.clip(x_new, knots[0], knots[-1])
    right = np.clip(np.searchsorted(knots, x, side="right"), 1, len(knots) - 1)
    left = right - 1
    frac = (x - knots[left]) / (knots[right] - knots[left])
    m = np.zeros((len(x), len(knots)))
    rows = np.arange(len(x))
    m[rows, left] += 1.0 - frac
    m[rows, right] += frac
    return m


TO_MEL = interp_matrix(MEL_HZ, BIN_HZ)  # 513 bins -> 80 mel points
FROM_MEL = interp_matrix(BIN_HZ, MEL_HZ)  # 80 mel points -> 513 bins


def warp_matrix(alpha: float) -> np.ndarray:
    """Moves an envelope's features up in frequency by `alpha` (out(f) = in(f / alpha))."""
    return interp_matrix(MEL_HZ / alpha, MEL_HZ)


def dct_matrix(n: int = N_MEL) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    d = np.sqrt(2.0 / n) * np.cos(np.pi * k * (i + 0.5) / n)
    d[0] /= np.sqrt(2.0)
    return d  # orthonormal: D @ D.T == I


DCT = dct_matrix()


def lifter(env: np.ndarray, keep: int) -> np.ndarray:
    """Smooth a mel envelope (or a batch) by keeping its first `keep` cepstral coefficients."""
    c = env @ DCT.T
    c[..., keep:] = 0.0
    return c @ DCT


def keys(env: np.ndarray) -> np.ndarray:
    return (env @ DCT.T)[..., 1 : CEP_KEY + 1]


def min_phase(log_amplitude: np.ndarray) -> np.ndarray:
    """Minimum-phase spectra (..., BINS) from natural-log amplitudes (..., BINS)."""
    cep = np.fft.irfft(log_amplitude, n=FFT, axis=-1)
    cep[..., 1 : FFT // 2] *= 2.0
    cep[..., FFT // 2 + 1 :] = 0.0
    return np.exp(np.fft.rfft(cep, axis=-1))


def envelope(x: np.ndarray, f0: np.ndarray, t: np.ndarray) -> np.ndarray:
    """CheapTrick log-power envelopes on the mel points, (frames, N_MEL)."""
    sp = pw.cheaptrick(x, np.ascontiguousarray(f0), np.ascontiguousarray(t), FS, f0_floor=F0_FLOOR, fft_size=FFT)
    return np.log(sp + LOG_FLOOR) @ TO_MEL.T


def aperiodicity(x: np.ndarray, f0: np.ndarray, t: np.ndarray) -> np.ndarray:
    """D4C band aperiodicity (frames, BINS), amplitude ratio in [0, 1]."""
    return pw.d4c(x, np.ascontiguousarray(f0), np.ascontiguousarray(t), FS, threshold=0.0, fft_size=FFT)


# --- silero-vad ---------------------------------------------------------------------------------

VAD_FRAME = 512  # 32 ms at 16 kHz, the window silero was trained on
VAD_CONTEXT = 64
_VAD_MODEL = "silero_vad_16k_sequence.onnx"


def silero_model_path() -> Path:
    # Found without importing silero_vad, whose __init__ imports torch (it is installed --no-deps).
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("silero-vad is not installed (pip install --no-deps silero-vad)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / _VAD_MODEL


_vad_session = None


def vad_session():
    """One onnxruntime session for the process (sessions are thread-safe; state lives in calls)."""
    global _vad_session
    if _vad_session is None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        _vad_session = onnxruntime.InferenceSession(
            str(silero_model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
    return _vad_session


class Vad:
    """Silero speech probabilities, fed in any chunk sizes, one probability per 512 samples."""

    def __init__(self) -> None:
        self._session = vad_session()
        self._state = {
            "h": np.zeros((1, 1, 128), np.float32),
            "c": np.zeros((1, 1, 128), np.float32),
        }
        self._pending = np.zeros(0, np.float32)
        self._context = np.zeros(VAD_CONTEXT, np.float32)

    def feed(self, pcm: np.ndarray) -> np.ndarray:
        """Probabilities of the 512-sample frames that `pcm` completes."""
        self._pending = np.concatenate([self._pending, np.asarray(pcm, np.float32)])
        count = len(self._pending) // VAD_FRAME
        if count == 0:
            return np.zeros(0, np.float32)
        frames = self._pending[: count * VAD_FRAME].reshape(count, VAD_FRAME)
        self._pending = self._pending[count * VAD_FRAME :]
        contexts = np.empty((count, VAD_CONTEXT), np.float32)
        contexts[0] = self._context
        contexts[1:] = frames[:-1, -VAD_CONTEXT:]
        self._context = frames[-1, -VAD_CONTEXT:].copy()
        probs, h, c = self._session.run(
            ["speech_probs", "hn", "cn"], {"input": np.concatenate([contexts, frames], axis=1), **self._state}
        )
        self._state = {"h": h, "c": c}
        return np.asarray(probs, np.float32).reshape(-1)


def speech_mask(probs: np.ndarray, start: float = 0.5, end: float = 0.35) -> np.ndarray:
    """Silero's hysteresis over a sequence of frame probabilities."""
    out = np.zeros(len(probs), bool)
    inside = False
    for i, p in enumerate(probs):
        inside = p >= (end if inside else start)
        out[i] = inside
    return out


# --- pitch: YIN candidates and a fixed-lag Viterbi -----------------------------------------------

YIN_WINDOW = 480  # 30 ms integration window
TAU_MIN = int(FS / F0_CEIL)  # 32
TAU_MAX = int(np.ceil(FS / F0_FLOOR))  # 229
YIN_SPAN = YIN_WINDOW + TAU_MAX  # samples one frame's estimate reads, centred on the frame
YIN_HALF = YIN_SPAN // 2
CANDIDATES = 4
CANDIDATE_MAX = 0.8  # CMNDF dips above this are no pitch candidates
SUBHARMONIC_MARGIN = 0.05
SUBHARMONIC_BIAS = 0.3  # cost per octave below the highest good candidate
UNVOICED_COST = 0.6  # a frame's cost of being unvoiced (a voiced candidate costs its CMNDF dip)
JUMP_COST = 2.0  # per octave of F0 change between neighbouring frames
VOICING_COST = 0.25  # switching between voiced and unvoiced


def yin_candidates(segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F0 candidates (frames, CANDIDATES) in Hz (0: none) and their CMNDF dips (1: none), from
    segments (frames, YIN_SPAN)."""
    n = len(segments)
    seg = segments - segments.mean(axis=1, keepdims=True)
    head = seg[:, :YIN_WINDOW]
    size = 1024
    cross = np.fft.irfft(np.conj(np.fft.rfft(head, size, axis=1)) * np.fft.rfft(seg, size, axis=1), size, axis=1)
    cross = cross[:, : TAU_MAX + 2]
    energy_head = np.sum(head**2, axis=1, keepdims=True)
    sq = np.concatenate([np.zeros((n, 1)), np.cumsum(seg**2, axis=1)], axis=1)
    taus = np.arange(TAU_MAX + 2)
    limit = min(TAU_MAX + 2, seg.shape[1] - YIN_WINDOW + 1)
    energy_lag = sq[:, taus[:limit] + YIN_WINDOW] - sq[:, taus[:limit]]
    d = energy_head + energy_lag - 2 * cross[:, :limit]
    d[:, 0] = 0.0
    cum = np.cumsum(d[:, 1:], axis=1)
    cmndf = np.ones_like(d)
    cmndf[:, 1:] = d[:, 1:] * np.arange(1, limit) / np.maximum(cum, 1e-12)
    f0s = np.zeros((n, CANDIDATES))
    dips = np.ones((n, CANDIDATES))
    lo, hi = TAU_MIN, limit - 2
    c = cmndf[:, lo : hi + 1]
    left, mid, right = cmndf[:, lo - 1 : hi], c, cmndf[:, lo + 1 : hi + 2]
    minima = (mid < left) & (mid <= right) & (mid < CANDIDATE_MAX)
    for i in range(n):
        idx = np.flatnonzero(minima[i])
        if not len(idx):
            continue
        best = idx[np.argsort(mid[i, idx])[:CANDIDATES]]
        for j, b in enumerate(best):
            a_, b_, c_ = left[i, b], mid[i, b], right[i, b]
            denom = a_ - 2 * b_ + c_
            shift = 0.5 * (a_ - c_) / denom if denom > 1e-12 else 0.0
            tau = lo + b + float(np.clip(shift, -0.5, 0.5))
            f0s[i, j] = FS / tau
            dips[i, j] = b_
    return f0s, dips


class PitchTracker:
    """Fixed-lag Viterbi over YIN candidates: each frame is decided LAG frames after it was seen."""

    LAG = 3

    def __init__(self) -> None:
        self.cost = np.array([0.0] + [np.inf] * CANDIDATES)  # state 0: unvoiced
        self.f0 = np.zeros(CANDIDATES + 1)
        self.history: list[tuple[np.ndarray, np.ndarray]] = []  # (state f0s, backpointers)

    def push(self, f0s: np.ndarray, dips: np.ndarray, loud: bool) -> float | None:
        """Add one frame's candidates; return the F0 (0: unvoiced) of the frame LAG frames back."""
        states_f0 = np.concatenate([[0.0], f0s])
        voiced_cost = np.where(f0s > 0, dips, np.inf)
        if np.any(f0s > 0):
            # YIN's classic slip is the period doubled: favour the highest candidate that dips well.
            good = (f0s > 0) & (dips <= dips[f0s > 0].min() + SUBHARMONIC_MARGIN)
            top = f0s[good].max()
            with np.errstate(divide="ignore"):
                voiced_cost = voiced_cost + SUBHARMONIC_BIAS * np.maximum(np.log2(top / np.maximum(f0s, 1e-9)), 0.0)
        local = np.concatenate([[UNVOICED_COST if loud else 0.0], voiced_cost])
        if not loud:
            local[1:] = np.inf
        prev_f0 = self.f0
        trans = np.zeros((len(prev_f0), len(states_f0)))
        pv, cv = prev_f0[:, None] > 0, states_f0[None, :] > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            jump = np.abs(np.log2(np.where(pv & cv, states_f0[None, :] / np.where(pv, prev_f0[:, None], 1.0), 1.0)))
        trans += JUMP_COST * jump + VOICING_COST * (pv != cv)
        total = self.cost[:, None] + trans
        back = np.argmin(total, axis=0)
        self.cost = total[back, np.arange(len(states_f0))] + local
        self.cost -= np.min(self.cost)
        self.f0 = states_f0
        self.history.append((states_f0, back))
        if len(self.history) <= self.LAG:
            return None
        state = int(np.argmin(self.cost))
        for f0_row, back_row in reversed(self.history[1:]):
            state = int(back_row[state])
        decided = self.history[0][0][state]
        self.history.pop(0)
        return float(decided)


def track_pitch(x: np.ndarray, frames: int) -> np.ndarray:
    """Offline use of the same tracker (enrollments): F0 per 5 ms frame of x, 0 where unvoiced."""
    padded = np.concatenate([np.zeros(YIN_HALF), x, np.zeros(YIN_HALF + YIN_SPAN)])
    out = np.zeros(frames)
    tracker = PitchTracker()
    chunk = 2000
    level = 10 * np.log10(np.convolve(x**2, np.ones(2 * HOP) / (2 * HOP), mode="same") + 1e-12)
    results = []
    for start in range(0, frames + PitchTracker.LAG, chunk):
        ks = np.arange(start, min(start + chunk, frames + PitchTracker.LAG))
        idx = (ks * HOP)[:, None] + np.arange(YIN_SPAN)[None, :]
        f0s, dips = yin_candidates(padded[idx])
        for n, k in enumerate(ks):
            loud = k < frames and level[min(k * HOP, len(x) - 1)] > -55.0
            decided = tracker.push(f0s[n], dips[n], loud)
            if decided is not None:
                results.append(decided)
    out[: min(frames, len(results))] = results[:frames]
    return out
