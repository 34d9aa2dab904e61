"""Password hashing with argon2id (pwdlib).

``verify`` also says whether the stored hash should be replaced (parameters changed since it was made).
``verify_dummy`` spends the same time as a real check, so that an unknown username is not faster to
reject than a wrong password (no user enumeration by timing).
"""

from __future__ import annotations

import secrets
from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

#: Passwords shorter than this are refused when set (CLI, later an admin page).
MIN_PASSWORD_LENGTH = 12
#: Longer inputs are not hashed at all (argon2 would take them, but nobody types 1 kB passwords).
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHash((Argon2Hasher(),))


class PasswordTooWeak(ValueError):
    """The password does not meet the policy (length)."""


def check_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordTooWeak(f"Das Passwort muss mindestens {MIN_PASSWORD_LENGTH} Zeichen lang sein.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordTooWeak(f"Das Passwort darf höchstens {MAX_PASSWORD_LENGTH} Zeichen lang sein.")
    if "\x00" in password:
        raise PasswordTooWeak("Das Passwort enthält unzulässige Zeichen.")


def _encodable(password: str) -> str:
    """Lone surrogates cannot be encoded as UTF-8; map them so hashing never raises."""
    return password.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def hash_password(password: str) -> str:
    return _hasher.hash(_encodable(password))


def verify(password: str, password_hash: str) -> tuple[bool, str | None]:
    """(valid, new_hash_or_None). A malformed stored hash counts as a failure, never an error."""
    if len(password) > MAX_PASSWORD_LENGTH:
        verify_dummy()
        return False, None
    try:
        return _hasher.verify_and_update(_encodable(password), password_hash)
    except Exception:  # an unknown/corrupt hash must not become a 500 on the login page
        verify_dummy()
        return False, None


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(24))


def verify_dummy() -> None:
    """Spend the time of one verification against a hash nobody knows the password for."""
    _hasher.verify("not-the-password", _dummy_hash())
