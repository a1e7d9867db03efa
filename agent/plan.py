"""The media plan: what the room service tells a room's agent job to build.

It travels as the dispatch's metadata, which only the agent sees (players cannot read dispatches),
so it may name who drives which body. Nothing in it may ever be copied into what players receive.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

# The agent's identity: hidden in every ingest room, and the subject of its profile-fetch tokens.
AGENT_IDENTITY = "bodyswap-agent"
# A mirror job's identity in the ingest room: a player's preview and their game body may overlap.
MIRROR_AGENT_IDENTITY = "bodyswap-agent-mirror"
# A body whose owner is a sample portrait rather than a player: owner_id = SAMPLE_PREFIX + sample id.
SAMPLE_PREFIX = "sample:"
# The room service's participant in every game room; only it may change a running plan.
GAME_MASTER_IDENTITY = "game-master"
# RPC the agent job registers; the game master calls it with a MediaPlan whenever bodies reshuffle.
SET_PLAN_METHOD = "bodyswap.set_plan"


class BodySeat(BaseModel):
    body_identity: str = Field(description="Opaque identity of the body participant in the game room")
    body_name: str = Field(description="Display name of the body: the player whose body it is")
    driver_ingest_room: str = Field(description="Private room where the driver publishes raw media")
    driver_identity: str = Field(description="The driver's identity in their ingest room (player id)")
    owner_id: str | None = Field(
        None, description="Player id of the body's owner, whose enrolled profile the body wears"
    )


class MediaPlan(BaseModel):
    kind: Literal["game", "mirror"] = Field(
        "game", description="A game's bodies, or one player's private preview in a sample body"
    )
    game_room: str = Field(description="Where the bodies are published (a mirror: the player's mirror room)")
    plugin: str = Field(description="Swap plugin the bodies of this room run")
    seats: list[BodySeat]
    profiles_url: str | None = Field(
        None,
        description="Where the job fetches enrolled profiles: GET {profiles_url}/{player_id} with an "
        "agent token of this room. None runs every body on the plugin's unenrolled profile "
        "(benchmarks and tools that have no room service).",
    )
