"""A test player: a Python rtc client that publishes a clip and a voice as its camera and
microphone into its ingest room, and records every body it receives in the game room."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import numpy as np
from livekit import rtc

from .analysis import thumbnail
from .media import Clip

AUDIO_RATE = 48000
AUDIO_BLOCK = AUDIO_RATE // 100  # 10 ms
CAMERA_FPS = 15.0  # what a webcam gives in dim light; also keeps 2 cores from saturating


@dataclass
class BodyRecording:
    """What a player received from one body participant."""

    identity: str
    name: str
    resolutions: list[tuple[int, int]] = field(default_factory=list)
    thumbnails: list[np.ndarray] = field(default_factory=list)
    audio: list[np.ndarray] = field(default_factory=list)

    def audio_samples(self) -> np.ndarray:
        return self.audio_of(self.audio)

    @staticmethod
    def audio_of(frames: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(frames) if frames else np.zeros(0, np.int16)

    def frozen(self) -> BodyRecording:
        """A copy that stops growing. Analyse copies taken at one moment: the analysis blocks the
        event loop, which stalls the test players' own microphones and fills what is received
        afterwards with silence that no real player would send."""
        return BodyRecording(self.identity, self.name, list(self.resolutions), list(self.thumbnails), list(self.audio))


class TestPlayer:
    __test__ = False  # not a pytest class

    def __init__(self, name: str, grant: dict, clip: Clip, voice: np.ndarray) -> None:
        self.name = name
        self.grant = grant
        self.clip = clip
        self.voice = voice
        self.ingest = rtc.Room()
        self.game = rtc.Room()
        self.bodies: dict[str, BodyRecording] = {}
        self.wearing: dict | None = None  # the body this player wears, told privately
        self._tasks: list[asyncio.Task] = []
        self._publishing: list[asyncio.Task] = []  # feeding the camera and microphone
        self._watched: set[str] = set()
        self.speakers: set[str] = set()  # every identity LiveKit ever named as an active speaker

    async def join(self) -> None:
        """Connect to both rooms. Bodies are received only once `watch` names them: decoding
        every body in every test player would overload a 2-core machine."""
        await self.ingest.connect(self.grant["livekit_url"], self.grant["ingest_token"])
        self.game.on("track_subscribed", self._on_body_track)
        self.game.on("track_published", lambda pub, participant: self._subscribe_if_watched(participant))
        self.game.on("data_received", self._on_data)
        self.game.on("active_speakers_changed", lambda speakers: self.speakers.update(p.identity for p in speakers))
        await self.game.connect(
            self.grant["livekit_url"], self.grant["game_token"], rtc.RoomOptions(auto_subscribe=False)
        )

    def watch(self, body_name: str) -> None:
        self._watched.add(body_name)
        for participant in self.game.remote_participants.values():
            self._subscribe_if_watched(participant)

    def stop_watching_video(self) -> None:
        """Keep receiving the watched bodies' audio only: no video to decode."""
        for participant in self.game.remote_participants.values():
            if participant.name in self._watched:
                for publication in participant.track_publications.values():
                    if publication.kind == rtc.TrackKind.KIND_VIDEO:
                        publication.set_subscribed(False)

    def _subscribe_if_watched(self, participant: rtc.RemoteParticipant) -> None:
        if participant.name in self._watched:
            for publication in participant.track_publications.values():
                publication.set_subscribed(True)

    async def publish_camera_and_microphone(self) -> None:
        video_source = rtc.VideoSource(self.clip.width, self.clip.height)
        audio_source = rtc.AudioSource(AUDIO_RATE, 1)
        await self.ingest.local_participant.publish_track(
            rtc.LocalVideoTrack.create_video_track("camera", video_source),
            rtc.TrackPublishOptions(
                source=rtc.TrackSource.SOURCE_CAMERA,
                simulcast=False,
                degradation_preference=rtc.DegradationPreference.MAINTAIN_RESOLUTION,
            ),
        )
        await self.ingest.local_participant.publish_track(
            rtc.LocalAudioTrack.create_audio_track("microphone", audio_source),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
        )
        self._publishing.append(asyncio.create_task(self._stream_video(video_source)))
        self._publishing.append(asyncio.create_task(self._stream_audio(audio_source)))

    async def drop_ingest(self) -> None:
        """Lose the camera and microphone connection, as a network drop or a closed tab does."""
        for task in self._publishing:
            task.cancel()
        await asyncio.gather(*self._publishing, return_exceptions=True)
        self._publishing.clear()
        await self.ingest.disconnect()

    async def rejoin_ingest(self) -> None:
        self.ingest = rtc.Room()
        await self.ingest.connect(self.grant["livekit_url"], self.grant["ingest_token"])
        await self.publish_camera_and_microphone()

    async def _stream_video(self, source: rtc.VideoSource) -> None:
        loop = asyncio.get_running_loop()
        start, index = loop.time(), 0
        while True:  # loops the clip in real time at CAMERA_FPS
            data = self.clip.frames[int(index * self.clip.fps / CAMERA_FPS) % len(self.clip.frames)]
            source.capture_frame(
                rtc.VideoFrame(self.clip.width, self.clip.height, rtc.VideoBufferType.I420, data.data)
            )
            index += 1
            await asyncio.sleep(max(0.0, start + index / CAMERA_FPS - loop.time()))

    async def _stream_audio(self, source: rtc.AudioSource) -> None:
        offset = 0
        while True:  # capture_frame waits once its queue is full, which paces this in real time
            block = self.voice[offset : offset + AUDIO_BLOCK]
            if len(block) < AUDIO_BLOCK:
                offset = 0
                continue
            await source.capture_frame(rtc.AudioFrame(block.tobytes(), AUDIO_RATE, 1, AUDIO_BLOCK))
            offset += AUDIO_BLOCK

    def _on_data(self, packet: rtc.DataPacket) -> None:
        if packet.topic == "bodyswap.private":
            message = json.loads(packet.data)
            if message.get("kind") == "your_body":
                self.wearing = message

    def _on_body_track(
        self,
        track: rtc.Track,
        publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        recording = self.bodies.setdefault(
            participant.identity, BodyRecording(participant.identity, participant.name)
        )
        if track.kind == rtc.TrackKind.KIND_VIDEO:
            self._tasks.append(asyncio.create_task(self._record_video(track, recording)))
        else:
            self._tasks.append(asyncio.create_task(self._record_audio(track, recording)))

    async def _record_video(self, track: rtc.Track, recording: BodyRecording) -> None:
        async for event in rtc.VideoStream(track, format=rtc.VideoBufferType.I420):
            frame = event.frame
            luma = np.frombuffer(frame.data, np.uint8)[: frame.width * frame.height]
            if min(frame.width, frame.height) < 64:
                continue  # too small to compare (never sent by a healthy body)
            recording.resolutions.append((frame.width, frame.height))
            recording.thumbnails.append(thumbnail(luma.reshape(frame.height, frame.width)))

    async def _record_audio(self, track: rtc.Track, recording: BodyRecording) -> None:
        # 50 ms frames: a tenth of the Python wake-ups of 10 ms ones, for the same samples.
        stream = rtc.AudioStream(track, sample_rate=AUDIO_RATE, num_channels=1, frame_size_ms=50)
        async for event in stream:
            recording.audio.append(np.frombuffer(event.frame.data, np.int16).copy())

    def body_named(self, name: str) -> BodyRecording:
        matches = [b for b in self.bodies.values() if b.name == name]
        assert len(matches) == 1, f"{self.name} sees bodies {[b.name for b in self.bodies.values()]}"
        return matches[0]

    async def leave(self) -> None:
        for task in self._tasks + self._publishing:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._publishing, return_exceptions=True)
        await self.ingest.disconnect()
        await self.game.disconnect()
