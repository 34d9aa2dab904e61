"""One settings object, read once from ``RATHAUS_*`` environment variables and an optional ``.env``."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RATHAUS_", env_file=".env", extra="ignore")

    #: Where the SQLite database, the file store and other state live.
    var_dir: Path = Path("var")
    #: ``sqlite+aiosqlite:///…`` (default, under var_dir) or ``postgresql+asyncpg://…``.
    database_url: str = ""
    #: Base URL the site is reachable under (used in feeds, iCal and OParl links).
    base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    debug: bool = False

    #: Secret for signing (CSRF). Generated per process when unset — set it when running several.
    secret_key: str = Field(default_factory=lambda: secrets.token_hex(32))
    #: Mark cookies Secure (set this behind HTTPS).
    secure_cookies: bool = False

    municipality_name: str = "Hennef (Sieg)"

    #: Anonymous visitors get whole public pages from a per-process cache this many seconds old at
    #: most (0 switches it off). Signed-in users always get fresh pages.
    page_cache_seconds: float = 10.0

    #: Largest accepted upload in bytes (default 50 MB).
    max_upload_bytes: int = 50 * 1024 * 1024

    #: Run jobs inside the web process (embedded default). Off: run ``rathaus worker`` separately.
    jobs_in_process: bool = True
    #: Event bus: ``memory`` (one process), ``redis`` or ``postgres`` (several processes).
    channels_backend: Literal["memory", "redis", "postgres"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.var_dir / 'rathaus.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def files_dir(self) -> Path:
        return self.var_dir / "files"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
