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
