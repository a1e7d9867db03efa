"""`python -m room_service`: serve the room service API."""

import logging

from aiohttp import web

from .app import create_app
from .settings import RoomServiceSettings

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = RoomServiceSettings()
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None)
