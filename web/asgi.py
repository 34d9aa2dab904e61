"""ASGI entry point for uvicorn: ``web.asgi:app``."""

from council.core.settings import get_settings
from web.app import create_app
from web.logs import configure_logging

if get_settings().log_format == "json":  # worker processes of ``serve --workers N`` start here
    configure_logging("json")

app = create_app()
