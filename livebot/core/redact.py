"""Text from outside (a provider's error message) made fit to publish: no secrets, bounded."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

MAX_PUBLISHED_CHARS: Final = 300
REDACTED: Final = "[redacted]"
# What looks like a credential: OpenAI-style keys, bearer tokens, GitHub tokens, and any long run
# of base64 or hex characters with a digit in it (keys, JWT parts, hashes; a long word or a URL
# path has no digit), which a user never needs to read in an error.
KEY_LIKE: Final = re.compile(
    r"\bsk-[A-Za-z0-9_\-*.]{4,}"
    r"|\bBearer\s+\S+"
    r"|\b(?:ghp|gho|ghs|ghu|github_pat)_[A-Za-z0-9_]{10,}"
    r"|(?=[A-Za-z0-9+/_\-]*[0-9])[A-Za-z0-9+/_\-]{32,}=*",
    re.IGNORECASE,
)
# Credentials a URL carries: `https://user:secret@host`, `?key=…` (Gemini), `&token=…`.
URL_CREDENTIALS: Final = re.compile(
    r"(?<=://)[^\s/@]+(?=@)|(?<=[?&])(?:key|api[_-]?key|token|access_token|sig|password)=[^&\s\"']+",
    re.IGNORECASE,
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` without `secrets` or anything key-like, cut to MAX_PUBLISHED_CHARS."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = URL_CREDENTIALS.sub(REDACTED, text)
    text = KEY_LIKE.sub(REDACTED, text)
    if len(text) > MAX_PUBLISHED_CHARS:
        text = text[: MAX_PUBLISHED_CHARS - 1] + "…"
    return text
