"""Password and token hashing (argon2id): what is stored instead of secrets."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Passwords get argon2id's RFC 9106 defaults (about 0.3 s here). Tokens carry 256 random
# bits, so a light argon2id setting (about 10 ms) costs an attacker nothing extra to skip
# yet keeps every CLI call fast.
PASSWORDS = PasswordHasher()
TOKENS = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def matches(hasher: PasswordHasher, stored_hash: str, secret: str) -> bool:
    """Whether `secret` is the one `stored_hash` was made from."""
    try:
        return hasher.verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False
