"""OParl 1.1 conformance on the demo municipality: a crawler walks from System through every list and
every link, validating each object against the official schemas (/work/shared/oparl-1.1-schema, with
the fixes its README asks for) and the rules the schemas miss.

The helpers here (``OParlChecker``, ``crawl``) are also used by ``test_oparl_api.py``.
"""

from __future__ import annotations

import copy
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from sqlalchemy import select

from council.records.access import (
    ANONYMOUS,
    agenda_item_visible,
    file_visible,
    meeting_visible,
    paper_visible,
)
from council.records.models import AgendaItem, File, Meeting, Paper

BASE = "http://127.0.0.1:8000"
API = BASE + "/oparl/v1"
TYPE_PREFIX = "https://schema.oparl.org/1.1/"

_REPO = Path(__file__).resolve().parents[2]
SCHEMA_CANDIDATES = [_REPO / "shared" / "oparl-1.1-schema", _REPO.parent / "shared" / "oparl-1.1-schema"]

BODY_EXTRA_LISTS = ["agendaItem", "consultation", "file", "membership", "locationList", "legislativeTermList"]
#: (embedding type, field) → back-reference fields the embedded copy must leave out.
EMBEDDED_BACKREFS: dict[str, set[str]] = {
    "AgendaItem": {"meeting"},
    "Consultation": {"paper"},
    "Membership": {"person"},
    "LegislativeTerm": {"body"},
    # ``text`` only on the standalone File and in the files list (docs/oparl.md)
    "File": {"meeting", "agendaItem", "paper", "text"},
    "Location": {"bodies", "organizations", "persons", "meetings", "papers"},
}
URL_KIND = {
    "body": "Body",
    "legislative-term": "LegislativeTerm",
    "organization": "Organization",
    "person": "Person",
    "membership": "Membership",
    "meeting": "Meeting",
    "agenda-item": "AgendaItem",
    "paper": "Paper",
    "consultation": "Consultation",
    "file": "File",
    "location": "Location",
}
OBJECT_URL = re.compile(r"^" + re.escape(API) + r"/([a-z-]+)/(\d+)$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}$")


def schema_dir() -> Path:
    for candidate in SCHEMA_CANDIDATES:
        if (candidate / "System.json").exists():
            return candidate
    pytest.skip("OParl 1.1 schemas not found (expected shared/oparl-1.1-schema)")


def _rewrite(node: Any) -> Any:
    """``{"type": "object", "schema": "X.json"}`` → ``{"$ref": "X.json"}`` (README quirk)."""
    if isinstance(node, dict):
        if isinstance(node.get("schema"), str) and node["schema"].endswith(".json"):
            if node.get("type") == "object":
                return {"$ref": node["schema"]}
            node = {k: v for k, v in node.items() if k != "schema"}
        return {k: _rewrite(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v) for v in node]
    return node


class OParlChecker:
    """Validates objects against the schemas plus the rules of the 1.1 text the schemas miss."""

    def __init__(self) -> None:
        directory = schema_dir()
        self.raw: dict[str, dict[str, Any]] = {}
        resources = []
        for path in sorted(directory.glob("*.json")):
            name = path.stem
            raw = json.loads(path.read_text(encoding="utf-8"))
            self.raw[name] = raw
            fixed = _rewrite(copy.deepcopy(raw))
            fixed["$id"] = path.name
            required = list(fixed.get("required", []))
            for extra in ("created", "modified"):
                if extra not in required:
                    required.append(extra)
            if name == "Body":
                required += [f for f in BODY_EXTRA_LISTS if f not in required]
            fixed["required"] = required
            resources.append((path.name, Resource.from_contents(fixed, default_specification=_draft7())))
        self.registry: Registry[Any] = Registry().with_resources(resources)
        self.validators = {
            name: Draft7Validator(self.registry.contents(f"{name}.json"), registry=self.registry)
            for name in self.raw
        }

    def check(self, obj: dict[str, Any], *, embedded_in: str | None = None, where: str = "") -> list[str]:
        """Problems with one object (empty list: fine)."""
        problems: list[str] = []
        type_uri = obj.get("type", "")
        if not isinstance(type_uri, str) or not type_uri.startswith(TYPE_PREFIX):
            return [f"{where}: bad type {type_uri!r}"]
        name = type_uri.removeprefix(TYPE_PREFIX)
        if name not in self.validators:
            return [f"{where}: unknown type {name}"]
        where = where or str(obj.get("id"))
        if obj.get("deleted") is True:
            if set(obj) != {"id", "type", "created", "modified", "deleted"}:
                problems.append(
                    f"{where}: deleted object carries more than id/type/created/modified: {set(obj)}"
                )
            for key in ("created", "modified"):
                if not DATETIME.match(str(obj.get(key, ""))):
                    problems.append(f"{where}: deleted object {key} {obj.get(key)!r}")
            return problems
        for error in self.validators[name].iter_errors(obj):
            problems.append(f"{where}: schema: {error.message} at {list(error.absolute_path)}")
        problems += self._rules(name, obj, where)
        if embedded_in is not None:
            leaked = set(obj) & EMBEDDED_BACKREFS.get(name, set())
            if leaked:
                problems.append(f"{where}: embedded {name} in {embedded_in} keeps back-reference {leaked}")
        return problems

    def _rules(self, name: str, obj: dict[str, Any], where: str) -> list[str]:
        problems: list[str] = []
        props: dict[str, Any] = self.raw[name]["properties"]
        required = set(self.raw[name].get("required", [])) | {"legislativeTerm"}
        for key, value in obj.items():
            here = f"{where}.{key}"
            if key.startswith("rathaus:"):
                continue
            if key not in props:
                problems.append(f"{here}: not an OParl field (vendor fields need the rathaus: prefix)")
                continue
            if value is None or (isinstance(value, (str, list, dict)) and not value and key not in required):
                problems.append(f"{here}: empty optional field ({value!r})")
                continue
            spec = props[key]
            fmt = spec.get("format")
            if spec.get("type") == "array":
                items = value
                fmt = spec.get("items", {}).get("format")
            else:
                items = [value]
            for item in items:
                if fmt == "date" and not DATE.match(str(item)):
                    problems.append(f"{here}: not yyyy-mm-dd: {item!r}")
                if fmt == "date-time" and not DATETIME.match(str(item)):
                    problems.append(f"{here}: not a date-time with offset: {item!r}")
                if fmt == "url" and not str(item).startswith(("http://", "https://")):
                    problems.append(f"{here}: not a URL: {item!r}")
            embedded_schema = spec.get("schema") or spec.get("items", {}).get("schema")
            if embedded_schema and spec.get("type") in ("object", "array"):
                for item in items:
                    if isinstance(item, dict):
                        problems += self.check(item, embedded_in=name, where=f"{here}")
        return problems


def _draft7() -> Any:
    from referencing.jsonschema import DRAFT7

    return DRAFT7


@pytest.fixture(scope="session")
def checker() -> OParlChecker:
    return OParlChecker()


# --- the crawler ---------------------------------------------------------------------------------------


@dataclass
class Crawl:
    #: Standalone copies fetched at their own URL (also those first seen in a list).
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Embedded copies: url → (copy, embedding type).
    embedded: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    #: Object URLs per OParl type found in lists.
    listed: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    #: Every OParl URL met anywhere.
    referenced: set[str] = field(default_factory=set)
    broken: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    requests: int = 0


def _urls_in(node: Any, out: set[str], skip_keys: frozenset[str] = frozenset()) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in skip_keys:
                _urls_in(value, out, skip_keys)
    elif isinstance(node, list):
        for value in node:
            _urls_in(value, out, skip_keys)
    elif isinstance(node, str) and node.startswith(API):
        out.add(node)


def _embedded_in(node: dict[str, Any], crawl: Crawl, parent: str) -> None:
    for value in node.values():
        children = value if isinstance(value, list) else [value]
        for child in children:
            if isinstance(child, dict) and "id" in child and "type" in child:
                crawl.embedded.setdefault(child["id"], (child, parent))
                _embedded_in(child, crawl, str(child["type"]).removeprefix(TYPE_PREFIX))


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def crawl(client: Any, checker: OParlChecker, *, fetch_files: bool = True) -> Crawl:
    """Walk from System through every list (all pages) and every link."""
    result = Crawl()
    queue: list[str] = [API + "/system"]
    seen: set[str] = set(queue)
    files: set[str] = set()

    def enqueue(urls: set[str]) -> None:
        for url in sorted(urls):
            result.referenced.add(url)
            if url.endswith("/access") or url.endswith("/download"):
                files.add(url)
                continue
            if url not in seen:
                seen.add(url)
                queue.append(url)

    while queue:
        url = queue.pop()
        response = await client.get(_path(url))
        result.requests += 1
        if response.status_code != 200:
            result.broken.append(f"{url} -> {response.status_code}")
            continue
        if response.headers.get("access-control-allow-origin") != "*":
            result.problems.append(f"{url}: no CORS header")
        if "set-cookie" in response.headers:
            result.problems.append(f"{url}: sets a cookie")
        doc = response.json()
        found: set[str] = set()
        if "data" in doc and "pagination" in doc:
            links = doc["links"]
            pag = doc["pagination"]
            # keyset pages (``after``/``before``) have no count; numbered ones and the first page do
            if "totalPages" in pag:
                if pag["currentPage"] < pag["totalPages"] and "next" not in links:
                    result.problems.append(f"{url}: no next link before the last page")
                if pag["currentPage"] >= pag["totalPages"] and "next" in links:
                    result.problems.append(f"{url}: next link on the last page")
            if "next" in links and not doc["data"]:
                result.problems.append(f"{url}: empty page with a next link")
            if "self" not in links or "first" not in links:
                result.problems.append(f"{url}: no self or first link")
            for item in doc["data"]:
                if "rathaus:" in str(doc.get("type", "")):
                    continue
                type_name = str(item.get("type", "")).removeprefix(TYPE_PREFIX)
                result.listed[type_name].add(item["id"])
                result.problems += checker.check(item, where=item.get("id", url))
                if not item.get("deleted"):
                    result.objects.setdefault(item["id"], item)
                    seen.add(item["id"])  # retrievability of listed objects is checked below
                    _embedded_in(item, result, type_name)
                _urls_in(item, found)
            _urls_in(links, found)
        elif doc.get("type") == "rathaus:Timeline":
            _urls_in(doc, found)
        else:
            result.problems += checker.check(doc, where=url)
            if doc.get("id") != url.split("?")[0]:
                result.problems.append(f"{url}: id is {doc.get('id')!r}")
            result.objects[url] = doc
            if doc.get("type") == TYPE_PREFIX + "System":
                pass
            else:
                _embedded_in(doc, result, str(doc.get("type", "")).removeprefix(TYPE_PREFIX))
            _urls_in(doc, found)
        enqueue(found)

    # every object seen only in a list or embedded is retrievable at its own URL
    for url in sorted(set(result.embedded) | set(result.objects)):
        if OBJECT_URL.match(url):
            response = await client.get(_path(url))
            result.requests += 1
            if response.status_code != 200:
                result.broken.append(f"{url} -> {response.status_code}")
            else:
                result.objects[url] = response.json()
    if fetch_files:
        for url in sorted(files):
            response = await client.get(_path(url))
            result.requests += 1
            if response.status_code != 200:
                result.broken.append(f"{url} -> {response.status_code}")
            elif url.endswith("/access") and "content-disposition" in response.headers:
                result.problems.append(f"{url}: accessUrl sends Content-Disposition")
            elif url.endswith("/download") and "attachment" not in response.headers.get(
                "content-disposition", ""
            ):
                result.problems.append(f"{url}: downloadUrl without Content-Disposition: attachment")
    return result


def assert_consistent(result: Crawl) -> None:
    assert not result.broken, result.broken[:20]
    assert not result.problems, result.problems[:20]
    # every object referenced anywhere is in its list
    for url in sorted(result.referenced | set(result.embedded)):
        m = OBJECT_URL.match(url)
        if not m:
            continue
        type_name = URL_KIND[m.group(1)]
        obj = result.objects.get(url)
        if obj is not None and obj.get("deleted"):
            continue
        assert url in result.listed[type_name], f"{url} is missing from the {type_name} list"
    # embedded copies are the standalone copies without the back-references
    for url, (copy_, parent) in result.embedded.items():
        standalone = result.objects[url]
        name = standalone["type"].removeprefix(TYPE_PREFIX)
        extra = set(standalone) - set(copy_)
        assert extra <= EMBEDDED_BACKREFS.get(name, set()), f"{url} embedded in {parent} lacks {extra}"
        for key, value in copy_.items():
            assert standalone[key] == value, f"{url}.{key} differs between embedded and standalone copy"


def ids_of(urls: set[str], segment: str) -> set[int]:
    out = set()
    for url in urls:
        m = OBJECT_URL.match(url)
        if m and m.group(1) == segment:
            out.add(int(m.group(2)))
    return out


# --- the demo ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def demo_crawl(demo_client: Any, checker: OParlChecker) -> Crawl:
    return await crawl(demo_client, checker)


async def test_demo_crawl_finds_no_broken_link_and_valid_objects(demo_crawl: Crawl) -> None:
    assert demo_crawl.requests > 50
    assert_consistent(demo_crawl)
    for name in (
        "Body",
        "Organization",
        "Person",
        "Membership",
        "Meeting",
        "AgendaItem",
        "Paper",
        "Consultation",
        "File",
        "Location",
        "LegislativeTerm",
    ):
        assert demo_crawl.listed[name], f"the demo emits no {name}"


async def test_demo_crawl_shows_exactly_the_public_records(demo_crawl: Crawl, demo_db: Any) -> None:
    seen = demo_crawl.referenced | set(demo_crawl.objects) | set(demo_crawl.embedded)
    async with demo_db.sessionmaker() as s:
        for model, clause, segment in (
            (Meeting, meeting_visible(ANONYMOUS), "meeting"),
            (AgendaItem, agenda_item_visible(ANONYMOUS), "agenda-item"),
            (Paper, paper_visible(ANONYMOUS), "paper"),
            (File, file_visible(ANONYMOUS), "file"),
        ):
            visible = set((await s.execute(select(model.id).where(clause))).scalars())
            hidden = set((await s.execute(select(model.id).where(~clause))).scalars())
            emitted = ids_of(seen, segment)
            listed = ids_of(demo_crawl.listed[URL_KIND[segment]], segment)
            assert not emitted & hidden, f"non-public {segment}s leak: {sorted(emitted & hidden)[:10]}"
            assert listed == visible, f"{segment} list differs from the public records"
        hidden_any = set((await s.execute(select(Meeting.id).where(Meeting.public.is_(False)))).scalars())
    assert hidden_any, "the demo should have non-public meetings to hide"


async def test_demo_pages_link_their_oparl_twin(demo_client: Any, demo_crawl: Crawl) -> None:
    meeting_url = sorted(demo_crawl.listed["Meeting"])[0]
    meeting_id = meeting_url.rsplit("/", 1)[1]
    html = (await demo_client.get(f"/sitzungen/{meeting_id}")).text
    assert f'<link rel="alternate" type="application/json" href="/oparl/v1/meeting/{meeting_id}"' in html
    paper_id = sorted(demo_crawl.listed["Paper"])[0].rsplit("/", 1)[1]
    html = (await demo_client.get(f"/vorlagen/{paper_id}")).text
    assert f'href="/oparl/v1/paper/{paper_id}"' in html
    meeting = demo_crawl.objects[meeting_url]
    assert meeting["web"].endswith(f"/sitzungen/{meeting_id}")
