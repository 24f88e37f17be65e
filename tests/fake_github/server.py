"""A fake GitHub REST API on loopback: stateful, GitHub's JSON shapes, headers and errors.

App endpoints check the RS256 app JWT against the app's public key; repository endpoints check
an unexpired installation token it minted. Every request is recorded (and counted per route),
faults (5xx, rate limits, dropped connections, stalls) can be injected, and `latency_ms` delays
every answer. Installations are created on first use. Repositories hold real git objects
(tests.fake_github.gitmodel); pull requests, reviews and the Git Data API work on them.
Standalone: `python -m tests.fake_github --port 8002 --key-file /tmp/app.pem`.
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import functools
import hashlib
import json
import secrets
import string
import time
from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

import jwt as pyjwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fake_github import contract
from tests.fake_github.checks import CheckRuns
from tests.fake_github.common import DOCS, Reply, iso, not_found, paginate
from tests.fake_github.gitmodel import GitStore
from tests.fake_github.graphql import GraphQL
from tests.fake_github.hooks import AppHooks
from tests.fake_github.manifests import Manifests
from tests.fake_github.pulls import Pulls
from tests.fake_github.repos import TREE_LIMIT, Files, RepoContent

MAX_COMMENT_CHARS = 65536
REACTIONS = {"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {rid}."
)
FORM_TYPE = "application/x-www-form-urlencoded"  # the new-app page takes a browser's form
JWT_UNDECODABLE = "A JSON web token could not be decoded"


@functools.cache
def _shared_key_pem() -> str:
    """One RSA key per test process: generating one per fake costs ~100 ms each time."""
    return generate_private_key_pem()


def generate_private_key_pem() -> str:
    """A fresh 2048-bit RSA key as PKCS#1 PEM, the format GitHub hands out."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@dataclass
class RecordedRequest:
    """One request as the fake received it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    status: int = 0  # the answer's status, once answered (0: none, the connection dropped)


@dataclass
class _Fault:
    method: str
    path_glob: str
    kind: str  # "status" | "primary" | "secondary" | "drop" | "stall"
    times: int
    status: int = 502
    seconds: float = 0.0


@dataclass
class FakeGitHub(RepoContent, Pulls, AppHooks, Manifests, CheckRuns, GraphQL):
    """The fake server and its state; see the module docstring."""

    app_id: int = 424242
    app_slug: str = "livebot-test"
    token_ttl: float = 3600.0  # seconds an installation token lives
    port: int = 0
    private_key_pem: str = field(default_factory=_shared_key_pem)
    url: str = ""
    requests: list[RecordedRequest] = field(default_factory=list)
    repos: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    issues: dict[tuple[str, str, int], dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    comment_reactions: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    issue_reactions: dict[tuple[str, str, int], list[dict[str, Any]]] = field(default_factory=dict)
    installations: dict[int, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, tuple[int, float]] = field(default_factory=dict)  # token: (inst, expiry)
    token_mints: int = 0
    git: GitStore = field(default_factory=GitStore)  # objects of every repository
    refs: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # full ref: sha
    pulls: dict[tuple[str, str, int], dict[str, Any]] = field(default_factory=dict)
    reviews: dict[tuple[str, str, int], list[dict[str, Any]]] = field(default_factory=dict)
    review_comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    review_comment_reactions: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    resolved_threads: dict[int, str] = field(default_factory=dict)  # thread's first comment: by
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    graphql_requests: list[dict[str, Any]] = field(default_factory=list)  # {query, variables}
    deliveries: list[dict[str, Any]] = field(default_factory=list)  # the app's webhook
    redeliveries: list[int] = field(default_factory=list)  # ids asked to be redelivered
    delivery_payloads: dict[int, dict[str, Any]] = field(default_factory=dict)  # by delivery id
    hook_url: str = "https://livebot.example.com/webhook"
    contents_write: bool = True  # False: Git Data writes answer 403, as without contents: write
    workflows_write: bool = False  # without it, refs changing .github/workflows/ are refused
    refuse_approvals: bool = False  # True: APPROVE reviews answer 422 (else only recorded)
    tree_limit: int = TREE_LIMIT  # recursive tree entries before `truncated`
    latency_ms: float = 0.0  # every answer is delayed this long
    route_counts: Counter[str] = field(default_factory=Counter)  # "GET /repos/{owner}/…": n
    manifest_codes: dict[str, dict[str, Any]] = field(default_factory=dict)  # code: manifest
    manifests_received: list[dict[str, Any]] = field(default_factory=list)  # posted manifests
    # What GET /app says the app was granted (app.yml asks for these).
    app_permissions: dict[str, str] = field(
        default_factory=lambda: {
            "issues": "write",
            "pull_requests": "write",
            "contents": "write",
            "metadata": "read",
            "checks": "write",
        }
    )
    app_events: list[str] = field(
        default_factory=lambda: [
            "issues",
            "issue_comment",
            "pull_request",
            "pull_request_review_comment",
            "check_run",
        ]
    )

    def __post_init__(self) -> None:
        key = serialization.load_pem_private_key(self.private_key_pem.encode(), password=None)
        # GitHub hands apps RSA keys, and the app JWT is RS256.
        self._public_key = cast(rsa.RSAPrivateKey, key).public_key()
        self._faults: list[_Fault] = []
        self._users: dict[str, dict[str, Any]] = {}
        self._comment_issue: dict[int, tuple[str, str, int]] = {}
        self._review_comment_pr: dict[int, tuple[str, str, int]] = {}
        self._next_id = 1_000_000_001
        self._used = 0
        self._runner: web.AppRunner | None = None

    @property
    def bot_login(self) -> str:
        """The login of the app's bot user, author of every comment the app posts."""
        return f"{self.app_slug}[bot]"

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen on 127.0.0.1 (a free port unless `port` was given)."""
        app = web.Application(middlewares=[self._middleware], client_max_size=32 * 1024**2)
        r = app.router
        r.add_get("/app", self._get_app)
        r.add_get("/app/installations", self._list_installations)
        self._hook_routes(r)
        self._manifest_routes(r)
        r.add_post("/app/installations/{iid}/access_tokens", self._access_token)
        repo = "/repos/{owner}/{repo}"
        r.add_get(repo, self._get_repo)
        r.add_get(repo + "/issues/comments/{cid:\\d+}", self._get_comment)
        r.add_patch(repo + "/issues/comments/{cid:\\d+}", self._patch_comment)
        r.add_post(repo + "/issues/comments/{cid:\\d+}/reactions", self._add_reaction)
        r.add_get(repo + "/issues/comments/{cid:\\d+}/reactions", self._list_reactions)
        r.add_get(repo + "/issues/{num:\\d+}", self._get_issue)
        r.add_get(repo + "/issues/{num:\\d+}/comments", self._list_comments)
        r.add_post(repo + "/issues/{num:\\d+}/comments", self._post_comment)
        r.add_post(repo + "/issues/{num:\\d+}/reactions", self._add_reaction)
        r.add_get(repo + "/issues/{num:\\d+}/reactions", self._list_reactions)
        self._content_routes(r, repo)
        self._pull_routes(r, repo)
        self._check_routes(r, repo)
        self._graphql_routes(r)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeGitHub:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- test helpers ---------------------------------------------------------------------
    def add_installation(self, installation_id: int, account: str = "octo-org") -> dict[str, Any]:
        """Register an installation (minting a token for an unknown id also creates one)."""
        acct = self._user(account, kind="Organization")
        inst = {
            "id": installation_id,
            "account": acct,
            "app_id": self.app_id,
            "app_slug": self.app_slug,
            "target_id": acct["id"],
            "target_type": acct["type"],
            "repository_selection": "all",
            "access_tokens_url": f"{self.url}/app/installations/{installation_id}/access_tokens",
            "repositories_url": f"{self.url}/installation/repositories",
            "html_url": f"https://github.com/settings/installations/{installation_id}",
            "permissions": {
                "issues": "write",
                "pull_requests": "write",
                "contents": "write",
                "metadata": "read",
                "checks": "write",
            },
            "events": [
                "issues",
                "issue_comment",
                "pull_request",
                "pull_request_review_comment",
                "pull_request_review_thread",
                "check_run",
            ],
            "created_at": iso(),
            "updated_at": iso(),
            "suspended_at": None,
        }
        self.installations[installation_id] = inst
        return inst

    def add_repo(
        self,
        owner: str,
        name: str,
        description: str | None = "",
        default_branch: str = "main",
        private: bool = False,
        files: Files | None = None,
    ) -> dict[str, Any]:
        """Add (or replace) a repository; `files` ({path: text or bytes}) become the first commit
        of its default branch, else it stays empty until something is pushed."""
        full = f"{owner}/{name}"
        repo = {
            "id": self._new_id(),
            "node_id": "R_" + secrets.token_hex(6),
            "name": name,
            "full_name": full,
            "private": private,
            "owner": self._user(owner),
            "html_url": f"https://github.com/{full}",
            "description": description,
            "fork": False,
            "url": f"{self.url}/repos/{full}",
            "default_branch": default_branch,
            "visibility": "private" if private else "public",
            "archived": False,
            "has_issues": True,
            "open_issues_count": 0,
            "language": "Python",
            "created_at": iso(),
            "updated_at": iso(),
            "pushed_at": iso(),
        }
        self.repos[(owner, name)] = repo
        self.refs[(owner, name)] = {}
        if files:
            self.push(owner, name, default_branch, files, "Initial commit")
        return repo

    def add_issue(
        self,
        owner: str,
        name: str,
        number: int,
        title: str,
        body: str | None = "",
        user: str = "octocat",
        pull_request: bool = False,
        state: str = "open",
        author_association: str = "OWNER",
    ) -> dict[str, Any]:
        """Add an issue (or, with pull_request=True, a PR as the issues API shows it)."""
        if (owner, name) not in self.repos:
            self.add_repo(owner, name)
        api = f"{self.url}/repos/{owner}/{name}"
        kind = "pull" if pull_request else "issues"
        issue: dict[str, Any] = {
            "id": self._new_id(),
            "node_id": "I_" + secrets.token_hex(6),
            "url": f"{api}/issues/{number}",
            "repository_url": api,
            "comments_url": f"{api}/issues/{number}/comments",
            "html_url": f"https://github.com/{owner}/{name}/{kind}/{number}",
            "number": number,
            "state": state,
            "title": title,
            "body": body,
            "user": self._user(user),
            "labels": [],
            "assignees": [],
            "locked": False,
            "comments": 0,
            "author_association": author_association,
            "created_at": iso(),
            "updated_at": iso(),
            "closed_at": None,
        }
        if pull_request:
            issue["pull_request"] = {
                "url": f"{api}/pulls/{number}",
                "html_url": f"https://github.com/{owner}/{name}/pull/{number}",
                "diff_url": f"https://github.com/{owner}/{name}/pull/{number}.diff",
                "patch_url": f"https://github.com/{owner}/{name}/pull/{number}.patch",
                "merged_at": None,
            }
        self.issues[(owner, name, number)] = issue
        return issue

    def add_comment(
        self,
        owner: str,
        name: str,
        number: int,
        body: str,
        user: str = "octocat",
        author_association: str = "OWNER",
    ) -> dict[str, Any]:
        """Add a comment to an existing issue or PR."""
        issue = self.issues[(owner, name, number)]
        cid = self._new_id()
        comment: dict[str, Any] = {
            "id": cid,
            "node_id": "IC_" + secrets.token_hex(6),
            "url": f"{self.url}/repos/{owner}/{name}/issues/comments/{cid}",
            "html_url": f"{issue['html_url']}#issuecomment-{cid}",
            "issue_url": issue["url"],
            "body": body,
            "user": self._user(user),
            "created_at": iso(),
            "updated_at": iso(),
            "author_association": author_association,
            "performed_via_github_app": None,
        }
        self.comments[cid] = comment
        self._comment_issue[cid] = (owner, name, number)
        issue["comments"] += 1
        return comment

    def comments_on(self, owner: str, name: str, number: int) -> list[dict[str, Any]]:
        """The comments of one issue, oldest first."""
        key = (owner, name, number)
        return [c for cid, c in sorted(self.comments.items()) if self._comment_issue[cid] == key]

    def requests_to(self, method: str, path_glob: str) -> list[RecordedRequest]:
        """Recorded requests whose method matches and whose path matches the glob."""
        return [
            q
            for q in self.requests
            if q.method == method.upper() and fnmatch.fnmatchcase(q.path, path_glob)
        ]

    def fail_next(self, method: str, path_glob: str, status: int = 502, times: int = 1) -> None:
        """Answer the next `times` matching requests with `status` and a GitHub error body."""
        self._faults.append(_Fault(method.upper(), path_glob, "status", times, status=status))

    def rate_limit_next(
        self,
        method: str,
        path_glob: str,
        kind: str = "secondary",
        times: int = 1,
        retry_after: float = 0,
        status: int = 403,
    ) -> None:
        """Refuse the next matching requests with a primary or secondary rate limit."""
        if kind not in ("primary", "secondary"):
            raise ValueError(f"kind must be 'primary' or 'secondary', not {kind!r}")
        self._faults.append(
            _Fault(method.upper(), path_glob, kind, times, status=status, seconds=retry_after)
        )

    def drop_next(self, method: str, path_glob: str, times: int = 1) -> None:
        """Close the connection without answering the next matching requests."""
        self._faults.append(_Fault(method.upper(), path_glob, "drop", times))

    def stall_next(self, method: str, path_glob: str, seconds: float, times: int = 1) -> None:
        """Hold the next matching requests for `seconds` before answering them normally."""
        self._faults.append(_Fault(method.upper(), path_glob, "stall", times, seconds=seconds))

    def clear_faults(self) -> None:
        """Forget every fault still pending: GitHub works again."""
        self._faults.clear()

    def revoke_tokens(self) -> None:
        """Invalidate every installation token minted so far."""
        self.tokens.clear()

    # ---- plumbing -------------------------------------------------------------------------
    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _user(self, login: str, kind: str | None = None) -> dict[str, Any]:
        if login not in self._users:
            uid = 10_000 + len(self._users)
            self._users[login] = {
                "login": login,
                "id": uid,
                "node_id": f"U_{uid}",
                "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
                "url": f"https://api.github.com/users/{login}",
                "html_url": f"https://github.com/{login.removesuffix('[bot]')}",
                "type": kind or ("Bot" if login.endswith("[bot]") else "User"),
                "site_admin": False,
            }
        return self._users[login]

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if (
                fault.times > 0
                and fault.method == method
                and fnmatch.fnmatchcase(path, fault.path_glob)
            ):
                fault.times -= 1
                return fault
        return None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        recorded = RecordedRequest(
            request.method,
            request.path,
            dict(request.query),
            {k.lower(): v for k, v in request.headers.items()},
            body,
        )
        self.requests.append(recorded)
        rid = ":".join(secrets.token_hex(n).upper() for n in (2, 3, 4, 4, 4))
        self._used += 1
        rl = {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(max(1, 5000 - self._used)),
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-used": str(min(4999, self._used)),
            "x-ratelimit-resource": "core",
        }
        route = request.match_info.route.resource
        self.route_counts[f"{request.method} {route.canonical if route else request.path}"] += 1
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        fault = self._take_fault(request.method, request.path)
        if fault is not None and fault.kind == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=502)
        if fault is not None and fault.kind == "stall":
            await asyncio.sleep(fault.seconds)
            fault = None
        try:
            if fault is None:
                if raw and body is None and request.content_type != FORM_TYPE:
                    raise Reply(400, "Problems parsing JSON")
                self._check_contract(request, body)
                response = await handler(request)
            elif fault.kind == "status":
                response = web.json_response(
                    {"message": HTTPStatus(fault.status).phrase, "documentation_url": DOCS},
                    status=fault.status,
                )
            elif fault.kind == "primary":
                rl.update(
                    {
                        "x-ratelimit-remaining": "0",
                        "x-ratelimit-used": "5000",
                        "x-ratelimit-reset": str(int(time.time() + fault.seconds)),
                    }
                )
                raise Reply(fault.status, "API rate limit exceeded for installation.")
            else:
                rl["retry-after"] = str(int(fault.seconds))
                raise Reply(fault.status, SECONDARY_MESSAGE.format(rid=rid))
        except Reply as reply:
            response = reply.response
        except web.HTTPException:  # unknown route or method: GitHub answers 404 JSON
            response = not_found().response
        response = self._conditional(request, response)
        response.headers.update(rl)
        response.headers["x-github-request-id"] = rid
        response.headers["x-github-api-version-selected"] = "2022-11-28"
        response.headers["x-github-media-type"] = "github.v3; format=json"
        recorded.status = response.status
        return response

    @staticmethod
    def _conditional(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        """An ETag on every JSON GET, and 304 Not Modified when If-None-Match carries it."""
        body = getattr(response, "body", None)
        if request.method != "GET" or response.status != 200 or not isinstance(body, bytes):
            return response
        etag = f'W/"{hashlib.sha256(body).hexdigest()[:40]}"'
        if etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers={"ETag": etag})
        response.headers["ETag"] = etag
        return response

    def _permissions(self, iid: int) -> dict[str, str]:
        """The installation's permissions, as the contents/workflows switches make them."""
        perms = dict(self.installations[iid]["permissions"])
        if not self.contents_write:
            perms["contents"] = "read"
        if self.workflows_write:
            perms["workflows"] = "write"
        return perms

    def _check_contract(self, request: web.Request, body: Any) -> None:
        """Answer as GitHub does a request its REST description does not allow."""
        if contract.WEB_PAGES.match(request.path) or request.path == contract.GRAPHQL:
            return
        op = contract.match(request.method, request.path)
        if op is None:
            raise not_found()
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        entry = self.tokens.get(token) if scheme.lower() in ("token", "bearer") else None
        installation = entry is not None and entry[1] > time.time()
        if installation and not op.enabled_for_apps and not op.jwt:
            raise Reply(
                403,
                "Resource not accessible by integration",
                documentation_url=op.documentation_url,
            )
        missing = op.missing_body(body)
        if missing:
            raise Reply(422, contract.not_supplied(missing), documentation_url=op.documentation_url)

    def _check_jwt(self, request: web.Request) -> None:
        """Refuse the request unless it carries a valid app JWT."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.count(".") != 2:
            raise Reply(401, JWT_UNDECODABLE)
        try:
            claims = pyjwt.decode(
                token,
                self._public_key,
                algorithms=["RS256"],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "require": ["iat", "exp", "iss"],
                },
            )
        except pyjwt.PyJWTError:
            raise Reply(401, JWT_UNDECODABLE) from None
        iat, exp, now = claims["iat"], claims["exp"], time.time()
        if not isinstance(iat, int) or iat > now + 5:
            raise Reply(
                401,
                "'Issued at' claim ('iat') must be an Integer representing the "
                "time that the assertion was issued.",
            )
        if not isinstance(exp, int) or exp <= now:
            raise Reply(
                401,
                "'Expiration time' claim ('exp') must be a numeric value "
                "representing the future time at which the assertion expires.",
            )
        if exp - iat > 660 or exp > now + 660:
            raise Reply(401, "'Expiration time' claim ('exp') is too far in the future.")
        if str(claims["iss"]) != str(self.app_id):
            raise Reply(401, JWT_UNDECODABLE)

    def _check_token(self, request: web.Request) -> int:
        """The installation id of the request's token; 401 Bad credentials otherwise."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        entry = self.tokens.get(token) if scheme.lower() in ("token", "bearer") else None
        if entry is None or entry[1] <= time.time():
            raise Reply(401, "Bad credentials")
        return entry[0]

    def _repo(self, request: web.Request) -> tuple[str, str]:
        self._check_token(request)
        key = (request.match_info["owner"], request.match_info["repo"])
        if key not in self.repos:
            raise not_found()
        return key

    def _issue(self, request: web.Request) -> dict[str, Any]:
        owner, name = self._repo(request)
        issue = self.issues.get((owner, name, int(request.match_info["num"])))
        if issue is None:
            raise not_found()
        return issue

    def _comment(self, request: web.Request) -> dict[str, Any]:
        owner, name = self._repo(request)
        cid = int(request.match_info["cid"])
        if cid not in self.comments or self._comment_issue[cid][:2] != (owner, name):
            raise not_found()
        return self.comments[cid]

    @staticmethod
    def _comment_body(data: Any) -> str:
        if not isinstance(data, dict) or not isinstance(data.get("body"), str):
            raise Reply(422, 'Invalid request.\n\n"body" wasn\'t supplied.')
        if len(data["body"]) > MAX_COMMENT_CHARS:
            raise Reply(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "IssueComment",
                        "code": "custom",
                        "field": "body",
                        "message": f"body is too long (maximum is {MAX_COMMENT_CHARS} characters)",
                    }
                ],
            )
        body: str = data["body"]
        return body

    # ---- handlers -------------------------------------------------------------------------
    async def _get_app(self, request: web.Request) -> web.Response:
        self._check_jwt(request)
        owner = self._user("octo-org", kind="Organization")
        return web.json_response(
            {
                "id": self.app_id,
                "slug": self.app_slug,
                "node_id": "A_" + str(self.app_id),
                "client_id": f"Iv1.{self.app_id:016x}",
                "owner": owner,
                "name": "Livebot Test",
                "description": "Answers mentions, live.",
                "external_url": "https://example.com",
                "html_url": f"https://github.com/apps/{self.app_slug}",
                "created_at": iso(0),
                "updated_at": iso(0),
                "permissions": dict(self.app_permissions),
                "events": list(self.app_events),
                "installations_count": len(self.installations),
            }
        )

    async def _list_installations(self, request: web.Request) -> web.Response:
        self._check_jwt(request)
        return web.json_response(
            [{**i, "permissions": self._permissions(i["id"])} for i in self.installations.values()]
        )

    async def _access_token(self, request: web.Request) -> web.Response:
        self._check_jwt(request)
        iid = int(request.match_info["iid"])
        if iid not in self.installations:
            self.add_installation(iid)
        alphabet = string.ascii_letters + string.digits
        token = "ghs_" + "".join(secrets.choice(alphabet) for _ in range(36))
        expires = time.time() + self.token_ttl
        self.tokens[token] = (iid, expires)
        self.token_mints += 1
        return web.json_response(
            {
                "token": token,
                "expires_at": iso(expires),
                "permissions": self._permissions(iid),
                "repository_selection": "all",
            },
            status=201,
        )

    async def _get_repo(self, request: web.Request) -> web.Response:
        return web.json_response(self.repos[self._repo(request)])

    async def _get_issue(self, request: web.Request) -> web.Response:
        return web.json_response(self._issue(request))

    async def _list_comments(self, request: web.Request) -> web.Response:
        issue = self._issue(request)
        owner, name = request.match_info["owner"], request.match_info["repo"]
        return paginate(request, self.url, self.comments_on(owner, name, issue["number"]))

    async def _post_comment(self, request: web.Request) -> web.Response:
        issue = self._issue(request)
        owner, name = request.match_info["owner"], request.match_info["repo"]
        body = self._comment_body(await request.json())
        comment = self.add_comment(
            owner, name, issue["number"], body, user=self.bot_login, author_association="NONE"
        )
        comment["performed_via_github_app"] = {"id": self.app_id, "slug": self.app_slug}
        return web.json_response(comment, status=201)

    async def _get_comment(self, request: web.Request) -> web.Response:
        return web.json_response(self._comment(request))

    async def _patch_comment(self, request: web.Request) -> web.Response:
        comment = self._comment(request)
        comment["body"] = self._comment_body(await request.json())
        comment["updated_at"] = iso()
        return web.json_response(comment)

    def _reaction_list(self, request: web.Request) -> list[dict[str, Any]]:
        if "pcid" in request.match_info:
            cid = self._review_comment(request)["id"]
            return self.review_comment_reactions.setdefault(cid, [])
        if "cid" in request.match_info:
            return self.comment_reactions.setdefault(self._comment(request)["id"], [])
        issue = self._issue(request)
        return self.issue_reactions.setdefault(
            (request.match_info["owner"], request.match_info["repo"], issue["number"]), []
        )

    async def _add_reaction(self, request: web.Request) -> web.Response:
        reactions = self._reaction_list(request)
        data = await request.json()
        content = data.get("content") if isinstance(data, dict) else None
        if content not in REACTIONS:
            raise Reply(
                422,
                "Validation Failed",
                errors=[{"resource": "Reaction", "code": "invalid", "field": "content"}],
            )
        for r in reactions:
            if r["content"] == content and r["user"]["login"] == self.bot_login:
                return web.json_response(r, status=200)
        reaction = {
            "id": self._new_id(),
            "node_id": "REA_" + secrets.token_hex(6),
            "user": self._user(self.bot_login),
            "content": content,
            "created_at": iso(),
        }
        reactions.append(reaction)
        return web.json_response(reaction, status=201)

    async def _list_reactions(self, request: web.Request) -> web.Response:
        return web.json_response(self._reaction_list(request))


async def _serve(args: argparse.Namespace, private_key_pem: str) -> None:
    """Run until interrupted, with one demo repository and issue."""
    fake = FakeGitHub(
        app_id=args.app_id,
        port=args.port,
        token_ttl=args.token_ttl,
        private_key_pem=private_key_pem,
    )
    await fake.start()
    fake.add_installation(1)
    fake.add_repo(
        "octo-org",
        "hello-world",
        description="A demo repository",
        files={"README.md": "# Hello\n", "app.py": "print('hello')\n"},
    )
    fake.add_issue("octo-org", "hello-world", 1, "Why does it crash?", "It crashes on start.")
    fake.push("octo-org", "hello-world", "feature", {"app.py": "print('hello, world')\n"})
    fake.add_pr("octo-org", "hello-world", "feature", "Greet the world", number=2)
    print(fake.url, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.close()


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description="A fake GitHub REST API.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--app-id", type=int, default=424242)
    parser.add_argument("--token-ttl", type=float, default=3600.0)
    parser.add_argument("--key-file", help="write the app's private key (PEM) here")
    args = parser.parse_args()
    pem = generate_private_key_pem()
    if args.key_file:
        Path(args.key_file).write_text(pem)
    try:
        asyncio.run(_serve(args, pem))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
