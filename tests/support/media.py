"""Real faces and voices from ../shared/media, decoded for test players."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from .livekit_server import REPO_ROOT

MEDIA_DIR = Path(os.environ.get("BODYSWAP_MEDIA_DIR", REPO_ROOT.parent / "shared" / "media"))


@dataclass
class Clip:
    width: int
    height: int
    fps: float
    frames: list[np.ndarray]  # flat I420 bytes per frame

    def luma(self, index: int) -> np.ndarray:
        return self.frames[index][: self.width * self.height].reshape(self.height, self.width)


@dataclass(frozen=True)
class MediaPlayer:
    id: str
    video: Path
    voice_dir: Path
    enroll_utterances: int


def media_players() -> list[MediaPlayer]:
    path = MEDIA_DIR / "players.json"
    if not path.exists():
        raise FileNotFoundError(f"test media not found at {MEDIA_DIR} (set BODYSWAP_MEDIA_DIR)")
    players = json.loads(path.read_text())["players"]
    return [
        MediaPlayer(p["id"], MEDIA_DIR / p["video"], MEDIA_DIR / p["voice"], p["enroll_utterances"])
        for p in players
    ]


def load_clip(path: Path, max_seconds: float, size: int | None = None) -> Clip:
    """The clip's first seconds as I420, scaled to size x size when given (cheaper to encode)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        width, height = (size, size) if size else (stream.codec_context.width, stream.codec_context.height)
        frames = []
        for frame in container.decode(stream):
            if len(frames) >= max_seconds * fps:
                break
            scaled = frame.reformat(width=width, height=height, format="yuv420p")
            frames.append(scaled.to_ndarray().reshape(-1).copy())
        return Clip(width, height, fps, frames)


def load_voice(files: list[Path], sample_rate: int = 48000) -> np.ndarray:
    """Concatenate recordings as mono int16 at `sample_rate`."""
    chunks = []
    for path in files:
        with av.open(str(path)) as container:
            resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.int16)


def utterances(player: MediaPlayer) -> list[Path]:
    return sorted(player.voice_dir.glob("*.flac"))


def i420_to_rgb(i420: np.ndarray, width: int, height: int) -> np.ndarray:
    frame = av.VideoFrame.from_ndarray(i420.reshape(height * 3 // 2, width), format="yuv420p")
    return frame.to_ndarray(format="rgb24")


def enrollment_upload(player: MediaPlayer, clip: Clip) -> tuple[bytes, bytes]:
    """What a player uploads: a JPEG of their camera at 0.5 s, and their first utterances as WAV."""
    import io
    import wave

    from PIL import Image

    rgb = i420_to_rgb(clip.frames[int(0.5 * clip.fps)], clip.width, clip.height)
    photo = io.BytesIO()
    Image.fromarray(rgb).save(photo, "JPEG", quality=90)
    pcm = load_voice(utterances(player)[: player.enroll_utterances], sample_rate=48000)
    voice = io.BytesIO()
    with wave.open(voice, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(pcm.tobytes())
    return photo.getvalue(), voice.getvalue()
