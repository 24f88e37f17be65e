"""Webhook deliveries built from GitHub's real payloads, signed as GitHub signs them."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from functools import cache
from typing import Any

from tests.conftest import FIXTURES, ISSUE, OWNER, REPO, SLUG, WEBHOOK_SECRET

__all__ = ["SLUG", "delivery", "payload", "sign"]


@cache
def _fixture(event: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / event / name).read_text())


def payload(
    event: str,
    name: str,
    *,
    body: str | None = None,
    association: str = "OWNER",
    installation_id: int = 4242,
) -> dict[str, Any]:
    """A real delivery's payload, pointed at the test repository, with a chosen comment."""
    data = copy.deepcopy(_fixture(event, name))
    data["installation"] = {"id": installation_id}
    data["repository"].update(full_name=f"{OWNER}/{REPO}", name=REPO)
    data["repository"]["owner"]["login"] = OWNER
    target = data.get("comment") or data.get("issue")
    if body is not None:
        target["body"] = body
    target["author_association"] = association
    if "issue" in data:
        data["issue"]["number"] = ISSUE
    return data


def sign(raw: bytes, secret: str = WEBHOOK_SECRET) -> str:
    """The X-Hub-Signature-256 header GitHub sends for these bytes."""
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def delivery(
    event: str, data: Any, *, delivery_id: str | None = None, secret: str = WEBHOOK_SECRET
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one signed delivery."""
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(raw, secret),
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
    }
    return raw, headers
