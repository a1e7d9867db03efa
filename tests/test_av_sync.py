"""Lip sync: the faster path is delayed to match the slower one, in steps people cannot hear."""

import pytest

from agent.av_sync import RECOMPUTE_EVERY, AvSync


def feed(sync: AvSync, video_s: float, audio_s: float, blocks: int = 4 * RECOMPUTE_EVERY) -> None:
    for i in range(blocks):
        if i % 4 == 0:  # a 25 fps frame for every four 10 ms blocks
            sync.note_video(video_s)
        sync.note_audio(audio_s)


def test_a_slow_face_model_delays_the_voice_by_whole_blocks():
    sync = AvSync(block_s=0.010)
    feed(sync, video_s=0.062, audio_s=0.004)
    assert sync.video_delay_s == 0
    assert sync.audio_delay_blocks == 6  # 58 ms -> 6 blocks of 10 ms
    assert abs(sync.residual_skew_s()) <= 0.005


def test_a_voice_model_that_looks_ahead_delays_the_video():
    sync = AvSync(block_s=0.020)
    feed(sync, video_s=0.008, audio_s=0.048)
    assert sync.audio_delay_blocks == 0
    assert sync.video_delay_s == pytest.approx(0.040)
    assert sync.residual_skew_s() == pytest.approx(0.0)


def test_small_differences_leave_the_delays_alone():
    sync = AvSync(block_s=0.010, hysteresis_s=0.015)
    feed(sync, video_s=0.012, audio_s=0.004)
    assert (sync.video_delay_s, sync.audio_delay_blocks) == (0, 0)
    assert sync.residual_skew_s() == pytest.approx(-0.008)


def test_delays_follow_a_change_and_are_capped():
    sync = AvSync(block_s=0.010, max_delay_s=0.2)
    feed(sync, video_s=0.050, audio_s=0.010)
    assert sync.audio_delay_blocks == 4
    sync.reset()
    feed(sync, video_s=0.9, audio_s=0.010)  # a stalled model must not delay the voice forever
    assert sync.audio_delay_blocks == 20


def test_nothing_is_decided_before_both_paths_are_measured():
    sync = AvSync(block_s=0.010)
    for _ in range(10 * RECOMPUTE_EVERY):
        sync.note_audio(0.2)
    assert (sync.video_delay_s, sync.audio_delay_blocks) == (0, 0)
    assert sync.residual_skew_s() is None


def test_the_skew_is_sampled_at_decision_points_only():
    sync = AvSync(block_s=0.010)
    decisions = [sync.note_audio(0.004) for _ in range(3 * RECOMPUTE_EVERY)]
    assert [i for i, decided in enumerate(decisions) if decided] == [
        RECOMPUTE_EVERY - 1,
        2 * RECOMPUTE_EVERY - 1,
        3 * RECOMPUTE_EVERY - 1,
    ]
