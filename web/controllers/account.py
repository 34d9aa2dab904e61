"""The own account (/konto, /konto/2fa) and account administration (/verwaltung/konten).

Every signed-in person has ``/konto``: change the password (other devices are signed out, this one
gets a new session id), end all own sessions, set up or switch off the second factor (TOTP) and renew
its recovery codes. Sensitive changes ask for the current password again; the checks are throttled
like the login (per client address).

``/verwaltung/konten`` is for the role ``admin`` only (``web.guards.require_admin`` — a clerk is staff
but manages no accounts): list, create (an initial password given or generated and shown once), edit
display name / roles / linked person, disable (ends all sessions) and enable, reset the password
(ends all sessions), end all sessions, reset the second factor. An admin cannot disable themself or
drop their own admin role, and the last active admin cannot lose the role. Every change is written
to ``account_audit`` in the same transaction.

All state changes are POST forms with the CSRF token; pages work without JavaScript. Answers that show
a secret once (generated password, recovery codes, the TOTP secret during enrolment) are rendered
directly with ``Cache-Control: no-store`` rather than redirected.
"""

from __future__ import annotations

import secrets
import unicodedata
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy import false, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from council.accounts import audit, passwords, service, totp
from council.accounts.models import ROLES, Account, WebSession
from council.accounts.sessions import create_session, delete_account_sessions
from council.records.access import Viewer
from council.records.models import Person
from web import i18n
from web.controllers.staff import _auth_cookies, _client_key, _field, _throttle
from web.deps import SESSION_KEY
from web.guards import require_admin, require_login

_ = i18n.gettext

NO_STORE = {"Cache-Control": "no-store"}
_MAX_ID = 2**31 - 1
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


# --- labels and messages -------------------------------------------------------------------------


def role_labels() -> dict[str, str]:
    return {
        "councillor": _("Ratsmitglied"),
        "clerk": _("Sitzungsdienst"),
        "chair": _("Sitzungsleitung"),
        "admin": _("Administration"),
    }


def action_labels() -> dict[str, str]:
    return {
        "account.created": _("Konto angelegt"),
        "account.updated": _("Anzeigename geändert"),
        "roles.changed": _("Rollen geändert"),
        "person.changed": _("Verknüpfte Person geändert"),
        "account.disabled": _("Konto gesperrt"),
        "account.enabled": _("Konto entsperrt"),
        "password.reset": _("Passwort zurückgesetzt"),
        "password.changed": _("Passwort geändert"),
        "sessions.ended": _("Alle Sitzungen beendet"),
        "totp.enabled": _("Zwei-Faktor-Anmeldung eingerichtet"),
        "totp.disabled": _("Zwei-Faktor-Anmeldung abgeschaltet"),
        "totp.reset": _("Zwei-Faktor-Anmeldung zurückgesetzt"),
        "recovery_codes.renewed": _("Wiederherstellungscodes erneuert"),
        "login.recovery_code": _("Anmeldung mit Wiederherstellungscode"),
        "login.locked": _("Nach falschen Codes vorübergehend gesperrt"),
    }


def done_messages() -> dict[str, str]:
    return {
        "passwort": _("Ihr Passwort wurde geändert. Alle anderen Geräte sind abgemeldet."),
        "2fa-an": _("Die Zwei-Faktor-Anmeldung ist eingerichtet."),
        "2fa-aus": _("Die Zwei-Faktor-Anmeldung ist abgeschaltet."),
        "angelegt": _("Das Konto wurde angelegt."),
        "gespeichert": _("Die Änderungen wurden gespeichert."),
        "gesperrt": _("Das Konto ist gesperrt; alle seine Sitzungen sind beendet."),
        "entsperrt": _("Das Konto ist wieder freigegeben."),
        "sitzungen": _("Alle Sitzungen des Kontos sind beendet."),
        "2fa-zurueckgesetzt": _("Die Zwei-Faktor-Anmeldung des Kontos wurde zurückgesetzt."),
    }


def _done(key: Any) -> str | None:
    return done_messages().get(key) if isinstance(key, str) else None


# --- input -----------------------------------------------------------------------------------------


class FormError(ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def clean_text(value: Any, max_length: int) -> str | None:
    """Text fit to store and show: NFC, control and bidi-override characters removed, trimmed; None
    when it cannot be (lone surrogates, too long)."""
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > max_length * 4:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    value = "".join(c for c in value if unicodedata.category(c) != "Cc" and c not in _BIDI)
    value = unicodedata.normalize("NFC", value).strip()
    return value if len(value) <= max_length else None


def parse_id(value: Any) -> int | None:
    """A positive database id from a form field, None for empty; FormError otherwise."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) <= 10:
            number = int(text)
            if 0 < number <= _MAX_ID:
                return number
    raise FormError(_("Ungültige Auswahl."), "person_id")


def parse_roles(values: list[Any]) -> list[str]:
    roles: list[str] = []
    for value in values[:20]:
        if not isinstance(value, str) or value not in ROLES:
            raise FormError(_("Unbekannte Rolle."), "roles")
        if value not in roles:
            roles.append(value)
    return roles


def _getall(form: Any, name: str) -> list[Any]:
    try:
        return list(form.getall(name))
    except (KeyError, AttributeError):
        return []


def weak_password_message(exc: passwords.PasswordTooWeak, *, new: bool = False) -> str:
    """Why a password was refused, in the page's language."""
    if exc.reason == "long":
        longest = passwords.MAX_PASSWORD_LENGTH
        return _("Das Passwort darf höchstens %(n)s Zeichen lang sein.") % {"n": longest}
    if exc.reason == "chars":
        return _("Das Passwort enthält unzulässige Zeichen.")
    if exc.reason == "guessable":
        return _(
            "Dieses Passwort ist zu leicht zu erraten (zu wenige verschiedene Zeichen, eine Folge wie 123456 "
            "oder ein bekanntes Passwort). Gut sind mehrere Wörter, z. B. ein kurzer Satz."
        )
    if new:
        return _("Das neue Passwort muss mindestens %(n)s Zeichen lang sein.") % {
            "n": passwords.MIN_PASSWORD_LENGTH
        }
    return _("Das Passwort muss mindestens %(n)s Zeichen lang sein.") % {"n": passwords.MIN_PASSWORD_LENGTH}


def generate_password() -> str:
    """A random initial password (16 characters, ~96 bits) for the admin to hand over."""
    return secrets.token_urlsafe(12)


# --- shared ----------------------------------------------------------------------------------------


async def current_account(db_session: AsyncSession, viewer: Viewer) -> Account:
    account = await db_session.get(Account, viewer.account_id) if viewer.account_id is not None else None
    if account is None or account.disabled or account.deleted:
        raise NotAuthorizedException(detail=_("Bitte melden Sie sich an."))
    return account


async def _check_password(request: Request[Any, Any, Any], account: Account, password: str) -> str | None:
    """None when the password is right; otherwise the message to show (throttled per address)."""
    throttle = _throttle(request)
    key = _client_key(request)
    if throttle.blocked(key):
        return _("Zu viele Fehlversuche. Bitte versuchen Sie es in einigen Minuten erneut.")
    ok, _new_hash = passwords.verify(password, account.password_hash)
    if not ok:
        throttle.failure(key)
        return _("Das Passwort ist falsch.")
    return None


def _secret_key(request: Request[Any, Any, Any]) -> str:
    return str(request.app.state.settings.secret_key)


async def _person_name(db_session: AsyncSession, person_id: int | None) -> str | None:
    if person_id is None:
        return None
    person = await db_session.get(Person, person_id)
    return person.name if person is not None else None


# --- /konto ----------------------------------------------------------------------------------------


async def _account_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    viewer: Viewer,
    account: Account,
    *,
    error: str | None = None,
    error_field: str | None = None,
    done: str | None = None,
    status: int = 200,
) -> Template:
    rows = (
        await db_session.execute(
            select(WebSession)
            .where(WebSession.account_id == account.id)
            .order_by(WebSession.last_seen.desc())
        )
    ).scalars()
    current = (request.scope.get("state") or {}).get(SESSION_KEY)
    sessions = [{"created": s.created, "last_seen": s.last_seen, "current": s.id == current} for s in rows]
    return Template(
        template_name="account/account.html",
        context={
            "viewer": viewer,
            "account": account,
            "person_name": await _person_name(db_session, account.person_id),
            "role_labels": role_labels(),
            "sessions": sessions,
            "totp_enabled": await totp.is_enabled(db_session, account.id),
            "error": error,
            "error_field": error_field,
            "done": done,
        },
        status_code=status,
        headers=NO_STORE,
    )


@get("/konto", name="account", guards=[require_login], cache=False)
async def account_page(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer, erledigt: str | None = None
) -> Template:
    account = await current_account(db_session, viewer)
    return await _account_page(request, db_session, viewer, account, done=_done(erledigt))


@post("/konto/passwort", name="account_password", guards=[require_login], cache=False)
async def account_password(request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer) -> Any:
    account = await current_account(db_session, viewer)
    form = await request.form()
    error = await _check_password(request, account, _field(form, "current"))
    if error is not None:
        return await _account_page(
            request,
            db_session,
            viewer,
            account,
            error=error,
            error_field="current",
            status=_password_status(error),
        )
    new, repeat = _field(form, "new"), _field(form, "repeat")
    if new != repeat:
        return await _account_page(
            request,
            db_session,
            viewer,
            account,
            error=_("Die beiden neuen Passwörter stimmen nicht überein."),
            error_field="new",
            status=400,
        )
    try:
        await service.set_password(db_session, account, new, end_sessions=True)
    except passwords.PasswordTooWeak as exc:
        return await _account_page(
            request,
            db_session,
            viewer,
            account,
            error=weak_password_message(exc, new=True),
            error_field="new",
            status=400,
        )
    await audit.record(db_session, "password.changed", actor=account, account=account)
    token = await create_session(db_session, account.id)
    await db_session.commit()
    return Redirect(path="/konto?erledigt=passwort", status_code=303, cookies=_auth_cookies(request, token))


@post("/konto/sitzungen-beenden", name="account_end_sessions", guards=[require_login], cache=False)
async def account_end_sessions(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer
) -> Redirect:
    account = await current_account(db_session, viewer)
    count = await delete_account_sessions(db_session, account.id)
    await audit.record(
        db_session, "sessions.ended", actor=account, account=account, detail={"sessions": count}
    )
    await db_session.commit()
    request.scope.get("state", {}).pop(SESSION_KEY, None)
    return Redirect(path="/anmelden", status_code=303, cookies=_auth_cookies(request, None))


# --- /konto/2fa ------------------------------------------------------------------------------------


async def _totp_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    viewer: Viewer,
    account: Account,
    *,
    error: str | None = None,
    error_field: str | None = None,
    done: str | None = None,
    recovery_codes: list[str] | None = None,
    status: int = 200,
) -> Template:
    enabled = await totp.is_enabled(db_session, account.id)
    secret = None if enabled else await totp.pending_secret(db_session, account.id, _secret_key(request))
    uri = totp.provisioning_uri(secret, account.username) if secret else None
    return Template(
        template_name="account/totp.html",
        context={
            "viewer": viewer,
            "account": account,
            "enabled": enabled,
            "secret": totp.group(secret) if secret else None,
            "uri": uri,
            "qr": totp.qr_data_uri(uri) if uri else None,
            "remaining": await totp.remaining_recovery_codes(db_session, account.id) if enabled else 0,
            "recovery_codes": recovery_codes,
            "error": error,
            "error_field": error_field,
            "done": done,
        },
        status_code=status,
        headers=NO_STORE,
    )


@get("/konto/2fa", name="account_totp", guards=[require_login], cache=False)
async def totp_page(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer, erledigt: str | None = None
) -> Template:
    account = await current_account(db_session, viewer)
    return await _totp_page(request, db_session, viewer, account, done=_done(erledigt))


def _password_status(error: str) -> int:
    return (
        429 if error == _("Zu viele Fehlversuche. Bitte versuchen Sie es in einigen Minuten erneut.") else 400
    )


@post("/konto/2fa/einrichten", name="account_totp_begin", guards=[require_login], cache=False)
async def totp_begin(request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer) -> Any:
    account = await current_account(db_session, viewer)
    form = await request.form()
    error = await _check_password(request, account, _field(form, "password"))
    if error is not None:
        return await _totp_page(
            request,
            db_session,
            viewer,
            account,
            error=error,
            error_field="password",
            status=_password_status(error),
        )
    try:
        await totp.begin_enrolment(db_session, account, _secret_key(request))
    except totp.TotpError:
        return await _totp_page(
            request,
            db_session,
            viewer,
            account,
            error=_("Die Zwei-Faktor-Anmeldung ist bereits eingerichtet."),
            status=409,
        )
    await db_session.commit()
    return Redirect(path="/konto/2fa", status_code=303)


@post("/konto/2fa/bestaetigen", name="account_totp_confirm", guards=[require_login], cache=False)
async def totp_confirm(request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer) -> Any:
    account = await current_account(db_session, viewer)
    form = await request.form()
    try:
        codes = await totp.confirm_enrolment(db_session, account, _field(form, "code"), _secret_key(request))
    except totp.TotpError:
        return await _totp_page(
            request,
            db_session,
            viewer,
            account,
            error=_("Es gibt keine begonnene Einrichtung. Bitte beginnen Sie neu."),
            status=409,
        )
    if codes is None:
        return await _totp_page(
            request,
            db_session,
            viewer,
            account,
            error=_(
                "Der Code ist falsch oder abgelaufen. Bitte geben Sie den aktuellen Code aus der App ein."
            ),
            error_field="code",
            status=400,
        )
    await audit.record(db_session, "totp.enabled", actor=account, account=account)
    await db_session.commit()
    return await _totp_page(request, db_session, viewer, account, recovery_codes=codes, done=_done("2fa-an"))


async def _password_and_code(
    request: Request[Any, Any, Any], db_session: AsyncSession, account: Account, form: Any
) -> tuple[str | None, str | None, int]:
    """(error, field, status) after checking the password and a TOTP or recovery code."""
    error = await _check_password(request, account, _field(form, "password"))
    if error is not None:
        return error, "password", _password_status(error)
    check = await totp.check_code(db_session, account, _field(form, "code"), _secret_key(request))
    if not check.ok:
        if check.locked:
            await audit.record(db_session, "login.locked", actor=account, account=account)
        await db_session.commit()
        _throttle(request).failure(_client_key(request))
        return _("Der Code ist falsch oder wurde schon verwendet."), "code", 400
    return None, None, 200


@post("/konto/2fa/abschalten", name="account_totp_disable", guards=[require_login], cache=False)
async def totp_disable(request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer) -> Any:
    account = await current_account(db_session, viewer)
    form = await request.form()
    if not await totp.is_enabled(db_session, account.id):
        # an unfinished enrolment is simply dropped
        await totp.disable(db_session, account.id)
        await db_session.commit()
        return Redirect(path="/konto/2fa", status_code=303)
    error, field, status = await _password_and_code(request, db_session, account, form)
    if error is not None:
        return await _totp_page(
            request, db_session, viewer, account, error=error, error_field=field, status=status
        )
    await totp.disable(db_session, account.id)
    await audit.record(db_session, "totp.disabled", actor=account, account=account)
    await db_session.commit()
    return Redirect(path="/konto/2fa?erledigt=2fa-aus", status_code=303)


@post("/konto/2fa/wiederherstellungscodes", name="account_totp_codes", guards=[require_login], cache=False)
async def totp_codes(request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer) -> Any:
    account = await current_account(db_session, viewer)
    form = await request.form()
    if not await totp.is_enabled(db_session, account.id):
        return Redirect(path="/konto/2fa", status_code=303)
    error, field, status = await _password_and_code(request, db_session, account, form)
    if error is not None:
        return await _totp_page(
            request, db_session, viewer, account, error=error, error_field=field, status=status
        )
    codes = await totp.regenerate_recovery_codes(db_session, account.id)
    await audit.record(db_session, "recovery_codes.renewed", actor=account, account=account)
    await db_session.commit()
    return await _totp_page(request, db_session, viewer, account, recovery_codes=codes)


# --- /verwaltung/konten ----------------------------------------------------------------------------


async def _persons(db_session: AsyncSession) -> list[tuple[int, str]]:
    rows = await db_session.execute(
        select(Person.id, Person.name)
        .where(Person.deleted == false())
        .order_by(Person.family_name, Person.given_name, Person.name, Person.id)
        .limit(5000)
    )
    return [(int(r[0]), str(r[1] or "")) for r in rows]


async def _accounts(db_session: AsyncSession) -> list[Account]:
    rows = await db_session.execute(
        select(Account).where(Account.deleted == false()).order_by(Account.username)
    )
    return list(rows.scalars())


def _audit_rows(entries: Any) -> list[dict[str, Any]]:
    labels = action_labels()
    role_names = role_labels()
    out = []
    for e in entries:
        detail = e.detail or {}
        text = ""
        if e.action == "roles.changed":
            text = " → ".join(
                ", ".join(role_names.get(r, str(r)) for r in (detail.get(k) or [])) or "–"
                for k in ("before", "after")
            )
        out.append(
            {
                "at": e.at,
                "actor": e.actor_name or _("System"),
                "account": e.account_name,
                "account_id": e.account_id,
                "action": labels.get(e.action, e.action),
                "text": text,
            }
        )
    return out


async def _admin_list(
    db_session: AsyncSession,
    viewer: Viewer,
    *,
    error: str | None = None,
    error_field: str | None = None,
    values: dict[str, Any] | None = None,
    done: str | None = None,
    status: int = 200,
) -> Template:
    accounts = await _accounts(db_session)
    persons = await _persons(db_session)
    names = dict(persons)
    with_totp = await totp.enabled_account_ids(db_session)
    return Template(
        template_name="account/admin_list.html",
        context={
            "viewer": viewer,
            "nav": None,
            "accounts": [
                {
                    "account": a,
                    "person_name": names.get(a.person_id) if a.person_id is not None else None,
                    "totp": a.id in with_totp,
                }
                for a in accounts
            ],
            "persons": persons,
            "roles": ROLES,
            "role_labels": role_labels(),
            "audit": _audit_rows(await audit.entries(db_session, limit=20)),
            "error": error,
            "error_field": error_field,
            "values": values or {"roles": []},
            "done": done,
        },
        status_code=status,
        headers=NO_STORE,
    )


async def _load_account(db_session: AsyncSession, account_id: int) -> Account:
    if not 0 < account_id <= _MAX_ID:
        raise NotFoundException(detail=_("Dieses Konto gibt es nicht."))
    account = await db_session.get(Account, account_id, populate_existing=True)
    if account is None or account.deleted:
        raise NotFoundException(detail=_("Dieses Konto gibt es nicht."))
    return account


async def _admin_detail(
    db_session: AsyncSession,
    viewer: Viewer,
    account: Account,
    *,
    error: str | None = None,
    error_field: str | None = None,
    done: str | None = None,
    shown_password: str | None = None,
    status: int = 200,
) -> Template:
    session_count = len(
        (await db_session.execute(select(WebSession.id).where(WebSession.account_id == account.id))).all()
    )
    return Template(
        template_name="account/admin_detail.html",
        context={
            "viewer": viewer,
            "account": account,
            "person_name": await _person_name(db_session, account.person_id),
            "persons": await _persons(db_session),
            "roles": ROLES,
            "role_labels": role_labels(),
            "totp": await totp.is_enabled(db_session, account.id),
            "session_count": session_count,
            "audit": _audit_rows(await audit.entries(db_session, account_id=account.id, limit=50)),
            "is_self": account.id == viewer.account_id,
            "error": error,
            "error_field": error_field,
            "done": done,
            "shown_password": shown_password,
        },
        status_code=status,
        headers=NO_STORE,
    )


async def _actor(db_session: AsyncSession, viewer: Viewer) -> Account:
    return await current_account(db_session, viewer)


async def _other_active_admins(db_session: AsyncSession, account_id: int) -> int:
    return sum(
        1
        for a in await _accounts(db_session)
        if a.id != account_id and not a.disabled and "admin" in (a.roles or [])
    )


@get("/verwaltung/konten", name="admin_accounts", guards=[require_admin], cache=False)
async def admin_accounts(db_session: AsyncSession, viewer: Viewer, erledigt: str | None = None) -> Template:
    return await _admin_list(db_session, viewer, done=_done(erledigt))


@post("/verwaltung/konten", name="admin_account_create", guards=[require_admin], cache=False)
async def admin_account_create(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer
) -> Any:
    form = await request.form()
    raw_username = _field(form, "username")
    values: dict[str, Any] = {
        "username": raw_username if service.normalize_username(raw_username) else "",
        "display_name": clean_text(_field(form, "display_name"), 300) or "",
        "roles": [r for r in _getall(form, "roles") if r in ROLES],
        "person_id": _field(form, "person_id") if _field(form, "person_id").isdigit() else "",
    }
    try:
        display_name = clean_text(_field(form, "display_name"), 300)
        if display_name is None:
            raise FormError(
                _("Der Anzeigename enthält unzulässige Zeichen oder ist zu lang."), "display_name"
            )
        roles = parse_roles(_getall(form, "roles"))
        person_id = parse_id(_field(form, "person_id") or None)
        if service.normalize_username(raw_username) is None:
            raise FormError(
                _("Ungültiger Benutzername (erlaubt: Buchstaben, Ziffern und . _ @ + -)."), "username"
            )
        password = _field(form, "password")
        generated = not password
        if generated:
            password = generate_password()
        try:
            account = await service.create_account(
                db_session,
                raw_username,
                password,
                roles,
                display_name=display_name or None,
                person_id=person_id,
            )
        except passwords.PasswordTooWeak as exc:
            raise FormError(weak_password_message(exc), "password") from exc
        except service.AccountError as exc:
            if "vergeben" in str(exc):
                raise FormError(_("Dieser Benutzername ist vergeben."), "username") from exc
            if "Person" in str(exc):
                raise FormError(_("Ungültige Auswahl."), "person_id") from exc
            raise FormError(_("Ungültige Eingabe."), None) from exc
        actor = await _actor(db_session, viewer)
        await audit.record(
            db_session,
            "account.created",
            actor=actor,
            account=account,
            detail={"roles": roles, "person_id": person_id},
        )
        try:
            await db_session.commit()
        except IntegrityError as exc:  # the same username created at the same moment elsewhere
            await db_session.rollback()
            raise FormError(_("Dieser Benutzername ist vergeben."), "username") from exc
    except FormError as exc:
        await db_session.rollback()
        return await _admin_list(
            db_session, viewer, error=exc.message, error_field=exc.field, values=values, status=400
        )
    if generated:
        return await _admin_detail(
            db_session, viewer, account, done=_done("angelegt"), shown_password=password, status=201
        )
    return Redirect(path=f"/verwaltung/konten/{account.id}?erledigt=angelegt", status_code=303)


@get("/verwaltung/konten/{account_id:int}", name="admin_account", guards=[require_admin], cache=False)
async def admin_account(
    db_session: AsyncSession, viewer: Viewer, account_id: int, erledigt: str | None = None
) -> Template:
    account = await _load_account(db_session, account_id)
    return await _admin_detail(db_session, viewer, account, done=_done(erledigt))


@post("/verwaltung/konten/{account_id:int}", name="admin_account_update", guards=[require_admin], cache=False)
async def admin_account_update(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer, account_id: int
) -> Any:
    account = await _load_account(db_session, account_id)
    form = await request.form()
    try:
        display_name = clean_text(_field(form, "display_name"), 300)
        if display_name is None:
            raise FormError(
                _("Der Anzeigename enthält unzulässige Zeichen oder ist zu lang."), "display_name"
            )
        roles = parse_roles(_getall(form, "roles"))
        person_id = parse_id(_field(form, "person_id") or None)
        if person_id is not None and await db_session.get(Person, person_id) is None:
            raise FormError(_("Ungültige Auswahl."), "person_id")
        had_admin = "admin" in (account.roles or [])
        if had_admin and "admin" not in roles:
            if account.id == viewer.account_id:
                raise FormError(
                    _("Sie können sich die Rolle Administration nicht selbst entziehen."), "roles"
                )
            if not account.disabled and await _other_active_admins(db_session, account.id) == 0:
                raise FormError(_("Das letzte aktive Administrationskonto muss die Rolle behalten."), "roles")
    except FormError as exc:
        return await _admin_detail(
            db_session, viewer, account, error=exc.message, error_field=exc.field, status=400
        )
    actor = await _actor(db_session, viewer)
    if list(account.roles or []) != roles:
        await audit.record(
            db_session, "roles.changed", actor=actor, account=account,
            detail={"before": list(account.roles or []), "after": roles},
        )  # fmt: skip
        account.roles = roles
    if account.person_id != person_id:
        await audit.record(
            db_session, "person.changed", actor=actor, account=account,
            detail={"before": account.person_id, "after": person_id},
        )  # fmt: skip
        account.person_id = person_id
    new_name = display_name or account.username
    if account.display_name != new_name:
        await audit.record(
            db_session, "account.updated", actor=actor, account=account,
            detail={"before": account.display_name, "after": new_name},
        )  # fmt: skip
        account.display_name = new_name
    await db_session.commit()
    return Redirect(path=f"/verwaltung/konten/{account.id}?erledigt=gespeichert", status_code=303)


@post(
    "/verwaltung/konten/{account_id:int}/sperren",
    name="admin_account_disable",
    guards=[require_admin],
    cache=False,
)
async def admin_account_disable(db_session: AsyncSession, viewer: Viewer, account_id: int) -> Any:
    account = await _load_account(db_session, account_id)
    if account.id == viewer.account_id:
        return await _admin_detail(
            db_session, viewer, account, error=_("Sie können Ihr eigenes Konto nicht sperren."), status=400
        )
    if not account.disabled:
        await service.disable_account(db_session, account)
        await audit.record(
            db_session, "account.disabled", actor=await _actor(db_session, viewer), account=account
        )
        await db_session.commit()
    return Redirect(path=f"/verwaltung/konten/{account.id}?erledigt=gesperrt", status_code=303)


@post(
    "/verwaltung/konten/{account_id:int}/entsperren",
    name="admin_account_enable",
    guards=[require_admin],
    cache=False,
)
async def admin_account_enable(db_session: AsyncSession, viewer: Viewer, account_id: int) -> Any:
    account = await _load_account(db_session, account_id)
    if account.disabled or account.locked_until is not None:
        await service.enable_account(db_session, account)
        await audit.record(
            db_session, "account.enabled", actor=await _actor(db_session, viewer), account=account
        )
        await db_session.commit()
    return Redirect(path=f"/verwaltung/konten/{account.id}?erledigt=entsperrt", status_code=303)


@post(
    "/verwaltung/konten/{account_id:int}/passwort",
    name="admin_account_password",
    guards=[require_admin],
    cache=False,
)
async def admin_account_password(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer, account_id: int
) -> Any:
    account = await _load_account(db_session, account_id)
    form = await request.form()
    password = _field(form, "password") or generate_password()
    try:
        await service.set_password(db_session, account, password, end_sessions=True)
    except passwords.PasswordTooWeak as exc:
        await db_session.rollback()
        account = await _load_account(db_session, account_id)
        return await _admin_detail(
            db_session,
            viewer,
            account,
            error=weak_password_message(exc),
            error_field="password",
            status=400,
        )
    await audit.record(db_session, "password.reset", actor=await _actor(db_session, viewer), account=account)
    await db_session.commit()
    if account.id == viewer.account_id:  # one's own sessions ended too
        request.scope.get("state", {}).pop(SESSION_KEY, None)
        return Redirect(path="/anmelden", status_code=303, cookies=_auth_cookies(request, None))
    return await _admin_detail(db_session, viewer, account, shown_password=password)


@post(
    "/verwaltung/konten/{account_id:int}/sitzungen-beenden",
    name="admin_account_end_sessions",
    guards=[require_admin],
    cache=False,
)
async def admin_account_end_sessions(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer, account_id: int
) -> Redirect:
    account = await _load_account(db_session, account_id)
    actor = await _actor(db_session, viewer)
    count = await delete_account_sessions(db_session, account.id)
    await audit.record(db_session, "sessions.ended", actor=actor, account=account, detail={"sessions": count})
    await db_session.commit()
    if account.id == viewer.account_id:
        request.scope.get("state", {}).pop(SESSION_KEY, None)
        return Redirect(path="/anmelden", status_code=303, cookies=_auth_cookies(request, None))
    return Redirect(path=f"/verwaltung/konten/{account.id}?erledigt=sitzungen", status_code=303)


@post(
    "/verwaltung/konten/{account_id:int}/2fa-zuruecksetzen",
    name="admin_account_totp_reset",
    guards=[require_admin],
    cache=False,
)
async def admin_account_totp_reset(db_session: AsyncSession, viewer: Viewer, account_id: int) -> Redirect:
    account = await _load_account(db_session, account_id)
    if await totp.disable(db_session, account.id):
        await audit.record(db_session, "totp.reset", actor=await _actor(db_session, viewer), account=account)
    await db_session.commit()
    return Redirect(path=f"/verwaltung/konten/{account.id}?erledigt=2fa-zurueckgesetzt", status_code=303)


routes: list[Any] = [
    account_page,
    account_password,
    account_end_sessions,
    totp_page,
    totp_begin,
    totp_confirm,
    totp_disable,
    totp_codes,
    admin_accounts,
    admin_account_create,
    admin_account,
    admin_account_update,
    admin_account_disable,
    admin_account_enable,
    admin_account_password,
    admin_account_end_sessions,
    admin_account_totp_reset,
]
