"""`python -m agent start`: run the media worker (LiveKit Agents CLI)."""

from livekit.agents import cli

from .settings import AgentSettings
from .worker import build_server

if __name__ == "__main__":
    cli.run_app(build_server(AgentSettings()))
