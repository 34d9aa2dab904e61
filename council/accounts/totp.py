"""The optional second factor: time-based one-time passwords (TOTP, RFC 6238) and recovery codes.

Codes: HMAC-SHA-1, 30-second steps, 6 digits — what every authenticator app speaks. A code is
accepted for the current step and one step either side (clock drift), and only once: the step of the
last accepted code is stored and a later code must belong to a later step (no replay).

The secret is stored encrypted (AES-256-GCM, key derived from ``settings.secret_key``, the account id
as associated data) and is shown only while enrolment is unconfirmed. When the secret key changes,
stored secrets can no longer be read: the account falls back to its recovery codes, or an admin
resets the second factor.

Recovery codes: ten random codes of 80 bits (``xxxx-xxxx-xxxx-xxxx``), shown once, stored as
SHA-256; each works once.

The login flow: a correct password for an account with a confirmed second factor does not create a
session but a ``LoginChallenge`` (5 minutes, 5 attempts, its token in a cookie); the code then ends
the challenge and creates the session. Wrong codes count per account (``AccountTotp.failures``, not
reset by a correct password) and lock the account like wrong passwords do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from council.accounts.models import Account, AccountTotp, LoginChallenge, RecoveryCode
from council.core.types import utcnow

STEP_SECONDS = 30
DIGITS = 6
#: Steps accepted either side of now (clock drift between server and phone).
WINDOW = 1
RECOVERY_CODES = 10
CHALLENGE_TTL = timedelta(minutes=5)
CHALLENGE_ATTEMPTS = 5
#: Wrong codes in a row before the account is locked (like ``service.MAX_FAILED_LOGINS``).
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
ISSUER = "Rathaus"
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


class TotpError(ValueError):
    """Enrolment or verification cannot proceed (message fit to show)."""


# --- RFC 4226 / 6238 --------------------------------------------------------------------------------


def generate_secret() -> str:
    """A new random secret: 160 bits, base32 without padding (32 characters)."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def _key(secret_b32: str) -> bytes:
    s = secret_b32.strip().replace(" ", "").upper()
    return base64.b32decode(s + "=" * (-len(s) % 8))


def hotp(secret_b32: str, counter: int, digits: int = DIGITS) -> str:
    mac = hmac.new(_key(secret_b32), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % (10**digits)).zfill(digits)


def time_step(at: float | None = None) -> int:
    return int((time.time() if at is None else at) // STEP_SECONDS)


def totp(secret_b32: str, at: float | None = None, digits: int = DIGITS) -> str:
    return hotp(secret_b32, time_step(at), digits)


def normalize_code(raw: str | None) -> str | None:
    """Six ASCII digits (spaces and dashes typed in between are dropped), or None."""
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    code = raw.replace(" ", "").replace("-", "").replace("\u00a0", "")
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return None
    return code


def match_step(
    secret_b32: str, code: str | None, *, at: float | None = None, after: int | None = None
) -> int | None:
    """The time step the code belongs to (within ±``WINDOW``), or None. Steps up to ``after`` (the
    last one used) are refused: a code works once."""
    code = normalize_code(code)
    if code is None:
        return None
    now = time_step(at)
    found: int | None = None
    for step in range(now - WINDOW, now + WINDOW + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(hotp(secret_b32, step), code) and found is None:
            found = step
    return found


def provisioning_uri(secret_b32: str, account_name: str, issuer: str = ISSUER) -> str:
    """The ``otpauth://totp/…`` URI that authenticator apps read (from the QR code or pasted)."""
    label = quote(f"{issuer}:{account_name}", safe="@:")
    query = urlencode(
        {
            "secret": secret_b32,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_SECONDS,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def qr_data_uri(text: str) -> str | None:
    """An SVG QR code as a ``data:`` URI for an ``<img>`` (CSP allows data: images), or None when
    segno is not installed."""
    try:
        import segno
    except ImportError:  # pragma: no cover - segno is a dependency, but the QR code is optional
        return None
    return str(segno.make(text, error="m").svg_data_uri(scale=5, dark="#000", light="#fff", border=2))


def group(secret_b32: str) -> str:
    """The secret in groups of four, easier to type."""
    return " ".join(secret_b32[i : i + 4] for i in range(0, len(secret_b32), 4))


# --- encryption of the stored secret ----------------------------------------------------------------


def _aead_key(secret_key: str) -> bytes:
    return hmac.new(
        secret_key.encode("utf-8", "surrogatepass"), b"rathaus totp secret v1", hashlib.sha256
    ).digest()


def encrypt_secret(secret_b32: str, secret_key: str, account_id: int) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(12)
    ct = AESGCM(_aead_key(secret_key)).encrypt(nonce, secret_b32.encode("ascii"), str(account_id).encode())
    return "v1:" + base64.urlsafe_b64encode(nonce + ct).decode("ascii")


def decrypt_secret(blob: str, secret_key: str, account_id: int) -> str | None:
    """The secret, or None when it cannot be read (other key, other account, corrupt)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not isinstance(blob, str) or not blob.startswith("v1:"):
        return None
    try:
        raw = base64.urlsafe_b64decode(blob[3:].encode("ascii"))
        plain = AESGCM(_aead_key(secret_key)).decrypt(raw[:12], raw[12:], str(account_id).encode())
        return plain.decode("ascii")
    except Exception:
        return None


# --- recovery codes ----------------------------------------------------------------------------------


def new_recovery_code() -> str:
    chars = "".join(secrets.choice(_B32) for _ in range(16))
    return "-".join(chars[i : i + 4] for i in range(0, 16, 4))


def normalize_recovery_code(raw: str | None) -> str | None:
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    code = raw.strip().lower().replace("-", "").replace(" ", "")
    if len(code) != 16 or any(c not in _B32 for c in code):
        return None
    return code


def hash_recovery_code(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


# --- the stored second factor -------------------------------------------------------------------------


async def get_totp(session: AsyncSession, account_id: int) -> AccountTotp | None:
    return await session.get(AccountTotp, account_id, populate_existing=True)


async def is_enabled(session: AsyncSession, account_id: int) -> bool:
    row = await get_totp(session, account_id)
    return bool(row is not None and row.confirmed)


async def enabled_account_ids(session: AsyncSession) -> set[int]:
    rows = await session.execute(select(AccountTotp.account_id).where(AccountTotp.confirmed.is_(True)))
    return {int(r[0]) for r in rows}


async def begin_enrolment(session: AsyncSession, account: Account, secret_key: str) -> str:
    """A new unconfirmed secret for the account (replacing an unconfirmed one); returns it. Refused
    when a confirmed second factor exists. Caller commits."""
    row = await get_totp(session, account.id)
    if row is not None and row.confirmed:
        raise TotpError("Die Zwei-Faktor-Anmeldung ist bereits eingerichtet.")
    secret = generate_secret()
    blob = encrypt_secret(secret, secret_key, account.id)
    if row is None:
        session.add(AccountTotp(account_id=account.id, secret_encrypted=blob, confirmed=False, failures=0))
    else:
        row.secret_encrypted = blob
        row.created = utcnow()
        row.last_step = None
        row.failures = 0
    await session.flush()
    return secret


async def pending_secret(session: AsyncSession, account_id: int, secret_key: str) -> str | None:
    """The secret of an unconfirmed enrolment (shown until it is confirmed), else None."""
    row = await get_totp(session, account_id)
    if row is None or row.confirmed:
        return None
    return decrypt_secret(row.secret_encrypted, secret_key, account_id)


async def _replace_recovery_codes(session: AsyncSession, account_id: int) -> list[str]:
    await session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
    codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
    for code in codes:
        session.add(
            RecoveryCode(
                account_id=account_id, code_hash=hash_recovery_code(normalize_recovery_code(code) or "")
            )
        )
    await session.flush()
    return codes


async def confirm_enrolment(
    session: AsyncSession, account: Account, code: str | None, secret_key: str, *, at: float | None = None
) -> list[str] | None:
    """Confirm the pending enrolment with a code from the app. Returns the new recovery codes (to
    show once), or None when the code is wrong. Caller commits."""
    row = await get_totp(session, account.id)
    if row is None or row.confirmed:
        raise TotpError("Es gibt keine begonnene Einrichtung.")
    secret = decrypt_secret(row.secret_encrypted, secret_key, account.id)
    if secret is None:
        raise TotpError("Die Einrichtung ist nicht mehr gültig. Bitte beginnen Sie neu.")
    step = match_step(secret, code, at=at)
    if step is None:
        return None
    row.confirmed = True
    row.confirmed_at = utcnow()
    row.last_step = step
    row.failures = 0
    return await _replace_recovery_codes(session, account.id)


async def regenerate_recovery_codes(session: AsyncSession, account_id: int) -> list[str]:
    if not await is_enabled(session, account_id):
        raise TotpError("Die Zwei-Faktor-Anmeldung ist nicht eingerichtet.")
    return await _replace_recovery_codes(session, account_id)


async def remaining_recovery_codes(session: AsyncSession, account_id: int) -> int:
    rows = await session.execute(
        select(RecoveryCode.id).where(RecoveryCode.account_id == account_id, RecoveryCode.used_at.is_(None))
    )
    return len(rows.all())


async def disable(session: AsyncSession, account_id: int) -> bool:
    """Remove the second factor and its recovery codes. True when there was one. Caller commits."""
    result = await session.execute(delete(AccountTotp).where(AccountTotp.account_id == account_id))
    await session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
    await session.flush()
    return bool(getattr(result, "rowcount", 0))


@dataclass(frozen=True)
class CodeCheck:
    ok: bool
    #: "totp" or "recovery" when ok.
    method: str | None = None
    #: The account was locked by this failure.
    locked: bool = False


async def check_code(
    session: AsyncSession,
    account: Account,
    code: str | None,
    secret_key: str,
    *,
    at: float | None = None,
    count_failure: bool = True,
) -> CodeCheck:
    """Check a TOTP code or a recovery code of an account with a confirmed second factor. A TOTP
    code is consumed (its step stored), a recovery code is marked used. Failures count and lock the
    account after ``MAX_FAILURES``. Flushes; the caller commits in both cases."""
    row = await get_totp(session, account.id)
    if row is None or not row.confirmed:
        return CodeCheck(False)
    if normalize_code(code) is not None:
        secret = decrypt_secret(row.secret_encrypted, secret_key, account.id)
        if secret is not None:
            # Claim the step with a conditional update: two requests with the same code cannot both pass.
            step = match_step(secret, code, at=at, after=row.last_step)
            if step is not None:
                claimed = await session.execute(
                    update(AccountTotp)
                    .where(
                        AccountTotp.account_id == account.id,
                        (AccountTotp.last_step.is_(None)) | (AccountTotp.last_step < step),
                    )
                    .values(last_step=step, failures=0)
                )
                if getattr(claimed, "rowcount", 0) == 1:
                    await session.flush()
                    return CodeCheck(True, "totp")
    else:
        recovery = normalize_recovery_code(code)
        if recovery is not None:
            used = await session.execute(
                update(RecoveryCode)
                .where(
                    RecoveryCode.account_id == account.id,
                    RecoveryCode.code_hash == hash_recovery_code(recovery),
                    RecoveryCode.used_at.is_(None),
                )
                .values(used_at=utcnow())
            )
            if getattr(used, "rowcount", 0) == 1:
                await session.execute(
                    update(AccountTotp).where(AccountTotp.account_id == account.id).values(failures=0)
                )
                await session.flush()
                return CodeCheck(True, "recovery")
    if not count_failure:
        return CodeCheck(False)
    row = await get_totp(session, account.id)
    assert row is not None
    row.failures = (row.failures or 0) + 1
    locked = False
    if row.failures >= MAX_FAILURES:
        row.failures = 0
        account.locked_until = utcnow() + LOCKOUT
        locked = True
    await session.flush()
    return CodeCheck(False, locked=locked)


# --- the login challenge ------------------------------------------------------------------------------

CHALLENGE_COOKIE = "rathaus_2fa"
_MAX_TOKEN_LENGTH = 128


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def create_challenge(
    session: AsyncSession, account_id: int, next_path: str = "", *, now: datetime | None = None
) -> str:
    """A challenge for the second step; returns the token for its cookie. Older challenges of the
    account end, and expired ones of any account are swept away. Caller commits."""
    now = now or utcnow()
    await session.execute(
        delete(LoginChallenge).where(
            (LoginChallenge.account_id == account_id) | (LoginChallenge.expires <= now)
        )
    )
    token = secrets.token_urlsafe(32)
    session.add(
        LoginChallenge(
            id=_token_hash(token),
            account_id=account_id,
            next_path=(next_path or "")[:2000],
            created=now,
            expires=now + CHALLENGE_TTL,
            attempts=0,
        )
    )
    await session.flush()
    return token


async def load_challenge(
    session: AsyncSession, token: str | None, *, now: datetime | None = None
) -> tuple[LoginChallenge, Account] | None:
    """The live challenge for the token with its account, or None (expired ones are deleted)."""
    if not token or len(token) > _MAX_TOKEN_LENGTH or not token.isascii():
        return None
    now = now or utcnow()
    key = _token_hash(token)
    challenge = await session.get(LoginChallenge, key, populate_existing=True)
    if challenge is None:
        return None
    account = await session.get(Account, challenge.account_id)
    if (
        now >= challenge.expires
        or challenge.attempts >= CHALLENGE_ATTEMPTS
        or account is None
        or account.disabled
        or account.deleted
        or (account.locked_until is not None and account.locked_until > now)
    ):
        await session.execute(delete(LoginChallenge).where(LoginChallenge.id == key))
        await session.flush()
        return None
    return challenge, account


async def end_challenge(session: AsyncSession, challenge_id: str) -> None:
    await session.execute(delete(LoginChallenge).where(LoginChallenge.id == challenge_id))
    await session.flush()


async def purge_expired_challenges(session: AsyncSession, *, now: datetime | None = None) -> int:
    result = await session.execute(delete(LoginChallenge).where(LoginChallenge.expires <= (now or utcnow())))
    return int(getattr(result, "rowcount", 0) or 0)
