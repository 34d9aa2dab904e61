"""A small OParl 1.1 endpoint for importer tests and the benchmark, served on loopback.

``FakeOParl`` holds a town (system, one body, terms, locations, organisations, persons with
memberships, meetings with agenda items and files, papers with consultations and files) and serves it
as a plain ASGI app; ``serve(fake)`` runs it with uvicorn in a thread on 127.0.0.1. ``faults`` switches
on the vendor faults the importer must survive (see ``FAULTS``); ``touch``/``delete``/``add_meeting``
change the data for incremental runs; ``requests`` logs every request path with its raw query.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

FAULTS = {
    "filter_404",  # lists with modified_since answer 404
    "filter_bare_array",  # lists with modified_since answer a bare []
    "body_object",  # /bodies answers the Body object instead of a list
    "deleted_without_type",  # deleted objects carry only id/deleted/modified
    "location_without_type",  # embedded Locations have no type
    "person_location_object",  # Person.location is an embedded object
    "auxiliary_file_object",  # auxiliaryFile is one object, not an array
    "placeholders",  # "N/A" and whitespace-only strings
    "control_characters",  # raw control characters inside JSON strings
    "file_date_timestamp",  # File.date is a timestamp
    "short_mime",  # mimeType "pdf" / "docx"
    "size_zero",  # File.size 0
    "empty_download_url",  # downloadUrl "" (accessUrl still given)
    "random_5xx",  # every third request answers 503 (once per URL)
    "reject_encoded_query",  # a query string with %-escapes answers 400
    "foreign_file",  # one file lives on another host
    "big_file",  # one file is larger than the test's download limit
}

OLD = "2024-03-01T10:00:00+01:00"
T = "https://schema.oparl.org/1.1/"
LISTS = (
    "organization",
    "person",
    "meeting",
    "paper",
    "membership",
    "agendaItem",
    "consultation",
    "file",
    "legislativeTermList",
    "locationList",
)


@lru_cache(maxsize=64)
def make_pdf(text: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.text(20, 30, text.encode("latin-1", "replace").decode("latin-1"))
    return bytes(pdf.output())


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


class FakeOParl:
    def __init__(
        self,
        faults: set[str] | None = None,
        *,
        meetings: int = 3,
        papers: int = 4,
        items_per_meeting: int = 3,
        page_size: int = 2,
    ) -> None:
        unknown = set(faults or ()) - FAULTS
        if unknown:
            raise ValueError(f"unknown faults {unknown}")
        self.faults = set(faults or ())
        self.page_size = page_size
        self.n_meetings = meetings
        self.n_papers = papers
        self.items_per_meeting = items_per_meeting
        self.base = "http://127.0.0.1:0"
        self.requests: list[str] = []
        self._failed: set[str] = set()
        self._count = 0
        self.lock = threading.Lock()
        #: list name -> id -> object (top-level objects; embedded ones live inside their parent)
        self.data: dict[str, dict[str, dict[str, Any]]] = {}
        self.files: dict[str, bytes] = {}

    # --- data -----------------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"{self.base}/oparl/v1{path}"

    def build(self) -> None:
        f = self.faults
        b = self.url("/body/1")
        self.data = {name: {} for name in LISTS}
        loc_type = {} if "location_without_type" in f else {"type": T + "Location"}
        town_hall = {
            "id": self.url("/location/1"),
            **loc_type,
            "description": "Rathaus",
            "streetAddress": "Markt 1",
            "room": "Ratssaal",
            "postalCode": "53773",
            "locality": "Hennef (Sieg)",
            "created": OLD,
            "modified": OLD,
        }
        self.body = {
            "id": b,
            "type": T + "Body",
            "system": self.url("/system"),
            "name": "Stadt Hennef (Sieg)",
            "shortName": "Hennef",
            "website": "https://www.hennef.de",
            "ags": "05382024",
            "contactEmail": "N/A" if "placeholders" in f else "rat@hennef.de",
            "legislativeTerm": [
                {
                    "id": self.url("/term/1"),
                    "type": T + "LegislativeTerm",
                    "body": b,
                    "name": "Wahlperiode 2020-2025",
                    "startDate": "2020-11-01",
                    "endDate": "2025-10-31",
                    "created": OLD,
                    "modified": OLD,
                }
            ],
            "location": town_hall,
            **{name: f"{b}/{name}" for name in LISTS},
            "created": OLD,
            "modified": OLD,
        }
        self.data["locationList"][town_hall["id"]] = town_hall
        self.data["legislativeTermList"][self.url("/term/1")] = self.body["legislativeTerm"][0]
        orgs = [
            ("Rat der Stadt Hennef", "Rat", "Gremium", None),
            ("Ausschuss für Stadtentwicklung", "ASV", "Gremium", 1),
            ("Fraktion Bürgerliste", "BL", "Fraktion", None),
        ]
        for i, (name, short, kind, sub) in enumerate(orgs, 1):
            oid = self.url(f"/organization/{i}")
            self.data["organization"][oid] = {
                "id": oid,
                "type": T + "Organization",
                "body": b,
                "name": name,
                "shortName": short,
                "organizationType": kind,
                "classification": "   " if "placeholders" in f and i == 3 else kind,
                "post": ["Vorsitz", "Mitglied"],
                "subOrganizationOf": self.url(f"/organization/{sub}") if sub else None,
                "location": town_hall if i == 1 else None,
                "created": OLD,
                "modified": OLD,
            }
        people = [("Anna", "Becker"), ("Jürgen", "Schäfer"), ("Özlem", "Yılmaz"), ("Karl", "Weiß")]
        for i, (given, family) in enumerate(people, 1):
            pid = self.url(f"/person/{i}")
            memberships = []
            for j, org in enumerate((1, 2 if i % 2 else 3), 1):
                memberships.append(
                    {
                        "id": self.url(f"/membership/{i}-{j}"),
                        "type": T + "Membership",
                        "organization": self.url(f"/organization/{org}"),
                        "role": "Mitglied",
                        "votingRight": True,
                        "startDate": "2020-11-01",
                        "onBehalfOf": self.url("/organization/3") if org != 3 and i == 2 else None,
                        "created": OLD,
                        "modified": OLD,
                    }
                )
            person = {
                "id": pid,
                "type": T + "Person",
                "body": b,
                "name": f"{given} {family}",
                "givenName": given,
                "familyName": family,
                "formOfAddress": "Frau" if i % 2 else "Herr",
                "title": ["Dr."] if i == 1 else [],
                "email": [f"{given.lower()}@example.org"],
                "life": "  " if "placeholders" in f else f"{given} lebt in Hennef.",
                "membership": memberships,
                "created": OLD,
                "modified": OLD,
            }
            if i == 1:
                if "person_location_object" in f:
                    person["location"] = {**town_hall, "id": self.url("/location/2"), "room": "Büro 1"}
                else:
                    person["location"] = town_hall["id"]
            self.data["person"][pid] = person
            for ms in memberships:
                self.data["membership"][ms["id"]] = {**ms, "person": pid}
        for i in range(1, self.n_meetings + 1):
            self._add_meeting(i, OLD)
        for i in range(1, self.n_papers + 1):
            self._add_paper(i, OLD)

    def _file(self, key: str, name: str, modified: str) -> dict[str, Any]:
        f = self.faults
        fid = self.url(f"/file/{key}")
        path = f"/files/{key}.pdf"
        host = self.base
        if "foreign_file" in f and key == "p2-main":
            host = self.base.replace("127.0.0.1", "localhost")
        data = make_pdf(f"{name} Radweg Bebauungsplan {key}")
        if "big_file" in f and key == "p3-main":
            data = data + b"\n%" + b"x" * 300_000
        self.files[path] = data
        obj = {
            "id": fid,
            "type": T + "File",
            "name": name,
            "fileName": f"{key}.pdf",
            "mimeType": "application/pdf",
            "date": "2024-02-20",
            "size": len(data),
            "accessUrl": host + path,
            "downloadUrl": host + path,
            "created": OLD,
            "modified": modified,
        }
        if "file_date_timestamp" in f:
            obj["date"] = "2024-02-20T09:30:00+01:00" if key.endswith("main") else 1708417800
        if "short_mime" in f:
            obj["mimeType"] = "pdf" if key.startswith("p") else "docx"
            if not key.startswith("p"):
                obj["fileName"] = f"{key}.docx"
        if "size_zero" in f:
            obj["size"] = 0
        if "empty_download_url" in f and key == "p1-main":
            obj["downloadUrl"] = ""
        self.data["file"][fid] = obj
        return obj

    def _add_meeting(self, i: int, modified: str) -> None:
        f = self.faults
        mid = self.url(f"/meeting/{i}")
        loc = self.data["locationList"][self.url("/location/1")]
        items = []
        for j in range(1, self.items_per_meeting + 1):
            aid = self.url(f"/agendaitem/{i}-{j}")
            item = {
                "id": aid,
                "type": T + "AgendaItem",
                "meeting": mid,
                "number": f"{j}",
                "order": j,
                "name": f"Tagesordnungspunkt {j} der Sitzung {i}: Radweg Uckerath",
                "public": j != self.items_per_meeting,
                "result": "N/A" if "placeholders" in f else "beschlossen",
                "resolutionText": "Der Ausschuss beschließt.",
                "created": OLD,
                "modified": modified,
            }
            if j == 1:
                aux = self._file(f"m{i}-a{j}", f"Anlage zu TOP {j}", modified)
                item["auxiliaryFile"] = aux if "auxiliary_file_object" in f else [aux]
            items.append(item)
            self.data["agendaItem"][aid] = item
        meeting = {
            "id": mid,
            "type": T + "Meeting",
            "name": f"{i}. Sitzung des Ausschusses für Stadtentwicklung",
            "meetingState": "durchgeführt",
            "cancelled": False,
            "start": f"2024-02-{10 + i:02d}T17:00:00+01:00",
            "end": f"2024-02-{10 + i:02d}T19:30:00+01:00",
            "location": loc,
            "organization": [self.url("/organization/2")],
            "invitation": self._file(f"m{i}-inv", f"Einladung {i}", modified),
            "agendaItem": items,
            "created": OLD,
            "modified": modified,
        }
        self.data["meeting"][mid] = meeting

    def _add_paper(self, i: int, modified: str) -> None:
        pid = self.url(f"/paper/{i}")
        consultations = []
        for j, mi in enumerate((1, 2), 1):
            if i > self.n_meetings:
                break
            cid = self.url(f"/consultation/{i}-{j}")
            c = {
                "id": cid,
                "type": T + "Consultation",
                "paper": pid,
                "meeting": self.url(f"/meeting/{min(mi + i - 1, self.n_meetings)}"),
                "agendaItem": self.url(f"/agendaitem/{min(mi + i - 1, self.n_meetings)}-1"),
                "organization": [self.url("/organization/2")],
                "authoritative": j == 2,
                "role": "Vorberatung" if j == 1 else "Entscheidung",
                "created": OLD,
                "modified": modified,
            }
            consultations.append(c)
            self.data["consultation"][cid] = c
        aux = self._file(f"p{i}-aux", f"Lageplan {i}", modified)
        paper = {
            "id": pid,
            "type": T + "Paper",
            "body": self.url("/body/1"),
            "name": f"Bebauungsplan Nr. {i} – Radweg",
            "reference": f"V/2024/{i:03d}",
            "date": "2024-02-01",
            "paperType": "Beschlussvorlage",
            "mainFile": self._file(f"p{i}-main", f"Vorlage {i}", modified),
            "auxiliaryFile": aux if "auxiliary_file_object" in self.faults else [aux],
            "relatedPaper": [self.url(f"/paper/{i - 1}")] if i > 1 else [],
            "originatorPerson": [self.url("/person/1")],
            "underDirectionOf": [self.url("/organization/1")],
            "consultation": consultations,
            "created": OLD,
            "modified": modified,
        }
        if "control_characters" in self.faults and i == 1:
            paper["name"] = "Bebauungsplan\x01 Nr. 1\t– Radweg"
        self.data["paper"][pid] = paper

    # --- changes for incremental runs -------------------------------------------------------------------

    def touch_paper(self, i: int, name: str) -> None:
        p = self.data["paper"][self.url(f"/paper/{i}")]
        p["name"] = name
        p["modified"] = now_iso()

    def add_meeting(self) -> str:
        self.n_meetings += 1
        self._add_meeting(self.n_meetings, now_iso())
        return self.url(f"/meeting/{self.n_meetings}")

    def delete(self, list_name: str, oid: str) -> None:
        obj: dict[str, Any] = {"id": oid, "deleted": True, "created": OLD, "modified": now_iso()}
        if "deleted_without_type" not in self.faults:
            obj["type"] = self.data[list_name][oid].get("type")
        self.data[list_name][oid] = obj

    def count(self) -> int:
        """Objects a full import reads (top-level and embedded, once each), without the body."""
        ids: set[str] = set()

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                if isinstance(value.get("id"), str) and ("type" in value or "deleted" in value):
                    ids.add(value["id"])
                for v in value.values():
                    walk(v)
            elif isinstance(value, list):
                for v in value:
                    walk(v)

        for objs in self.data.values():
            walk(list(objs.values()))
        walk(self.body.get("legislativeTerm"))
        return len(ids)

    # --- HTTP -------------------------------------------------------------------------------------------

    def _page(self, name: str, query: dict[str, list[str]], raw_query: str) -> Any:
        objs = list(self.data[name].values())
        since = query.get("modified_since", [None])[0]
        if since is not None:
            moment = datetime.fromisoformat(since.replace("Z", "+00:00").replace(" ", "+"))
            objs = [o for o in objs if datetime.fromisoformat(o["modified"]) >= moment]
        else:
            objs = [o for o in objs if not o.get("deleted")]
        page = int(query.get("page", ["1"])[0])
        start = (page - 1) * self.page_size
        chunk = objs[start : start + self.page_size]
        links: dict[str, str] = {}
        if start + self.page_size < len(objs):
            rest = "&".join(p for p in raw_query.split("&") if p and not p.startswith("page="))
            links["next"] = self.url(f"/body/1/{name}") + f"?{rest + '&' if rest else ''}page={page + 1}"
        return {
            "data": chunk,
            "pagination": {
                "totalElements": len(objs),
                "elementsPerPage": self.page_size,
                "currentPage": page,
            },
            "links": links,
        }

    def route(self, path: str, raw_query: str) -> tuple[int, Any, str]:
        f = self.faults
        query = parse_qs(raw_query, keep_blank_values=True)
        if path.startswith("/files/"):
            data = self.files.get(path)
            return (200, data, "application/pdf") if data is not None else (404, {"error": "nf"}, "")
        if "reject_encoded_query" in f and "%" in raw_query:
            return 400, {"error": "bad query"}, ""
        if path == "/oparl/v1/system":
            return (
                200,
                {
                    "id": self.url("/system"),
                    "type": T + "System",
                    "oparlVersion": "https://schema.oparl.org/1.1/",
                    "body": self.url("/bodies"),
                    "name": "Fake OParl",
                    "created": OLD,
                    "modified": OLD,
                },
                "",
            )
        if path == "/oparl/v1/bodies":
            if "body_object" in f:
                return 200, self.body, ""
            return 200, {"data": [self.body], "pagination": {}, "links": {}}, ""
        if path == "/oparl/v1/body/1":
            return 200, self.body, ""
        prefix = "/oparl/v1/body/1/"
        if path.startswith(prefix) and path[len(prefix) :] in LISTS:
            if "modified_since" in query:
                if "filter_404" in f:
                    return 404, {"error": "not found"}, ""
                if "filter_bare_array" in f:
                    return 200, [], ""
            return 200, self._page(path[len(prefix) :], query, raw_query), ""
        return 404, {"error": "not found"}, ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path = scope["path"]
        raw_query = scope.get("query_string", b"").decode("latin-1")
        full = path + ("?" + raw_query if raw_query else "")
        with self.lock:
            self.requests.append(full)
            self._count += 1
            fail = "random_5xx" in self.faults and self._count % 3 == 0 and full not in self._failed
            if fail:
                self._failed.add(full)
        if fail:
            status, payload, ctype = 503, {"error": "busy"}, ""
        else:
            status, payload, ctype = self.route(path, raw_query)
        if isinstance(payload, bytes):
            body = payload
        else:
            try:
                body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:  # lone surrogates: as \ud800 escapes (valid JSON text)
                body = json.dumps(payload).encode("ascii")
            if "control_characters" in self.faults:
                body = body.replace(b"\\u0001", b"\x01").replace(b"\\t", b"\t")
            ctype = "application/json; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


@contextmanager
def serve(fake: FakeOParl) -> Iterator[FakeOParl]:
    """Serve ``fake`` on a free loopback port (uvicorn in a thread); builds its data for that URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    fake.base = f"http://127.0.0.1:{port}"
    fake.build()
    config = uvicorn.Config(fake, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake OParl server did not start")
        time.sleep(0.02)
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=10)
