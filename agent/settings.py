"""Configuration of the agent worker process (environment variables, or a `.env` file)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_API_KEY = "devkey"
DEV_API_SECRET = "bodyswap-local-development-secret-0123456789"  # matches livekit.yaml


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    livekit_url: str = Field(
        "ws://127.0.0.1:7880", validation_alias="LIVEKIT_URL", description="LiveKit server URL"
    )
    livekit_api_key: str = Field(DEV_API_KEY, validation_alias="LIVEKIT_API_KEY")
    livekit_api_secret: str = Field(
        DEV_API_SECRET, validation_alias="LIVEKIT_API_SECRET", min_length=32, repr=False
    )
    agent_name: str = Field(
        "bodyswap",
        validation_alias="BODYSWAP_AGENT_NAME",
        description="Name the room service dispatches to; explicit dispatch only",
    )
    health_host: str = Field("127.0.0.1", validation_alias="BODYSWAP_AGENT_HEALTH_HOST")
    health_port: int = Field(
        8081, validation_alias="BODYSWAP_AGENT_HEALTH_PORT", description="GET / answers OK when up"
    )
    player_slots: int = Field(
        8,
        validation_alias="BODYSWAP_AGENT_PLAYER_SLOTS",
        gt=0,
        description="Bodies this machine runs at once (e.g. per GPU); LiveKit dispatches no room "
        "to a worker whose slots are full, and the worker refuses a room that does not fit",
    )
    gpus: str = Field(
        "",
        validation_alias="BODYSWAP_AGENT_GPUS",
        description="CUDA devices this worker places rooms on, e.g. '0,1' (empty: no per-GPU "
        "placement); each room's job sees only its own device (CUDA_VISIBLE_DEVICES)",
    )
    player_slots_per_gpu: int | None = Field(
        None,
        validation_alias="BODYSWAP_AGENT_PLAYER_SLOTS_PER_GPU",
        gt=0,
        description="With BODYSWAP_AGENT_GPUS: bodies each GPU runs at once; a room goes whole onto "
        "the GPU with the most free slots, and the worker's slots are this times the GPUs",
    )
    job_memory_limit_mb: float = Field(
        4096,
        validation_alias="BODYSWAP_AGENT_JOB_MEMORY_LIMIT_MB",
        ge=0,
        description="A room's job process is killed above this resident memory (0: no cap)",
    )
    metrics_port: int | None = Field(
        8082,
        validation_alias="BODYSWAP_AGENT_METRICS_PORT",
        description="Prometheus metrics at http://HEALTH_HOST:PORT/metrics (unset: off)",
    )
    idle_processes: int = Field(
        1,
        validation_alias="BODYSWAP_AGENT_IDLE_PROCESSES",
        description="Job processes kept warm so a game starts without an import delay",
    )

    @property
    def gpu_devices(self) -> list[str]:
        return [d.strip() for d in self.gpus.split(",") if d.strip()]

    @model_validator(mode="after")
    def _per_gpu_slots_with_gpus(self) -> AgentSettings:
        if self.gpu_devices and self.player_slots_per_gpu is None:
            raise ValueError("BODYSWAP_AGENT_GPUS needs BODYSWAP_AGENT_PLAYER_SLOTS_PER_GPU (bodies per GPU)")
        if self.player_slots_per_gpu is not None and not self.gpu_devices:
            raise ValueError("BODYSWAP_AGENT_PLAYER_SLOTS_PER_GPU needs BODYSWAP_AGENT_GPUS (which GPUs)")
        return self
