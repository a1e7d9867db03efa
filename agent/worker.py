"""The agent job: one per game room, dispatched by name, builds a Body for every seat of the plan."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from datetime import timedelta

from bodyswap_api import SwapSession, load_plugin
from livekit import api, rtc
from livekit.agents import AgentServer, AutoSubscribe, JobContext, JobRequest, WorkerPermissions
from prometheus_client import Gauge, values

from .batching import VideoBatcher
from .body import Body
from .capacity import GPU_ATTRIBUTE, PlayerSlots, RunningJob, seats_of
from .native_logs import filter_native_logs_at_source
from .plan import AGENT_IDENTITY, GAME_MASTER_IDENTITY, MIRROR_AGENT_IDENTITY, SET_PLAN_METHOD, BodySeat, MediaPlan
from .profiles import ProfileCache
from .settings import AgentSettings

logger = logging.getLogger("bodyswap.agent")


def token_factory(settings: AgentSettings):
    def issue_token(
        *,
        room: str,
        identity: str,
        name: str,
        can_publish: bool,
        can_subscribe: bool,
        hidden: bool = False,
    ) -> str:
        grants = api.VideoGrants(
            room_join=True,
            room=room,
            can_publish=can_publish,
            can_subscribe=can_subscribe,
            can_publish_data=False,
            hidden=hidden,
        )
        return (
            api.AccessToken(settings.livekit_api_key, settings.livekit_api_secret)
            .with_identity(identity)
            .with_name(name)
            .with_grants(grants)
            .with_ttl(timedelta(hours=6))
            .to_jwt()
        )

    return issue_token


async def entrypoint(ctx: JobContext) -> None:
    filter_native_logs_at_source()
    settings = AgentSettings()
    plan = MediaPlan.model_validate_json(ctx.job.metadata)
    device = (ctx.token_claims().attributes or {}).get(GPU_ATTRIBUTE)
    if device:  # the GPU the worker placed this room on; CUDA reads it at its first call
        os.environ["CUDA_VISIBLE_DEVICES"] = device
        logger.info("room %s placed on GPU %s (%d players)", ctx.room.name, device, len(plan.seats))
    plugin = load_plugin(plan.plugin)
    # The job's own participant carries no media: it receives plan changes from the game master.
    await ctx.connect(auto_subscribe=AutoSubscribe.SUBSCRIBE_NONE)

    issue_token = token_factory(settings)
    profiles = ProfileCache(plugin, settings.livekit_api_key, settings.livekit_api_secret)
    batcher = VideoBatcher(plugin, plan.game_room) if plugin.batches_video else None
    bodies: dict[str, Body] = {}

    async def open_session(seat: BodySeat, current: MediaPlan) -> SwapSession:
        source = await profiles.get(current, seat.driver_identity)
        target = await profiles.get(current, seat.owner_id)
        logger.info(
            "body %s: opening a session (driver enrolled: %s, owner enrolled: %s)",
            seat.body_identity,
            source is not None,
            target is not None,
        )
        # Opening a session may load a model: off the event loop, like every conversion.
        return await asyncio.to_thread(plugin.session, source, target or profiles.unenrolled())

    async def follow(new_plan: MediaPlan) -> None:
        """Make the running bodies match the plan: same body, new driver, no dropped call."""
        wanted = {seat.body_identity: seat for seat in new_plan.seats}
        for identity in set(bodies) - set(wanted):
            await bodies.pop(identity).aclose()
        for identity, seat in wanted.items():
            body = bodies.get(identity)
            if body is not None and body.seat == seat:
                continue
            try:
                session = await open_session(seat, new_plan)
            except Exception:
                logger.exception("body %s: the plugin could not open a session", identity)
                continue  # a new body stays absent, a running one keeps its driver until next plan
            if body is not None:
                await body.change_driver(seat, session)
                continue
            body = Body(
                seat,
                plugin,
                session,
                livekit_url=settings.livekit_url,
                game_room=new_plan.game_room,
                issue_token=issue_token,
                agent_identity=MIRROR_AGENT_IDENTITY if new_plan.kind == "mirror" else AGENT_IDENTITY,
                batcher=batcher,
            )
            try:
                await body.start()
                bodies[identity] = body
            except Exception:
                logger.exception("body %s failed to start", identity)
                await body.aclose()

    plan_lock = asyncio.Lock()

    async def set_plan(data: rtc.RpcInvocationData) -> str:
        if data.caller_identity != GAME_MASTER_IDENTITY:
            raise rtc.RpcError(rtc.RpcError.ErrorCode.APPLICATION_ERROR, "only the game master sets the plan")
        new_plan = MediaPlan.model_validate_json(data.payload)
        async with plan_lock:
            await follow(new_plan)
        return "ok"

    async def close_bodies(*_: object) -> None:
        await asyncio.gather(*(body.aclose() for body in bodies.values()), return_exceptions=True)
        if batcher is not None:
            await batcher.aclose()
        await profiles.aclose()  # biometric data leaves memory with the game

    ctx.add_shutdown_callback(close_bodies)
    ctx.room.local_participant.register_rpc_method(SET_PLAN_METHOD, set_plan)
    async with plan_lock:
        await follow(plan)
    logger.info("room %s: %d bodies running plugin %s", plan.game_room, len(bodies), plan.plugin)


class SlotGauges:
    """The worker's player slots as Prometheus gauges, served with its jobs' metrics.

    The worker process imported prometheus_client before LiveKit Agents turned on multiprocess
    mode, so its own metrics would never reach the shared directory the endpoint reads: these are
    made with the multiprocess value class, once that directory exists (the first load poll).
    """

    def __init__(self) -> None:
        self._gauges: tuple[Gauge, Gauge, Gauge] | None = None

    def set(self, used: int, total: int) -> None:
        if self._gauges is None:
            if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
                return  # metrics are off
            default, values.ValueClass = values.ValueClass, values.MultiProcessValue()
            try:
                self._gauges = (
                    Gauge("bodyswap_worker_player_slots_used", "Player slots in use (running and accepted rooms)", multiprocess_mode="livemax"),
                    Gauge("bodyswap_worker_player_slots", "Player slots of this worker (BODYSWAP_AGENT_PLAYER_SLOTS)", multiprocess_mode="livemax"),
                    Gauge("bodyswap_worker_load", "Share of player slots in use, as reported to LiveKit", multiprocess_mode="livemax"),
                )
            finally:
                values.ValueClass = default
        used_gauge, total_gauge, load_gauge = self._gauges
        used_gauge.set(used)
        total_gauge.set(total)
        load_gauge.set(min(1.0, used / total))


def build_server(settings: AgentSettings) -> AgentServer:
    devices = settings.gpu_devices
    slots = PlayerSlots(settings.player_slots_per_gpu or settings.player_slots, devices=devices)
    gauges = SlotGauges()

    def running(server: AgentServer) -> list[RunningJob]:
        return [
            RunningJob(info.job.id, info.job.metadata, (info.accept_arguments.attributes or {}).get(GPU_ATTRIBUTE))
            for info in server.active_jobs
        ]

    def load(server: AgentServer) -> float:
        # Capacity is counted in players, not in CPU load: a busy CPU must not make LiveKit think
        # the worker is full, and a full worker must refuse rooms however idle its CPU looks.
        used = slots.used(running(server))
        gauges.set(used, slots.total)
        return min(1.0, used / slots.total)

    async def on_request(request: JobRequest) -> None:
        if slots.reserve(request.job.id, request.job.metadata, running(server)):
            device = slots.device_of(request.job.id)
            await request.accept(attributes={GPU_ATTRIBUTE: device} if device else None)
        elif devices:
            free = ", ".join(f"GPU {d}: {n}" for d, n in slots.free_by_pool(running(server)).items())
            logger.warning(
                "refusing room %s: needs %d player slots on one GPU, free %s",
                request.room.name, seats_of(request.job.metadata), free,
            )
            await request.reject()
        else:
            logger.warning(
                "refusing room %s: needs %d player slots, %d of %d free",
                request.room.name,
                seats_of(request.job.metadata),
                slots.total - slots.used(running(server)),
                slots.total,
            )
            await request.reject()

    server = AgentServer(
        load_fnc=load,
        load_threshold=1.0,
        ws_url=settings.livekit_url,
        api_key=settings.livekit_api_key,
        api_secret=settings.livekit_api_secret,
        host=settings.health_host,
        port=settings.health_port,
        num_idle_processes=settings.idle_processes,
        job_memory_limit_mb=settings.job_memory_limit_mb,
        job_memory_warn_mb=settings.job_memory_limit_mb * 0.8,
        prometheus_port=settings.metrics_port,
        # Job processes write their metrics here; the worker's endpoint serves all of them.
        prometheus_multiproc_dir=tempfile.mkdtemp(prefix="bodyswap-agent-metrics-"),
        # Visible (kind agent) so the game master can find it and send it plan changes.
        permissions=WorkerPermissions(can_publish=False, can_subscribe=False, can_publish_data=True),
    )
    server.rtc_session(entrypoint, agent_name=settings.agent_name, on_request=on_request)
    return server
