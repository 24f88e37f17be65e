"""Run links: a run's page works only with the token livebot put in its link."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote


def run_token(secret: bytes, run_id: str) -> str:
    """The link token of a run: an HMAC of its id under the server's link secret."""
    return hmac.new(secret, run_id.encode(), hashlib.sha256).hexdigest()[:32]


def same_secret(offered: str, expected: str) -> bool:
    """Whether an outsider's text equals a secret, in constant time; any text is just wrong."""
    # compare_digest refuses non-ASCII text with a TypeError (a 500 anyone could cause).
    return offered.isascii() and hmac.compare_digest(offered, expected)


def token_is_valid(secret: bytes, run_id: str, token: str) -> bool:
    """Whether `token` is the run's token (constant-time)."""
    return same_secret(token, run_token(secret, run_id))


def run_url(base_url: str, secret: bytes, run_id: str) -> str:
    """The live page of a run, as posted in comments."""
    return f"{base_url.rstrip('/')}/runs/{quote(run_id)}?token={run_token(secret, run_id)}"
