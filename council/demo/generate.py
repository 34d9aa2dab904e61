"""The demo municipality generator: a fictional council of a Hennef-like town, deterministic per seed.

``load_demo(database, settings, scale=..., seed=...)`` plans the whole town in memory first (records with
ids given here, so the same seed gives the same ids), renders the PDFs, then writes everything with bulk
inserts (Core ``insert()`` executemany in batches) in one transaction. Dates are laid out around
``today`` (default: the current date): past meetings were held and have results and minutes, the next
ones are invited or scheduled.

Scales: ``small`` (tests: ~12 meetings, ~60 papers, ~20 persons, 3 committees), ``standard``
(``rathaus demo``: ~40 meetings, ~300 papers, ~50 councillors, 8 committees, 6 factions) and ``10y``
(ten years, ~2,000 meetings, ~20,000 papers, one-page PDFs).
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import logging
import math
import random
import time
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, insert, select, update

from council.demo import data
from council.demo.pdf import Line, render
from council.documents.store import FileStore
from council.records import models as m

log = logging.getLogger(__name__)

BERLIN = ZoneInfo("Europe/Berlin")
SCALES = ("small", "standard", "10y")

#: NRW local election terms.
TERMS = [
    ("Wahlperiode 2014–2020", date(2014, 6, 1), date(2020, 10, 31)),
    ("Wahlperiode 2020–2025", date(2020, 11, 1), date(2025, 10, 31)),
    ("Wahlperiode 2025–2030", date(2025, 11, 1), date(2030, 10, 31)),
]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ScaleSpec:
    committees: tuple[str, ...]
    council_size: int  # including the mayor
    citizens: int  # sachkundige Bürgerinnen und Bürger
    staff: int  # Beigeordnete etc.
    committee_size: tuple[int, int]
    meetings: int
    new_items: tuple[int, int]  # new papers introduced per public meeting
    confidential: tuple[int, int]  # non-public papers per meeting of the council/HFA/BVA
    pages: tuple[int, int]
    aux_ratio: float
    nonpublic_meetings: int
    cancelled: int
    years: int | None  # None: from about six months ago


_ALL = tuple(c[0] for c in data.COMMITTEES)
SPECS: dict[str, ScaleSpec] = {
    # committees, council, citizens, staff, committee size, meetings, new items, confidential, pages, annexes,
    # non-public meetings, cancelled, years
    "small": ScaleSpec(
        tuple(data.SMALL_COMMITTEES), 15, 3, 1, (8, 9), 12, (4, 5), (0, 1), (1, 2), 0.25, 2, 1, None
    ),
    "standard": ScaleSpec(_ALL, 52, 16, 3, (11, 15), 40, (7, 9), (0, 2), (1, 3), 0.3, 2, 1, None),
    "10y": ScaleSpec(_ALL, 52, 16, 3, (11, 15), 2000, (9, 12), (0, 2), (1, 1), 0.05, 20, 12, 10),
}


@dataclass
class DemoSummary:
    scale: str
    seed: int
    today: date
    bodies: int = 0
    legislative_terms: int = 0
    locations: int = 0
    organizations: int = 0
    persons: int = 0
    memberships: int = 0
    meetings: int = 0
    agenda_items: int = 0
    papers: int = 0
    consultations: int = 0
    files: int = 0
    file_bytes: int = 0
    search_documents: int | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(self.timings.values())

    def describe(self) -> str:
        t = ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items())
        return (
            f"{self.persons} Personen, {self.organizations} Gremien/Fraktionen/Ämter, {self.memberships} "
            "Mitgliedschaften, "
            f"{self.meetings} Sitzungen, {self.agenda_items} Tagesordnungspunkte, {self.papers} Vorlagen, "
            f"{self.consultations} Beratungen, {self.files} Dateien ({self.file_bytes / 1e6:.1f} MB) "
            f"in {self.seconds:.1f}s ({t})"
        )


# --- the plan --------------------------------------------------------------------------------------


class Ids:
    def __init__(self, start: dict[str, int]) -> None:
        self._next = dict(start)

    def __call__(self, table: str) -> int:
        value = self._next.get(table, 1)
        self._next[table] = value + 1
        return value


@dataclass(eq=False)
class Org:
    id: int
    key: str
    name: str
    short_name: str
    organization_type: str
    classification: str
    genitive: str = ""
    parent: Org | None = None
    statutory_members: int | None = None
    location_id: int | None = None
    start_date: date | None = None
    post: list[str] = field(default_factory=list)
    gap_days: float = 30.0


@dataclass(eq=False)
class Person:
    id: int
    given: str
    family: str
    female: bool
    title: list[str]
    kind: str  # councillor | mayor | citizen | staff
    faction: Org | None = None

    @property
    def name(self) -> str:
        return " ".join([*self.title, self.given, self.family])


@dataclass(eq=False)
class Meeting:
    id: int
    org: Org
    day: date
    start: datetime
    location_id: int
    public: bool = True
    cancelled: bool = False
    state: str = "terminiert"
    number: int = 0
    items: list[Item] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    invitation: FilePlan | None = None
    protocol: FilePlan | None = None
    end: datetime | None = None

    @property
    def held(self) -> bool:
        return self.state == "durchgeführt"

    @property
    def name(self) -> str:
        return f"{self.number}. Sitzung des {self.org.genitive}"


@dataclass(eq=False)
class Item:
    id: int
    meeting: Meeting
    name: str
    public: bool
    number: str = ""
    order: int = 0
    result: str | None = None
    resolution_text: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(eq=False)
class Paper:
    id: int
    kind: str  # Beschlussvorlage | Antrag | Anfrage | Mitteilungsvorlage | Ergänzungsvorlage
    prefix: str
    name: str
    day: date
    public: bool
    department: Org | None
    sections: list[tuple[str, str]]
    originator_orgs: list[Org] = field(default_factory=list)
    originator_persons: list[Person] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    reference: str = ""
    main_file: FilePlan | None = None
    aux_files: list[FilePlan] = field(default_factory=list)
    related: list[Paper] = field(default_factory=list)
    superordinated: Paper | None = None
    cost: int = 0
    topic_kind: str = ""  # planung/tiefbau/... for annexes


@dataclass(eq=False)
class Step:
    id: int
    paper: Paper
    org: Org
    role: str
    position: int
    authoritative: bool
    meeting: Meeting | None = None
    item: Item | None = None
    result: str | None = None


@dataclass(eq=False)
class FilePlan:
    id: int
    name: str
    file_name: str
    day: date
    public: bool
    lines: list[Line]
    max_pages: int | None = None
    footer: str = ""
    sha512: str = ""
    size: int = 0
    text: str = ""
    page_count: int = 0


def _ascii(value: str) -> str:
    value = value.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    value = value.replace("Ä", "Ae").replace("Ö", "Oe").replace("Ü", "Ue")
    value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return "".join(c if c.isalnum() or c in ".-" else "-" for c in value).strip("-").lower()


def _euro(value: int) -> str:
    return f"{value:,}".replace(",", ".") + " Euro"


def _de(day: date) -> str:
    return day.strftime("%d.%m.%Y")


WEEKDAYS = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"]


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, dtime(hour, minute), tzinfo=BERLIN).astimezone(UTC)


def _largest_remainder(total: int, weights: Sequence[int], minimum: int = 1) -> list[int]:
    s = sum(weights)
    raw = [total * w / s for w in weights]
    seats = [max(minimum, math.floor(r)) for r in raw]
    order = sorted(range(len(weights)), key=lambda i: -(raw[i] - math.floor(raw[i])))
    i = 0
    while sum(seats) < total:
        seats[order[i % len(order)]] += 1
        i += 1
    while sum(seats) > total:
        j = max(range(len(seats)), key=lambda k: seats[k])
        seats[j] -= 1
    return seats


class Planner:
    """Builds the whole town in memory (deterministic for a seed)."""

    def __init__(self, scale: str, seed: int, today: date, start_ids: dict[str, int]) -> None:
        self.scale = scale
        self.spec = SPECS[scale]
        self.rng = random.Random(seed)
        self.today = today
        self.ids = Ids(start_ids)
        if self.spec.years:
            self.first_day = date(today.year - self.spec.years + 1, 1, 1)
        else:
            self.first_day = (today.replace(day=1) - timedelta(days=140)).replace(day=1)
        self.last_day = today + timedelta(days=85)
        self.terms = [t for t in TERMS if t[2] >= self.first_day - timedelta(days=400)]
        self.titles: set[str] = set()
        self.persons: list[Person] = []
        self.memberships: list[dict[str, Any]] = []
        self.meetings: list[Meeting] = []
        self.papers: list[Paper] = []
        self.files: list[FilePlan] = []

    # -- helpers
    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[self.rng.randrange(len(seq))]

    def values(self, year: int) -> dict[str, Any]:
        rng = self.rng
        place, place2 = rng.sample(data.PLACES, 2)
        return {
            "place": place,
            "place2": place2,
            "street": self.pick(data.STREETS),
            "road": self.pick(data.ROADS),
            "school": self.pick(data.SCHOOLS),
            "kita": self.pick(data.KITAS),
            "sport": self.pick(data.SPORTS),
            "nr": f"{rng.randint(1, 16):02d}.{rng.randint(1, 48)}",
            "n": rng.randint(2, 60),
            "ha": f"{rng.randint(1, 12)},{rng.randint(0, 9)}",
            "year": year,
            "year2": year + 1,
            "year0": year - 1,
            "mio": f"{rng.randint(1, 9)},{rng.randint(0, 9)}",
            "eur": f"{rng.randint(20, 400) * 1000:,}".replace(",", "."),
            "what": self.pick(data.WHAT),
            "fee": self.pick(data.FEES),
            "dept": self.pick(data.DEPARTMENTS)[1],
        }

    # -- organisation and people
    def plan_structure(self) -> None:
        ids = self.ids
        spec = self.spec
        self.body_id = ids("body")
        loc: list[dict[str, Any]] = []
        for description, room in (
            ("Rathaus Hennef", "Ratssaal"),
            ("Rathaus Hennef", "Sitzungssaal 1.12"),
            ("Rathaus Hennef", "Sitzungssaal 1.13"),
        ):
            loc.append(
                {
                    "id": ids("location"),
                    "description": description,
                    "room": room,
                    "street_address": "Frankfurter Straße 97",
                    "postal_code": "53773",
                    "locality": "Hennef (Sieg)",
                    "sub_locality": "Hennef-Mitte",
                    "geojson": {"type": "Point", "coordinates": [7.2835, 50.7757]},
                }
            )
        loc.append(
            {
                "id": ids("location"),
                "description": "Aula der Gesamtschule Meiersheide",
                "room": "Aula",
                "street_address": "Fritz-Jacobi-Straße 20",
                "postal_code": "53773",
                "locality": "Hennef (Sieg)",
                "sub_locality": "Hennef-Mitte",
                "geojson": None,
            }
        )
        self.location_rows = loc
        self.hall, self.room112, self.room113, self.aula = (int(r["id"]) for r in loc)

        first_term_start = self.terms[0][1]
        self.mayor_org = Org(
            ids("organization"), "bm", "Bürgermeister", "BM", "Verwaltungsbereich", "Verwaltungsspitze"
        )
        self.departments: dict[str, Org] = {}
        for key, name, short in data.DEPARTMENTS:
            self.departments[key] = Org(
                ids("organization"), key, name, short, "Verwaltungsbereich", "Amt", parent=self.mayor_org
            )
        self.council = Org(
            ids("organization"),
            "Rat",
            "Rat der Stadt Hennef (Sieg)",
            "Rat",
            "Gremium",
            "Rat",
            genitive="Rates der Stadt Hennef (Sieg)",
            statutory_members=spec.council_size,
            location_id=self.hall,
            start_date=first_term_start,
            post=["Bürgermeister", "Stellvertretende Bürgermeisterin", "Ratsmitglied"],
        )
        self.committees: dict[str, Org] = {}
        sizes: dict[str, int] = {}
        for short, name, genitive, _topic in data.COMMITTEES:
            if short not in spec.committees:
                continue
            size = spec.committee_size[1] if short == "HFA" else self.rng.randint(*spec.committee_size)
            sizes[short] = size
            self.committees[short] = Org(
                ids("organization"),
                short,
                name,
                short,
                "Gremium",
                "Ausschuss",
                genitive=genitive,
                parent=self.council,
                statutory_members=size,
                location_id=self.hall if short == "HFA" else self.pick([self.room112, self.room113]),
                start_date=first_term_start,
                post=["Vorsitz", "stellv. Vorsitz", "Mitglied", "sachkundiger Bürger"],
            )
        self.factions: list[Org] = []
        for short, name, _seats in data.FACTIONS:
            self.factions.append(
                Org(
                    ids("organization"),
                    short,
                    name,
                    short,
                    "Fraktion",
                    "Fraktion",
                    start_date=first_term_start,
                    post=["Fraktionsvorsitz", "stellv. Fraktionsvorsitz", "Mitglied"],
                )
            )
        self.orgs = [
            self.mayor_org,
            *self.departments.values(),
            self.council,
            *self.committees.values(),
            *self.factions,
        ]

        # people
        used: set[tuple[str, str]] = set()

        def new_person(kind: str, faction: Org | None = None) -> Person:
            while True:
                female = self.rng.random() < 0.42
                given = self.pick(data.GIVEN_FEMALE if female else data.GIVEN_MALE)
                family = self.pick(data.FAMILY)
                if (given, family) not in used:
                    used.add((given, family))
                    break
            r = self.rng.random()
            title = ["Dr."] if r < 0.08 else (["Prof.", "Dr."] if r < 0.09 else [])
            p = Person(ids("person"), given, family, female, title, kind, faction)
            self.persons.append(p)
            return p

        seats = _largest_remainder(spec.council_size - 1, [f[2] for f in data.FACTIONS])
        self.mayor = new_person("mayor")
        self.staff = [new_person("staff") for _ in range(spec.staff)]
        term_members: list[dict[Org, list[Person]]] = []
        previous: dict[Org, list[Person]] | None = None
        for _t_index, _term in enumerate(self.terms):
            members: dict[Org, list[Person]] = {}
            for faction, n in zip(self.factions, seats, strict=True):
                keep = [p for p in (previous or {}).get(faction, []) if self.rng.random() < 0.78][:n]
                while len(keep) < n:
                    keep.append(new_person("councillor", faction))
                members[faction] = keep
            term_members.append(members)
            previous = members
        citizens = [
            new_person("citizen", self.factions[i % len(self.factions)]) for i in range(spec.citizens)
        ]

        # memberships
        def ms(
            person: Person,
            org: Org,
            role: str,
            start: date,
            end: date | None,
            *,
            voting: bool = True,
            behalf: Org | None = None,
        ) -> None:
            self.memberships.append(
                {
                    "id": ids("membership"),
                    "person_id": person.id,
                    "organization_id": org.id,
                    "role": role,
                    "voting_right": voting,
                    "start_date": start,
                    "end_date": end,
                    "on_behalf_of_id": behalf.id if behalf else None,
                }
            )

        current = len(self.terms) - 1
        self.chairs: dict[tuple[int, int], Person] = {}
        for t_index, (_name, start, end) in enumerate(self.terms):
            t_end = None if t_index == current else end
            mayor_title = "Bürgermeisterin" if self.mayor.female else "Bürgermeister"
            ms(self.mayor, self.council, mayor_title, start, t_end)
            members = term_members[t_index]
            councillors: list[Person] = []
            for faction in self.factions:
                group = members[faction]
                for i, p in enumerate(group):
                    ms(p, self.council, "Ratsmitglied", start, t_end, behalf=faction)
                    role = (
                        "Fraktionsvorsitz"
                        if i == 0
                        else ("stellv. Fraktionsvorsitz" if i == 1 else "Mitglied")
                    )
                    ms(p, faction, role, start, t_end)
                    councillors.append(p)
            # committees: seats per faction, councillors first, some sachkundige Bürger
            for c_index, (short, committee) in enumerate(self.committees.items()):
                size = sizes[short]
                voting = size - (1 if short == "HFA" else 0)
                fseats = _largest_remainder(voting, [len(members[f]) for f in self.factions], minimum=0)
                chosen: list[tuple[Person, Org, bool]] = []
                for faction, n in zip(self.factions, fseats, strict=True):
                    pool = list(members[faction])
                    self.rng.shuffle(pool)
                    n_citizens = 0 if short in ("HFA", "RPA") or n < 3 else 1
                    for p in pool[: n - n_citizens]:
                        chosen.append((p, faction, True))
                    cands = [c for c in citizens if c.faction is faction]
                    for k in range(min(n_citizens, len(cands))):
                        chosen.append((cands[(c_index + k) % len(cands)], faction, False))
                chair_faction = self.factions[c_index % 3]
                chair_done = vice_done = False
                if short == "HFA":
                    ms(self.mayor, committee, "Vorsitz", start, t_end)
                    chair_done = True
                    self.chairs[(committee.id, t_index)] = self.mayor
                for p, faction, is_councillor in chosen:
                    if not is_councillor:
                        role = "sachkundige Bürgerin" if p.female else "sachkundiger Bürger"
                        ms(p, committee, role, start, t_end, voting=False, behalf=faction)
                        continue
                    if not chair_done and faction is chair_faction:
                        role, chair_done = "Vorsitz", True
                        self.chairs[(committee.id, t_index)] = p
                    elif not vice_done and faction is not chair_faction and faction in self.factions[:3]:
                        role, vice_done = "stellv. Vorsitz", True
                    else:
                        role = "Mitglied"
                    ms(p, committee, role, start, t_end, behalf=faction)
        for i, p in enumerate(self.staff):
            role = ["Erster Beigeordneter", "Kämmerer", "Technischer Beigeordneter"][i % 3]
            if p.female:
                role = (
                    role.replace("Erster Beigeordneter", "Erste Beigeordnete")
                    .replace("Kämmerer", "Kämmerin")
                    .replace("Technischer Beigeordneter", "Technische Beigeordnete")
                )
            ms(p, self.mayor_org, role, self.terms[0][1], None)
        ms(
            self.mayor,
            self.mayor_org,
            "Bürgermeisterin" if self.mayor.female else "Bürgermeister",
            self.terms[0][1],
            None,
        )
        self.term_members = term_members

    def faction_chair(self, faction: Org, day: date) -> Person:
        t_index = max(i for i, t in enumerate(self.terms) if t[1] <= day) if day >= self.terms[0][1] else 0
        return self.term_members[t_index][faction][0]

    # -- meetings
    def plan_meetings(self) -> None:
        spec = self.spec
        rng = self.rng
        orgs = [self.council, *self.committees.values()]
        weights = [1.3 if o is self.council else (0.7 if o.key == "RPA" else 1.0) for o in orgs]
        span = (self.last_day - self.first_day).days
        counts = _largest_remainder(spec.meetings, [int(w * 100) for w in weights])
        taken: set[tuple[int, date]] = set()
        self.day_load: dict[date, int] = {}
        self.max_per_day = max(
            2, math.ceil(spec.meetings / ((self.last_day - self.first_day).days * 4 / 7) * 1.5)
        )
        for org, n in zip(orgs, counts, strict=True):
            gap = span / n
            org.gap_days = gap
            for i in range(n):
                day = self.first_day + timedelta(days=int(gap * i + rng.uniform(0.1, 0.9) * gap))
                day = self._weekday(day, org, taken)
                if day > self.last_day:
                    continue
                taken.add((org.id, day))
                hour = 17 if rng.random() < 0.5 else 18
                location = org.location_id or self.room112
                if org is not self.council and rng.random() < 0.1:
                    location = self.aula
                self.meetings.append(Meeting(self.ids("meeting"), org, day, _local(day, hour), location))
        # ids in chronological order
        self.meetings.sort(key=lambda mt: (mt.start, mt.org.id))
        for mt, new_id in zip(self.meetings, sorted(mt.id for mt in self.meetings), strict=True):
            mt.id = new_id
        upcoming = [mt for mt in self.meetings if mt.day > self.today]
        if upcoming and upcoming[0].day > self.today + timedelta(days=14):
            first = upcoming[0]
            first.day = self._weekday(self.today + timedelta(days=6), first.org, taken)
            first.start = _local(first.day, first.start.astimezone(BERLIN).hour)
            self.meetings.sort(key=lambda mt: (mt.start, mt.org.id))
        for mt in self.meetings:
            if mt.day < self.today:
                mt.state = "durchgeführt"
            elif mt.day <= self.today + timedelta(days=14):
                mt.state = "eingeladen"
        # numbers per organisation and term
        counters: dict[tuple[int, int], int] = {}
        for mt in self.meetings:
            t_index = max((i for i, t in enumerate(self.terms) if t[1] <= mt.day), default=0)
            key = (mt.org.id, t_index)
            if key not in counters:
                term_start = self.terms[t_index][1]
                before = max(0, (mt.day - term_start).days) if term_start < self.first_day else 0
                counters[key] = int(before / mt.org.gap_days)
            counters[key] += 1
            mt.number = counters[key]
        # non-public and cancelled meetings
        past_committee = [mt for mt in self.meetings if mt.held and mt.org.key in ("RPA", "BVA", "HFA")]
        by_key: dict[str, list[Meeting]] = {}
        for mt in past_committee:
            by_key.setdefault(mt.org.key, []).append(mt)
        order = [k for k in ("RPA", "BVA", "HFA") if k in by_key]
        chosen: list[Meeting] = []
        i = 0
        while len(chosen) < spec.nonpublic_meetings and any(by_key.get(k) for k in order):
            pool = by_key[order[i % len(order)]]
            if pool:
                chosen.append(pool.pop(rng.randrange(len(pool))))
            i += 1
        for mt in chosen:
            mt.public = False
            mt.location_id = self.room113
        future = [mt for mt in self.meetings if not mt.held and mt.org is not self.council and mt.public]
        cancel = []
        if future:
            cancel.append(future[min(len(future) - 1, 1)])
        if spec.cancelled > 1:
            past = [mt for mt in self.meetings if mt.held and mt.public and mt.org is not self.council]
            cancel += rng.sample(past, min(len(past), spec.cancelled - 1))
        for mt in cancel:
            mt.cancelled = True
            if mt.held:
                mt.state = "eingeladen"
        self.by_org: dict[int, list[Meeting]] = {}
        for mt in self.meetings:
            if mt.public and not mt.cancelled:
                self.by_org.setdefault(mt.org.id, []).append(mt)
        self.by_org_days = {k: [mt.day for mt in v] for k, v in self.by_org.items()}

    def _weekday(self, day: date, org: Org, taken: set[tuple[int, date]]) -> date:
        # Monday–Thursday, no meetings in the summer break (mid-July to mid-August) or around Christmas.
        while True:
            if day.weekday() > 3:
                day += timedelta(days=7 - day.weekday())
                continue
            if (day.month == 7 and day.day >= 14) or (day.month == 8 and day.day < 18):
                day = date(day.year, 8, 18)
                continue
            if (day.month == 12 and day.day >= 20) or (day.month == 1 and day.day < 8):
                day = date(day.year + (1 if day.month == 12 else 0), 1, 8)
                continue
            if (org.id, day) in taken or self.day_load.get(day, 0) >= self.max_per_day:
                day += timedelta(days=1)
                continue
            self.day_load[day] = self.day_load.get(day, 0) + 1
            return day

    def next_meeting(self, org: Org, after: date) -> Meeting | None:
        days = self.by_org_days.get(org.id, [])
        i = bisect.bisect_right(days, after)
        return self.by_org[org.id][i] if i < len(days) else None

    # -- papers
    def plan_papers(self) -> None:
        rng = self.rng
        spec = self.spec
        topics_for: dict[str, list[data.Topic]] = {}
        for topic in data.TOPICS:
            committee = data.DEPARTMENT_COMMITTEE[topic.department]
            if committee not in self.committees:
                committee = "Rat"
            topics_for.setdefault(committee, []).append(topic)
        for mt in self.meetings:
            if mt.cancelled:
                continue
            if not mt.public:
                for _ in range(rng.randint(2, 4)):
                    self._confidential(mt)
                continue
            for _ in range(rng.randint(*spec.new_items)):
                r = rng.random()
                if r < 0.55:
                    self._proposal(mt, topics_for)
                elif r < 0.7:
                    self._motion(mt)
                elif r < 0.8:
                    self._question(mt)
                else:
                    self._notice(mt)
            if mt.org.key in ("Rat", "HFA", "BVA"):
                for _ in range(rng.randint(*spec.confidential)):
                    self._confidential(mt)
        # references: numbered per prefix and year in date order
        counters: dict[tuple[str, int], int] = {}
        yearly = {"V": 380, "A": 90, "AF": 60, "M": 140}
        for paper in sorted(self.papers, key=lambda p: (p.day, p.id)):
            if paper.kind == "Ergänzungsvorlage":
                continue
            key = (paper.prefix, paper.day.year)
            if key not in counters:
                start_offset = 0
                if paper.day.year == self.first_day.year and self.first_day.month > 1:
                    start_offset = int(self.first_day.timetuple().tm_yday / 365 * yearly[paper.prefix])
                counters[key] = start_offset
            counters[key] += 1
            paper.reference = f"{paper.prefix}/{paper.day.year}/{counters[key]:04d}"
        for paper in self.papers:
            if paper.kind == "Ergänzungsvorlage" and paper.superordinated is not None:
                paper.reference = f"{paper.superordinated.reference}-1"
        self.papers.sort(key=lambda p: p.id)

    def _new_paper(
        self,
        kind: str,
        prefix: str,
        name: str,
        day: date,
        public: bool,
        department: Org | None,
        sections: list[tuple[str, str]],
    ) -> Paper:
        paper = Paper(self.ids("paper"), kind, prefix, name, day, public, department, sections)
        self.papers.append(paper)
        return paper

    def _path(self, paper: Paper, first: Meeting, roles: list[tuple[Org, str]]) -> None:
        """Schedules the consultation path; the first step is at ``first``."""
        meeting: Meeting | None = first
        after = first.day
        position = 0
        postponed = False
        for index, (org, role) in enumerate(roles):
            last = index == len(roles) - 1
            while True:
                if index > 0 or meeting is None:
                    meeting = self.next_meeting(org, after)
                step = Step(
                    self.ids("consultation"), paper, org, role, position, last and role == "Entscheidung"
                )
                position += 1
                paper.steps.append(step)
                if meeting is None:
                    break
                step.meeting = meeting
                meeting.steps.append(step)
                after = meeting.day
                if meeting.held:
                    step.result = self._result(paper, role, postponed)
                    if step.result == "vertagt":
                        postponed = True
                        step.authoritative = False
                        meeting = None
                        continue
                break
            if meeting is None:
                # the rest of the path is planned, not yet on an agenda
                for org2, role2 in roles[index + 1 :]:
                    step = Step(
                        self.ids("consultation"), paper, org2, role2, position, role2 == "Entscheidung"
                    )
                    position += 1
                    paper.steps.append(step)
                break
            if step.result == "abgelehnt":
                break
            meeting = None

    def _result(self, paper: Paper, role: str, postponed: bool) -> str:
        if role == "Kenntnisnahme":
            return "zur Kenntnis genommen"
        r = self.rng.random()
        if not postponed and r < 0.07:
            return "vertagt"
        if paper.kind == "Antrag" and r < 0.3:
            return "abgelehnt"
        if r < 0.09 and role == "Entscheidung":
            return "abgelehnt"
        return "einstimmig beschlossen" if r < 0.62 else "mehrheitlich beschlossen"

    def _proposal(self, mt: Meeting, topics_for: dict[str, list[data.Topic]]) -> None:
        rng = self.rng
        topics = topics_for.get(mt.org.key) or data.TOPICS
        day = mt.day - timedelta(days=rng.randint(9, 30))
        for _attempt in range(8):  # avoid the same title twice where the lists allow
            topic: data.Topic = self.pick(topics)
            v = self.values(day.year)
            name = topic.title.format(**v)
            if name not in self.titles:
                break
        self.titles.add(name)
        cost = rng.randint(*topic.cost) // 1000 * 1000 if topic.cost[1] else 0
        department = self.departments[topic.department]
        proposal = topic.proposal.format(**v)
        if mt.org is not self.council and not topic.council:
            proposal = proposal.replace("Der Rat ", f"Der {mt.org.name} ")
        facts = " ".join(s.format(**v) for s in topic.facts)
        sections = [
            ("Sachverhalt", facts),
            ("Beschlussvorschlag", proposal),
            ("Finanzielle Auswirkungen", self._finance(cost, day)),
        ]
        paper = self._new_paper("Beschlussvorlage", "V", name, day, True, department, sections)
        paper.cost = cost
        paper.topic_kind = topic.department
        paper.originator_orgs = [self.mayor_org]
        roles: list[tuple[Org, str]] = []
        if mt.org is self.council:
            roles = [(self.council, "Entscheidung")]
        elif topic.council:
            roles = [(mt.org, "Vorberatung")]
            if cost >= 500000 and mt.org.key != "HFA" and "HFA" in self.committees:
                roles.append((self.committees["HFA"], "Vorberatung"))
            roles.append((self.council, "Entscheidung"))
        else:
            roles = [(mt.org, "Entscheidung")]
        self._path(paper, mt, roles)
        # an Ergänzungsvorlage for some papers that go on to a later meeting
        later = [s for s in paper.steps[1:] if s.meeting is not None]
        if later and rng.random() < 0.12:
            step = later[0]
            assert step.meeting is not None
            sub_day = step.meeting.day - timedelta(days=rng.randint(2, 6))
            sub = self._new_paper(
                "Ergänzungsvorlage",
                "V",
                f"Ergänzung zu: {name}",
                sub_day,
                True,
                department,
                [
                    (
                        "Sachverhalt",
                        "Nach der Vorberatung wurden die Unterlagen ergänzt. Die Kostenschätzung wurde "
                        "aktualisiert "
                        "und die Stellungnahmen der Fachämter sind beigefügt.",
                    ),
                    ("Beschlussvorschlag", proposal),
                ],
            )
            sub.superordinated = paper
            sub.originator_orgs = [self.mayor_org]
            for s in paper.steps:
                if s.position >= step.position:
                    clone = Step(
                        self.ids("consultation"),
                        sub,
                        s.org,
                        s.role,
                        s.position - step.position,
                        s.authoritative,
                        s.meeting,
                        None,
                        s.result,
                    )
                    sub.steps.append(clone)
                    if s.meeting is not None:
                        s.meeting.steps.append(clone)

    def _finance(self, cost: int, day: date) -> str:
        if not cost:
            return "Keine unmittelbaren finanziellen Auswirkungen."
        product = f"{self.rng.randint(1, 16):02d}.{self.rng.randint(1, 9):02d}.{self.rng.randint(1, 9):02d}"
        return (
            f"Die Gesamtkosten belaufen sich nach derzeitiger Schätzung auf {_euro(cost)}. Die Mittel "
            "stehen im Haushalt "
            f"{day.year} unter dem Produkt {product} zur Verfügung. Folgekosten entstehen für "
            "Unterhaltung und Betrieb."
        )

    def _motion(self, mt: Meeting) -> None:
        rng = self.rng
        faction = self.pick(self.factions)
        day = mt.day - timedelta(days=rng.randint(8, 24))
        v = self.values(day.year)
        title, request = self.pick(data.MOTIONS)
        title, request = title.format(**v), request.format(**v)
        body = mt.org.name if mt.org is not self.council else "der Rat"
        sections = [
            (
                "Antrag",
                f"Die {faction.name} beantragt, {body} möge beschließen: Die Verwaltung wird beauftragt, "
                f"{request}.",
            ),
            (
                "Begründung",
                "Der Vorschlag wurde von vielen Bürgerinnen und Bürgern an uns herangetragen. "
                f"Gerade in {v['place']} würde die Maßnahme die Lebensqualität spürbar verbessern. "
                "Die Kosten sind im Verhältnis zum Nutzen gering.",
            ),
        ]
        paper = self._new_paper(
            "Antrag", "A", f"Antrag der Fraktion {faction.short_name}: {title}", day, True, None, sections
        )
        paper.originator_orgs = [faction]
        paper.originator_persons = [self.faction_chair(faction, day)]
        if mt.org is not self.council and rng.random() < 0.4:
            roles = [(mt.org, "Vorberatung"), (self.council, "Entscheidung")]
        else:
            roles = [(mt.org, "Entscheidung")]
        self._path(paper, mt, roles)
        earlier = [p for p in self.papers[-40:] if p.kind == "Beschlussvorlage" and p.public]
        if earlier and rng.random() < 0.25:
            other = self.pick(earlier)
            paper.related.append(other)
            other.related.append(paper)

    def _question(self, mt: Meeting) -> None:
        rng = self.rng
        faction = self.pick(self.factions)
        day = mt.day - timedelta(days=rng.randint(7, 20))
        v = self.values(day.year)
        title = self.pick(data.QUESTIONS).format(**v)
        sections = [
            (
                "Anfrage",
                f"Die {faction.name} bittet die Verwaltung um die Beantwortung folgender Fragen: "
                "1. Wie ist der aktuelle Sachstand? 2. Welche Kosten sind bisher entstanden? "
                "3. Bis wann ist mit einem Abschluss zu rechnen?",
            ),
            (
                "Antwort der Verwaltung",
                f"Die Verwaltung beantwortet die Fragen wie folgt: Die Arbeiten in {v['place']} "
                "verlaufen planmäßig. Die bisherigen Kosten liegen im Rahmen der Kostenschätzung. "
                f"Ein Abschluss wird bis zum Ende des Jahres {day.year + 1} erwartet.",
            ),
        ]
        paper = self._new_paper("Anfrage", "AF", title, day, True, None, sections)
        paper.originator_orgs = [faction]
        paper.originator_persons = [self.faction_chair(faction, day)]
        self._path(paper, mt, [(mt.org, "Kenntnisnahme")])
        earlier = [p for p in self.papers[-30:] if p.kind == "Antrag"]
        if earlier and rng.random() < 0.2:
            other = self.pick(earlier)
            paper.related.append(other)
            other.related.append(paper)

    def _notice(self, mt: Meeting) -> None:
        rng = self.rng
        keys = [k for k, c in data.DEPARTMENT_COMMITTEE.items() if c == mt.org.key] or [
            d[0] for d in data.DEPARTMENTS
        ]
        notices = [n for n in data.NOTICES if n[0] in keys] or data.NOTICES
        dept_key, title = self.pick(notices)
        day = mt.day - timedelta(days=rng.randint(7, 21))
        v = self.values(day.year)
        topic = self.pick([t for t in data.TOPICS if t.department == dept_key] or data.TOPICS)
        sections = [
            ("Mitteilung", "Die Verwaltung teilt mit: " + " ".join(s.format(**v) for s in topic.facts))
        ]
        paper = self._new_paper(
            "Mitteilungsvorlage", "M", title.format(**v), day, True, self.departments[dept_key], sections
        )
        paper.originator_orgs = [self.mayor_org]
        self._path(paper, mt, [(mt.org, "Kenntnisnahme")])

    def _confidential(self, mt: Meeting) -> None:
        rng = self.rng
        title, dept_key = self.pick(data.CONFIDENTIAL)
        day = mt.day - timedelta(days=rng.randint(7, 21))
        v = self.values(day.year)
        name = title.format(**v)
        cost = rng.randint(30, 900) * 1000
        sections = [
            (
                "Sachverhalt",
                f"Die Angelegenheit betrifft {v['place']}. Die Einzelheiten sind der nichtöffentlichen "
                "Anlage zu entnehmen. Die Beratung erfolgt gemäß § 48 Abs. 2 GO NRW in nichtöffentlicher "
                "Sitzung, "
                "weil schutzwürdige Interessen Dritter berührt sind. Das Angebot beläuft sich auf "
                f"{_euro(cost)}.",
            ),
            (
                "Beschlussvorschlag",
                f"Der {mt.org.name if mt.org is not self.council else 'Rat'} stimmt dem Vorschlag der "
                "Verwaltung zu.",
            ),
            ("Finanzielle Auswirkungen", self._finance(cost, day)),
        ]
        paper = self._new_paper(
            "Beschlussvorlage", "V", name, day, False, self.departments[dept_key], sections
        )
        paper.cost = cost
        paper.originator_orgs = [self.mayor_org]
        self._path(paper, mt, [(mt.org, "Entscheidung")])

    # -- agendas
    def plan_agendas(self) -> None:
        kind_order = {
            "Beschlussvorlage": 0,
            "Ergänzungsvorlage": 0,
            "Antrag": 1,
            "Mitteilungsvorlage": 2,
            "Anfrage": 3,
        }
        for mt in self.meetings:
            items: list[Item] = []

            def add(name: str, public: bool, mt: Meeting = mt, items: list[Item] = items) -> Item:
                item = Item(self.ids("agenda_item"), mt, name, public)
                items.append(item)
                return item

            public_part = mt.public
            for name in data.STANDING_OPEN:
                if name == "Einwohnerfragestunde" and not public_part:
                    continue
                add(name, public_part)
            by_paper: dict[int, Item] = {}
            # main papers (Ergänzungsvorlagen join their paper's item)
            steps = sorted(
                (s for s in mt.steps if s.paper.kind != "Ergänzungsvorlage"),
                key=lambda s: (not s.paper.public, kind_order[s.paper.kind], s.paper.day, s.paper.id),
            )
            public_steps = [s for s in steps if s.paper.public and mt.public]
            hidden_steps = [s for s in steps if not (s.paper.public and mt.public)]
            for s in public_steps:
                s.item = add(self._item_name(s.paper), True)
                by_paper[s.paper.id] = s.item
            if public_part:
                add(data.STANDING_PUBLIC_CLOSE, True)
            for s in hidden_steps:
                s.item = add(self._item_name(s.paper), False)
                by_paper[s.paper.id] = s.item
            if hidden_steps or not public_part:
                add(data.STANDING_NONPUBLIC_CLOSE, False)
            for s in mt.steps:
                if s.paper.kind == "Ergänzungsvorlage" and s.paper.superordinated is not None:
                    s.item = by_paper.get(s.paper.superordinated.id)
            # numbers: Ö 1 … for the public part, N 1 … for the non-public part
            pub = nonpub = 0
            for order, item in enumerate(items, start=1):
                item.order = order
                if item.public:
                    pub += 1
                    item.number = f"Ö {pub}"
                else:
                    nonpub += 1
                    item.number = f"N {nonpub}"
            mt.items = items
            # results and times for held meetings
            if mt.held and not mt.cancelled:
                clock = mt.start
                step_for = {id(s.item): s for s in steps if s.item is not None}
                # A session runs about three hours: long agendas get shorter debates per item.
                substantive = sum(1 for item in items if id(item) in step_for)
                longest = max(6, min(35, 170 // max(1, substantive)))
                for item in items:
                    step = step_for.get(id(item))
                    minutes = self.rng.randint(2, 6)
                    if step is not None:
                        minutes = self.rng.randint(5, longest)
                        item.result = step.result
                        item.resolution_text = self._resolution(step)
                    elif item.name.startswith("Genehmigung"):
                        item.result = "einstimmig beschlossen"
                        item.resolution_text = "Die Niederschrift über die letzte Sitzung wird genehmigt."
                    elif item.name == "Einwohnerfragestunde":
                        item.resolution_text = self.pick(
                            [
                                "Es wurden keine Fragen gestellt.",
                                f"Eine Einwohnerin aus {self.pick(data.PLACES)} fragte nach dem Stand der "
                                "Bauarbeiten. "
                                "Die Verwaltung sagte eine schriftliche Antwort zu.",
                                f"Ein Einwohner aus {self.pick(data.PLACES)} fragte nach der "
                                "Verkehrssituation an der "
                                f"{self.pick(data.STREETS)}. Die Frage wurde von der Verwaltung beantwortet.",
                            ]
                        )
                    item.start = clock
                    clock = clock + timedelta(minutes=minutes)
                    item.end = clock
                mt.end = clock

    def _item_name(self, paper: Paper) -> str:
        return paper.name

    def _resolution(self, step: Step) -> str:
        paper = step.paper
        proposal = next((t for h, t in paper.sections if h in ("Beschlussvorschlag", "Antrag")), "")
        org = step.org
        if step.result == "vertagt":
            return "Die Beratung wird auf die nächste Sitzung vertagt."
        if step.result == "zur Kenntnis genommen":
            return f"Der {org.name if org is not self.council else 'Rat'} nimmt die Vorlage zur Kenntnis."
        if step.result == "abgelehnt":
            return (
                "Der Antrag wird abgelehnt."
                if paper.kind == "Antrag"
                else "Der Beschlussvorschlag wird abgelehnt."
            )
        if step.role == "Vorberatung":
            nxt = next((s for s in paper.steps if s.position == step.position + 1), None)
            target = "dem Rat" if nxt is None or nxt.org is self.council else f"dem {nxt.org.name}"
            return f"Der {org.name} empfiehlt {target}, wie folgt zu beschließen: {proposal}"
        return proposal

    # -- documents
    def plan_files(self) -> None:
        rng = self.rng
        spec = self.spec
        for paper in self.papers:
            label = {
                "Beschlussvorlage": "Vorlage",
                "Ergänzungsvorlage": "Ergänzungsvorlage",
                "Antrag": "Antrag",
                "Anfrage": "Anfrage",
                "Mitteilungsvorlage": "Mitteilungsvorlage",
            }[paper.kind]
            slug = paper.reference.replace("/", "-")
            pages = rng.randint(*spec.pages)
            paper.main_file = self._file(
                f"{label} {paper.reference}",
                f"{slug}.pdf",
                paper.day,
                paper.public,
                self._paper_lines(paper, pages),
                max_pages=pages,
                footer=paper.reference,
            )
            if paper.kind in ("Beschlussvorlage", "Ergänzungsvorlage") and rng.random() < spec.aux_ratio:
                n = 1
                if paper.topic_kind in ("planung", "tiefbau", "umwelt") or not paper.cost:
                    paper.aux_files.append(
                        self._file(
                            f"Anlage {n} – Lageplan",
                            f"{slug}-Anlage-{n}.pdf",
                            paper.day,
                            paper.public,
                            self._annex_map(paper),
                            max_pages=1,
                            footer=f"{paper.reference} Anlage {n}",
                        )
                    )
                    n += 1
                if paper.cost:
                    paper.aux_files.append(
                        self._file(
                            f"Anlage {n} – Kostenaufstellung",
                            f"{slug}-Anlage-{n}.pdf",
                            paper.day,
                            paper.public,
                            self._annex_costs(paper),
                            max_pages=1,
                            footer=f"{paper.reference} Anlage {n}",
                        )
                    )
        for mt in self.meetings:
            stamp = mt.day.isoformat()
            if mt.state in ("eingeladen", "durchgeführt"):
                mt.invitation = self._file(
                    f"Einladung zur {mt.name}",
                    f"Einladung-{_ascii(mt.org.short_name)}-{stamp}.pdf",
                    mt.day - timedelta(days=10),
                    mt.public,
                    self._invitation_lines(mt),
                    footer=f"Einladung {mt.org.short_name} {_de(mt.day)}",
                )
            if mt.held and not mt.cancelled:
                mt.protocol = self._file(
                    f"Niederschrift über die {mt.name}",
                    f"Niederschrift-{_ascii(mt.org.short_name)}-{stamp}.pdf",
                    min(mt.day + timedelta(days=14), self.today),
                    mt.public,
                    self._protocol_lines(mt),
                    footer=f"Niederschrift {mt.org.short_name} {_de(mt.day)}",
                )

    def _file(
        self,
        name: str,
        file_name: str,
        day: date,
        public: bool,
        lines: list[Line],
        *,
        max_pages: int | None = None,
        footer: str = "",
    ) -> FilePlan:
        f = FilePlan(self.ids("file"), name, file_name, day, public, lines, max_pages, footer)
        self.files.append(f)
        return f

    def _letterhead(self, kind: str, day: date, public: bool) -> list[Line]:
        lines: list[Line] = [
            ("h", "Stadt Hennef (Sieg) – Der Bürgermeister"),
            ("s", "Frankfurter Straße 97, 53773 Hennef (Sieg)"),
            ("", ""),
        ]
        if not public:
            lines.append(("b", "- nichtöffentlich -"))
        lines += [("b", kind), ("", f"Datum: {_de(day)}")]
        return lines

    def _paper_lines(self, paper: Paper, pages: int) -> list[Line]:
        lines = self._letterhead(paper.kind, paper.day, paper.public)
        lines.append(("", f"Vorlage-Nr.: {paper.reference}"))
        if paper.department is not None:
            lines.append(("", f"Federführung: {paper.department.name}"))
        if paper.originator_persons:
            lines.append(
                ("", f"Antragsteller: {paper.originator_orgs[0].name}, {paper.originator_persons[0].name}")
            )
        lines.append(("", ""))
        lines.append(("t", paper.name))
        lines.append(("", ""))
        if paper.steps:
            lines.append(("b", "Beratungsfolge:"))
            for s in paper.steps:
                when = _de(s.meeting.day) if s.meeting else "noch offen"
                lines.append(("", f"{when}  {s.org.name} ({s.role})"))
            lines.append(("", ""))
        for heading, body in paper.sections:
            lines += [("b", f"{heading}:"), ("", body), ("", "")]
        filler = [
            (
                "Begründung",
                "Die Verwaltung hat die Angelegenheit mit den beteiligten Fachämtern und externen "
                "Stellen abgestimmt. "
                "Die rechtlichen Voraussetzungen liegen vor. Alternativen wurden geprüft und verworfen, "
                "weil sie höhere "
                "Kosten verursachen oder den Zielen des Integrierten Stadtentwicklungskonzeptes "
                "widersprechen.",
            ),
            (
                "Auswirkungen auf den Klimaschutz",
                "Die Maßnahme wurde anhand der Checkliste Klimaschutz bewertet. "
                "Es sind überwiegend positive Auswirkungen zu erwarten, insbesondere durch geringeren "
                "Energieverbrauch "
                "und die Förderung des Umweltverbundes.",
            ),
            (
                "Demografische Auswirkungen",
                "Die Maßnahme trägt den Bedürfnissen einer älter werdenden Bevölkerung ebenso "
                "Rechnung wie denen junger Familien. Barrierefreiheit wird bei der weiteren Planung "
                "berücksichtigt.",
            ),
            (
                "Beteiligung",
                "Die Öffentlichkeit wird über die Internetseite der Stadt und das Amtsblatt informiert. "
                "Anregungen können bis zu vier Wochen nach der Veröffentlichung schriftlich oder "
                "elektronisch eingereicht werden.",
            ),
            (
                "Zeitplan",
                "Nach der Beschlussfassung wird die Verwaltung die weiteren Schritte einleiten. Über den "
                "Fortgang "
                "wird in den Fachausschüssen regelmäßig berichtet.",
            ),
        ]
        if pages > 1:
            # the general sections once each, then the statements received in the participation
            for heading, body in filler:
                if len(lines) >= pages * 46 - 30:
                    break
                lines += [("b", f"{heading}:"), ("", body), ("", "")]
            n = 0
            while len(lines) < pages * 46 - 30:
                if n == 0:
                    lines.append(("b", "Stellungnahmen aus der Beteiligung und Abwägung:"))
                n += 1
                v = self.values(paper.day.year)
                who, wish = self.pick(STATEMENTS)
                lines += [
                    ("", f"{n}. {who.format(**v)} {wish.format(**v)}"),
                    ("", "Abwägung: " + self.pick(CONSIDERATIONS)),
                ]
        if paper.originator_persons:
            signature = [("", "Mit freundlichen Grüßen"), ("", paper.originator_persons[0].name)]
        else:
            signature = [("", "Im Auftrag"), ("", paper.department.name if paper.department else "")]
        lines += [("", ""), *signature]
        return lines

    def _annex_map(self, paper: Paper) -> list[Line]:
        lines = self._letterhead("Anlage – Lageplan", paper.day, paper.public)
        lines += [
            ("", f"zu Vorlage {paper.reference}"),
            ("", ""),
            ("t", paper.name),
            ("", ""),
            (
                "",
                "Lageplan M 1:1000 (schematische Darstellung). Der Geltungsbereich ist im Original rot "
                "umrandet.",
            ),
            (
                "",
                "Kartengrundlage: Amtliches Liegenschaftskatasterinformationssystem (ALKIS), "
                "Rhein-Sieg-Kreis.",
            ),
            ("", "Nord: oben. Maßstab im Original DIN A3."),
        ]
        return lines

    def _annex_costs(self, paper: Paper) -> list[Line]:
        rng = self.rng
        lines = self._letterhead("Anlage – Kostenaufstellung", paper.day, paper.public)
        lines += [("", f"zu Vorlage {paper.reference}"), ("", ""), ("t", paper.name), ("", "")]
        parts = ["Planungsleistungen", "Baukosten", "Ausstattung", "Nebenkosten", "Unvorhergesehenes"]
        shares = [rng.randint(5, 40) for _ in parts]
        total = paper.cost
        amounts = [total * s // sum(shares) // 100 * 100 for s in shares]
        amounts[1] += total - sum(amounts)
        for name, amount in zip(parts, amounts, strict=True):
            lines.append(("", f"{name}: {_euro(amount)}"))
        lines += [("", ""), ("b", f"Gesamtkosten: {_euro(total)}")]
        return lines

    def _meeting_head(self, mt: Meeting, kind: str) -> list[Line]:
        local = mt.start.astimezone(BERLIN)
        loc = next(r for r in self.location_rows if r["id"] == mt.location_id)
        lines = self._letterhead(kind, mt.day, mt.public)
        lines += [
            ("t", mt.name),
            ("", f"am {WEEKDAYS[local.weekday()]}, {_de(mt.day)}, {local:%H:%M} Uhr"),
            (
                "",
                f"Ort: {loc['description']}, {loc['room']}, {loc['street_address']}, {loc['postal_code']} "
                f"{loc['locality']}",
            ),
            ("", ""),
        ]
        return lines

    def _invitation_lines(self, mt: Meeting) -> list[Line]:
        lines = self._meeting_head(mt, "Einladung")
        lines += [
            ("", "Sehr geehrte Damen und Herren, zu der oben genannten Sitzung lade ich Sie herzlich ein."),
            ("", ""),
        ]
        lines += self._agenda_lines(mt, with_results=False)
        lines += [
            ("", ""),
            ("", "Mit freundlichen Grüßen"),
            ("", f"{self.mayor.name}, {'Bürgermeisterin' if self.mayor.female else 'Bürgermeister'}"),
        ]
        return lines

    def _agenda_lines(self, mt: Meeting, *, with_results: bool) -> list[Line]:
        lines: list[Line] = []
        shown = [i for i in mt.items if i.public or not mt.public]
        if mt.public:
            lines.append(("b", "Tagesordnung - Öffentlicher Teil"))
        else:
            lines.append(("b", "Tagesordnung - Nichtöffentliche Sitzung"))
        refs = {
            id(s.item): s.paper.reference
            for s in mt.steps
            if s.item is not None and s.paper.kind != "Ergänzungsvorlage"
        }
        for item in shown:
            ref = refs.get(id(item))
            lines.append(("", f"{item.number}  {item.name}" + (f" ({ref})" if ref else "")))
            if with_results and (item.result or item.resolution_text):
                if item.resolution_text:
                    lines.append(("s", item.resolution_text))
                if item.result:
                    lines.append(("s", f"Abstimmungsergebnis: {item.result}"))
        if mt.public and any(not i.public for i in mt.items):
            lines += [
                ("", ""),
                ("b", "Nichtöffentlicher Teil"),
                ("", "Die Beratungsgegenstände des nichtöffentlichen Teils werden gesondert mitgeteilt."),
            ]
        return lines

    def _protocol_lines(self, mt: Meeting) -> list[Line]:
        lines = self._meeting_head(mt, "Niederschrift")
        end = (mt.end or mt.start).astimezone(BERLIN)
        t_index = max((i for i, t in enumerate(self.terms) if t[1] <= mt.day), default=0)
        person = self.mayor if mt.org is self.council else self.chairs.get((mt.org.id, t_index))
        chair = person.name if person else "die Vorsitzende oder der Vorsitzende"
        lines += [("", f"Beginn: {mt.start.astimezone(BERLIN):%H:%M} Uhr, Ende: {end:%H:%M} Uhr"), ("", "")]
        lines += self._agenda_lines(mt, with_results=True)
        lines += [
            ("", ""),
            ("", f"Vorsitz: {chair}"),
            ("", "Schriftführung: Sitzungsdienst der Stadt Hennef (Sieg)"),
        ]
        return lines


STATEMENTS = [
    ("Eine Anwohnerin aus {place}", "regt an, den Fußweg entlang der {street} zu verbreitern."),
    ("Ein Anwohner der {street}", "befürchtet eine Zunahme des Verkehrs und fordert Tempo 30."),
    ("Der Heimatverein {place}", "bittet darum, den historischen Ortskern zu erhalten."),
    ("Der Rhein-Sieg-Kreis", "weist auf die Belange des Landschaftsschutzes hin."),
    ("Die Bezirksregierung Köln", "hat keine Bedenken, sofern der Hochwasserschutz beachtet wird."),
    ("Der ADFC", "fordert durchgehende Radverbindungen nach {place2}."),
    ("Eine Elterninitiative aus {place}", "bittet um einen sicheren Schulweg zur {school}."),
    ("Die Freiwillige Feuerwehr", "weist auf die notwendigen Aufstellflächen hin."),
    ("Der Naturschutzbund", "regt an, die vorhandenen Hecken und Obstwiesen zu erhalten."),
    ("Die Stadtwerke", "teilen mit, dass die Versorgungsleitungen ausreichend bemessen sind."),
]
CONSIDERATIONS = [
    "Der Anregung wird gefolgt.",
    "Der Anregung wird teilweise gefolgt; die Planung wird entsprechend ergänzt.",
    "Der Anregung wird nicht gefolgt, da sie den Zielen der Planung widerspricht.",
    "Der Hinweis wird zur Kenntnis genommen und in der Ausführungsplanung berücksichtigt.",
    "Die Bedenken werden zurückgewiesen; ein Gutachten hat keine erheblichen Auswirkungen ergeben.",
]


# --- rendering -------------------------------------------------------------------------------------


def _render_all(planner: Planner, store: FileStore, progress: Progress | None) -> int:
    total_bytes = 0
    seen: set[str] = set()
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = []
        for n, f in enumerate(planner.files, start=1):
            pdf = render(
                f.lines,
                created=datetime.combine(f.day, dtime(9, 0), tzinfo=BERLIN),
                title=f.name,
                footer=f.footer,
                max_pages=f.max_pages,
            )
            digest = hashlib.sha512(pdf.data).hexdigest()
            f.sha512, f.size, f.text, f.page_count = digest, len(pdf.data), pdf.text, pdf.page_count
            f.lines = []
            total_bytes += f.size
            if digest not in seen:
                seen.add(digest)
                futures.append(pool.submit(store.put, pdf.data))
            if progress and n % 2000 == 0:
                progress(f"PDF {n}/{len(planner.files)}")
        for fut in futures:
            blob = fut.result()
            assert blob.key in seen
    return total_bytes


# --- writing ---------------------------------------------------------------------------------------


def _org_row(o: Org, body_id: int, now: datetime) -> dict[str, Any]:
    return {
        "id": o.id,
        "body_id": body_id,
        "name": o.name,
        "short_name": o.short_name,
        "organization_type": o.organization_type,
        "classification": o.classification,
        "post": o.post,
        "start_date": o.start_date,
        "end_date": None,
        "website": None,
        "location_id": o.location_id,
        "sub_organization_of_id": o.parent.id if o.parent else None,
        "statutory_members": o.statutory_members,
        "keyword": [],
        "created": now,
        "modified": now,
    }


def _stamp(day: date, now: datetime, hour: int = 9) -> datetime:
    return min(datetime.combine(day, dtime(hour, 0), tzinfo=BERLIN).astimezone(UTC), now)


def build_rows(planner: Planner, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """All rows, table name → list of dicts, in insertion order (parents first)."""
    p = planner
    body_id = p.body_id
    rows: dict[str, list[dict[str, Any]]] = {}
    rows["body"] = [
        {
            "id": body_id,
            "name": "Stadt Hennef (Sieg)",
            "short_name": "Hennef",
            "website": "https://www.hennef.de",
            "license": "https://creativecommons.org/licenses/by/4.0/",
            "license_valid_since": datetime(2020, 11, 1, tzinfo=UTC),
            "oparl_since": datetime(2025, 11, 1, tzinfo=UTC),
            "ags": "05382024",
            "rgs": None,
            "equivalent": [],
            "contact_email": "sitzungsdienst@hennef.example",
            "contact_name": "Sitzungsdienst",
            "classification": "Stadt",
            "keyword": ["Demo"],
            "location_id": None,
            "created": now,
            "modified": now,
        }
    ]
    rows["location"] = [
        {**r, "body_id": body_id, "keyword": [], "created": now, "modified": now} for r in p.location_rows
    ]
    rows["legislative_term"] = [
        {
            "id": p.ids("legislative_term"),
            "body_id": body_id,
            "name": name,
            "start_date": start,
            "end_date": end,
            "keyword": [],
            "created": now,
            "modified": now,
        }
        for name, start, end in p.terms
    ]
    rows["organization"] = [_org_row(o, body_id, now) for o in p.orgs if o.parent is None]
    rows["organization#2"] = [_org_row(o, body_id, now) for o in p.orgs if o.parent is not None]
    persons = []
    for person in p.persons:
        status = {
            "mayor": ["Bürgermeisterin" if person.female else "Bürgermeister"],
            "councillor": ["Ratsmitglied"],
            "citizen": ["Sachkundige Bürgerin" if person.female else "Sachkundiger Bürger"],
            "staff": ["Verwaltung"],
        }[person.kind]
        domain = "hennef.example" if person.kind in ("mayor", "staff") else "rat-hennef.example"
        persons.append(
            {
                "id": person.id,
                "body_id": body_id,
                "name": person.name,
                "family_name": person.family,
                "given_name": person.given,
                "form_of_address": "Frau" if person.female else "Herr",
                "affix": None,
                "title": person.title,
                "gender": "female" if person.female else "male",
                "phone": [],
                "email": [f"{_ascii(person.given)}.{_ascii(person.family)}@{domain}"],
                "status": status,
                "life": (f"Wohnt in {p.pick(data.PLACES)}." if person.kind == "councillor" else None),
                "life_source": None,
                "location_id": None,
                "keyword": [],
                "created": now,
                "modified": now,
            }
        )
    rows["person"] = persons
    rows["membership"] = [{**r, "keyword": [], "created": now, "modified": now} for r in p.memberships]

    files = []
    for f in p.files:
        files.append(
            {
                "id": f.id,
                "body_id": body_id,
                "name": f.name,
                "file_name": f.file_name,
                "mime_type": "application/pdf",
                "date": f.day,
                "size": f.size,
                "sha512": f.sha512,
                "storage_key": f.sha512,
                "text": f.text,
                "text_state": "done",
                "page_count": f.page_count,
                "public": f.public,
                "license": "https://creativecommons.org/licenses/by/4.0/" if f.public else None,
                "file_license": None,
                "keyword": [],
                "created": _stamp(f.day, now),
                "modified": _stamp(f.day, now),
            }
        )
    rows["file"] = files

    meetings, meeting_orgs, items = [], [], []
    for mt in p.meetings:
        created = _stamp(mt.day - timedelta(days=28), now)
        modified = _stamp(mt.day + timedelta(days=14), now) if mt.held else created
        meetings.append(
            {
                "id": mt.id,
                "body_id": body_id,
                "name": mt.name,
                "meeting_state": mt.state,
                "cancelled": mt.cancelled,
                "start": mt.start,
                "end": mt.end,
                "location_id": mt.location_id,
                "invitation_id": mt.invitation.id if mt.invitation else None,
                "results_protocol_id": mt.protocol.id if mt.protocol else None,
                "verbatim_protocol_id": None,
                "public": mt.public,
                "keyword": [],
                "created": created,
                "modified": modified,
            }
        )
        meeting_orgs.append({"meeting_id": mt.id, "organization_id": mt.org.id, "position": 0})
        for item in mt.items:
            items.append(
                {
                    "id": item.id,
                    "meeting_id": mt.id,
                    "number": item.number,
                    "order": item.order,
                    "name": item.name,
                    "public": item.public,
                    "result": item.result,
                    "resolution_text": item.resolution_text,
                    "resolution_file_id": None,
                    "start": item.start,
                    "end": item.end,
                    "keyword": [],
                    "created": created,
                    "modified": modified,
                }
            )
    rows["meeting"] = meetings
    rows["meeting_organization"] = meeting_orgs
    rows["agenda_item"] = items

    papers, aux, related, hierarchy, orig_person, orig_org, direction = [], [], [], [], [], [], []
    consultations: list[dict[str, Any]] = []
    consultation_orgs: list[dict[str, Any]] = []
    for paper in p.papers:
        stamp = _stamp(paper.day, now)
        papers.append(
            {
                "id": paper.id,
                "body_id": body_id,
                "name": paper.name,
                "reference": paper.reference,
                "date": paper.day,
                "paper_type": paper.kind,
                "main_file_id": paper.main_file.id if paper.main_file else None,
                "public": paper.public,
                "keyword": [],
                "created": stamp,
                "modified": stamp,
            }
        )
        for i, f in enumerate(paper.aux_files):
            aux.append({"paper_id": paper.id, "file_id": f.id, "position": i})
        seen: set[int] = set()
        for i, other in enumerate(paper.related):
            if other.id not in seen:
                seen.add(other.id)
                related.append({"paper_id": paper.id, "related_id": other.id, "position": i})
        if paper.superordinated is not None:
            hierarchy.append(
                {"superordinated_id": paper.superordinated.id, "subordinated_id": paper.id, "position": 0}
            )
        for i, person in enumerate(paper.originator_persons):
            orig_person.append({"paper_id": paper.id, "person_id": person.id, "position": i})
        for i, org in enumerate(paper.originator_orgs):
            orig_org.append({"paper_id": paper.id, "organization_id": org.id, "position": i})
        if paper.department is not None:
            direction.append({"paper_id": paper.id, "organization_id": paper.department.id, "position": 0})
        for s in paper.steps:
            consultations.append(
                {
                    "id": s.id,
                    "paper_id": paper.id,
                    "agenda_item_id": s.item.id if s.item else None,
                    "meeting_id": s.meeting.id if s.meeting else None,
                    "authoritative": s.authoritative,
                    "role": s.role,
                    "position": s.position,
                    "keyword": [],
                    "created": stamp,
                    "modified": stamp,
                }
            )
            consultation_orgs.append({"consultation_id": s.id, "organization_id": s.org.id, "position": 0})
    rows["paper"] = papers
    rows["paper_auxiliary_file"] = aux
    rows["paper_related"] = related
    rows["paper_hierarchy"] = hierarchy
    rows["paper_originator_person"] = orig_person
    rows["paper_originator_organization"] = orig_org
    rows["paper_under_direction_of"] = direction
    rows["consultation"] = consultations
    rows["consultation_organization"] = consultation_orgs
    return rows


ID_TABLES = (
    "body",
    "location",
    "legislative_term",
    "organization",
    "person",
    "membership",
    "file",
    "meeting",
    "agenda_item",
    "paper",
    "consultation",
)


def _table(name: str) -> Table:
    return m.Base.metadata.tables[name.split("#")[0]]


async def _insert_rows(session: Any, rows: dict[str, list[dict[str, Any]]], batch: int) -> None:
    for name, table_rows in rows.items():
        table = _table(name)
        for i in range(0, len(table_rows), batch):
            await session.execute(insert(table), table_rows[i : i + batch])


async def _fix_sequences(session: Any) -> None:
    """PostgreSQL: move each id sequence past the ids given here, so later inserts do not collide."""
    for name in ID_TABLES:
        table = _table(name)
        highest = select(func.coalesce(func.max(table.c.id), 0)).scalar_subquery()
        await session.execute(
            select(func.setval(func.pg_get_serial_sequence(name, "id"), func.greatest(highest, 1)))
        )


async def is_empty(session: Any) -> bool:
    return ((await session.execute(select(func.count()).select_from(m.Body))).scalar() or 0) == 0


async def load_demo(
    database: Any,
    settings: Any,
    scale: str = "standard",
    seed: int = 1,
    *,
    today: date | None = None,
    progress: Progress | None = None,
    reindex: bool = True,
) -> DemoSummary:
    """Fill an empty database (schema present) with the demo town; returns counts and timings."""
    if scale not in SPECS:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    today = today or datetime.now(BERLIN).date()
    summary = DemoSummary(scale=scale, seed=seed, today=today)
    now = datetime.now(UTC).replace(microsecond=0)
    say = progress or (lambda _msg: None)

    t0 = time.perf_counter()
    async with database.sessionmaker() as session:
        if not await is_empty(session):
            raise RuntimeError("the database already holds a municipality; load the demo into an empty one")
        start_ids = {}
        for name in ID_TABLES:
            start_ids[name] = ((await session.execute(select(func.max(_table(name).c.id)))).scalar() or 0) + 1

    planner = Planner(scale, seed, today, start_ids)
    say("plane Gremien, Personen und Sitzungen …")
    planner.plan_structure()
    planner.plan_meetings()
    planner.plan_papers()
    planner.plan_agendas()
    planner.plan_files()
    summary.timings["plan"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    say(f"erzeuge {len(planner.files)} PDF-Dokumente …")
    store = FileStore(settings.files_dir)
    summary.file_bytes = await asyncio.to_thread(_render_all, planner, store, progress)
    summary.timings["pdf"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    rows = build_rows(planner, now)
    say("schreibe in die Datenbank …")
    batch = 500 if database.dialect == "sqlite" else 2000
    async with database.sessionmaker() as session:
        async with session.begin():
            await _insert_rows(session, rows, batch)
            await session.execute(
                update(m.Body).where(m.Body.id == planner.body_id).values(location_id=planner.hall)
            )
            if database.dialect == "postgresql":
                await _fix_sequences(session)
    summary.timings["db"] = time.perf_counter() - t2

    if reindex:
        t3 = time.perf_counter()
        say("baue den Suchindex …")
        try:
            from council.search.indexer import reindex_all
        except ImportError:  # the search room is not there (yet): the demo still loads
            log.warning("council.search.indexer.reindex_all is missing; the demo is not indexed")
        else:
            try:
                async with database.sessionmaker() as session:
                    summary.search_documents = await reindex_all(session)
                    await session.commit()
            except Exception:  # the records are committed; a broken index must not lose them
                log.warning(
                    "the search index could not be built; run `rathaus search reindex`", exc_info=True
                )
                say("Suchindex fehlgeschlagen (siehe Protokoll) – die Daten sind geladen.")
        summary.timings["index"] = time.perf_counter() - t3

    summary.bodies = 1
    summary.legislative_terms = len(rows["legislative_term"])
    summary.locations = len(rows["location"])
    summary.organizations = len(planner.orgs)
    summary.persons = len(planner.persons)
    summary.memberships = len(planner.memberships)
    summary.meetings = len(planner.meetings)
    summary.agenda_items = len(rows["agenda_item"])
    summary.papers = len(planner.papers)
    summary.consultations = len(rows["consultation"])
    summary.files = len(planner.files)
    log.info("demo %s loaded: %s", scale, summary.describe())
    return summary
