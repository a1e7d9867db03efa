"""Fake webcams and microphones for headless Chromium, made from the shared test media.

Chromium reads a camera from a .y4m file (--use-file-for-fake-video-capture) and a microphone from
a .wav file (--use-file-for-fake-audio-capture), looping both. For each test player of
../shared/media/players.json this writes <id>.y4m (the player's clip, scaled into a small 4:3 frame
with grey side bars, at a low frame rate so three browsers fit on a laptop) and <id>.wav (the
player's reader, 48 kHz mono). Generated files go under an ignored folder, never into the repo.

    .venv/bin/python -m scripts.browser_media --out .run/browser-media --players 3
"""

from __future__ import annotations

import argparse
import json
import wave
from pathlib import Path

import av
import numpy as np

from tests.support.media import load_voice, media_players, utterances

GREY = 128


def write_y4m(video: Path, out: Path, width: int, height: int, fps: int, seconds: float) -> None:
    """The clip's first `seconds`, resampled to `fps`, fitted (aspect kept) into width x height."""
    frames: list[np.ndarray] = []
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        source_fps = float(stream.average_rate or 25)
        side = min(width, height)
        for index, frame in enumerate(container.decode(stream)):
            if index / source_fps >= seconds:
                break
            if len(frames) < int(index / source_fps * fps) + 1:
                rgb = frame.to_ndarray(format="rgb24", width=side, height=side)
                canvas = np.full((height, width, 3), GREY, np.uint8)
                left, top = (width - side) // 2, (height - side) // 2
                canvas[top : top + side, left : left + side] = rgb
                i420 = av.VideoFrame.from_ndarray(canvas, format="rgb24").reformat(format="yuv420p")
                frames.append(i420.to_ndarray().reshape(-1))
    with out.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1\n".encode())
        for data in frames:
            f.write(b"FRAME\n")
            f.write(data.tobytes())


def write_wav(files: list[Path], out: Path, rate: int = 48000) -> None:
    pcm = load_voice(files, sample_rate=rate)
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def make(out: Path, players: int, width: int, height: int, fps: int, seconds: float) -> list[dict]:
    """Write the files (skipping ones already made with the same settings); return what was made."""
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for player in media_players()[:players]:
        stamp = out / f"{player.id}.json"
        wanted = {"video": str(player.video), "width": width, "height": height, "fps": fps, "seconds": seconds}
        y4m, wav = out / f"{player.id}.y4m", out / f"{player.id}.wav"
        if not (stamp.exists() and json.loads(stamp.read_text()) == wanted and y4m.exists() and wav.exists()):
            write_y4m(player.video, y4m, width, height, fps, seconds)
            write_wav(utterances(player), wav)
            stamp.write_text(json.dumps(wanted))
        made.append({"id": player.id, "y4m": str(y4m.resolve()), "wav": str(wav.resolve())})
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".run/browser-media"))
    parser.add_argument("--players", type=int, default=3)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    for item in make(args.out, args.players, args.width, args.height, args.fps, args.seconds):
        print(item["y4m"], item["wav"])


if __name__ == "__main__":
    main()
