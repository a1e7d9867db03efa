"""Decode an uploaded voice recording and check that it holds enough clear speech."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

import av
import numpy as np

from .errors import EnrollmentError
from .vad import FRAME_SAMPLES, FRAME_SECONDS, VAD_SAMPLE_RATE, speech_detector

MAX_VOICE_BYTES = 25 * 1024 * 1024  # enforced by the HTTP layer, before the body is read
VOICE_SAMPLE_RATE = VAD_SAMPLE_RATE
MIN_DURATION_S = 30.0
MAX_DURATION_S = 150.0
MIN_SPEECH_S = 20.0  # detected speech: read speech measures 66-84% voiced, ~20 s of the 30 s
# RMS of the speech frames. Read speech from a laptop or phone lands around -30 to -20 dBFS
# (the LibriSpeech readers: -33 to -21); below -40 dBFS the speaker is far away or muted.
MIN_SPEECH_LEVEL_DBFS = -40.0
CLIPPED_SAMPLE = 0.98  # |sample| at which we count it as clipped (codecs ring around full scale)
MAX_CLIPPED_FRACTION = 0.005  # of the speech samples

VoiceFormat = Literal["wav", "webm", "ogg"]
# The demuxer each sniffed format is opened with, and the codecs accepted inside it.
_DEMUXERS: dict[VoiceFormat, str] = {"wav": "wav", "webm": "matroska", "ogg": "ogg"}
_CODECS: dict[VoiceFormat, frozenset[str]] = {
    "webm": frozenset({"opus", "vorbis"}),
    "ogg": frozenset({"opus", "vorbis"}),
}

_UNSUPPORTED = "The recording must be WAV, WebM or Ogg audio; please record it again."
_UNREADABLE = "We could not read the recording; it may be damaged. Please record it again."


@dataclass(frozen=True)
class VoiceCheck:
    pcm: np.ndarray  # mono float32 at VOICE_SAMPLE_RATE
    duration_s: float
    speech_seconds: float
    level_dbfs: float  # RMS of the speech frames


def sniff_voice_format(data: bytes) -> VoiceFormat | None:
    """The container the bytes themselves announce; declared content types are not trusted."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data.startswith(b"\x1a\x45\xdf\xa3"):  # EBML, the header of Matroska and WebM
        return "webm"
    if data.startswith(b"OggS"):
        return "ogg"
    return None


def decode_voice(data: bytes) -> np.ndarray:
    """Mono float32 PCM at 16 kHz. Stops decoding as soon as the recording is too long,
    so a small file of highly compressed silence cannot make us decode hours."""
    voice_format = sniff_voice_format(data)
    if voice_format is None:
        raise EnrollmentError("unsupported_audio", _UNSUPPORTED)
    max_samples = int(MAX_DURATION_S * VOICE_SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    sample_count = 0
    try:
        with av.open(io.BytesIO(data), format=_DEMUXERS[voice_format]) as container:
            if not container.streams.audio:
                raise EnrollmentError("unsupported_audio", _UNSUPPORTED)
            stream = container.streams.audio[0]
            if not _codec_accepted(voice_format, stream.codec_context.name):
                raise EnrollmentError("unsupported_audio", _UNSUPPORTED)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=VOICE_SAMPLE_RATE)
            for frame in container.decode(stream):
                for resampled in resampler.resample(frame):
                    chunks.append(resampled.to_ndarray().reshape(-1))
                    sample_count += chunks[-1].size
                if sample_count > max_samples:
                    raise EnrollmentError("too_long", _too_long_message())
            chunks.extend(rest.to_ndarray().reshape(-1) for rest in resampler.resample(None))
    except av.FFmpegError as error:
        raise EnrollmentError("unsupported_audio", _UNREADABLE) from error
    if not chunks:
        raise EnrollmentError("unsupported_audio", _UNREADABLE)
    return np.concatenate(chunks).astype(np.float32, copy=False)


def _codec_accepted(voice_format: VoiceFormat, codec: str) -> bool:
    if voice_format == "wav":
        return codec.startswith("pcm_")  # WAV may also wrap MP3 or ADPCM: not from a browser
    return codec in _CODECS[voice_format]


def check_voice(pcm: np.ndarray) -> VoiceCheck:
    """Check a decoded recording: its length, then level, clipping and amount of speech."""
    duration_s = pcm.size / VOICE_SAMPLE_RATE
    if duration_s < MIN_DURATION_S:
        raise EnrollmentError(
            "too_short",
            f"The recording is only {int(duration_s)} s long; "
            f"please read the script for at least {MIN_DURATION_S:.0f} s.",
        )
    if duration_s > MAX_DURATION_S:
        raise EnrollmentError("too_long", _too_long_message())

    speaking = speech_detector().speech_frames(pcm)
    speech_seconds = float(speaking.sum() * FRAME_SECONDS)
    # Samples of the speech frames, or of everything when none was heard (a muted microphone).
    speech = _frames_where(pcm, speaking) if speaking.any() else pcm
    level_dbfs = _rms_dbfs(speech)
    if level_dbfs < MIN_SPEECH_LEVEL_DBFS:
        raise EnrollmentError(
            "too_quiet", "The recording is too quiet; move closer to the microphone."
        )
    if np.mean(np.abs(speech) >= CLIPPED_SAMPLE) > MAX_CLIPPED_FRACTION:
        raise EnrollmentError(
            "too_loud",
            "The recording is distorted because it is too loud; "
            "move back from the microphone or turn its volume down.",
        )
    if speech_seconds < MIN_SPEECH_S:
        raise EnrollmentError(
            "not_enough_speech",
            f"We heard only {int(speech_seconds)} s of speech; "
            f"please read the script aloud for at least {MIN_SPEECH_S:.0f} s.",
        )
    return VoiceCheck(pcm, duration_s, speech_seconds, level_dbfs)


def validate_voice(data: bytes) -> VoiceCheck:
    return check_voice(decode_voice(data))


def _frames_where(pcm: np.ndarray, mask: np.ndarray) -> np.ndarray:
    padded = np.zeros(mask.size * FRAME_SAMPLES, dtype=np.float32)
    padded[: pcm.size] = pcm
    return padded.reshape(mask.size, FRAME_SAMPLES)[mask].reshape(-1)


def _rms_dbfs(samples: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20.0 * np.log10(max(rms, 1e-10))


def _too_long_message() -> str:
    limit = f"{MAX_DURATION_S:.0f} s"
    return f"The recording is over {limit} long; please keep it under {limit}."
