"""The game master: the room service's participant in every game room.

It speaks the game over LiveKit:
- public state (`public_view`) goes to everyone on the data topic `bodyswap.state` after every
  change, and notable moments on `bodyswap.event`;
- private facts (the body you wear) go to one player only, on `bodyswap.private`;
- player actions arrive as RPC calls to the identity `game-master`, are validated by the engine,
  and are answered with the new state or a readable error. LiveKit authenticates the caller's
  identity, so an RPC can only ever act as the player whose token made the call.

It also owns the media side of a running game: it dispatches the agent when a game starts, sends
it the new body assignment every round, and dispatches it again if it leaves mid-game.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

from livekit import rtc

from agent.plan import GAME_MASTER_IDENTITY, SET_PLAN_METHOD, BodySeat, MediaPlan

from . import game
from .livekit_gateway import LiveKitGateway
from .manager import RoomError, RoomManager
from .observability import ServiceMetrics
from .records import RoomRecord

logger = logging.getLogger("bodyswap.room_service.game_master")

STATE_TOPIC = "bodyswap.state"
EVENT_TOPIC = "bodyswap.event"
PRIVATE_TOPIC = "bodyswap.private"
AGENT_RETURN_GRACE_S = 3.0  # an agent that leaves mid-game is re-dispatched after this
# While no agent comes, dispatches are retried at most this far apart (or the join timeout, if
# longer): a host waiting on "every media server is busy" gets bodies soon after a worker frees up.
MAX_REDISPATCH_WAIT_S = 15.0
CONNECT_TIMEOUT_S = 5.0


class BadPayload(Exception):
    pass


def _field(payload: dict, name: str, kind: type):
    value = payload.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadPayload(f"'{name}' must be a {kind.__name__}")
    return value


# RPC method -> (caller identity, JSON payload) -> engine action.
ACTIONS: dict[str, Callable[[str, dict], object]] = {
    "bodyswap.ready": lambda who, p: game.SetReady(who, _field(p, "ready", bool)),
    "bodyswap.start": lambda who, p: game.Start(who),
    "bodyswap.kick": lambda who, p: game.Kick(who, _field(p, "player_id", str)),
    "bodyswap.settings": lambda who, p: game.UpdateSettings(who, _field(p, "settings", dict)),
    "bodyswap.pass": lambda who, p: game.PassTurn(who),
    "bodyswap.vote": lambda who, p: game.Vote(
        who, _guesses(_field(p, "guesses", dict)), bool(p.get("lock", False))
    ),
    "bodyswap.play_again": lambda who, p: game.PlayAgain(who),
    "bodyswap.cancel": lambda who, p: game.CancelGame(who),
}

# What players are told about the bodies while a game waits for its media agent.
MEDIA_MESSAGES = {
    "starting": "Getting the bodies ready...",
    "waiting": "Every media server is busy right now, so the bodies cannot start yet. The game is "
    "paused and we keep trying; the host can go back to the lobby and start again later.",
}


def _guesses(raw: dict) -> dict[str, str]:
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise BadPayload("'guesses' maps body ids to player ids")
    return dict(raw)


# The agent's read-only view of a room's enrolled profiles: GET .../profiles/{player_id}.
AGENT_PROFILES_PATH = "/api/agent/rooms/{room_id}/profiles"


def _count_dispatch(record: RoomRecord) -> None:
    record.media_dispatches += 1


def _end_hold(record: RoomRecord) -> None:
    record.media_held_since = None


def rpc_error(code: str, message: str) -> rtc.RpcError:
    return rtc.RpcError(rtc.RpcError.ErrorCode.APPLICATION_ERROR, message, json.dumps({"code": code}))


def media_plan(record: RoomRecord, state: game.GameState, plugin: str, service_url: str) -> MediaPlan:
    return MediaPlan(
        game_room=record.game_room,
        plugin=record.plugin or plugin,
        profiles_url=f"{service_url}{AGENT_PROFILES_PATH.format(room_id=record.id)}",
        seats=[
            BodySeat(
                body_identity=body_id,
                body_name=state.body_name(body_id),
                driver_ingest_room=record.players[driver].ingest_room,
                driver_identity=driver,
                owner_id=state.bodies[body_id],
            )
            for driver, body_id in sorted(game.media_assignment(state).items(), key=lambda kv: kv[1])
            if driver in record.players
        ],
    )


class RoomChannel:
    """The game master's connection to one game room."""

    def __init__(self, room_id: str) -> None:
        self.room_id = room_id
        self.room = rtc.Room()
        self.connected = asyncio.Event()
        self.tick_task: asyncio.Task | None = None
        self.connect_task: asyncio.Task | None = None
        self.redispatch_task: asyncio.Task | None = None
        self.last_plan: MediaPlan | None = None
        self.closing = False
        # The game's media, as players are told it: None (no game), "starting" (dispatched, no
        # agent yet), "waiting" (none came in time: every worker may be full), "ready".
        self.media: str | None = None
        self.media_since = 0.0  # monotonic time of the first dispatch of this game
        # Messages leave in the order the changes happened, from one sender task, so that
        # publishing never holds up the room's lock or the reply to the RPC that made the change.
        self.outbox: asyncio.Queue[tuple[str, str, list[str]] | None] = asyncio.Queue()
        self.sender_task: asyncio.Task | None = None
        # Media work (dispatch, plan changes) runs one at a time per room, on the latest record:
        # two changes in quick succession must not dispatch two agents or send an older plan last.
        self.media_lock = asyncio.Lock()
        self.media_tasks: set[asyncio.Task] = set()

    def agent_identities(self) -> list[str]:
        return [
            p.identity
            for p in self.room.remote_participants.values()
            if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
        ]


class GameMaster:
    def __init__(
        self,
        manager: RoomManager,
        gateway: LiveKitGateway,
        plugin: str,
        livekit_url: str,
        service_url: str,
        agent_join_timeout_s: float = 20.0,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self._metrics = metrics or ServiceMetrics()
        self._manager = manager
        self._gateway = gateway
        self._plugin = plugin
        self._service_url = service_url  # where the room's agent fetches enrolled profiles
        self._agent_join_timeout_s = agent_join_timeout_s
        self._url = livekit_url
        self._channels: dict[str, RoomChannel] = {}
        manager.change_listeners.append(self._on_change)
        manager.end_listeners.append(self._on_end)

    def media_waiting_count(self) -> int:
        return sum(1 for channel in self._channels.values() if channel.media == "waiting")

    @staticmethod
    def media_view(channel: RoomChannel) -> dict | None:
        """The bodies' status as every player sees it (no agent detail, no worker names)."""
        if channel.media is None:
            return None
        return {"status": channel.media, "message": MEDIA_MESSAGES.get(channel.media)}

    def _start_hold(self, record: RoomRecord) -> None:
        record.media_held_since = self._manager.now()

    def _holding(self, channel: RoomChannel) -> bool:
        """A game whose first agent has not joined yet is paused: its timers wait for the bodies."""
        return channel.media in ("starting", "waiting")

    # --- lifecycle -------------------------------------------------------------------------

    async def restore(self) -> None:
        """After a restart: rejoin every stored room, resume its timers and its media."""
        for room_id in await self._manager.store.room_ids():
            await self.adopt(room_id)

    async def adopt(self, room_id: str) -> None:
        """Take one stored room on (after a restart, or from another instance that let it go)."""
        if room_id in self._channels:
            return
        record = await self._manager.store.load(room_id)
        if record is None:
            return
        channel = self._channel(record.id)
        state = game.GameState.from_dict(record.game)
        if game.media_assignment(state) and record.media_held_since is not None:
            self._resume_hold(channel, record.media_held_since)  # before the tick: no timer while held
        self._schedule_tick(channel, state)
        if game.media_assignment(state):
            # The agent may still be in the room; if not, it is dispatched again.
            channel.redispatch_task = asyncio.create_task(self._redispatch_if_gone(channel))

    def _resume_hold(self, channel: RoomChannel, held_since: float) -> None:
        """The stored pause of a game whose first agent had not come when its last owner stopped."""
        held_s = max(0.0, self._manager.now() - held_since)
        channel.media = "waiting" if held_s >= self._agent_join_timeout_s else "starting"
        channel.media_since = time.monotonic() - held_s

    async def let_go(self, room_id: str) -> None:
        """Leave a room another instance now owns: its game goes on there."""
        await self._close_channel(room_id)

    async def aclose(self) -> None:
        for room_id in list(self._channels):
            await self._close_channel(room_id)

    def _channel(self, room_id: str) -> RoomChannel:
        channel = self._channels.get(room_id)
        if channel is None:
            channel = self._channels[room_id] = RoomChannel(room_id)
            channel.connect_task = asyncio.create_task(self._connect(channel))
            channel.sender_task = asyncio.create_task(self._send_outbox(channel))
        return channel

    async def _connect(self, channel: RoomChannel) -> None:
        room = channel.room
        room.on("participant_disconnected", lambda p: self._on_participant_left(channel, p))
        room.on("participant_connected", lambda p: self._on_participant_joined(channel, p))
        token = self._gateway.game_master_token(f"game-{channel.room_id}", GAME_MASTER_IDENTITY)
        delay = 0.5
        while True:  # LiveKit may be restarting: keep trying, the game state is safe in the store
            if channel.closing:
                return
            try:
                await room.connect(self._url, token, rtc.RoomOptions(connect_timeout=CONNECT_TIMEOUT_S))
                break
            except Exception as e:
                logger.warning("game master cannot reach room %s yet: %s", channel.room_id, e, extra={"room_id": channel.room_id})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
        for method in (*ACTIONS, "bodyswap.sync"):
            room.local_participant.register_rpc_method(method, self._rpc_handler(channel, method))
        channel.connected.set()
        record = await self._manager.store.load(channel.room_id)
        if record is not None:
            self._queue_state(channel, game.GameState.from_dict(record.game))
        if self._holding(channel) and channel.agent_identities():
            await self._media_arrived(channel)  # it joined while this instance was away

    async def _send_outbox(self, channel: RoomChannel) -> None:
        await channel.connected.wait()
        while (message := await channel.outbox.get()) is not None:
            topic, payload, destinations = message
            try:
                await channel.room.local_participant.publish_data(
                    payload, topic=topic, destination_identities=destinations
                )
            except Exception as e:  # a lost message: players resync with bodyswap.sync
                logger.warning("could not send %s in room %s: %s", topic, channel.room_id, e, extra={"room_id": channel.room_id})

    async def _close_channel(self, room_id: str) -> None:
        channel = self._channels.pop(room_id, None)
        if channel is None:
            return
        channel.closing = True
        for task in (channel.tick_task, channel.redispatch_task):
            if task is not None:
                task.cancel()
        channel.outbox.put_nowait(None)  # the sender finishes what is queued, then stops
        if channel.sender_task is not None and channel.connected.is_set():
            await asyncio.wait([channel.sender_task], timeout=2)
        if channel.sender_task is not None:
            channel.sender_task.cancel()
        if channel.connect_task is not None:
            # Never cancel a connect in flight: the rtc SDK aborts the process when a connection it
            # completed is never picked up. Let the attempt finish (it is bounded), then leave.
            await asyncio.wait([channel.connect_task], timeout=CONNECT_TIMEOUT_S + 1)
        await channel.room.disconnect()

    # --- reacting to changes ---------------------------------------------------------------

    async def _on_change(self, record: RoomRecord, state: game.GameState, events: list) -> None:
        channel = self._channel(record.id)
        self._schedule_tick(channel, state)
        for event in events:
            message = json.dumps({"kind": event.kind, **event.payload})
            if event.to is None:
                channel.outbox.put_nowait((EVENT_TOPIC, message, []))
            else:
                channel.outbox.put_nowait((PRIVATE_TOPIC, message, [event.to]))
        self._queue_state(channel, state)
        # Media work talks to LiveKit's API and may take the room lock: never inside this callback.
        task = asyncio.create_task(self._ensure_media(channel))
        channel.media_tasks.add(task)  # held, or the event loop may drop the task mid-flight
        task.add_done_callback(channel.media_tasks.discard)

    async def _on_end(self, room_id: str) -> None:
        await self._close_channel(room_id)
        try:
            await self._gateway.end_media(f"game-{room_id}")
        except Exception as e:  # the room may never have been created on LiveKit
            logger.info("no LiveKit room to delete for %s: %s", room_id, e, extra={"room_id": room_id})

    def _queue_state(self, channel: RoomChannel, state: game.GameState) -> None:
        channel.outbox.put_nowait((STATE_TOPIC, json.dumps(self._public(channel, state)), []))

    def _public(self, channel: RoomChannel, state: game.GameState) -> dict:
        media = self.media_view(channel) if game.media_assignment(state) else None  # none outside a game
        return {**game.public_view(state, self._manager.now()), "media": media}

    def _announce_media(self, channel: RoomChannel) -> None:
        event = {"kind": f"media_{channel.media}", **(self.media_view(channel) or {})}
        channel.outbox.put_nowait((EVENT_TOPIC, json.dumps(event), []))

    def _schedule_tick(self, channel: RoomChannel, state: game.GameState) -> None:
        # A tick's own change reschedules from inside that tick: never cancel the running task,
        # or the change it just made would never be broadcast.
        if channel.tick_task is not None and channel.tick_task is not asyncio.current_task():
            channel.tick_task.cancel()
        if self._holding(channel):
            return  # no timer runs until the bodies are there (RestartClock then)
        deadline = game.next_deadline(state)
        if deadline is not None:
            channel.tick_task = asyncio.create_task(self._tick_at(channel.room_id, deadline))

    async def _tick_at(self, room_id: str, deadline: float) -> None:
        await asyncio.sleep(max(0.0, deadline - self._manager.now()))
        try:
            await self._manager.act(room_id, game.Tick())
        except (RoomError, game.GameError) as e:
            logger.info("tick for %s refused: %s", room_id, e, extra={"room_id": room_id})

    # --- RPC -------------------------------------------------------------------------------

    def _rpc_handler(self, channel: RoomChannel, method: str):
        async def handle(data: rtc.RpcInvocationData) -> str:
            started = time.perf_counter()
            try:
                return await answer(data)
            except rtc.RpcError as e:
                code = json.loads(e.data or "{}").get("code", "error") if e.data else "error"
                self._metrics.rpc_errors.labels(method, code).inc()
                raise
            finally:
                self._metrics.rpc_latency.labels(method).observe(time.perf_counter() - started)

        async def answer(data: rtc.RpcInvocationData) -> str:
            try:
                payload = json.loads(data.payload or "{}")
                if not isinstance(payload, dict):
                    raise BadPayload("the payload must be a JSON object")
                if method == "bodyswap.sync":
                    record = await self._manager.get(channel.room_id)
                    state = game.GameState.from_dict(record.game)
                else:
                    action = ACTIONS[method](data.caller_identity, payload)
                    record, state = await self._manager.act(channel.room_id, action)
            except (json.JSONDecodeError, BadPayload) as e:
                raise rpc_error("bad_payload", f"Malformed request: {e}") from None
            except game.GameError as e:
                raise rpc_error(e.code, e.message) from None
            except RoomError as e:
                raise rpc_error(e.code, e.message) from None
            if method == "bodyswap.vote":
                self._metrics.votes.labels(str(bool(payload.get("lock", False))).lower()).inc()
            return json.dumps(
                {
                    "public": self._public(channel, state),
                    "private": game.private_view(state, data.caller_identity),
                }
            )

        return handle

    # --- media -----------------------------------------------------------------------------

    async def _ensure_media(self, channel: RoomChannel) -> None:
        """Dispatch the agent when a game starts and keep it on the current body assignment."""
        async with channel.media_lock:
            try:
                record = await self._manager.store.load(channel.room_id)
                if record is None:
                    return
                state = game.GameState.from_dict(record.game)
                if not game.media_assignment(state):
                    channel.last_plan = None
                    if self._holding(channel) and not channel.agent_identities():
                        await self._withdraw_media(channel)  # called off before any agent came
                    channel.media = None
                    if record.media_held_since is not None:
                        await self._manager.update_record(channel.room_id, _end_hold)
                    return
                plan = media_plan(record, state, self._plugin, self._service_url)
                if record.media_dispatches == 0:
                    await self._dispatch(channel, plan, state)
                elif plan != channel.last_plan:
                    await self._send_plan(channel, plan)
            except Exception:
                logger.exception("media update for room %s failed", channel.room_id, extra={"room_id": channel.room_id})

    async def _dispatch(self, channel: RoomChannel, plan: MediaPlan, state: game.GameState) -> None:
        if not channel.agent_identities():
            # Nothing of the game runs until the bodies are there: timers wait, players are told.
            channel.media, channel.media_since = "starting", time.monotonic()
            self._schedule_tick(channel, state)  # cancels the running timer while holding
            self._announce_media(channel)
            self._queue_state(channel, state)
            await self._manager.update_record(channel.room_id, self._start_hold)
        await self._gateway.start_media(plan)
        self._metrics.dispatches.labels("first").inc()
        logger.info("agent dispatched", extra={"room_id": channel.room_id, "players": len(plan.seats)})
        channel.last_plan = plan
        await self._manager.update_record(channel.room_id, _count_dispatch)
        # If no agent shows up (all workers full, a job that died starting), dispatch again.
        if channel.redispatch_task is None or channel.redispatch_task.done():
            channel.redispatch_task = asyncio.create_task(
                self._redispatch_if_gone(channel, first_wait_s=self._agent_join_timeout_s)
            )

    async def _send_plan(self, channel: RoomChannel, plan: MediaPlan) -> None:
        await channel.connected.wait()
        for agent in channel.agent_identities():
            await channel.room.local_participant.perform_rpc(
                destination_identity=agent, method=SET_PLAN_METHOD, payload=plan.model_dump_json()
            )
        channel.last_plan = plan

    async def _withdraw_media(self, channel: RoomChannel) -> None:
        """The game was called off before any agent came: withdraw its dispatches, so that no
        worker starts it later, and let the next start dispatch afresh."""
        if channel.redispatch_task is not None and channel.redispatch_task is not asyncio.current_task():
            channel.redispatch_task.cancel()
        try:
            withdrawn = await self._gateway.cancel_media(f"game-{channel.room_id}")
        except Exception as e:
            withdrawn = 0
            logger.warning("could not withdraw dispatches: %s", e, extra={"room_id": channel.room_id})

        def reset(record: RoomRecord) -> None:
            record.media_dispatches = 0

        await self._manager.update_record(channel.room_id, reset)
        logger.info("media withdrawn", extra={"room_id": channel.room_id, "dispatches": withdrawn})

    def _on_participant_joined(self, channel: RoomChannel, participant: rtc.RemoteParticipant) -> None:
        if participant.kind != rtc.ParticipantKind.PARTICIPANT_KIND_AGENT or not self._holding(channel):
            return
        task = asyncio.create_task(self._media_arrived(channel))
        channel.media_tasks.add(task)
        task.add_done_callback(channel.media_tasks.discard)

    async def _media_arrived(self, channel: RoomChannel) -> None:
        """The first agent of the game joined: the bodies are coming, the clock starts now."""
        if not self._holding(channel):
            return
        waited = time.monotonic() - channel.media_since
        channel.media = "ready"
        await self._manager.update_record(channel.room_id, _end_hold)
        self._announce_media(channel)
        logger.info("media ready", extra={"room_id": channel.room_id, "waited_s": round(waited, 1)})
        try:
            await self._manager.act(channel.room_id, game.RestartClock())  # broadcasts, schedules the tick
        except (RoomError, game.GameError) as e:
            logger.info("clock restart refused: %s", e, extra={"room_id": channel.room_id})

    def _on_participant_left(self, channel: RoomChannel, participant: rtc.RemoteParticipant) -> None:
        self.participant_left(channel.room_id, participant.kind)

    def participant_left(self, room_id: str, kind: int) -> None:
        """An agent that left a running game is dispatched again unless it comes back by itself.

        Told both by the room connection and by LiveKit's webhook, whichever notices first.
        """
        channel = self._channels.get(room_id)
        if channel is None or kind != rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
            return
        if channel.redispatch_task is None or channel.redispatch_task.done():
            channel.redispatch_task = asyncio.create_task(self._redispatch_if_gone(channel))

    async def _redispatch_if_gone(self, channel: RoomChannel, first_wait_s: float = AGENT_RETURN_GRACE_S) -> None:
        """While the game needs media and no agent is in the room, dispatch one again.

        Covers an agent that left mid-game and one that never came: every worker was full and
        refused the room (LiveKit offers a job to each worker once, then drops it), or the job
        died starting. The wait doubles up to 15 s, and is never shorter than the join timeout,
        so a slow start gets its time before another job follows it.
        """
        await channel.connected.wait()
        wait_s = first_wait_s
        while True:
            await asyncio.sleep(wait_s)
            if channel.agent_identities() or channel.closing:
                return
            async with channel.media_lock:
                record = await self._manager.store.load(channel.room_id)
                if record is None:
                    return
                state = game.GameState.from_dict(record.game)
                if not game.media_assignment(state):
                    return
                if channel.media == "starting":  # no worker took the game in time: say so
                    channel.media = "waiting"
                    self._announce_media(channel)
                    self._queue_state(channel, state)
                logger.warning(
                    "no agent in game room %s; dispatching again", channel.room_id,
                    extra={"room_id": channel.room_id, "dispatches": record.media_dispatches + 1},
                )
                plan = media_plan(record, state, self._plugin, self._service_url)
                await self._gateway.start_media(plan)
                self._metrics.dispatches.labels("again").inc()
                channel.last_plan = plan
                await self._manager.update_record(channel.room_id, _count_dispatch)
            wait_s = max(min(2 * wait_s, MAX_REDISPATCH_WAIT_S), self._agent_join_timeout_s)
