"""The GitHub App client: app JWTs, cached installation tokens, retrying REST calls."""

from __future__ import annotations

import asyncio
import copy
import datetime
import email.utils
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

import aiohttp
import gidgethub
import gidgethub.aiohttp
import jwt as pyjwt
from cachetools import TLRUCache
from gidgethub import sansio

from livebot.github.paths import api_path

log = logging.getLogger(__name__)

MAX_COMMENT_CHARS = 65536
JWT_DRIFT_SECONDS = 60  # iat is set back this far: GitHub refuses a JWT "issued in the future"
JWT_LIFETIME_SECONDS = 9 * 60  # GitHub's maximum is 10 minutes
TOKEN_REFRESH_MARGIN = 60.0  # seconds before `expires_at` a cached token is replaced
RETRY_STATUSES = frozenset({500, 502, 503, 504})
# POSTs that do no harm twice: minting a token, adding a reaction that exists, redelivering a
# delivery (Livebot dedupes deliveries by id).
# GraphQL: Livebot sends reads and resolveReviewThread, which GitHub applies once however often.
REPEATABLE_POSTS = re.compile(
    r"/app/installations/\d+/access_tokens$|/reactions$|/app/hook/deliveries/\d+/attempts$"
    r"|/graphql$"
)
# Seconds before the first retry of a request; each later one waits twice as long.
BACKOFF = 1.0
SECONDARY_DEFAULT_WAIT = 60.0  # GitHub: "otherwise, wait for at least one minute"
DOWNLOAD_CHUNK_BYTES = 64 * 1024

Exchange = tuple[int, Mapping[str, str], bytes]


class BodyTooLarge(Exception):
    """A download's body passed its byte cap; nothing more of it was read."""


class RetryingGitHubAPI(gidgethub.aiohttp.GitHubAPI):
    """gidgethub's aiohttp client; each exchange retries 5xx, rate limits and network errors."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        requester: str,
        *,
        base_url: str = "https://api.github.com",
        max_attempts: int = 4,
        backoff: float = BACKOFF,
        max_wait: float = 60.0,
    ) -> None:
        super().__init__(session, requester, base_url=base_url)
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.max_wait = max_wait

    def with_token(self, token: str) -> RetryingGitHubAPI:
        """This client (session, retries) sending `token`: gidgethub's `graphql` takes no
        per-call token."""
        clone = copy.copy(self)
        clone.oauth_token = token
        return clone

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> Exchange:
        """Send one request, retrying what GitHub says (or the network shows) is temporary."""
        send = super()._request
        return await self._retrying(method, url, lambda: send(method, url, headers, body))

    async def get_capped(self, url: str, headers: Mapping[str, str], max_bytes: int) -> Exchange:
        """GET `url` (following redirects) with the usual retries, reading at most `max_bytes`
        of its body: BodyTooLarge past them, so a huge archive is never held whole."""

        async def exchange() -> Exchange:
            async with self._session.get(url, headers=headers) as response:
                if (response.content_length or 0) > max_bytes:
                    raise BodyTooLarge(f"{response.content_length:,} bytes")
                chunks, size = [], 0
                async for chunk in response.content.iter_chunked(DOWNLOAD_CHUNK_BYTES):
                    size += len(chunk)
                    if size > max_bytes:
                        raise BodyTooLarge(f"more than {max_bytes:,} bytes")
                    chunks.append(chunk)
                return response.status, response.headers, b"".join(chunks)

        return await self._retrying("GET", url, exchange)

    async def _retrying(
        self, method: str, url: str, exchange: Callable[[], Awaitable[Exchange]]
    ) -> Exchange:
        """Run `exchange` until it succeeds, fails for good, or runs out of attempts."""
        attempt = 0
        while True:
            attempt += 1
            try:
                status, resp_headers, resp_body = await exchange()
            except (aiohttp.ClientError, TimeoutError) as exc:
                # A POST that may have landed is not sent twice: its caller checks and decides.
                if attempt >= self.max_attempts or not _repeatable(method, url):
                    raise
                wait = self._backoff_delay(attempt)
                self._log_retry(method, url, attempt, wait, f"network error {exc!r}", None, {})
                await self.sleep(wait)
                continue
            retry_in = self._retry_wait(method, url, status, resp_headers, resp_body, attempt)
            if retry_in is None or attempt >= self.max_attempts:
                # Hand the response to gidgethub, which raises its own exception for it.
                return status, resp_headers, resp_body
            self._log_retry(method, url, attempt, retry_in, f"HTTP {status}", status, resp_headers)
            await self.sleep(retry_in)

    def _retry_wait(
        self,
        method: str,
        url: str,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        attempt: int,
    ) -> float | None:
        """Seconds to wait before retrying this response, or None if it must not be retried."""
        retry_after = _parse_retry_after(headers.get("retry-after"))
        if status in RETRY_STATUSES and not _repeatable(method, url):
            return None  # it may have been done (a comment posted): not sent twice blindly
        if status in RETRY_STATUSES:
            wait = retry_after if retry_after is not None else self._backoff_delay(attempt)
        elif status in (403, 429):
            if retry_after is not None:
                wait = retry_after
            elif headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
                try:
                    reset = float(headers["x-ratelimit-reset"])
                except ValueError:
                    return None
                wait = max(reset - time.time(), self.backoff)
            elif status == 429 or b"secondary rate limit" in body.lower():
                wait = max(SECONDARY_DEFAULT_WAIT, self._backoff_delay(attempt))
            else:
                return None  # a plain 403: permissions, not load
        else:
            return None
        # A wait beyond the cap (e.g. an hourly quota) is not worth holding a job for.
        return wait if wait <= self.max_wait else None

    def _backoff_delay(self, attempt: int) -> float:
        """Exponential backoff with a little jitter, so retrying workers do not move in lockstep."""
        return min(self.max_wait, self.backoff * 2.0 ** (attempt - 1) * random.uniform(1.0, 1.2))

    def _log_retry(
        self,
        method: str,
        url: str,
        attempt: int,
        wait: float,
        reason: str,
        status: int | None,
        headers: Mapping[str, str],
    ) -> None:
        log.warning(
            "GitHub %s %s failed (%s); retry %d/%d in %.2fs",
            method,
            url,
            reason,
            attempt,
            self.max_attempts - 1,
            wait,
            extra={
                "github_method": method,
                "github_url": url,
                "github_status": status,
                "github_request_id": headers.get("x-github-request-id"),
                "retry_reason": reason,
                "attempt": attempt,
                "wait_seconds": round(wait, 3),
            },
        )


def _repeatable(method: str, url: str) -> bool:
    """Whether sending the request twice does no harm (a token or a reaction, not a comment)."""
    return method != "POST" or bool(REPEATABLE_POSTS.search(url.split("?", 1)[0]))


def _parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds: GitHub sends delta-seconds, HTTP also allows a date."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class GitHubApp:
    """One GitHub App: signs JWTs, caches installation tokens, hands out installation clients."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        app_id: int,
        private_key: str,
        api_url: str = "https://api.github.com",
        requester: str = "livebot",
        max_attempts: int = 4,
        backoff: float = BACKOFF,
        max_wait: float = 60.0,
    ) -> None:
        self.app_id = app_id
        self._private_key = private_key
        self.gh = RetryingGitHubAPI(
            session,
            requester,
            base_url=api_url,
            max_attempts=max_attempts,
            backoff=backoff,
            max_wait=max_wait,
        )
        # Value: (token, refresh_at epoch); the entry vanishes at refresh_at.
        self._tokens: TLRUCache[int, tuple[str, float]] = TLRUCache(
            maxsize=10_000, ttu=lambda _key, value, _now: value[1], timer=time.time
        )
        self._locks: dict[int, asyncio.Lock] = {}

    def jwt(self) -> str:
        """A fresh RS256 app JWT."""
        now = int(time.time())
        payload = {
            "iat": now - JWT_DRIFT_SECONDS,
            "exp": now + JWT_LIFETIME_SECONDS,
            "iss": str(self.app_id),
        }
        return pyjwt.encode(payload, self._private_key, algorithm="RS256")

    async def app_info(self) -> dict[str, Any]:
        """`GET /app`: the app itself (its `slug` is the name people mention)."""
        info: dict[str, Any] = await self.gh.getitem(api_path("app"), jwt=self.jwt())
        return info

    async def installation_token(self, installation_id: int) -> str:
        """The installation's token, minted at most once per lifetime however many callers ask."""
        cached = self._tokens.get(installation_id)
        if cached is not None:
            return cached[0]
        lock = self._locks.setdefault(installation_id, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(installation_id)
            if cached is not None:
                return cached[0]
            data = await self.gh.post(
                api_path("app", "installations", installation_id, "access_tokens"),
                data=b"",
                jwt=self.jwt(),
            )
            token: str = data["token"]
            expires_at = datetime.datetime.fromisoformat(data["expires_at"]).timestamp()
            # Not stored when it expires within the margin; the next caller mints again.
            self._tokens[installation_id] = (token, expires_at - TOKEN_REFRESH_MARGIN)
            log.info(
                "minted installation token",
                extra={"installation_id": installation_id, "expires_at": data["expires_at"]},
            )
            return token

    def forget_token(self, installation_id: int, token: str) -> None:
        """Drop a cached token GitHub refused, unless another caller already replaced it."""
        cached = self._tokens.get(installation_id)
        if cached is not None and cached[0] == token:
            del self._tokens[installation_id]

    def api(self, installation_id: int) -> InstallationAPI:
        """A client acting as the installation."""
        return InstallationAPI(self, installation_id)


class InstallationAPI:
    """gidgethub's calls, authenticated with the installation's cached token."""

    def __init__(self, app: GitHubApp, installation_id: int) -> None:
        self.app = app
        self.installation_id = installation_id

    async def _call(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kw: Any) -> Any:
        token = await self.app.installation_token(self.installation_id)
        try:
            return await fn(*args, oauth_token=token, **kw)
        except gidgethub.BadRequest as exc:
            if exc.status_code != 401:
                raise
        # A revoked token is cached no longer than one refused request.
        self.app.forget_token(self.installation_id, token)
        token = await self.app.installation_token(self.installation_id)
        return await fn(*args, oauth_token=token, **kw)

    # Paths come from livebot.github.paths, already quoted: no URI-template variables are taken.
    async def getitem(self, url: str, **kw: Any) -> Any:
        """GET one item."""
        return await self._call(self.app.gh.getitem, url, **kw)

    async def getiter(self, url: str, **kw: Any) -> AsyncIterator[Any]:
        """GET every item of a paginated list, following `Link: rel="next"`."""
        token = await self.app.installation_token(self.installation_id)
        async for item in self.app.gh.getiter(url, oauth_token=token, **kw):
            yield item

    async def post(self, url: str, *, data: Any, **kw: Any) -> Any:
        """POST `data` as JSON."""
        return await self._call(self.app.gh.post, url, data=data, **kw)

    async def patch(self, url: str, *, data: Any, **kw: Any) -> Any:
        """PATCH `data` as JSON."""
        return await self._call(self.app.gh.patch, url, data=data, **kw)

    async def put(self, url: str, *, data: Any = b"", **kw: Any) -> Any:
        """PUT `data` as JSON (nothing by default)."""
        return await self._call(self.app.gh.put, url, data=data, **kw)

    async def delete(self, url: str, *, data: Any = b"", **kw: Any) -> None:
        """DELETE."""
        await self._call(self.app.gh.delete, url, data=data, **kw)

    async def graphql(self, query: str, **variables: Any) -> Any:
        """Run a GraphQL query or mutation; gidgethub raises GraphQLException on any `errors`."""
        gh = self.app.gh
        token = await self.app.installation_token(self.installation_id)
        return await gh.with_token(token).graphql(
            query, endpoint=graphql_url(gh.base_url), **variables
        )

    async def download(self, url: str, max_bytes: int) -> bytes:
        """GET raw bytes (an archive), following GitHub's redirect, with the usual retries;
        BodyTooLarge once more than `max_bytes` arrive."""
        gh = self.app.gh
        token = await self.app.installation_token(self.installation_id)
        headers = sansio.create_headers(gh.requester, oauth_token=token)
        full_url = sansio.format_url(url, {}, base_url=gh.base_url)
        status, _, body = await gh.get_capped(full_url, headers, max_bytes)
        if status != 200:
            raise gidgethub.HTTPException(HTTPStatus(status), f"GET {url} answered {status}")
        return body


def graphql_url(api_url: str) -> str:
    """GitHub's GraphQL endpoint beside its REST API: `/graphql`, or `/api/graphql` on GHES."""
    api_url = api_url.rstrip("/")
    if api_url.endswith("/api/v3"):
        return api_url.removesuffix("/v3") + "/graphql"
    return api_url + "/graphql"


def fit_comment(body: str, note: str) -> str:
    """`body` if GitHub accepts it as a comment, else its head cut to fit with `note` appended."""
    if len(body) <= MAX_COMMENT_CHARS:
        return body
    tail = "\n\n" + note
    keep = max(0, MAX_COMMENT_CHARS - len(tail))
    head = body[:keep]
    # An unclosed ``` fence would swallow the note into a code block; close it first.
    if sum(line.lstrip().startswith("```") for line in head.splitlines()) % 2:
        head = body[: max(0, keep - 4)] + "\n```"
    return (head + tail)[:MAX_COMMENT_CHARS]
