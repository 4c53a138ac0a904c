"""Password hashing (argon2id, OWASP parameters) and the password policy (ASVS 6.2)."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from careloop.errors import InvalidInput

MIN_LENGTH = 12
MAX_LENGTH = 128  # capped before hashing so a 1 MB password cannot tie up the CPU
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Precomputed so unknown accounts cost the same verification time as known ones.
_DUMMY_HASH = _hasher.hash("careloop-timing-equaliser")


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"][:10000])


def check_policy(password: str) -> None:
    """Raise InvalidInput unless the password is 12-128 characters and not a common password."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"Password must have at least {MIN_LENGTH} characters", field="password")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"Password must have at most {MAX_LENGTH} characters", field="password")
    if password.lower() in _common_passwords() or len(set(password)) < 4:
        raise InvalidInput("Password is too common or too simple", field="password")


def hash_password(password: str) -> str:
    """argon2id hash of a password that passed the policy."""
    return _hasher.hash(password)


def verify_password(password: str, stored_hash: str | None) -> tuple[bool, str | None]:
    """(matches, new_hash_if_parameters_changed); costs the same whether or not a hash exists."""
    if len(password) > MAX_LENGTH:
        password = password[:MAX_LENGTH + 1]
    try:
        _hasher.verify(stored_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False, None
    if stored_hash is None:
        return False, None
    return True, (_hasher.hash(password) if _hasher.check_needs_rehash(stored_hash) else None)
