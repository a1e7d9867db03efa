"""One GPU call for the frames of every body of a room, for plugins that set `batches_video`.

Each body hands in its newest frame and awaits the result. Whatever is waiting when the batch
thread comes free goes in the next call: no timer, so a lone body is never held back waiting for
company, and under load batches grow by themselves up to one frame per body.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from bodyswap_api import SwapPlugin, SwapSession, VideoFrame

from .metrics import BATCH_FRAMES


class VideoBatcher:
    def __init__(self, plugin: SwapPlugin, room: str = "") -> None:
        self._plugin = plugin
        self._batch_frames = BATCH_FRAMES.labels(room)
        self._waiting: list[tuple[SwapSession, VideoFrame, asyncio.Future[VideoFrame]]] = []
        self._wake = asyncio.Event()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="room-batch")
        self._task = asyncio.create_task(self._run())
        self.batch_sizes: list[int] = []  # recent sizes, for tests and stats

    async def convert(self, session: SwapSession, frame: VideoFrame) -> VideoFrame:
        future: asyncio.Future[VideoFrame] = asyncio.get_running_loop().create_future()
        self._waiting.append((session, frame, future))
        self._wake.set()
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._waiting = self._waiting, []
            batch = [item for item in batch if not item[2].cancelled()]
            if not batch:
                continue
            self.batch_sizes = (self.batch_sizes + [len(batch)])[-100:]
            self._batch_frames.observe(len(batch))
            items = [(session, frame) for session, frame, _ in batch]
            try:
                outs = await loop.run_in_executor(self._thread, self._plugin.convert_video_batch, items)
                if len(outs) != len(items):
                    raise RuntimeError(f"{len(outs)} frames back for a batch of {len(items)}")
            except Exception as error:  # every body in the batch loses this one frame
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, _, future), out in zip(batch, outs):
                if not future.done():
                    future.set_result(out)

    async def aclose(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._thread.shutdown(wait=True)
