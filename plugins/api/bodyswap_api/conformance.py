"""The conformance kit: checks any swap plugin against the contract the worker relies on.

Plugin authors run it on their plugin, in their own tests or from the command line:

    python -m bodyswap_api.conformance myplugin

or `check_plugin(MyPlugin(), enrollment)` in a test, with a real enrollment when `prepare` needs one.

It checks the declarations, that `prepare` gives bytes, that a session keeps frame formats,
sizes, block lengths and rates, that silence stays silence, that a frame with no face still gets a
frame back, that a session keeps working after a call that raised (the worker loses one frame to
an exception, never the session), that a batching plugin returns one frame per session in order,
and it reports the conversion time per frame and per block (p50 / p95).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .media import AudioBlock, VideoFrame, i420_size
from .plugin import Enrollment, SwapPlugin
from .registry import load_plugin

VALID_RATES = (8000, 16000, 24000, 32000, 44100, 48000)
SILENCE_RMS = 30.0  # int16 units: about -60 dBFS


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class ConformanceReport:
    plugin: str
    checks: list[Check] = field(default_factory=list)
    video_ms: list[float] = field(default_factory=list)
    audio_ms: list[float] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def table(self) -> str:
        lines = [f"conformance of swap plugin {self.plugin!r}", "", "| check | result | detail |", "|---|---|---|"]
        lines += [f"| {c.name} | {'pass' if c.passed else 'FAIL'} | {c.detail} |" for c in self.checks]
        for label, samples in (("video ms per frame", self.video_ms), ("audio ms per block", self.audio_ms)):
            if samples:
                p50, p95 = np.percentile(samples, [50, 95])
                lines.append(f"| {label} | p50 {p50:.2f} / p95 {p95:.2f} | {len(samples)} calls |")
        return "\n".join(lines)


def no_face_frame(width: int, height: int, fmt: str, index: int) -> VideoFrame:
    """A moving gradient with no face in it: what a camera sees when the player steps away."""
    y, x = np.mgrid[0:height, 0:width]
    luma = ((x + y + 4 * index) % 256).astype(np.uint8)
    if fmt == "rgb24":
        return VideoFrame(width, height, "rgb24", np.stack([luma, luma[::-1], luma[:, ::-1]], axis=-1))
    data = np.full(i420_size(width, height), 128, np.uint8)
    data[: width * height] = luma.reshape(-1)
    return VideoFrame(width, height, "i420", data)


def tone(rate: int, samples: int, offset: int) -> np.ndarray:
    t = (np.arange(samples) + offset) / rate
    return (8000 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.int16)


def check_plugin(
    plugin: SwapPlugin,
    enrollment: Enrollment | None = None,
    *,
    frames: int = 30,
    size: tuple[int, int] = (512, 512),
    audio_seconds: float = 2.0,
) -> ConformanceReport:
    report = ConformanceReport(getattr(plugin, "name", type(plugin).__name__))
    check = report.checks.append

    swaps = set(getattr(plugin, "swaps", ()))
    check(Check("declares a name", isinstance(getattr(plugin, "name", None), str) and bool(plugin.name)))
    check(Check("swaps video and/or voice", bool(swaps) and swaps <= {"video", "voice"}, str(sorted(swaps))))
    check(Check("requirements", plugin.requirements.device in ("cpu", "gpu"), repr(plugin.requirements)))
    check(Check("video format", plugin.video_format in ("i420", "rgb24"), plugin.video_format))
    rate, block_ms = plugin.audio_sample_rate, plugin.audio_block_ms
    block = rate * block_ms // 1000
    check(
        Check(
            "audio rate and block",
            rate in VALID_RATES and 5 <= block_ms <= 60 and block * 1000 == rate * block_ms,
            f"{rate} Hz, {block_ms} ms",
        )
    )
    latency_ms = plugin.audio_latency_ms
    check(Check("audio latency", isinstance(latency_ms, int) and 0 <= latency_ms <= 500, f"{latency_ms} ms"))

    try:
        profile = plugin.prepare(enrollment or Enrollment())
        check(Check("prepare returns bytes", isinstance(profile, bytes), f"{len(profile)} bytes"))
    except Exception as e:  # noqa: BLE001 - the kit reports whatever the plugin raises
        check(Check("prepare returns bytes", False, f"raised {e!r}"))
        return report

    session = plugin.session(profile, profile)
    try:
        if "video" in swaps:
            _check_video(session, plugin, report, frames, size)
            _check_recovery(session, plugin, report, size)
        if "voice" in swaps:
            _check_audio(session, rate, block, report, audio_seconds)
    finally:
        session.close()
    if "video" in swaps and plugin.batches_video:
        _check_batch(plugin, profile, report, size)
    return report


def _check_recovery(session, plugin: SwapPlugin, report: ConformanceReport, size) -> None:
    """A frame the session cannot take (an odd size mid-stream) may raise; the next must convert."""
    width, height = size
    try:
        session.convert_video(no_face_frame(width // 2 + 1, height // 3 + 1, plugin.video_format, 0))
    except Exception:  # noqa: BLE001 - raising here is allowed; breaking the session is not
        pass
    try:
        out = session.convert_video(no_face_frame(width, height, plugin.video_format, 1))
        passed, detail = isinstance(out, VideoFrame), f"then {out.width}x{out.height}"
    except Exception as e:  # noqa: BLE001
        passed, detail = False, f"next frame raised {e!r}"
    report.checks.append(Check("a session survives a call that raised", passed, detail))


def _check_batch(plugin: SwapPlugin, profile: bytes, report: ConformanceReport, size) -> None:
    width, height = size
    sessions = [plugin.session(profile, profile) for _ in range(3)]
    try:
        items = [(s, no_face_frame(width, height, plugin.video_format, i)) for i, s in enumerate(sessions)]
        outs = plugin.convert_video_batch(items)
        passed = len(outs) == len(items) and all(isinstance(o, VideoFrame) for o in outs)
        detail = f"{len(outs)} frames for {len(items)} sessions"
    except Exception as e:  # noqa: BLE001
        passed, detail = False, f"raised {e!r}"
    finally:
        for s in sessions:
            s.close()
    report.checks.append(Check("a batch gives one frame per session", passed, detail))


def _check_video(session, plugin: SwapPlugin, report: ConformanceReport, frames: int, size) -> None:
    width, height = size
    shapes, errors = set(), []
    for index in range(frames):
        frame = no_face_frame(width, height, plugin.video_format, index)
        start = time.perf_counter()
        try:
            out = session.convert_video(frame)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
            continue
        report.video_ms.append((time.perf_counter() - start) * 1000)
        if not isinstance(out, VideoFrame):
            errors.append(f"returned {type(out).__name__}")
            continue
        shapes.add((out.width, out.height, out.format))
    report.checks.append(
        Check("a frame with no face gets a frame back", not errors, errors[0] if errors else f"{frames} frames")
    )
    report.checks.append(
        Check("output size and format are stable", len(shapes) == 1, ", ".join(map(str, sorted(shapes))))
    )


def _check_audio(session, rate: int, block: int, report: ConformanceReport, seconds: float) -> None:
    blocks = int(seconds * rate / block)
    lengths_ok, rates_ok, errors, silent_out = True, True, [], []
    for index in range(blocks):
        # First half a tone, second half silence: silence must stay silence once the tail is out.
        speaking = index < blocks // 2
        samples = tone(rate, block, index * block) if speaking else np.zeros(block, np.int16)
        start = time.perf_counter()
        try:
            out = session.convert_audio(AudioBlock(samples, rate))
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
            continue
        report.audio_ms.append((time.perf_counter() - start) * 1000)
        lengths_ok &= len(out.samples) == block
        rates_ok &= out.sample_rate == rate
        if index >= blocks * 3 // 4:  # well after the speech ended
            silent_out.append(out.samples)
    report.checks.append(Check("audio blocks convert without errors", not errors, errors[0] if errors else f"{blocks} blocks"))
    report.checks.append(Check("a block in gives a block of the same length out", lengths_ok))
    report.checks.append(Check("output keeps the declared rate", rates_ok))
    tail = np.concatenate(silent_out) if silent_out else np.zeros(1, np.int16)
    tail_rms = float(np.sqrt(np.mean(tail.astype(np.float64) ** 2)))
    report.checks.append(Check("silence stays silence", tail_rms < SILENCE_RMS, f"rms {tail_rms:.1f}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bodyswap_api.conformance", description=__doc__.splitlines()[0])
    parser.add_argument("plugin", help="name of an installed plugin (entry point group bodyswap.plugins)")
    parser.add_argument("--frames", type=int, default=30)
    args = parser.parse_args(argv)
    report = check_plugin(load_plugin(args.plugin), frames=args.frames)
    print(report.table())
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
