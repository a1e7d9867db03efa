"""Lip sync inside the worker: delay the faster of a body's audio and video to match the slower.

Audio and video of a body take different paths through the worker (a face model may take 40 ms a
frame, a voice model works in 10-40 ms blocks and may look ahead), so the body would leave the
worker with its voice early or late. People notice audio more than 45 ms early or 125 ms late
(ITU-R BT.1359); we aim at zero. The controller watches the recent median latency of each path
and sets a delay on the faster one: video frames are held back by a duration, audio by whole
blocks (a block is the unit audio leaves in). It moves a delay only when it is off by more than
`hysteresis_s`, because every change of the audio delay costs a block of silence or a dropped block.
"""

from __future__ import annotations

from .metrics import Window

RECOMPUTE_EVERY = 25  # audio blocks between decisions (0.25 s at 10 ms blocks)
MIN_SAMPLES = 10  # of each path before the first decision


class AvSync:
    def __init__(self, block_s: float, hysteresis_s: float = 0.015, max_delay_s: float = 0.5) -> None:
        self.block_s = block_s
        self.hysteresis_s = hysteresis_s
        self.max_delay_s = max_delay_s
        self.video_delay_s = 0.0
        self.audio_delay_blocks = 0
        self._video = Window(100)
        self._audio = Window(100)
        self._since_decision = 0

    @property
    def audio_delay_s(self) -> float:
        return self.audio_delay_blocks * self.block_s

    def note_video(self, latency_s: float) -> None:
        """Latency of one frame through the worker, before any lip-sync delay."""
        self._video.add(latency_s)

    def note_audio(self, latency_s: float) -> bool:
        """Latency of one audio block through the worker, before any lip-sync delay. True when
        this block was a decision point (every RECOMPUTE_EVERY blocks): the moment to sample the
        residual skew, rather than on every block."""
        self._audio.add(latency_s)
        self._since_decision += 1
        if self._since_decision < RECOMPUTE_EVERY:
            return False
        self._since_decision = 0
        self._decide()
        return True

    def residual_skew_s(self) -> float | None:
        """Audio minus video delay as the body leaves the worker (positive: audio late)."""
        audio, video = self._audio.percentile(50), self._video.percentile(50)
        if audio is None or video is None:
            return None
        return (audio + self.audio_delay_s) - (video + self.video_delay_s)

    def reset(self) -> None:
        """A new driver: their paths are measured afresh; the delays stay until then."""
        self._video = Window(100)
        self._audio = Window(100)
        self._since_decision = 0

    def _decide(self) -> None:
        if len(self._video) < MIN_SAMPLES or len(self._audio) < MIN_SAMPLES:
            return
        audio, video = self._audio.percentile(50), self._video.percentile(50)
        assert audio is not None and video is not None
        skew = audio - video  # positive: audio is the slower path
        wanted_video = min(max(skew, 0.0), self.max_delay_s)
        wanted_audio_blocks = round(min(max(-skew, 0.0), self.max_delay_s) / self.block_s)
        if abs(wanted_video - self.video_delay_s) > self.hysteresis_s:
            self.video_delay_s = wanted_video
        if abs(wanted_audio_blocks - self.audio_delay_blocks) * self.block_s > self.hysteresis_s:
            self.audio_delay_blocks = wanted_audio_blocks
