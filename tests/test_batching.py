"""A room's video batch: one plugin call for the waiting frame of every body, errors per batch."""

import asyncio

import numpy as np
import pytest
from bodyswap_api import Enrollment, SwapPlugin, SwapSession, VideoFrame

from agent.batching import VideoBatcher

pytestmark = pytest.mark.asyncio(loop_scope="session")


def frame(value: int) -> VideoFrame:
    return VideoFrame(4, 4, "rgb24", np.full((4, 4, 3), value, np.uint8))


class Tagged(SwapSession):
    def __init__(self, tag: int) -> None:
        self.tag = tag


class BatchPlugin(SwapPlugin):
    name = "batch"
    swaps = frozenset({"video"})
    batches_video = True

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.fail_next = False

    def prepare(self, enrollment: Enrollment) -> bytes:
        return b""

    def session(self, source, target) -> SwapSession:
        raise NotImplementedError

    def convert_video_batch(self, items):
        self.calls.append(len(items))
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("GPU hiccup")
        return [frame(session.tag + int(f.data[0, 0, 0])) for session, f in items]


async def test_frames_waiting_together_go_in_one_call_and_come_back_to_their_own_body():
    plugin = BatchPlugin()
    batcher = VideoBatcher(plugin)
    try:
        outs = await asyncio.gather(*(batcher.convert(Tagged(10 * i), frame(i)) for i in range(4)))
        assert [int(o.data[0, 0, 0]) for o in outs] == [0, 11, 22, 33]
        assert plugin.calls == [4]
        lone = await batcher.convert(Tagged(1), frame(1))  # alone: not held back waiting for company
        assert int(lone.data[0, 0, 0]) == 2 and plugin.calls == [4, 1]
    finally:
        await batcher.aclose()


async def test_a_failed_batch_costs_each_body_that_frame_only():
    plugin = BatchPlugin()
    batcher = VideoBatcher(plugin)
    try:
        plugin.fail_next = True
        results = await asyncio.gather(
            *(batcher.convert(Tagged(i), frame(0)) for i in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, RuntimeError) for r in results)
        again = await batcher.convert(Tagged(5), frame(0))
        assert int(again.data[0, 0, 0]) == 5
    finally:
        await batcher.aclose()
