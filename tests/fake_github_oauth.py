"""GitHub's OAuth web flow and the user-token REST endpoints, faked on loopback.

`GET /login/oauth/authorize` signs in whoever the test chose (`sign_in_as`) at once and sends the
browser back with a code and the state; `POST /login/oauth/access_token` trades the code for a
user token (checking the client id, secret and redirect URI, as GitHub does); `GET /user` and
`GET /repos/{owner}/{repo}` answer for that token: a private repository is 404 to users who may
not read it, as on GitHub; `DELETE /applications/{client_id}/token` (basic auth with the client id
and secret, the token in a JSON body) revokes a token. Serve it as both GITHUB_URL and
GITHUB_API_URL of a web process.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

NOT_FOUND = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}


@dataclass
class FakeGitHubOAuth:
    """The OAuth app, its users, and which repositories each may read."""

    client_id: str = "Iv1.fakeclientid"
    client_secret: str = field(default_factory=lambda: secrets.token_hex(20))
    url: str = ""
    next_login: str = "octocat"
    public: set[str] = field(default_factory=set)
    readers: dict[str, set[str]] = field(default_factory=dict)  # repository: logins
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code: (login, redirect)
    tokens: dict[str, str] = field(default_factory=dict)  # token: login
    repo_requests: list[tuple[str, str]] = field(default_factory=list)  # (login, repository)
    revoked: list[str] = field(default_factory=list)  # tokens revoked, in order
    _runner: web.AppRunner | None = None

    def add_repo(self, repository: str, *, private: bool, readers: Iterable[str] = ()) -> None:
        """A repository: public, or private and readable by `readers`."""
        if not private:
            self.public.add(repository.lower())
        self.readers[repository.lower()] = {login.lower() for login in readers}

    def sign_in_as(self, login: str) -> None:
        """Who the next authorization signs in."""
        self.next_login = login

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_get("/login/oauth/authorize", self._authorize)
        app.router.add_post("/login/oauth/access_token", self._access_token)
        app.router.add_get("/user", self._user)
        app.router.add_get("/repos/{owner}/{repo}", self._repo)
        app.router.add_delete("/applications/{client_id}/token", self._revoke)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _authorize(self, request: web.Request) -> web.Response:
        if request.query.get("client_id") != self.client_id:
            return web.Response(status=404, text="unknown client")
        redirect, state = request.query["redirect_uri"], request.query.get("state", "")
        code = secrets.token_hex(10)
        self.codes[code] = (self.next_login, redirect)
        raise web.HTTPFound(f"{redirect}?{urlencode({'code': code, 'state': state})}")

    async def _access_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        code = str(form.get("code", ""))
        login, redirect = self.codes.pop(code, ("", ""))
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return web.json_response({"error": "incorrect_client_credentials"})
        if not login or form.get("redirect_uri") != redirect:
            return web.json_response({"error": "bad_verification_code"})
        token = "ghu_" + secrets.token_hex(18)
        self.tokens[token] = login
        return web.json_response({"access_token": token, "token_type": "bearer", "scope": ""})

    def _login(self, request: web.Request) -> str | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return self.tokens.get(token) if scheme.lower() in ("bearer", "token") else None

    async def _user(self, request: web.Request) -> web.Response:
        login = self._login(request)
        if login is None:
            return web.json_response({"message": "Bad credentials"}, status=401)
        return web.json_response({"login": login, "id": abs(hash(login)) % 10**8, "type": "User"})

    async def _repo(self, request: web.Request) -> web.Response:
        login = self._login(request)
        if login is None:
            return web.json_response({"message": "Bad credentials"}, status=401)
        repository = f"{request.match_info['owner']}/{request.match_info['repo']}".lower()
        self.repo_requests.append((login, repository))
        if repository in self.public or login.lower() in self.readers.get(repository, set()):
            body: dict[str, Any] = {
                "full_name": repository,
                "private": repository not in self.public,
            }
            return web.json_response(body)
        return web.json_response(NOT_FOUND, status=404)

    def _client(self, request: web.Request) -> bool:
        """Whether the request authenticates as the app's OAuth client (HTTP basic auth)."""
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return scheme.lower() == "basic" and decoded == f"{self.client_id}:{self.client_secret}"

    async def _revoke(self, request: web.Request) -> web.Response:
        # GitHub answers 404 to anyone but the app's own client, as for an unknown app.
        if request.match_info["client_id"] != self.client_id or not self._client(request):
            return web.json_response(NOT_FOUND, status=404)
        body = await request.json()
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str):
            return web.json_response({"message": "Validation Failed"}, status=422)
        if self.tokens.pop(token, None) is None:
            return web.json_response(NOT_FOUND, status=404)
        self.revoked.append(token)
        return web.Response(status=204)
