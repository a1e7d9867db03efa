"""Configuration of the room service process (environment variables, or a `.env` file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_API_KEY = "devkey"
DEV_API_SECRET = "bodyswap-local-development-secret-0123456789"  # matches livekit.yaml


class RoomServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    host: str = Field("127.0.0.1", validation_alias="BODYSWAP_ROOM_SERVICE_HOST")
    port: int = Field(8080, validation_alias="BODYSWAP_ROOM_SERVICE_PORT")
    public_url: str = Field(
        "http://127.0.0.1:8080",
        validation_alias="BODYSWAP_PUBLIC_URL",
        description="Base URL players open; invite links start with it",
    )
    internal_url: str | None = Field(
        None,
        validation_alias="BODYSWAP_INTERNAL_URL",
        description="Base URL agent workers reach this service at, to fetch the enrolled profiles "
        "of their room; defaults to http://HOST:PORT",
    )
    livekit_url: str = Field(
        "ws://127.0.0.1:7880",
        validation_alias="LIVEKIT_URL",
        description="LiveKit server URL the service itself uses",
    )
    livekit_public_url: str | None = Field(
        None,
        validation_alias="BODYSWAP_LIVEKIT_PUBLIC_URL",
        description="LiveKit URL handed to browsers; defaults to LIVEKIT_URL",
    )
    livekit_api_key: str = Field(DEV_API_KEY, validation_alias="LIVEKIT_API_KEY")
    livekit_api_secret: str = Field(
        DEV_API_SECRET, validation_alias="LIVEKIT_API_SECRET", min_length=32, repr=False
    )
    agent_name: str = Field("bodyswap", validation_alias="BODYSWAP_AGENT_NAME")
    swap_plugin: str = Field(
        "cpu-face+cpu-voice",
        validation_alias="BODYSWAP_SWAP_PLUGIN",
        description="Swap plugin a new room runs unless its creator picks another "
        "(an entry point of group bodyswap.plugins, or a face and a voice plugin joined by '+')",
    )
    token_ttl_minutes: int = Field(
        60,
        validation_alias="BODYSWAP_TOKEN_TTL_MINUTES",
        gt=0,
        description="Lifetime of players' LiveKit tokens; never longer than the room itself",
    )
    invite_ttl_minutes: int = Field(120, validation_alias="BODYSWAP_INVITE_TTL_MINUTES", gt=0)
    room_ttl_minutes: int = Field(
        240,
        validation_alias="BODYSWAP_ROOM_TTL_MINUTES",
        gt=0,
        description="A room and all its data are deleted this long after creation",
    )
    data_dir: Path = Field(
        Path(".run/room_service"),
        validation_alias="BODYSWAP_DATA_DIR",
        description="SQLite database and the per-room biometric store (owner-only permissions)",
    )
    redis_url: str | None = Field(
        None,
        validation_alias="BODYSWAP_REDIS_URL",
        description="Keep rooms in Redis (redis://host:port/db) instead of SQLite in the data dir",
    )
    room_lease_s: float = Field(
        15.0,
        validation_alias="BODYSWAP_ROOM_LEASE_S",
        gt=0,
        description="With Redis: how long a room stays with an instance that stopped renewing its "
        "lease (it died) before another instance takes the room over",
    )
    create_rate_per_minute: int = Field(10, validation_alias="BODYSWAP_CREATE_RATE_PER_MINUTE", gt=0)
    join_rate_per_minute: int = Field(30, validation_alias="BODYSWAP_JOIN_RATE_PER_MINUTE", gt=0)
    agent_join_timeout_s: float = Field(
        20.0,
        validation_alias="BODYSWAP_AGENT_JOIN_TIMEOUT_S",
        gt=0,
        description="A game whose agent has not joined this long after dispatch is dispatched again "
        "(every worker full, or the job died starting); then after twice as long, up to a minute",
    )
    sample_bodies_dir: Path | None = Field(
        None,
        validation_alias="BODYSWAP_SAMPLE_BODIES_DIR",
        description="Folder of portraits (JPEG, PNG, WebP) players may preview themselves in before "
        "the game; none: no mirror. ./bodyswap up uses ../shared/media/photos when it exists",
    )
    camera_wait_s: float = Field(
        10.0,
        validation_alias="BODYSWAP_CAMERA_WAIT_S",
        description="How long enrollment waits for a frame of the player's live camera",
    )

    @property
    def browser_livekit_url(self) -> str:
        return self.livekit_public_url or self.livekit_url

    @property
    def agent_base_url(self) -> str:
        return self.internal_url or f"http://{self.host}:{self.port}"
