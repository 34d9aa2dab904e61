"""The benchmark harness (bench/): figures, the server process, the lean client, and the URLs it requests.

Tiny, bounded runs only (a request cap, not a duration): these check that the benchmark measures what it
says — every URL it requests answers 2xx on the small demo, errors are counted, the server always goes.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench._load import EndpointResult, Server, Target, drive, format_table, make_client, percentile
from bench.pages import Prepared, meeting_sample, query_level, search_filters, search_paths


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7
    assert math.isnan(percentile([], 50))


def _result(latencies: list[float], status: dict[int, int], target: Target | None = None) -> EndpointResult:
    return EndpointResult(
        name="/x",
        paths=1,
        concurrency=1,
        elapsed_s=1.0,
        latencies_ms=latencies,
        status=Counter(status),
        target=target or Target(),
    )


def test_targets_and_errors() -> None:
    target = Target(min_rps=3, max_p95_ms=50)
    ok = _result([10.0, 20.0, 30.0, 40.0], {200: 4}, target)
    assert ok.verdict == "PASS"
    slow = _result([10.0, 20.0, 30.0, 400.0], {200: 4}, target)
    assert slow.verdict.startswith("FAIL") and "p95" in slow.verdict
    erring = _result([10.0, 20.0, 30.0, 40.0], {200: 3, 500: 1}, target)
    assert erring.errors == 1 and "errors" in erring.verdict
    few = _result([10.0, 20.0], {200: 2}, target)
    assert "req/s" in few.verdict
    table = format_table([ok, slow], baseline=ok)
    assert "p95 ms" in table and "1.00x" in table and "PASS" in table
    assert ok.as_json(ok)["rps_vs_baseline"] == 1.0


def _prepared(settings: Any) -> Prepared:
    return Prepared(
        db="test",
        scale="small",
        var_dir=Path(settings.var_dir).resolve(),
        database_url=settings.resolved_database_url,
        reused=True,
        prepare_s=None,
        counts={},
    )


@pytest.mark.parametrize("client_kind", ["raw", "httpx"])
async def test_server_process_and_bounded_load(demo_settings: Any, tmp_path: Path, client_kind: str) -> None:
    meetings = await meeting_sample(demo_settings, 5)
    assert meetings and meetings == await meeting_sample(demo_settings, 5)  # deterministic
    paths = search_paths(await search_filters(demo_settings))
    assert len(paths) == 60 and all(p.startswith("/suche?q=") for p in paths)

    server = Server(_prepared(demo_settings).server_env(), log_path=tmp_path / "server.log")
    with server:
        async with make_client(server.base_url, 4, client_kind) as client:
            healthz = await drive(
                client, "/healthz", ["/healthz"], duration=30, concurrency=4, max_requests=40, server=server
            )
            assert healthz.requests == 40 and healthz.errors == 0 and healthz.status[200] == 40
            assert healthz.server_cpu_s is not None

            pages = await drive(
                client,
                "/sitzungen/{id}",
                [f"/sitzungen/{m}" for m in meetings],
                duration=30,
                concurrency=2,
                max_requests=len(meetings),
            )
            assert pages.errors == 0, pages.error_samples
            assert pages.bytes_received > 1000 * len(meetings)

            search = await drive(client, "/suche", paths, duration=60, concurrency=2, max_requests=len(paths))
            assert search.requests == len(paths)
            assert search.errors == 0, search.error_samples

            missing = await drive(
                client, "404", ["/sitzungen/999999999"], duration=30, concurrency=1, max_requests=3
            )
            assert missing.errors == 3 and missing.status[404] == 3
            assert missing.verdict == "-"  # no target, but the errors are in the table and JSON
    assert server.proc is not None and server.proc.poll() is not None  # always stopped


async def test_server_that_cannot_start_is_reported(tmp_path: Path) -> None:
    server = Server({}, log_path=tmp_path / "server.log", app="bench.no_such_module:app", startup_timeout=30)
    with pytest.raises(RuntimeError, match="server exited"):
        with server:
            pass
    assert server.proc is not None and server.proc.poll() is not None


async def test_query_level(demo_settings: Any) -> None:
    figures = await query_level(demo_settings, rounds=1, budget_s=30)
    assert figures is not None and figures["calls"] > 0
    assert figures["per_query"]["Radweg"]["runs"] == 1
