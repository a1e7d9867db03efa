"""Each process reads its settings from the environment or a .env file, and refuses bad ones."""

import pytest
from pydantic import ValidationError

from agent.settings import AgentSettings
from room_service.settings import RoomServiceSettings
from scripts.stack import StackSettings


def test_defaults_match_the_local_livekit_config(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env here
    for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    rooms, agent = RoomServiceSettings(), AgentSettings()
    assert rooms.livekit_url == agent.livekit_url == "ws://127.0.0.1:7880"
    assert rooms.livekit_api_secret == agent.livekit_api_secret
    assert StackSettings().livekit_config.name == "livekit.yaml"


def test_environment_overrides_and_dotenv_is_read(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("BODYSWAP_ROOM_SERVICE_PORT=9999\nBODYSWAP_AGENT_NAME=from-dotenv\n")
    monkeypatch.setenv("BODYSWAP_AGENT_NAME", "from-env")
    monkeypatch.setenv("BODYSWAP_LIVEKIT_PUBLIC_URL", "wss://lk.example.test")
    rooms, agent = RoomServiceSettings(), AgentSettings()
    assert rooms.port == 9999
    assert agent.agent_name == rooms.agent_name == "from-env"  # the environment wins over .env
    assert rooms.browser_livekit_url == "wss://lk.example.test"


def test_a_short_api_secret_is_refused(monkeypatch):
    monkeypatch.setenv("LIVEKIT_API_SECRET", "too-short")
    with pytest.raises(ValidationError, match="at least 32"):
        AgentSettings()
    with pytest.raises(ValidationError):
        RoomServiceSettings()


def test_secrets_stay_out_of_reprs():
    assert AgentSettings().livekit_api_secret not in repr(AgentSettings())
    assert RoomServiceSettings().livekit_api_secret not in repr(RoomServiceSettings())
