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

    #: Log lines as plain ``text`` or one JSON object per line (``json``, for a log collector).
    log_format: Literal["text", "json"] = "text"

    #: Anonymous visitors get whole public pages from a per-process cache this many seconds old at
    #: most (0 switches it off). Signed-in users always get fresh pages.
    page_cache_seconds: float = 10.0

    #: Largest accepted upload in bytes (default 50 MB).
    max_upload_bytes: int = 50 * 1024 * 1024
    #: Councillor's workspace: stamp a line with the downloader's name on every page of non-public
    #: PDFs they download (single files, ZIP, merged PDF). Off: downloads are the stored files.
    workspace_watermark: bool = True

    #: Run jobs inside the web process (embedded default). Off: run ``rathaus worker`` separately.
    jobs_in_process: bool = True
    #: Event bus: ``memory`` (one process), ``redis`` or ``postgres`` (several processes).
    channels_backend: Literal["memory", "redis", "postgres"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"

    # --- streaming (streaming/) ---
    #: ffmpeg binary; empty: the one bundled by imageio-ffmpeg (pip-installed).
    ffmpeg_binary: str = ""
    #: HLS segment length in seconds (also the GOP length when transcoding).
    hls_segment_seconds: float = 1.0
    #: Live segments kept in the live playlist window (the archive keeps all).
    hls_list_size: int = 6
    #: Most WHEP (low-latency WebRTC) viewers per stream; beyond it the player falls back to HLS.
    whep_viewer_cap: int = 20
    #: Offer 127.0.0.1 as an ICE host candidate (tests, one-machine demo; aioice leaves it out).
    webrtc_loopback: bool = False
    #: RTMP / SRT listener ports (0 = off). One port each; the stream key picks the meeting.
    rtmp_port: int = 0
    srt_port: int = 0
    #: The raw recording (for the clerk) keeps non-consenting speakers' picture and sound.
    raw_keeps_original: bool = True
    #: Below this many free bytes on the media disk, the console shows an alarm.
    disk_alarm_free_bytes: int = 2 * 1024**3
    #: The demo command starts a test-pattern stream for the demo's live meeting.
    demo_stream: bool = False

    # --- transcripts (transcripts/) ---
    #: A CTranslate2 Whisper model directory; empty: the base model assembled from the PyPI packages
    #: into ``var_dir/models/whisper-base``.
    whisper_model_dir: str = ""
    whisper_language: str = "de"
    whisper_threads: int = 2
    #: Where Whisper runs: ``cpu`` (default), ``cuda`` (a GPU worker) or ``auto`` (CTranslate2 picks).
    whisper_device: Literal["cpu", "cuda", "auto"] = "cpu"
    #: CTranslate2 compute type: ``int8`` on CPUs; e.g. ``float16`` or ``int8_float16`` on a GPU.
    whisper_compute_type: str = "int8"
    #: Decoder windows per batched call of the final passes: 6 is as fast as wider batches on 2 cores
    #: (peak ~0.85-1.3 GB for the transcription process, model included); 2 keeps it at ~0.73 GB for a
    #: small server, ~1.2x slower (12-min bench set; docs/benchmarks.md).
    whisper_batch_size: int = Field(default=6, ge=1, le=32)
    #: Live captions while a stream runs.
    live_captions: bool = True
    #: The saved-search digest e-mail goes out once a day from this local (Europe/Berlin) hour on; the job
    #: runners enqueue it. 24 switches the automatic digest off (``rathaus alerts digest`` still works).
    alerts_digest_hour: int = Field(default=7, ge=0, le=24)
    #: Run transcription jobs on SAQ workers (``redis://…`` or ``postgresql://…``); empty: the job runner.
    saq_url: str = ""
    #: SAQ queue name (several Rathaus installations, or test runs, can share one Redis).
    saq_queue: str = "rathaus"

    # --- question time (council/questions/) ---
    #: Personal data (name, e-mail) of a closed question are deleted after this many days.
    questions_retention_days: int = 90
    #: GO rules: questions one person may ask per meeting; follow-up questions per question.
    questions_per_person: int = 2
    questions_follow_ups: int = 1
    #: Submissions per IP address / per e-mail address within ``questions_limit_window_s``
    #: (counted in Redis when channels_backend is redis, else in the process; IPs never reach the DB).
    questions_ip_limit: int = 10
    questions_email_limit: int = 5
    questions_limit_window_s: int = 3600
    #: Supports per IP address within the window.
    questions_support_limit: int = 60
    #: Outgoing mail (double opt-in, status notices); empty host: no mail is sent.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "rathaus@localhost"

    # --- papers and motions (council/backoffice) ---
    #: Reference pattern per paper type and year; fields: type_short, year, n (the running number).
    paper_reference_pattern: str = "{type_short}/{year}/{n:04d}"
    #: Rules of procedure: motions and inquiries reach the clerk at least this many days before the
    #: meeting that is to deal with them (a clerk may override, which is recorded).
    motion_deadline_days: int = 7

    @property
    def media_dir(self) -> Path:
        return self.var_dir / "media"

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
