"""`python -m room_service`: serve the room service API."""

import logging

from aiohttp import web

from .app import create_app
from .observability import AccessLogger, configure_json_logging
from .settings import RoomServiceSettings

if __name__ == "__main__":
    configure_json_logging(logging.INFO)  # one JSON object per line (room_service/observability.py)
    settings = RoomServiceSettings()
    web.run_app(
        create_app(settings), host=settings.host, port=settings.port, print=None, access_log_class=AccessLogger
    )
