"""Join codes, teacher secrets and teacher names: made here, and checked here when they come back in an address.

A join code is 6 characters from an alphabet without look-alikes (no 0/O, 1/I/L), so it can be read
off a projector and typed on a phone: 31⁶ ≈ 890 million codes. Codes are typed in any case, with
spaces or a dash ("k7m-q2p"); `normalize_code` accepts exactly those variants and nothing else.
The teacher secret is `secrets.token_urlsafe(24)` (192 random bits); the scheduler keeps only its
SHA-256, and `secret_matches` compares in constant time. Every value from an address is bounded
before it is looked at: a hostile link gets `None`, never an exception.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata

#: Letters and digits that cannot be mistaken for one another when read aloud or off a projector.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
#: Longest `class` value looked at: a code with separators and spaces; anything longer is refused unread.
MAX_CODE_INPUT = 16
SECRET_BYTES = 24  # token_urlsafe(24): 32 characters
SECRET_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
MIN_SECRET, MAX_SECRET = 20, 64
MAX_NAME = 40  # characters of a teacher's display name
DEFAULT_NAME = "the teacher"


def new_code() -> str:
    """A random join code, e.g. "K7MQ2P" (`secrets`, not `random`: codes must not be predictable)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: object) -> str | None:
    """The join code in `text` ("k7m-q2p", " K7M Q2P ") as stored ("K7MQ2P"), or None if it is not one.

    Anything that is not a string, is longer than `MAX_CODE_INPUT`, or has a character outside the
    alphabet (after dropping spaces and dashes and upper-casing) is None.
    """
    if not isinstance(text, str) or len(text) > MAX_CODE_INPUT:
        return None
    code = text.replace(" ", "").replace("-", "").upper()
    if len(code) != CODE_LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


def display_code(code: str) -> str:
    """How a code is shown in big letters: two groups of three, "K7M-Q2P"."""
    return f"{code[:3]}-{code[3:]}"


def new_secret() -> str:
    """A teacher secret for the teacher link (URL-safe, 32 characters)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def valid_secret(text: object) -> str | None:
    """`text` if it looks like a teacher secret (bounded length, URL-safe alphabet), else None."""
    if not isinstance(text, str) or not MIN_SECRET <= len(text) <= MAX_SECRET:
        return None
    return text if set(text) <= SECRET_ALPHABET else None


def secret_hash(secret: str) -> str:
    """What the scheduler keeps of a secret: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """True if `secret` hashes to `stored_hash` (compared in constant time)."""
    return hmac.compare_digest(secret_hash(secret), str(stored_hash))


def clean_name(text: object) -> str:
    """A teacher's display name as stored: printable characters only, spaces collapsed, at most `MAX_NAME`
    characters; `DEFAULT_NAME` when nothing is left. Markup is kept as typed: the page escapes it."""
    if not isinstance(text, str):
        return DEFAULT_NAME
    kept = "".join(c if unicodedata.category(c)[0] not in "CZ" or c == " " else " " for c in text[:4 * MAX_NAME])
    name = " ".join(kept.split())[:MAX_NAME].strip()
    return name or DEFAULT_NAME
