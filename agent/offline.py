"""Run any swap plugin offline on files, one frame and one block at a time as the worker does.

    python -m agent.offline video --plugin NAME --target photo.jpg --driver clip.mp4 --out body.mp4
    python -m agent.offline voice --plugin NAME --target enroll.wav --source speech.wav --out body.wav

Plugin authors and the quality scripts use it. Like the worker, it prepares the target profile once
and then calls the session with every frame (in the plugin's format) and every audio block (at the
plugin's rate and block size). Unlike the worker it drops no frames (files are not real time), and
PyAV resamples the audio where the worker uses libwebrtc's resampler.
"""

from __future__ import annotations

import argparse
import sys
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from bodyswap_api import AudioBlock, Enrollment, SwapPlugin, VideoFrame, load_plugin

ENROLLMENT_RATE = 16000  # what the room service hands `prepare`


@dataclass
class OfflineRun:
    items: int  # frames or blocks converted
    convert_ms: list[float]

    def summary(self, unit: str) -> str:
        p50, p95 = np.percentile(self.convert_ms, [50, 95]) if self.convert_ms else (0.0, 0.0)
        return f"{self.items} {unit}, convert p50 {p50:.2f} ms, p95 {p95:.2f} ms"


def read_photo(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def read_audio(path: Path, rate: int) -> np.ndarray:
    """Mono int16 at `rate`."""
    chunks = []
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        for frame in container.decode(audio=0):
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, np.int16)


def swap_video(
    plugin: SwapPlugin, target_photo: np.ndarray, driver: Path, out: Path, max_seconds: float | None = None
) -> OfflineRun:
    session = plugin.session(None, plugin.prepare(Enrollment(photo_rgb=target_photo)))
    pixel_format = "rgb24" if plugin.video_format == "rgb24" else "yuv420p"
    run = OfflineRun(0, [])
    with av.open(str(driver)) as source, av.open(str(out), "w") as sink:
        stream_in = source.streams.video[0]
        rate = stream_in.average_rate or 25
        stream_out = None
        for decoded in source.decode(stream_in):
            if max_seconds is not None and run.items >= max_seconds * float(rate):
                break
            data = decoded.to_ndarray(format=pixel_format)
            if plugin.video_format == "i420":
                data = data.reshape(-1)
            frame = VideoFrame(decoded.width, decoded.height, plugin.video_format, data, int(run.items * 1e6 / rate))
            start = time.perf_counter()
            converted = session.convert_video(frame)
            run.convert_ms.append((time.perf_counter() - start) * 1000)
            if stream_out is None:  # the body's size is whatever the plugin makes of the first frame
                stream_out = sink.add_stream("libx264", rate=rate)
                stream_out.width, stream_out.height = converted.width, converted.height
                stream_out.pix_fmt = "yuv420p"
                stream_out.options = {"crf": "18", "preset": "veryfast"}
            for packet in stream_out.encode(to_av_frame(converted)):
                sink.mux(packet)
            run.items += 1
        if stream_out is not None:
            for packet in stream_out.encode(None):
                sink.mux(packet)
    session.close()
    return run


def to_av_frame(frame: VideoFrame) -> av.VideoFrame:
    if frame.format == "rgb24":
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(frame.data), format="rgb24")
    planar = frame.data.reshape(frame.height * 3 // 2, frame.width)
    return av.VideoFrame.from_ndarray(planar, format="yuv420p")


def swap_voice(plugin: SwapPlugin, target_voice: Path, source: Path, out: Path) -> OfflineRun:
    enrollment_pcm = read_audio(target_voice, ENROLLMENT_RATE).astype(np.float32) / 32768.0
    session = plugin.session(
        None, plugin.prepare(Enrollment(voice_pcm=enrollment_pcm, voice_sample_rate=ENROLLMENT_RATE))
    )
    rate = plugin.audio_sample_rate
    block = rate * plugin.audio_block_ms // 1000
    pcm = read_audio(source, rate)
    pcm = np.concatenate([pcm, np.zeros(-len(pcm) % block, np.int16)])  # whole blocks, as streamed
    run, converted = OfflineRun(0, []), []
    for offset in range(0, len(pcm), block):
        start = time.perf_counter()
        result = session.convert_audio(AudioBlock(pcm[offset : offset + block], rate))
        run.convert_ms.append((time.perf_counter() - start) * 1000)
        converted.append(result.samples)
        run.items += 1
    session.close()
    with wave.open(str(out), "wb") as sink:
        sink.setnchannels(1)
        sink.setsampwidth(2)
        sink.setframerate(rate)
        sink.writeframes(np.concatenate(converted).tobytes() if converted else b"")
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.offline", description=__doc__.splitlines()[0])
    kinds = parser.add_subparsers(dest="kind", required=True)
    video = kinds.add_parser("video", help="a driver clip and a target photo in, an MP4 out")
    video.add_argument("--driver", type=Path, required=True)
    video.add_argument("--max-seconds", type=float)
    voice = kinds.add_parser("voice", help="a source recording and a target's enrollment in, a WAV out")
    voice.add_argument("--source", type=Path, required=True)
    for sub in (video, voice):
        sub.add_argument("--plugin", required=True)
        sub.add_argument("--target", type=Path, required=True, help="the target's photo / enrollment recording")
        sub.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    plugin = load_plugin(args.plugin)
    if args.kind == "video":
        run = swap_video(plugin, read_photo(args.target), args.driver, args.out, args.max_seconds)
        print(f"{args.out}: {run.summary('frames')}")
    else:
        run = swap_voice(plugin, args.target, args.source, args.out)
        print(f"{args.out}: {run.summary('blocks')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
