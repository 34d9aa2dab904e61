"""Password hashing with argon2id (pwdlib).

``verify`` also says whether the stored hash should be replaced (parameters changed since it was made).
``verify_dummy`` spends the same time as a real check, so that an unknown username is not faster to
reject than a wrong password (no user enumeration by timing).
"""

from __future__ import annotations

import itertools
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
    """The password does not meet the policy. ``reason``: ``short``, ``long``, ``chars`` (NUL) or
    ``guessable``; ``str(exc)`` is a German message (the web pages translate by ``reason``)."""

    def __init__(self, message: str, reason: str = "short") -> None:
        super().__init__(message)
        self.reason = reason


#: A password of fewer different characters ("111111111111", "abababababab") is guessable at any length.
MIN_DISTINCT_CHARACTERS = 5
#: Passwords long enough for the length rule that every guessing list starts with (compared casefolded).
COMMON_PASSWORDS = frozenset(
    {
        "passwort1234", "password1234", "passwort12345", "password12345", "passwort123456",
        "password123456", "passwortpasswort", "passwordpassword", "qwertzuiopü", "qwertzuiop123",
        "qwertyuiop123", "qwertzuiopas", "qwertyuiopas", "1q2w3e4r5t6z", "1q2w3e4r5t6y", "q1w2e3r4t5z6",
        "q1w2e3r4t5y6", "iloveyou1234", "hallohallo12", "hallo1234567", "abc123abc123", "123456789abc",
        "abcd12345678", "willkommen123", "willkommen1234", "rathaus12345", "hennef123456",
    }
)  # fmt: skip


def guessable(password: str) -> bool:
    """Too few different characters, a run of neighbouring ones ("123456789012", "abcdefghijkl",
    "zyxwvutsrqpo"), or a common password: what NIST SP 800-63B asks to refuse, beside the length."""
    folded = password.casefold()
    if len(set(folded)) < MIN_DISTINCT_CHARACTERS or folded in COMMON_PASSWORDS:
        return True
    pairs = list(itertools.pairwise(folded))
    neighbours = sum(
        1
        for a, b in pairs
        if abs(ord(b) - ord(a)) == 1 or (a.isdigit() and b.isdigit() and abs(ord(b) - ord(a)) == 9)
    )
    return bool(pairs) and neighbours >= 0.75 * len(pairs)


def check_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordTooWeak(f"Das Passwort muss mindestens {MIN_PASSWORD_LENGTH} Zeichen lang sein.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordTooWeak(f"Das Passwort darf höchstens {MAX_PASSWORD_LENGTH} Zeichen lang sein.", "long")
    if "\x00" in password:
        raise PasswordTooWeak("Das Passwort enthält unzulässige Zeichen.", "chars")
    if guessable(password):
        raise PasswordTooWeak(GUESSABLE_MESSAGE, "guessable")


GUESSABLE_MESSAGE = (
    "Dieses Passwort ist zu leicht zu erraten (zu wenige verschiedene Zeichen, eine Folge wie 123456 "
    "oder ein bekanntes Passwort). Gut sind mehrere Wörter, z. B. ein kurzer Satz."
)


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
