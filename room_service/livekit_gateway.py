"""Everything the room service says to LiveKit: tokens, rooms, and the agent dispatch."""

from __future__ import annotations

from datetime import timedelta

from livekit import api

from agent.plan import MediaPlan

from .settings import RoomServiceSettings


class LiveKitGateway:
    def __init__(self, settings: RoomServiceSettings) -> None:
        self._settings = settings
        self._api: api.LiveKitAPI | None = None

    @property
    def lk(self) -> api.LiveKitAPI:
        # Created lazily: LiveKitAPI needs a running event loop.
        if self._api is None:
            http_url = self._settings.livekit_url.replace("ws://", "http://").replace(
                "wss://", "https://"
            )
            self._api = api.LiveKitAPI(
                http_url, self._settings.livekit_api_key, self._settings.livekit_api_secret
            )
        return self._api

    def _token(self, identity: str, name: str, grants: api.VideoGrants) -> str:
        return (
            api.AccessToken(self._settings.livekit_api_key, self._settings.livekit_api_secret)
            .with_identity(identity)
            .with_name(name)
            .with_grants(grants)
            .with_ttl(timedelta(minutes=self._settings.token_ttl_minutes))
            .to_jwt()
        )

    def ingest_token(self, room: str, identity: str, name: str) -> str:
        """The player's own private room: they publish camera and microphone, and see nothing."""
        return self._token(
            identity,
            name,
            api.VideoGrants(
                room_join=True,
                room=room,
                can_publish=True,
                can_publish_sources=["camera", "microphone"],
                can_subscribe=False,
                can_publish_data=False,
            ),
        )

    def game_token(self, room: str, identity: str, name: str) -> str:
        """The shared game room: the player watches the bodies and sends data, never media."""
        return self._token(
            identity,
            name,
            api.VideoGrants(
                room_join=True,
                room=room,
                can_publish=False,
                can_subscribe=True,
                can_publish_data=True,
            ),
        )

    def mirror_token(self, room: str, identity: str, name: str) -> str:
        """A player's own mirror room: they watch their preview body, and publish nothing."""
        return self._token(
            identity,
            name,
            api.VideoGrants(room_join=True, room=room, can_publish=False, can_subscribe=True, can_publish_data=False),
        )

    def game_master_token(self, room: str, identity: str) -> str:
        """The room service in a game room: sends data and answers RPCs, no media."""
        return self._token(
            identity,
            "Game master",
            api.VideoGrants(
                room_join=True, room=room, can_publish=False, can_subscribe=False, can_publish_data=True
            ),
        )

    def camera_check_token(self, ingest_room: str) -> str:
        """Hidden and subscribe-only in a player's ingest room, to take one frame for the consent check."""
        return self._token(
            "bodyswap-consent",
            "bodyswap",
            api.VideoGrants(
                room_join=True,
                room=ingest_room,
                can_publish=False,
                can_subscribe=True,
                can_publish_data=False,
                hidden=True,
            ),
        )

    async def start_media(self, plan: MediaPlan) -> None:
        """Create the game room and dispatch one agent job to it with the plan."""
        await self.lk.room.create_room(
            api.CreateRoomRequest(name=plan.game_room, empty_timeout=300, departure_timeout=60)
        )
        await self.lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(
                agent_name=self._settings.agent_name,
                room=plan.game_room,
                metadata=plan.model_dump_json(),
            )
        )

    async def ping(self) -> None:
        """One cheap call to LiveKit's server API (for readiness): raises when it does not answer."""
        await self.lk.room.list_rooms(api.ListRoomsRequest(names=["bodyswap-readyz"]))

    async def cancel_media(self, game_room: str) -> int:
        """Withdraw every agent dispatch of a game room (a job still waiting for a worker is never
        started; one running ends). The room itself stays: players and the game master are in it."""
        dispatches = await self.lk.agent_dispatch.list_dispatch(room_name=game_room)
        for dispatch in dispatches:
            await self.lk.agent_dispatch.delete_dispatch(dispatch.id, game_room)
        return len(dispatches)

    async def end_media(self, game_room: str) -> None:
        """Delete the game room: every participant is dropped and the agent job ends."""
        await self.lk.room.delete_room(api.DeleteRoomRequest(room=game_room))

    async def aclose(self) -> None:
        if self._api is not None:
            await self._api.aclose()
