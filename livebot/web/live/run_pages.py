"""The live page of a run, its Server-Sent Events stream and its state as JSON."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Final

from aiohttp import web

from livebot.archive.records import FinishedRun
from livebot.demo.recordings import is_demo
from livebot.github.payloads import REPOSITORY
from livebot.runs import visibility
from livebot.runs.events import TERMINAL_STATUSES
from livebot.runs.links import token_is_valid
from livebot.runs.log import Event, RunLog, id_order
from livebot.runs.tombstones import read as read_tombstone
from livebot.web.accounts.sessions import current_user
from livebot.web.accounts.signin import login_url, reader
from livebot.web.app_keys import (
    ACCESS_SECONDS,
    ARCHIVE,
    FANOUT,
    KEEPALIVE,
    LINK_SECRET,
    PRESENCE,
    REDIS,
    RUN_LOG,
    SETTINGS,
    VIEWER_LIMITS,
)
from livebot.web.connections import CLIENT_GONE
from livebot.web.live import cancel, run_markup, sse
from livebot.web.pages import errors

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

# ASCII digits only (\d takes any script's), each part a 64-bit number Redis can take, the
# sequence one short of the largest so that "after it" is still an id.
EVENT_ID: Final = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
MAX_ID_PART: Final = 2**64 - 1
RETRY_MS: Final = 2000
KEEPALIVE_SECONDS: Final = 15.0
SEND_TIMEOUT: Final = 30.0
GITHUB_WEB: Final = "https://github.com"


def _authorized_run_id(request: web.Request) -> str:
    """The run id of the request, or 404 when the token does not match it."""
    run_id = request.match_info["run_id"]
    token = request.query.get("token", "")
    if not token_is_valid(request.app[LINK_SECRET], run_id, token):
        raise web.HTTPNotFound(text="No such run.")
    return run_id


async def _archived(request: web.Request, run_id: str) -> FinishedRun | None:
    """The run from the archive, once its Redis log has expired (None without an archive)."""
    archive = request.app.get(ARCHIVE)
    return None if archive is None else await archive.get(run_id)


async def _meta(
    request: web.Request, run_id: str
) -> tuple[dict[str, str] | None, FinishedRun | None]:
    """The run's metadata from Redis, else from the archive along with the whole run."""
    meta = await request.app[RUN_LOG].meta(run_id)
    archived = None
    if meta is None:
        archived = await _archived(request, run_id)
        meta = archived.meta if archived else None
    if meta is not None and not await _may_see(request, meta):
        raise web.HTTPNotFound(text="No such run.")
    return meta, archived


def _readers_only(request: web.Request, meta: dict[str, str]) -> str | None:
    """The repository whose readers alone may see the run (a private one's, under
    LIVEBOT_PRIVATE_RUNS=signin), else None: the link is enough."""
    if not visibility.is_private(meta) or request.app[SETTINGS].private_runs == "link":
        return None
    return meta.get("repository") or ""


async def _may_see(request: web.Request, meta: dict[str, str]) -> bool:
    """Private repositories' runs, under LIVEBOT_PRIVATE_RUNS=signin: the link AND a reader."""
    repository = _readers_only(request, meta)
    if repository is None:
        return True
    if not request.app[SETTINGS].sign_in:
        return False
    return await reader(request, repository) is not None


async def _still_reads(request: web.Request, repository: str) -> bool:
    """Whether the stream's reader may still read `repository`: signed in, and GitHub says so
    (asked again once the last answer is older than ACCESS_SECONDS; no answer means no)."""
    try:
        return await reader(request, repository) is not None
    except web.HTTPException:
        return False


def _number(meta: dict[str, str], name: str) -> int | None:
    return int(meta[name]) if meta.get(name) else None


def _float(meta: dict[str, str], name: str) -> float | None:
    return float(meta[name]) if meta.get(name) else None


def _issue_url(repository: str | None, number: int | None) -> str | None:
    """The issue or pull request on GitHub (which sends /issues/N of a pull request on)."""
    if not repository or number is None or not REPOSITORY.fullmatch(repository):
        return None
    return f"{GITHUB_WEB}/{repository}/issues/{number}"


@routes.get("/runs/{run_id}")
async def run_page(request: web.Request) -> web.Response:
    """The live page: the answer rendered as it streams."""
    try:
        run_id = _authorized_run_id(request)
    except web.HTTPNotFound:
        raise errors.not_found() from None
    try:
        meta, _ = await _meta(request, run_id)
    except web.HTTPNotFound:
        if await current_user(request) is None and request.app[SETTINGS].sign_in:
            # Only someone holding the run's link gets here: sign in, then back to the run.
            raise web.HTTPFound(login_url(request.path_qs)) from None
        raise errors.not_found() from None
    if meta is None:
        return errors.expired(await read_tombstone(request.app[REDIS], run_id))
    token = request.query["token"]
    config: dict[str, Any] = {
        "run_id": run_id,
        "events_url": f"/runs/{run_id}/events?token={token}",
        "state_url": f"/runs/{run_id}/state?token={token}",
        "demo": is_demo(meta),
        "workflow": meta.get("workflow", ""),
        "repository": meta.get("repository"),
        "number": _number(meta, "number"),
        "title": meta.get("title"),
        "status": meta.get("status"),
        "learnings": _number(meta, "learnings") or 0,
    }
    # A demo's repository is made up: its title and name link nowhere.
    real = not config["demo"]
    config["issue_url"] = _issue_url(config["repository"], config["number"]) if real else None
    if real and request.app.get(ARCHIVE) is not None and _issue_url(config["repository"], 1):
        # The repository's run history exists only where runs are archived.
        config["history_url"] = f"/repos/{config['repository']}/runs"
    config.update(cancel.page_config(request, run_id, token))
    where = f"{config['repository']}#{config['number']}" if config["repository"] else "run"
    return run_markup.page(config, f"Livebot · {where}")


@routes.get("/runs/{run_id}/state")
async def run_state(request: web.Request) -> web.Response:
    """The run as JSON: status, workflow, where, the text so far, usage, times, comment URL."""
    run_id = _authorized_run_id(request)
    run_log = request.app[RUN_LOG]
    meta, archived = await _meta(request, run_id)
    if meta is None:
        raise web.HTTPNotFound(text="No such run.")
    events = archived.events if archived else await run_log.history(run_id)
    return web.json_response(
        {
            "run_id": run_id,
            "status": meta["status"],
            "workflow": meta.get("workflow"),
            "repository": meta.get("repository"),
            "number": _number(meta, "number"),
            "text": texts_of(events, "token"),
            # A page that missed events reads the thinking here, as it reads the answer.
            "thinking": texts_of(events, "thinking"),
            "usage": {
                "prompt_tokens": _number(meta, "prompt_tokens") or 0,
                "completion_tokens": _number(meta, "completion_tokens") or 0,
            },
            "created_at": _float(meta, "created_at"),
            "started_at": _float(meta, "started_at"),
            "finished_at": _float(meta, "finished_at"),
            "comment_url": meta.get("comment_url"),
            "cost_usd": _float(meta, "cost_usd"),
            "viewers": await request.app[PRESENCE].count(run_id),
        }
    )


def texts_of(events: list[Event], kind: str) -> str:
    """The concatenated text of the events of one kind (`token`: the answer so far)."""
    return "".join(e.payload()["text"] for e in events if e.event == kind)


def _after(events: list[Event], after: str | None) -> list[Event]:
    """The events after `after` (exclusive), as XRANGE would answer."""
    if after is None:
        return events
    start = id_order(after)
    return [e for e in events if id_order(e.id) > start]


def _resume_point(request: web.Request) -> str | None:
    after = request.headers.get("Last-Event-ID") or request.query.get("after")
    if after is None or after == "":
        return None
    if not EVENT_ID.fullmatch(after) or max(id_order(after)) >= MAX_ID_PART:
        raise web.HTTPBadRequest(text="Last-Event-ID must be an event id such as 1732400000000-3.")
    return after


async def _write(request: web.Request, resp: web.StreamResponse, chunk: bytes) -> None:
    """Write pre-encoded events; a viewer that cannot take them in time is dropped."""
    transport = request.transport
    if transport is not None and not transport.get_write_buffer_size() and len(chunk) < 0x10000:
        # Nothing queued for this socket: the kernel takes the bytes now and the write cannot
        # wait, so no timer is needed (a timer per delivery costs more than the write itself).
        await resp.write(chunk)
        return
    try:
        async with asyncio.timeout(SEND_TIMEOUT):
            await resp.write(chunk)
    except TimeoutError:
        if request.transport is not None:
            request.transport.abort()
        raise ConnectionResetError("viewer too slow") from None


def _gone(request: web.Request) -> bool:
    """Whether the client has closed the connection: read afresh, as any await may close it."""
    return request.transport is None


@routes.get("/runs/{run_id}/events")
async def run_events(request: web.Request) -> web.StreamResponse:
    """History, then live events, with no gap and no duplicate between the two.

    One coroutine per viewer and nothing else (no keep-alive task, no middleware frame, no
    context manager): thousands of idle viewers are what a web process holds most of."""
    limits = request.app[VIEWER_LIMITS]
    address = limits.address(request)
    limits.admit(address, request.match_info["run_id"])
    viewer = watching = None
    fanout = request.app[FANOUT]
    try:
        run_id = _authorized_run_id(request)
        after = _resume_point(request)
        run_log: RunLog = request.app[RUN_LOG]
        meta, archived = await _meta(request, run_id)
        if meta is None:
            raise web.HTTPNotFound(text="No such run.")
        # Subscribe before reading history: whatever is appended in between arrives twice and
        # is dropped by id, never missed.
        ended = meta["status"] in TERMINAL_STATUSES
        viewer = None if ended else await fanout.subscribe(run_id)
        if not ended:
            # The page names itself: its reload is the same viewer, not a second one.
            watching = await request.app[PRESENCE].join(run_id, request.query.get("viewer"))
        history = (
            _after(archived.events, after) if archived else await run_log.history(run_id, after)
        )
        if ended and after is not None and not history:
            return web.Response(status=204)
        if request.transport is None:
            # Gone while its history was read: nothing to stream to (a traceback otherwise).
            log.debug("viewer went away", extra={"run_id": run_id})
            return web.Response(status=CLIENT_GONE)
        resp = await sse.open_stream(request)
        if viewer is not None:
            viewer.abort = request.transport.abort
        last = id_order(history[-1].id) if history else id_order(after or "0-0")
        done = ended or any(e.event == "complete" for e in history)
        # The count goes first: nothing may follow `complete`.
        chunk = f"retry: {RETRY_MS}\n\n".encode() + (watching.news() if watching else b"")
        chunk += b"".join(sse.encode(e) for e in history)
        keepalive = request.app[KEEPALIVE]
        loop = asyncio.get_running_loop()
        recheck = _readers_only(request, meta)
        try:
            await _write(request, resp, chunk)
            written = checked = loop.time()
            # An idle stream keeps only what it needs: not the history, nor the metadata.
            del chunk, history, meta, archived
            while viewer and not (done or viewer.overflowed or fanout.closing):
                # Woken by events, and by the fan-out's sweep every few seconds when the run is
                # quiet, to notice a client that has gone and to keep the stream alive: no timer
                # and no task per viewer.
                await viewer.wait()
                if _gone(request):
                    break
                if recheck is not None and loop.time() - checked >= request.app[ACCESS_SECONDS]:
                    if not await _still_reads(request, recheck):
                        # Its reconnect is answered 404, as a new stream would be.
                        log.info("reader lost access: stream closed", extra={"run_id": run_id})
                        break
                    checked = loop.time()
                fresh = [item for item in viewer.take() if item.order > last]
                out = watching.news() if watching else b""
                if fresh:
                    last, done = fresh[-1].order, fresh[-1].final
                    out += b"".join(item.frame for item in fresh)
                if not out and loop.time() - written >= keepalive:
                    out = sse.KEEPALIVE
                if out:
                    await _write(request, resp, out)
                    written = loop.time()
            if viewer is not None and viewer.overflowed and request.transport is not None:
                # Its socket is full: a graceful close would wait on it forever.
                request.transport.abort()
                log.info("slow viewer cut off", extra={"run_id": run_id})
        except ConnectionResetError:
            log.debug("viewer went away", extra={"run_id": run_id})
        return resp
    finally:
        limits.release(address, request.match_info["run_id"])
        if viewer is not None:
            fanout.unsubscribe(viewer)
        if watching is not None:
            await request.app[PRESENCE].leave(watching)
