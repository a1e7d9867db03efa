"""The agent job: one per game room, dispatched by name, builds a Body for every seat of the plan."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bodyswap_api import Enrollment, load_plugin
from livekit import api, rtc
from livekit.agents import AgentServer, AutoSubscribe, JobContext, WorkerPermissions

from .body import Body
from .plan import GAME_MASTER_IDENTITY, SET_PLAN_METHOD, MediaPlan
from .settings import AgentSettings

logger = logging.getLogger("bodyswap.agent")

AGENT_IDENTITY = "bodyswap-agent"  # hidden in every ingest room


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
    settings = AgentSettings()
    plan = MediaPlan.model_validate_json(ctx.job.metadata)
    plugin = load_plugin(plan.plugin)
    # The job's own participant carries no media: it receives plan changes from the game master.
    await ctx.connect(auto_subscribe=AutoSubscribe.SUBSCRIBE_NONE)

    profile = plugin.prepare(Enrollment())  # TODO(#4): the enrolled players' stored profiles
    issue_token = token_factory(settings)
    bodies: dict[str, Body] = {}

    async def follow(new_plan: MediaPlan) -> None:
        """Make the running bodies match the plan: same body, new driver, no dropped call."""
        wanted = {seat.body_identity: seat for seat in new_plan.seats}
        for identity in set(bodies) - set(wanted):
            await bodies.pop(identity).aclose()
        for identity, seat in wanted.items():
            if identity in bodies:
                await bodies[identity].change_driver(seat)
                continue
            body = Body(
                seat,
                plugin,
                lambda seat: plugin.session(None, profile),
                livekit_url=settings.livekit_url,
                game_room=new_plan.game_room,
                issue_token=issue_token,
                agent_identity=AGENT_IDENTITY,
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

    ctx.add_shutdown_callback(close_bodies)
    ctx.room.local_participant.register_rpc_method(SET_PLAN_METHOD, set_plan)
    async with plan_lock:
        await follow(plan)
    logger.info("room %s: %d bodies running plugin %s", plan.game_room, len(bodies), plan.plugin)


def build_server(settings: AgentSettings) -> AgentServer:
    def load(server: AgentServer) -> float:
        # Capacity is counted in rooms, not in CPU load: a busy CPU must not make LiveKit think
        # the worker is full, and a full worker must refuse rooms however idle its CPU looks.
        return min(1.0, len(server.active_jobs) / settings.max_rooms)

    server = AgentServer(
        load_fnc=load,
        load_threshold=1.0,
        ws_url=settings.livekit_url,
        api_key=settings.livekit_api_key,
        api_secret=settings.livekit_api_secret,
        host=settings.health_host,
        port=settings.health_port,
        num_idle_processes=settings.idle_processes,
        # Visible (kind agent) so the game master can find it and send it plan changes.
        permissions=WorkerPermissions(can_publish=False, can_subscribe=False, can_publish_data=True),
    )
    server.rtc_session(entrypoint, agent_name=settings.agent_name)
    return server
