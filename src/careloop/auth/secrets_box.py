"""AES-GCM encryption of small secrets at rest (TOTP seeds) and of opaque tokens (page cursors), with the key
from settings."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from careloop.config import get_settings


@lru_cache
def _key() -> bytes:
    settings = get_settings()
    if settings.secret_key is not None:
        return hashlib.sha256(settings.secret_key.get_secret_value().encode()).digest()
    # No key configured: keep a generated one beside the database, readable only by the owner.
    path = settings.var_dir / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return hashlib.sha256(path.read_text().strip().encode()).digest()


def encrypt(plaintext: str) -> str:
    """nonce + ciphertext, base64url."""
    nonce = os.urandom(12)
    return base64.urlsafe_b64encode(nonce + AESGCM(_key()).encrypt(nonce, plaintext.encode(), None)).decode()


def decrypt(token: str) -> str:
    """Inverse of encrypt; raises on tampering."""
    raw = base64.urlsafe_b64decode(token)
    return AESGCM(_key()).decrypt(raw[:12], raw[12:], None).decode()


@lru_cache
def _purpose_key(purpose: str) -> bytes:
    return hashlib.sha256(_key() + b"|" + purpose.encode()).digest()


def seal(data: bytes, purpose: str) -> str:
    """Encrypt and authenticate data for one purpose (its own derived key, and the purpose as associated
    data): an opaque base64url token that cannot be read, altered or reused for another purpose."""
    nonce = os.urandom(12)
    sealed = AESGCM(_purpose_key(purpose)).encrypt(nonce, data, purpose.encode())
    return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def unseal(token: str, purpose: str) -> bytes:
    """Inverse of seal; ValueError when the token is not one of ours for this purpose."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return AESGCM(_purpose_key(purpose)).decrypt(raw[:12], raw[12:], purpose.encode())
    except (InvalidTag, binascii.Error, ValueError) as err:
        raise ValueError("not a sealed token") from err
