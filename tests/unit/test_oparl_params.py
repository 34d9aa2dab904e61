"""OParl list filters and value formatting (pure functions)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from council.oparl.lists import MAX_LIMIT, BadListParameter, parse_datetime, parse_list_params
from council.oparl.serialize import Urls, _put, fmt_date, fmt_datetime


def test_datetimes_are_berlin_with_offset_to_the_second() -> None:
    assert fmt_datetime(datetime(2026, 1, 15, 17, 0, 0, 123456, tzinfo=UTC)) == "2026-01-15T18:00:00+01:00"
    assert fmt_datetime(datetime(2026, 7, 15, 17, 0, tzinfo=UTC)) == "2026-07-15T19:00:00+02:00"
    assert fmt_date(date(2026, 3, 1)) == "2026-03-01"


def test_optional_fields_never_empty() -> None:
    out: dict[str, object] = {}
    for key, value in {"a": None, "b": "", "c": [], "d": {}, "e": False, "f": 0, "g": "x"}.items():
        _put(out, key, value)
    assert out == {"e": False, "f": 0, "g": "x"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-01-31T18:00:00+01:00", datetime(2024, 1, 31, 17, 0, tzinfo=UTC)),
        ("2024-01-31T18:00:00 01:00", datetime(2024, 1, 31, 17, 0, tzinfo=UTC)),  # "+" decoded as space
        ("2024-01-31T17:00:00Z", datetime(2024, 1, 31, 17, 0, tzinfo=UTC)),
        ("2024-01-31T18:00", datetime(2024, 1, 31, 17, 0, tzinfo=UTC)),  # no offset: Europe/Berlin
        ("2024-07-31T19:00:00.5+02:00", datetime(2024, 7, 31, 17, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_parse_datetime(raw: str, expected: datetime) -> None:
    assert parse_datetime("created_since", raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "2024-01-31",
        "gestern",
        "2024-02-30T00:00:00Z",
        "2024-01-31T18:00:00+25:00",
        "\x00",
        "\ud800",
        "\u202e2024-01-31T18:00:00Z",
        "9" * 10000,
        "2024-01-31 18:00:00",
    ],
)
def test_parse_datetime_rejects(raw: str) -> None:
    with pytest.raises(BadListParameter) as exc:
        parse_datetime("modified_since", raw)
    assert exc.value.parameter == "modified_since"


def test_list_params_and_links() -> None:
    params = parse_list_params(
        {
            "modified_since": "2024-01-01T00:00:00+01:00",
            "limit": "5000",
            "page": "3",
            "omit_internal": "",
            "unknown": "ignored",
        }
    )
    assert params.limit == MAX_LIMIT and params.page == 3 and params.omit_internal and params.include_deleted
    link = params.link("https://x/oparl/v1/body/1/papers", 4)
    assert link == (
        "https://x/oparl/v1/body/1/papers?modified_since=2024-01-01T00%3A00%3A00%2B01%3A00"
        "&omit_internal=true&limit=1000&page=4"
    )
    assert parse_list_params({}).link("https://x/l", 1) == "https://x/l"
    for bad in (
        {"limit": "0"},
        {"page": "-1"},
        {"omit_internal": "maybe"},
        {"created_since": "2024-02-01T00:00:00Z", "created_until": "2024-01-01T00:00:00Z"},
    ):
        with pytest.raises(BadListParameter):
            parse_list_params(bad)


def test_urls() -> None:
    u = Urls("https://rat.example.org/")
    assert u.obj("agenda-item", 7) == "https://rat.example.org/oparl/v1/agenda-item/7"
    assert u.file_access(3).endswith("/oparl/v1/file/3/access")
    assert u.body_list(1, "papers") == "https://rat.example.org/oparl/v1/body/1/papers"
