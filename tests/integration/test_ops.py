"""Operating: readiness reasons, Prometheus metrics, JSON logs, the operator API, `rathaus transcribe`."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from council.core.settings import Settings
from tests.factories import make_town
from web.controllers.ops import ops_token

SPEECH = Path(__file__).parent.parent / "data" / "speech" / "chair.opus"


async def test_readyz_reports_every_check(client: Any, app: Any, settings: Settings) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    checks = r.json()["checks"]
    assert set(checks) == {"database", "file_store", "jobs", "ffmpeg", "whisper_model"}
    assert all(v.startswith("ok") for v in checks.values())
    # a file store that cannot be written: 503 with the reason
    if settings.files_dir.is_dir():
        shutil.rmtree(settings.files_dir)
    settings.files_dir.write_text("not a directory")
    try:
        r = await client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["file_store"].startswith("error")
    finally:
        settings.files_dir.unlink()


async def test_metrics_need_token_and_count_requests(client: Any, settings: Settings) -> None:
    assert (await client.get("/healthz")).status_code == 200
    r = await client.get("/metrics")
    assert r.status_code == 401
    for token in ("é", "\u202e", "x" * 10_000):  # a non-ASCII token made compare_digest raise (a 500)
        r = await client.get("/metrics", headers={"Authorization": f"Bearer {token}".encode()})
        assert r.status_code == 401
    r = await client.get("/metrics", headers={"Authorization": f"Bearer {ops_token(settings)}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'rathaus_http_requests_total{method="GET",route="/healthz",status="200"} 1' in text
    assert 'rathaus_http_request_duration_seconds_bucket{route="/healthz",le="+Inf"} 1' in text
    assert "rathaus_sse_clients 0" in text
    assert 'rathaus_jobs{state="queued"}' in text
    assert "rathaus_stream_live 0" in text
    assert 'rathaus_whep_viewers{meeting="all"} 0' in text
    for line in text.splitlines():  # every sample line is "name{labels} number"
        if line and not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])


async def test_ops_api_refusals_and_keys(client: Any, session: Any, settings: Settings) -> None:
    town = await make_town(session)
    await session.commit()
    mid = town.council_meeting.id  # type: ignore[union-attr]
    auth = {"Authorization": f"Bearer {ops_token(settings)}"}
    assert (await client.get(f"/api/ops/streams/{mid}")).status_code == 401
    r = await client.get(f"/api/ops/streams/{mid}", headers=auth)
    assert r.status_code == 200 and r.json()["state"] == "idle"
    assert (await client.get("/api/ops/streams/987654", headers=auth)).status_code == 404
    for bad in ("Bearer é", "bearer \xff"):
        r = await client.get(f"/api/ops/streams/{mid}", headers={"Authorization": bad.encode("utf-8")})
        assert r.status_code == 401
    for huge in (2**31, 2**63, 10**25):  # beyond the database's integers: 404 on every action
        assert (await client.get(f"/api/ops/streams/{huge}", headers=auth)).status_code == 404
        for action in ("stop", "key"):
            r = await client.post(f"/api/ops/streams/{huge}/{action}", headers=auth)
            assert r.status_code == 404, (action, r.text)
    for body in (
        {"source": "file:///etc/passwd"},
        {"source": "relative.mp4"},
        {"source": "testsrc?size=huge"},
        {"source": "http://[::1"},
    ):
        r = await client.post(f"/api/ops/streams/{mid}/start", json=body, headers=auth)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["detail"]
    r = await client.post(f"/api/ops/streams/{mid}/start", content=b"{nope", headers=auth)
    assert r.status_code == 400
    r = await client.post(f"/api/ops/streams/{mid}/stop", headers=auth)
    assert r.status_code == 404
    r = await client.post(f"/api/ops/streams/{mid}/explode", headers=auth)
    assert r.status_code == 404
    r = await client.post(f"/api/ops/streams/{mid}/key", headers=auth)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    data = r.json()
    assert len(data["key"]) >= 10 and data["urls"]["whip"].endswith(f"/whip/{mid}")


def test_json_log_lines() -> None:
    from web.logs import JsonFormatter

    record = logging.LogRecord("rathaus.test", logging.WARNING, __file__, 1, "hallo %s", ("Welt",), None)
    record.meeting_id = 7
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hallo Welt" and line["level"] == "WARNING" and line["meeting_id"] == 7


def test_transcribe_command(settings: Settings, tmp_path: Path, monkeypatch: Any) -> None:
    from council.core import settings as settings_mod
    from web.cli import main

    monkeypatch.setenv("RATHAUS_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("RATHAUS_DATABASE_URL", settings.resolved_database_url)
    settings_mod.get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = tmp_path / "t.json"
        r = runner.invoke(main, ["transcribe", str(SPEECH), "--format", "json", "-q", "-o", str(out)])
        assert r.exit_code == 0, r.output
        data = json.loads(out.read_text())
        assert data["segments"] and data["duration_s"] > 5
        assert "Sitzung" in " ".join(s["text"] for s in data["segments"])
        assert all(s["end"] > s["start"] >= 0 for s in data["segments"])
        r = runner.invoke(main, ["transcribe", str(SPEECH), "--format", "srt", "-q"])
        assert r.exit_code == 0 and "00:00:00,000 --> 00:00:" in r.output
        bad = tmp_path / "bad.mp3"
        bad.write_bytes(b"not audio at all" * 10)
        r = runner.invoke(main, ["transcribe", str(bad), "-q"])
        assert r.exit_code == 1 and "Error" in r.output
        r = runner.invoke(main, ["transcribe", "--meeting", "424242"])
        assert r.exit_code == 1 and "424242" in r.output
        r = runner.invoke(main, ["transcribe"])
        assert r.exit_code == 2
    finally:
        settings_mod.get_settings.cache_clear()


async def test_metrics_count_open_sse_streams(app: Any, session: Any, settings: Settings) -> None:
    import httpx

    from tests.integration.test_live import serve

    town = await make_town(session)
    await session.commit()
    mid = town.council_meeting.id  # type: ignore[union-attr]
    auth = {"Authorization": f"Bearer {ops_token(settings)}"}
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        async with http.stream("GET", f"/sitzungen/{mid}/live") as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():  # the state event has arrived: the stream is open
                if line.startswith("data:"):
                    break
            text = (await http.get("/metrics", headers=auth)).text
            assert "rathaus_sse_clients 1" in text
        for _ in range(50):  # the server notices the closed stream shortly after (bounded)
            text = (await http.get("/metrics", headers=auth)).text
            if "rathaus_sse_clients 0" in text:
                break
            await asyncio.sleep(0.1)
        assert "rathaus_sse_clients 0" in text
