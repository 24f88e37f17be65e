"""GitHub's documented REST operations (tests/fixtures/github-openapi) and what matches them."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXTRACT = Path(__file__).parents[1] / "fixtures" / "github-openapi" / "operations.json"
# Path parameters GitHub lets span several segments: a file's path, a ref, `base...head`.
MULTI_SEGMENT = frozenset({"path", "ref", "basehead"})
# Pages of github.com itself (the fake serves them on the same port): not REST operations.
WEB_PAGES = re.compile(r"^(/organizations/[^/]+)?/settings/apps/new$|^/_codeload/")
PARAM = re.compile(r"\{(\w+)\}")
# GitHub's GraphQL endpoint: checked against its schema instead (tests.fake_github.graphql).
GRAPHQL = "/graphql"


@dataclass(frozen=True)
class Operation:
    """One documented operation, as the extract holds it."""

    operation_id: str
    method: str
    path: str
    livebot: bool
    enabled_for_apps: bool
    jwt: bool  # the app's own endpoint: its JWT, never an installation token
    documentation_url: str
    required_query: tuple[str, ...]
    required_body: tuple[str, ...]
    required_unless: dict[str, list[str]]
    responses: tuple[str, ...]
    ghec: bool
    ghes: tuple[str, ...]
    pattern: re.Pattern[str]
    literals: int  # literal segments: the most specific template wins, as GitHub's router does

    def missing_body(self, body: Any) -> list[str]:
        """The required request-body fields `body` lacks (none when it is not an object)."""
        if not isinstance(body, dict):
            return []
        required: list[str] = list(self.required_body)
        for name, fields in self.required_unless.items():
            if name in body:
                required = fields
        return [name for name in required if name not in body]


def _pattern(template: str) -> re.Pattern[str]:
    """The template as a regular expression over a request's (decoded) path."""
    out, last = "", 0
    for param in PARAM.finditer(template):
        out += re.escape(template[last : param.start()])
        out += ".+" if param[1] in MULTI_SEGMENT else "[^/]+"
        last = param.end()
    return re.compile(out + re.escape(template[last:]))


@functools.cache
def extract() -> dict[str, Any]:
    """The extract: its provenance, the GHES versions, the operations."""
    data: dict[str, Any] = json.loads(EXTRACT.read_text())
    return data


@functools.cache
def operations() -> tuple[Operation, ...]:
    """Every operation of the extract."""
    return tuple(
        Operation(
            operation_id=op["operationId"],
            method=op["method"],
            path=op["path"],
            livebot=op["livebot"],
            enabled_for_apps=op["enabledForGitHubApps"],
            jwt=op["jwt"],
            documentation_url=op["documentation_url"],
            required_query=tuple(
                p["name"] for p in op["parameters"] if p["in"] == "query" and p["required"]
            ),
            required_body=tuple(op["requiredBody"]),
            required_unless=op["requiredUnless"],
            responses=tuple(op["responses"]),
            ghec=op["ghec"],
            ghes=tuple(op["ghes"]),
            pattern=_pattern(op["path"]),
            literals=sum(not PARAM.fullmatch(s) for s in op["path"].split("/")),
        )
        for op in extract()["operations"]
    )


def match(method: str, path: str) -> Operation | None:
    """The documented operation a request is, if any."""
    found = [
        op for op in operations() if op.method == method.upper() and op.pattern.fullmatch(path)
    ]
    return max(found, key=lambda op: op.literals, default=None)


def not_supplied(fields: list[str]) -> str:
    """GitHub's 422 message for required body fields that are missing."""
    quoted = ", ".join(f'"{name}"' for name in fields)
    return f"Invalid request.\n\n{quoted} {'wasn' if len(fields) == 1 else 'weren'}'t supplied."
