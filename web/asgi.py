"""ASGI entry point for uvicorn: ``web.asgi:app``."""

from web.app import create_app

app = create_app()
