"""The CPU voice swap plugin (plugins/cpu-voice): contract, silence, noise, short enrollments, rates,
latency and block splicing, on the shared LibriSpeech voices."""

from __future__ import annotations

import numpy as np
import pytest
from bodyswap_api import AudioBlock, Enrollment
from bodyswap_api.conformance import SILENCE_RMS, check_plugin

from bodyswap_cpu_voice import CpuVoicePlugin
from bodyswap_cpu_voice.profile import Profile
from tests.support.media import load_voice, media_players, utterances

RATE = CpuVoicePlugin.audio_sample_rate
BLOCK = RATE * CpuVoicePlugin.audio_block_ms // 1000
LATENCY = RATE * CpuVoicePlugin.audio_latency_ms // 1000


def _reader(voice: str):
    return next(p for p in media_players() if p.voice_dir.name == voice)


@pytest.fixture(scope="module")
def plugin() -> CpuVoicePlugin:
    return CpuVoicePlugin()


@pytest.fixture(scope="module")
def female_pcm() -> np.ndarray:
    """Reader 1998 (female): three enrollment utterances, float32 at 16 kHz (~25 s)."""
    return load_voice(utterances(_reader("1998"))[:3], 16000).astype(np.float32) / 32768.0


@pytest.fixture(scope="module")
def female_profile(plugin, female_pcm) -> bytes:
    return plugin.prepare(Enrollment(voice_pcm=female_pcm, voice_sample_rate=16000))


@pytest.fixture(scope="module")
def male_speech() -> np.ndarray:
    """Reader 1688 (male), a held-out utterance, int16 at 16 kHz, cut to whole blocks (~6 s)."""
    pcm = load_voice(utterances(_reader("1688"))[7:8], 16000)[: 6 * RATE]
    return pcm[: len(pcm) // BLOCK * BLOCK]


def convert(session, pcm: np.ndarray, rate: int = RATE, block: int = BLOCK) -> np.ndarray:
    out = []
    for offset in range(0, len(pcm) - block + 1, block):
        result = session.convert_audio(AudioBlock(pcm[offset : offset + block], rate))
        assert len(result.samples) == block and result.sample_rate == rate
        out.append(result.samples)
    return np.concatenate(out)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def test_conformance_kit_passes(plugin, female_pcm):
    report = check_plugin(plugin, Enrollment(voice_pcm=female_pcm[: 8 * RATE], voice_sample_rate=RATE))
    assert report.passed, report.table()


def test_declarations_keep_latency_within_budget(plugin):
    assert plugin.swaps == {"voice"} and plugin.requirements.device == "cpu"
    assert plugin.audio_latency_ms + plugin.audio_block_ms <= 60


def test_profile_is_plain_npz_bytes_with_pitch_and_bank(female_profile):
    profile = Profile.from_bytes(female_profile)
    assert 150 < np.exp(profile.lf0_mean) < 260  # a female reader
    assert len(profile.bank) >= 200 and profile.trust > 0.5
    assert Profile.from_bytes(profile.to_bytes()).lf0_mean == pytest.approx(profile.lf0_mean)


def test_silence_stays_exact_silence(plugin, female_profile):
    session = plugin.session(None, female_profile)
    out = convert(session, np.zeros(2 * RATE, np.int16))
    assert not np.any(out)


def test_noise_stays_quiet(plugin, female_profile):
    rng = np.random.default_rng(1)
    white = rng.normal(0, 0.03 * 32768, 3 * RATE)  # about -30 dBFS
    hum = 0.05 * 32768 * np.sin(2 * np.pi * 50 * np.arange(3 * RATE) / RATE)
    for noise in (white, hum, white + hum):
        session = plugin.session(None, female_profile)
        out = convert(session, np.clip(noise, -32768, 32767).astype(np.int16))
        assert rms(out[RATE // 2 :]) < SILENCE_RMS


def test_male_to_female_speech_converts_and_lags_by_the_declared_latency(plugin, female_profile, male_speech):
    session = plugin.session(None, female_profile)
    out = convert(session, male_speech)
    assert rms(out) > 0.2 * rms(male_speech)  # speech comes out, at a comparable level
    assert np.all(np.isfinite(out))
    # The loudness envelopes line up when the output is moved back by the declared latency.
    frame = 80

    def envelope(x: np.ndarray) -> np.ndarray:
        x = x[: len(x) // frame * frame].astype(np.float64)
        return np.log(np.mean(x.reshape(-1, frame) ** 2, axis=1) + 1.0)

    a, b = envelope(male_speech), envelope(out)
    lags = range(0, 12)
    scores = [np.corrcoef(a[: len(a) - lag], b[lag:])[0, 1] for lag in lags]
    assert abs(lags[int(np.argmax(scores))] * frame - LATENCY) <= frame


def test_block_edges_carry_no_clicks(plugin, female_profile, male_speech):
    session = plugin.session(None, female_profile)
    out = convert(session, male_speech).astype(np.float64)
    jumps = np.abs(np.diff(out))
    edges = np.arange(BLOCK, len(out), BLOCK) - 1  # the step from a block's last sample to the next's first
    speaking = np.convolve(np.abs(out), np.ones(BLOCK) / BLOCK, mode="same") > 200
    at_edges = jumps[edges][speaking[edges]]
    assert len(at_edges) > 50
    # A click is a step far beyond the signal's own sample-to-sample movement around it.
    assert np.mean(at_edges) < 1.5 * np.mean(jumps[speaking[:-1]])
    assert np.max(at_edges) <= np.percentile(jumps[speaking[:-1]], 99.9)


def test_short_enrollment_gives_a_gentler_conversion(plugin, female_pcm, female_profile, male_speech):
    short = plugin.prepare(Enrollment(voice_pcm=female_pcm[: 3 * RATE], voice_sample_rate=RATE))
    assert Profile.from_bytes(short).trust < Profile.from_bytes(female_profile).trust
    out = convert(plugin.session(None, short), male_speech[: 3 * RATE])
    assert np.all(np.isfinite(out)) and rms(out) > 0
    # Nothing usable at all (a blip, or no voice): no crash, and still audio blocks out.
    for pcm in (female_pcm[:1600], np.zeros(RATE, np.float32), None):
        profile = plugin.prepare(Enrollment(voice_pcm=pcm, voice_sample_rate=RATE))
        convert(plugin.session(profile, profile), male_speech[: RATE])


def test_noisy_enrollment_is_trusted_less(plugin, female_pcm, female_profile):
    rng = np.random.default_rng(2)
    noisy = female_pcm + rng.normal(0, 0.05, len(female_pcm)).astype(np.float32)
    profile = Profile.from_bytes(plugin.prepare(Enrollment(voice_pcm=noisy, voice_sample_rate=RATE)))
    assert profile.trust < Profile.from_bytes(female_profile).trust


def test_sample_rates_enrollment_at_48k_and_blocks_at_48k(plugin, female_profile, male_speech):
    pcm48 = load_voice(utterances(_reader("1998"))[:3], 48000).astype(np.float32) / 32768.0
    profile48 = plugin.prepare(Enrollment(voice_pcm=pcm48, voice_sample_rate=48000))
    p16, p48 = Profile.from_bytes(female_profile), Profile.from_bytes(profile48)
    assert p48.lf0_mean == pytest.approx(p16.lf0_mean, abs=0.05)
    assert p48.voiced_s == pytest.approx(p16.voiced_s, rel=0.1)
    # Blocks at 48 kHz (a direct caller that skipped the worker's resampling): same length and rate out.
    speech48 = load_voice(utterances(_reader("1688"))[7:8], 48000)[: 3 * 48000]
    out = convert(plugin.session(None, profile48), speech48, rate=48000, block=480)
    assert rms(out) > 0.2 * rms(speech48)
