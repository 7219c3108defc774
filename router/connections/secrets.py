"""Encryption of connection credentials at rest, with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`).

AWS keeps a connection's credentials in Secrets Manager; Switchboard keeps them in Redis, encrypted, so a Redis
dump or a replica never holds a password, an API key value or an OAuth client secret in clear. The key comes from
`Settings.secrets_key` (env `SWITCHBOARD_SECRETS_KEY`) or, when unset, from `data_dir/secrets.key`, which the first
process creates with mode 0600. Every router process that shares one Redis must use the same key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken

from router.settings import Settings

__all__ = ["SecretBox", "SecretsUnavailable"]

KEY_FILE = "secrets.key"


class SecretsUnavailable(Exception):
    """Stored credentials cannot be decrypted: the key differs from the one that encrypted them."""


class SecretBox:
    """Encrypts and decrypts JSON-able credential records."""

    def __init__(self, key: bytes | str) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        if settings.secrets_key:
            return cls(settings.secrets_key)
        return cls(_key_file(settings.data_dir / KEY_FILE))

    def encrypt(self, value: Any) -> str:
        return self._fernet.encrypt(orjson.dumps(value)).decode()

    def decrypt(self, token: str | bytes) -> Any:
        try:
            return orjson.loads(self._fernet.decrypt(token))
        except InvalidToken as err:
            raise SecretsUnavailable(
                "stored credentials cannot be decrypted with this key (SWITCHBOARD_SECRETS_KEY or "
                "data_dir/secrets.key differs from the one that encrypted them)"
            ) from err


def _key_file(path: Path) -> bytes:
    """Read the key file, creating it when missing: written aside (mode 0600), then linked into place, so a
    concurrent reader never sees a half-written key and the first process to link wins."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
        try:
            os.link(aside, path)
        except FileExistsError:
            pass
        finally:
            aside.unlink()
    return path.read_bytes().strip()
