"""The agent job: one per game room, dispatched by name, builds a Body for every seat of the plan."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bodyswap_api import Enrollment, load_plugin
from livekit import api
from livekit.agents import AgentServer, AutoSubscribe, JobContext, WorkerPermissions

from .body import Body
from .plan import MediaPlan
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
    # The job's own participant only keeps the job alive in the game room: hidden, no media.
    await ctx.connect(auto_subscribe=AutoSubscribe.SUBSCRIBE_NONE)

    profile = plugin.prepare(Enrollment())  # enrollment profiles arrive with the room service's enrollment
    issue_token = token_factory(settings)
    bodies = [
        Body(
            seat,
            plugin,
            plugin.session(None, profile),
            livekit_url=settings.livekit_url,
            game_room=plan.game_room,
            issue_token=issue_token,
            agent_identity=AGENT_IDENTITY,
        )
        for seat in plan.seats
    ]

    async def close_bodies(*_: object) -> None:
        await asyncio.gather(*(body.aclose() for body in bodies), return_exceptions=True)

    ctx.add_shutdown_callback(close_bodies)
    results = await asyncio.gather(*(body.start() for body in bodies), return_exceptions=True)
    for body, result in zip(bodies, results):
        if isinstance(result, BaseException):
            logger.error("body %s failed to start: %r", body.seat.body_identity, result)
    logger.info("room %s: %d bodies running plugin %s", plan.game_room, len(bodies), plan.plugin)


def build_server(settings: AgentSettings) -> AgentServer:
    server = AgentServer(
        ws_url=settings.livekit_url,
        api_key=settings.livekit_api_key,
        api_secret=settings.livekit_api_secret,
        host=settings.health_host,
        port=settings.health_port,
        num_idle_processes=settings.idle_processes,
        permissions=WorkerPermissions(
            can_publish=False, can_subscribe=False, can_publish_data=True, hidden=True
        ),
    )
    server.rtc_session(entrypoint, agent_name=settings.agent_name)
    return server
