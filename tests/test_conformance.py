"""The plugin conformance kit passes a correct plugin and names what a broken one gets wrong."""

import numpy as np
import pytest
from bodyswap_api import AudioBlock, Enrollment, SwapPlugin, SwapSession, VideoFrame, load_plugin
from bodyswap_api.conformance import check_plugin, main


def failed(report) -> set[str]:
    return {check.name for check in report.failures()}


def test_passthrough_conforms_and_reports_its_timings():
    report = check_plugin(load_plugin("passthrough"), frames=5, size=(64, 48))
    assert report.passed, report.table()
    assert len(report.video_ms) == 5 and len(report.audio_ms) == 200
    assert "p50" in report.table()


def test_the_command_exits_nonzero_only_on_failure(capsys):
    assert main(["passthrough", "--frames", "3"]) == 0
    assert "silence stays silence | pass" in capsys.readouterr().out


class Broken(SwapPlugin):
    name = "broken"
    swaps = frozenset({"video", "voice"})

    def __init__(self, session: SwapSession) -> None:
        self._session = session

    def prepare(self, enrollment: Enrollment) -> bytes:
        return b""

    def session(self, source, target) -> SwapSession:
        return self._session


class GrowingFrames(SwapSession):
    def __init__(self) -> None:
        self.calls = 0

    def convert_video(self, frame: VideoFrame) -> VideoFrame:
        self.calls += 1
        size = 32 + 2 * self.calls
        return VideoFrame(size, size, "rgb24", np.zeros((size, size, 3), np.uint8))

    def convert_audio(self, block: AudioBlock) -> AudioBlock:
        return block


class NoisyAndShort(SwapSession):
    def convert_video(self, frame: VideoFrame) -> VideoFrame:
        raise RuntimeError("no face")

    def convert_audio(self, block: AudioBlock) -> AudioBlock:
        noise = np.random.default_rng(0).integers(-3000, 3000, len(block.samples) - 1).astype(np.int16)
        return AudioBlock(noise, block.sample_rate)


def test_unstable_frame_sizes_are_reported():
    report = check_plugin(Broken(GrowingFrames()), frames=4, size=(64, 48))
    assert failed(report) == {"output size and format are stable"}


def test_raising_on_no_face_noise_on_silence_and_short_blocks_are_reported():
    report = check_plugin(Broken(NoisyAndShort()), frames=2, size=(64, 48))
    assert failed(report) == {
        "a frame with no face gets a frame back",
        "output size and format are stable",  # nothing came out to compare
        "a session survives a call that raised",
        "a block in gives a block of the same length out",
        "silence stays silence",
    }


def test_a_prepare_that_raises_stops_the_check_with_its_error():
    class NeedsAPhoto(Broken):
        def prepare(self, enrollment: Enrollment) -> bytes:
            raise ValueError("no photo")

    report = check_plugin(NeedsAPhoto(GrowingFrames()))
    assert not report.passed
    assert "no photo" in report.failures()[0].detail


@pytest.mark.parametrize("rate, block_ms", [(44000, 10), (48000, 3)])
def test_bad_audio_declarations_are_reported(rate, block_ms):
    class OddAudio(Broken):
        audio_sample_rate = rate
        audio_block_ms = block_ms

    assert "audio rate and block" in failed(check_plugin(OddAudio(GrowingFrames()), frames=1))


class BreaksAfterARaise(SwapSession):
    """Raises on a frame size it did not start with, and never recovers: what the worker must not get."""

    def __init__(self) -> None:
        self.size: tuple[int, int] | None = None
        self.broken = False

    def convert_video(self, frame: VideoFrame) -> VideoFrame:
        if self.broken:
            raise RuntimeError("session is dead")
        self.size = self.size or (frame.width, frame.height)
        if (frame.width, frame.height) != self.size:
            self.broken = True
            raise ValueError("size changed")
        return frame

    def convert_audio(self, block: AudioBlock) -> AudioBlock:
        return block


def test_a_session_that_dies_after_one_exception_is_reported():
    report = check_plugin(Broken(BreaksAfterARaise()), frames=2, size=(64, 48))
    assert failed(report) == {"a session survives a call that raised"}
    assert "session is dead" in report.failures()[0].detail


def test_a_batching_plugin_must_return_one_frame_per_session():
    class LosesFrames(Broken):
        batches_video = True

        def convert_video_batch(self, items):
            return [frame for _, frame in items][:-1]

    class Batches(Broken):
        batches_video = True

    assert failed(check_plugin(LosesFrames(GrowingFrames()), frames=1, size=(64, 48))) == {
        "a batch gives one frame per session"
    }
    passing = check_plugin(Batches(PassthroughSession()), frames=2, size=(64, 48))
    assert passing.passed, passing.table()
    assert "3 frames for 3 sessions" in passing.table()


class PassthroughSession(SwapSession):
    def convert_video(self, frame: VideoFrame) -> VideoFrame:
        return frame

    def convert_audio(self, block: AudioBlock) -> AudioBlock:
        return block
