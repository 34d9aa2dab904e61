"""The Jinja2 environment: autoescape on, i18n extension wired to ``web.i18n``, date filters."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from web import i18n

TEMPLATE_DIR = Path(__file__).parent / "templates"


def _query(params: dict[str, Any], **changes: Any) -> str:
    """Rebuild a query string with some parameters changed (filters, pagination links)."""
    merged = {k: v for k, v in {**params, **changes}.items() if v not in (None, "", [])}
    return "?" + urlencode(merged, doseq=True) if merged else "?"


def _snippet(text: str | None) -> Markup:
    """Search snippets arrive with \x02/\x03 around matches; escape everything else."""
    if not text:
        return Markup("")
    # escape() already returns Markup with the text escaped; only our two markers become tags.
    return escape(text).replace("\x02", Markup("<mark>")).replace("\x03", Markup("</mark>"))


def make_environment(*, auto_reload: bool = False) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(["html", "xml", "j2"], default_for_string=True, default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        # Checking template files for changes on every render costs a stat() per template.
        auto_reload=auto_reload,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext
    )
    env.filters["datetime"] = i18n.format_datetime
    env.filters["date"] = i18n.format_date
    env.filters["time"] = i18n.format_time
    env.filters["snippet"] = _snippet
    env.filters["label"] = i18n.data_label
    env.globals["query"] = _query
    env.globals["current_locale"] = i18n.current_locale.get
    env.globals["LOCALES"] = i18n.LOCALES
    return env
