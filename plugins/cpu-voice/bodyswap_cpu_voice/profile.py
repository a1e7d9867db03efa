"""A voice profile: what `prepare` learns from an enrollment, stored as an .npz (no pickle).

- pitch: median and robust spread of log F0 over voiced speech;
- envelope: mean mel log-envelope of voiced and of unvoiced speech frames;
- bank: the voiced frames' mel envelopes (10 ms apart, at most BANK_MAX), for retrieval;
- how much to trust it: seconds of voiced speech and an estimate of the recording's SNR.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from . import dsp

VERSION = 1
BANK_MAX = 5000
FULL_TRUST_VOICED_S = 15.0  # voiced seconds for a full-strength conversion (~40 s of reading)
MIN_VOICED_S = 1.0


@dataclass
class Profile:
    lf0_mean: float
    lf0_std: float
    env_voiced: np.ndarray  # (N_MEL,)
    env_unvoiced: np.ndarray  # (N_MEL,)
    bank: np.ndarray  # (n, N_MEL) float32
    voiced_s: float
    snr_db: float

    @property
    def trust(self) -> float:
        """0..1: how far to go with a conversion built on this profile (short or noisy: less)."""
        if self.voiced_s < MIN_VOICED_S:
            return 0.0
        amount = np.clip((self.voiced_s - MIN_VOICED_S) / (FULL_TRUST_VOICED_S - MIN_VOICED_S), 0.0, 1.0)
        clean = np.clip((self.snr_db - 8.0) / 12.0, 0.0, 1.0)
        return float(min(amount, clean))

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        np.savez_compressed(
            out,
            version=np.int32(VERSION),
            scalars=np.array([self.lf0_mean, self.lf0_std, self.voiced_s, self.snr_db], np.float64),
            env_voiced=self.env_voiced.astype(np.float32),
            env_unvoiced=self.env_unvoiced.astype(np.float32),
            bank=self.bank.astype(np.float16),
        )
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Profile:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            if int(z["version"]) != VERSION:
                raise ValueError(f"cpu-voice profile version {int(z['version'])}, expected {VERSION}")
            lf0_mean, lf0_std, voiced_s, snr_db = (float(v) for v in z["scalars"])
            return cls(
                lf0_mean,
                lf0_std,
                z["env_voiced"].astype(np.float64),
                z["env_unvoiced"].astype(np.float64),
                z["bank"].astype(np.float32),
                voiced_s,
                snr_db,
            )


def empty_profile() -> Profile:
    """A profile with nothing in it (no voice enrolled): sessions built on it convert nothing."""
    flat = np.full(dsp.N_MEL, -10.0)
    return Profile(float(np.log(150.0)), 0.2, flat, flat.copy(), np.zeros((0, dsp.N_MEL), np.float32), 0.0, 0.0)


def build_profile(pcm: np.ndarray, rate: int) -> Profile:
    """Analyse an enrollment recording (mono float, any rate)."""
    x = np.asarray(pcm, dtype=np.float64).reshape(-1)
    if rate != dsp.FS and len(x):
        import soxr

        x = soxr.resample(x, rate, dsp.FS, quality="HQ")
    if len(x) < dsp.FS // 2 or not np.any(x):
        return empty_profile()
    x = np.clip(x, -1.0, 1.0)

    vad = dsp.Vad()
    probs = vad.feed(np.concatenate([x, np.zeros(-len(x) % dsp.VAD_FRAME)]).astype(np.float32))
    speech_vad = dsp.speech_mask(probs)

    frames = len(x) // dsp.HOP + 1
    f0 = dsp.track_pitch(x, frames)  # the session's own tracker, so both sides are measured alike
    t = np.arange(frames) * dsp.HOP / dsp.FS
    vad_index = np.minimum((np.arange(frames) * dsp.HOP) // dsp.VAD_FRAME, len(speech_vad) - 1)
    speech = speech_vad[vad_index]
    voiced = speech & (f0 > 0)

    power = frame_power(x, frames)
    if speech.any() and (~speech).sum() >= 20:
        noise = np.percentile(power[~speech], 50)
        snr_db = 10 * np.log10(np.mean(power[speech]) / max(noise, 1e-12))
    else:
        snr_db = 40.0  # no pause to measure the noise in: assume clean
    if voiced.sum() < 20:
        empty = empty_profile()
        empty.snr_db = float(snr_db)
        return empty

    lf0 = np.log(f0[voiced])
    lf0_mean = float(np.median(lf0))
    lf0_std = float(np.clip(1.4826 * np.median(np.abs(lf0 - lf0_mean)), 0.05, 0.5))

    # Envelopes of speech frames, every other frame (10 ms apart) is plenty for statistics.
    pick = np.flatnonzero(speech)[::2]
    env = dsp.envelope(x, f0[pick], t[pick])
    is_voiced = f0[pick] > 0
    env_voiced = env[is_voiced].mean(axis=0)
    env_unvoiced = env[~is_voiced].mean(axis=0) if (~is_voiced).sum() >= 10 else env_voiced.copy()
    bank = env[is_voiced]
    if len(bank) > BANK_MAX:
        bank = bank[np.linspace(0, len(bank) - 1, BANK_MAX).astype(int)]
    return Profile(
        lf0_mean,
        lf0_std,
        env_voiced,
        env_unvoiced,
        bank.astype(np.float32),
        float(voiced.sum() * dsp.HOP / dsp.FS),
        float(snr_db),
    )


def frame_power(x: np.ndarray, frames: int) -> np.ndarray:
    padded = np.concatenate([x, np.zeros(frames * dsp.HOP + dsp.HOP - len(x))]) if len(x) < (frames + 1) * dsp.HOP else x
    return np.mean(padded[: frames * dsp.HOP].reshape(frames, dsp.HOP) ** 2, axis=1) + 1e-12
