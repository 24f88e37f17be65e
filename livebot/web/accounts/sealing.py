"""Authenticated encryption (AES-GCM) under keys derived (HKDF) from the app's secret."""

from __future__ import annotations

import base64
import binascii
import os
from functools import cache
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES: Final = 12


class Sealer:
    """Seals bytes for one purpose: what is sealed for one purpose opens for no other."""

    def __init__(self, secret: bytes, purpose: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"livebot {purpose}".encode()
        ).derive(secret)
        self._aead = AESGCM(key)

    def seal(self, plain: bytes, context: bytes = b"") -> str:
        """`plain` encrypted and authenticated, bound to `context`, as URL-safe text."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, plain, context)
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, text: str, context: bytes = b"") -> bytes | None:
        """What `seal` sealed with the same key and context; None for anything else."""
        try:
            sealed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(sealed) <= NONCE_BYTES:
            return None
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)
        except InvalidTag:
            return None


@cache
def sealer(secret: bytes, purpose: str) -> Sealer:
    """The sealer of `purpose` under `secret`, its key derived once."""
    return Sealer(secret, purpose)
