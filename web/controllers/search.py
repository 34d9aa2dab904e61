"""The search page: GET /suche?q=&art=&gremium=&von=&bis=&typ=&seite=

Any ``q`` is accepted (it is only ever text to ``council.search``); malformed filters are a 400 with a
message. htmx requests get the ``results`` block only.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from council.records import queries
from council.records.access import Viewer
from council.search.query import MAX_PAGE, search
from council.search.stem import MAX_QUERY_CHARS, clean_text
from transcripts import search as _transcript_search  # noqa: F401  (registers the "transcript" kind)
from web import i18n
from web.controllers.pages import parse_date, parse_int, render
from web.errors import BadInput

_ = i18n.gettext

PER_PAGE = 20
#: ``art`` values in URLs → index kinds.
ART = {"vorlage": "paper", "top": "agenda_item", "dokument": "file", "wortprotokoll": "transcript"}
KIND_ART = {v: k for k, v in ART.items()}


def kind_labels() -> dict[str, str]:
    return {
        "paper": _("Vorlage"),
        "agenda_item": _("Tagesordnungspunkt"),
        "file": _("Dokument"),
        "transcript": _("Wortprotokoll"),
    }


def kind_plural_labels() -> dict[str, str]:
    return {
        "paper": _("Vorlagen"),
        "agenda_item": _("Tagesordnungspunkte"),
        "file": _("Dokumente"),
        "transcript": _("Wortprotokolle"),
    }


def _parse_art(values: list[str]) -> list[str]:
    arts: list[str] = []
    for value in values:
        for part in value.split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part not in ART:
                raise BadInput(detail=_("„art“ muss „vorlage“, „top“, „dokument“ oder „wortprotokoll“ sein."))
            if part not in arts:
                arts.append(part)
    return arts


def _parse_typ(value: str | None) -> str | None:
    value = clean_text(value).strip() if value else ""
    if len(value) > 100:
        raise BadInput(detail=_("Der Wert für „{name}“ ist zu lang.").format(name="typ"))
    return value or None


@get("/suche", name="search", cache=False, opt={"page_cache": True})
async def search_page(request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer) -> Template:
    params = request.query_params
    q = clean_text(params.get("q") or "").strip()[:MAX_QUERY_CHARS]
    arts = _parse_art(params.getall("art", []))
    organization_id = parse_int(params.get("gremium"), "gremium")
    date_from = parse_date(params.get("von"), "von")
    date_to = parse_date(params.get("bis"), "bis")
    if date_from and date_to and date_from > date_to:
        raise BadInput(detail=_("„von“ liegt nach „bis“."))
    paper_type = _parse_typ(params.get("typ"))
    page = parse_int(params.get("seite"), "seite", maximum=MAX_PAGE) or 1

    results = None
    if q:
        results = await search(
            db_session,
            viewer,
            q,
            kinds=[ART[a] for a in arts] or None,
            organization_id=organization_id,
            date_from=date_from,
            date_to=date_to,
            paper_type=paper_type,
            page=page,
            per_page=PER_PAGE,
        )
    groups = await queries.list_organizations(db_session)
    context = {
        "nav": "search",
        "q": q,
        "results": results,
        "arts": arts,
        "ART": ART,
        "KIND_ART": KIND_ART,
        "kind_labels": kind_labels(),
        "kind_plural_labels": kind_plural_labels(),
        "params": {
            "q": q,
            "art": arts,
            "gremium": organization_id,
            "von": date_from.isoformat() if date_from else None,
            "bis": date_to.isoformat() if date_to else None,
            "typ": paper_type,
        },
        "organizations": [o for g in ("council", "committee", "other") for o in groups.get(g, [])],
        "types": await queries.paper_types(db_session, viewer),
    }
    return render(request, "search.html", context, block="results")


routes: list[Any] = [search_page]
