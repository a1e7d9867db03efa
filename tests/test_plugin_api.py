"""The swap plugin API: media types check their shapes, plugins are found by entry point."""

import numpy as np
import pytest
from bodyswap_api import (
    AudioBlock,
    Enrollment,
    PluginNotFoundError,
    SwapPlugin,
    VideoFrame,
    available_plugins,
    i420_size,
    load_plugin,
)


def i420_frame(width: int, height: int, luma: int = 90) -> VideoFrame:
    data = np.full(i420_size(width, height), 128, np.uint8)
    data[: width * height] = luma
    return VideoFrame(width, height, "i420", data)


def test_passthrough_is_installed_and_found_by_its_entry_point():
    assert "passthrough" in available_plugins()
    plugin = load_plugin("passthrough")
    assert isinstance(plugin, SwapPlugin)
    assert plugin.swaps == {"video", "voice"}


def test_unknown_plugin_names_the_installed_ones():
    with pytest.raises(PluginNotFoundError, match="passthrough"):
        load_plugin("no-such-plugin")


def test_passthrough_session_returns_its_input_unchanged():
    plugin = load_plugin("passthrough")
    session = plugin.session(None, plugin.prepare(Enrollment()))
    frame = i420_frame(64, 48)
    block = AudioBlock(np.arange(480, dtype=np.int16), 48000)
    assert session.convert_video(frame) is frame
    assert session.convert_audio(block) is block
    session.close()


def test_video_frame_rejects_data_of_the_wrong_shape_or_type():
    with pytest.raises(ValueError, match="needs shape"):
        VideoFrame(64, 48, "i420", np.zeros(64 * 48, np.uint8))
    with pytest.raises(ValueError, match="needs shape"):
        VideoFrame(64, 48, "rgb24", np.zeros((64, 48, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        VideoFrame(64, 48, "rgb24", np.zeros((48, 64, 3), np.float32))


def test_luma_of_rgb_and_i420_agree_on_grey():
    grey_rgb = VideoFrame(8, 8, "rgb24", np.full((8, 8, 3), 128, np.uint8))
    assert abs(int(grey_rgb.luma()[0, 0]) - 126) <= 1  # BT.601 studio range
    assert i420_frame(8, 8, luma=126).luma().shape == (8, 8)


def test_i420_size_rounds_chroma_up_for_odd_sizes():
    assert i420_size(4, 4) == 16 + 2 * 4
    assert i420_size(5, 3) == 15 + 2 * (3 * 2)


def test_audio_block_must_be_mono_int16():
    with pytest.raises(ValueError):
        AudioBlock(np.zeros((480, 2), np.int16), 48000)
    with pytest.raises(ValueError):
        AudioBlock(np.zeros(480, np.float32), 48000)
    assert AudioBlock(np.zeros(480, np.int16), 48000).duration_s == pytest.approx(0.01)


def test_two_plugins_joined_with_a_plus_run_as_one_each_on_its_own_media():
    import numpy as np
    from bodyswap_api import AudioBlock, Enrollment, SwapPlugin, SwapSession, VideoFrame, load_plugin, plugin_available
    from bodyswap_api.compose import CombinedPlugin, unpack
    from bodyswap_api.conformance import check_plugin

    class Face(SwapPlugin):
        name, swaps, video_format = "face", frozenset({"video"}), "rgb24"

        def prepare(self, enrollment):
            return b"face-profile"

        def session(self, source, target):
            assert target == b"face-profile" and source in (None, b"face-profile")

            class Session(SwapSession):
                def convert_video(self, frame):
                    return VideoFrame(frame.width, frame.height, "rgb24", 255 - frame.data)

            return Session()

    class Voice(SwapPlugin):
        name, swaps, audio_sample_rate, audio_block_ms, audio_latency_ms = "voice", frozenset({"voice"}), 16000, 20, 40

        def prepare(self, enrollment):
            return b"voice"

        def session(self, source, target):
            assert target == b"voice"

            class Session(SwapSession):
                def convert_audio(self, block):
                    return AudioBlock((block.samples // 2).astype(np.int16), block.sample_rate)

            return Session()

    both = CombinedPlugin(Face(), Voice())
    assert both.name == "face+voice" and both.swaps == {"video", "voice"}
    assert (both.video_format, both.audio_sample_rate, both.audio_block_ms, both.audio_latency_ms) == ("rgb24", 16000, 20, 40)
    profile = both.prepare(Enrollment())
    assert unpack(profile, 2) == [b"face-profile", b"voice"]
    session = both.session(None, profile)
    frame = session.convert_video(VideoFrame(2, 2, "rgb24", np.zeros((2, 2, 3), np.uint8)))
    assert frame.data.max() == 255
    assert session.convert_audio(AudioBlock(np.full(320, 100, np.int16), 16000)).samples[0] == 50
    assert check_plugin(both, frames=2, size=(64, 48)).passed
    with pytest.raises(ValueError):
        CombinedPlugin(Voice(), Face())  # video first, voice second
    with pytest.raises(ValueError):
        both.session(None, profile[:-1])  # a truncated profile is refused, not misread

    assert plugin_available("passthrough+passthrough") and not plugin_available("passthrough+nope")
    assert not plugin_available("passthrough+passthrough+passthrough")
    assert load_plugin("passthrough+passthrough").name == "passthrough+passthrough"
