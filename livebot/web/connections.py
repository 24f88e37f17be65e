"""Bounds on the web server's connections: a cap that keeps descriptors for everything else, and
deadlines for a request's head and body, so that slow clients (slowloris) cannot hold the server.

aiohttp has no deadline for the request line and headers, nor for a body its handler does not read
at once; it keeps every connection it accepts. The guard sits between the listening socket and
aiohttp's protocol: it counts connections, times each request until its body is in, and when the cap
is reached closes the connection that has owed data the longest (nothing lost that was ever sent:
such a connection has no complete request), else answers 503 at once. Nothing is logged per
connection: one summary line a minute at most, while connections are being cut.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Final, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from livebot.core.logs import Summary
from livebot.web.body import body_limit

log = logging.getLogger(__name__)

# Descriptors kept for everything but client connections: Redis pools, outgoing HTTP, files, logs.
MAX_RESERVED_DESCRIPTORS: Final = 1024
# The request line and headers must be in within this time of the connection's start.
HEAD_SECONDS: Final = 10.0
# A request's body must be in within this time of its headers (the webhook's own read is shorter).
BODY_SECONDS: Final = 30.0
# Idle keep-alive connections are closed after this; above nginx's 60 s upstream default, so that
# a proxy never reuses a connection the server is closing.
KEEPALIVE_SECONDS: Final = 75.0
# asyncio accepts up to its backlog at once, before the guard sees any: the reserve covers it.
ACCEPT_BATCH: Final = 128
# Connections the kernel queues until accepted: deep enough that a burst of connects (a flood of
# slow clients) does not drop the SYN of a real one, which would cost it a retransmit (1 s, 3 s).
LISTEN_BACKLOG: Final = 4096
REPORT_SECONDS: Final = 60.0
# The status of an answer nobody receives (nginx's "client closed request"), for the record only.
CLIENT_GONE: Final = 499
RETRY_AFTER_SECONDS: Final = 5
REFUSAL: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Retry-After: %d\r\nConnection: close\r\nContent-Length: 0\r\n\r\n" % RETRY_AFTER_SECONDS
)

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
RequestFactory = Callable[..., web.BaseRequest]


def _not_a_client_fault(record: logging.LogRecord) -> bool:
    """aiohttp logs a traceback for each request it cannot parse (answered 400): anyone could fill
    the log with them. Those are the client's fault; our own failures are still logged."""
    error = record.exc_info[1] if record.exc_info else None
    return not isinstance(error, HttpProcessingError)


# The logger aiohttp's server writes through.
server_log = logging.getLogger("livebot.web.server")
server_log.addFilter(_not_a_client_fault)


def server_options() -> dict[str, Any]:
    """What `web.AppRunner` is given besides the app: keep-alive timeout, the filtered logger."""
    return {"keepalive_timeout": KEEPALIVE_SECONDS, "logger": server_log}


def raise_descriptor_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit, as far as the kernel allows; the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            # An infinite hard limit beyond the kernel's nr_open (or macOS's OPEN_MAX): keep soft.
            return soft
        return hard if hard != resource.RLIM_INFINITY else soft
    return soft


def connection_cap(soft_limit: int, configured: int | None = None) -> int:
    """Client connections allowed at once: the descriptor limit less a reserve, or lower."""
    derived = max(1, soft_limit - min(soft_limit // 2, MAX_RESERVED_DESCRIPTORS))
    return derived if configured is None else min(configured, derived)


class ConnectionGuard:
    """The listening socket's protocol factory over aiohttp's `web.Server`, bounded as above."""

    def __init__(
        self,
        server: web.Server,
        cap: int,
        *,
        head_seconds: float = HEAD_SECONDS,
        body_seconds: float = BODY_SECONDS,
    ) -> None:
        self.server = server
        self.cap = cap
        self.head_seconds = head_seconds
        self.body_seconds = body_seconds
        self.open: set[RequestHandler] = set()
        # Connections owing a request head (None) or a body (its stream), the longest-owing first.
        self.owing: OrderedDict[RequestHandler, StreamReader | None] = OrderedDict()
        self.deadlines: dict[RequestHandler, asyncio.TimerHandle] = {}
        # Connections whose request is in the app's hands (not yet answered), and those whose app
        # has answered while their body is still owed.
        self.handling: set[RequestHandler] = set()
        self.answered: set[RequestHandler] = set()
        # The most the body owed may send (its route's limit).
        self.body_caps: dict[RequestHandler, int] = {}
        # Connections closed since start, by reason; logged once a minute at most.
        self.cut: Counter[str] = Counter()
        self._cuts = Summary(log, "slow or surplus connections closed", REPORT_SECONDS)
        self._loop = asyncio.get_running_loop()
        # aiohttp internals (bounded <4 in pyproject.toml): re-check on upgrade that Server still
        # builds handlers through `request_factory` and serves through `request_handler`.
        server.request_factory = self._on_head(server.request_factory)
        server.request_handler = self._quiet(server.request_handler)

    def __call__(self) -> asyncio.Protocol:
        """A protocol for one accepted connection."""
        return _Guarded(self, self.server())

    def admit(self, handler: RequestHandler, transport: asyncio.Transport) -> bool:
        """Count a new connection, closing the longest-owing one at the cap; False: refused."""
        if len(self.open) >= self.cap:
            if not self.owing:
                transport.write(REFUSAL)
                transport.close()
                self._count("refused")
                return False
            self._close(next(iter(self.owing)), "evicted")
        self.open.add(handler)
        self._owe(handler, None, self.head_seconds, "head_timeout")
        return True

    def forget(self, handler: RequestHandler) -> None:
        """The connection is gone."""
        self.open.discard(handler)
        self._settle(handler)

    def _on_head(self, factory: RequestFactory) -> RequestFactory:
        """aiohttp's request factory (called once a request's head is in): time its body."""

        def make(message: Any, payload: Any, protocol: Any, *args: Any) -> web.BaseRequest:
            request = factory(message, payload, protocol, *args)
            body = request.content
            if body.is_eof():
                self._settle(protocol)
            elif protocol not in self.open or protocol.transport is None:
                # Closed after its head was read, before its handler started: aiohttp would let
                # the handler wait on the body and fail with a RuntimeError.
                body.set_exception(ConnectionResetError("connection closed before its body"))
            else:
                self._settle(protocol)
                self._owe(protocol, body, self.body_seconds, "body_timeout")
                self.body_caps[protocol] = body_limit(request.path)
                body.on_eof(lambda: self._settle(protocol))
                self.check_body(protocol)
            return request

        return make

    def check_body(self, handler: RequestHandler) -> None:
        """A body past its route's limit is read no further: until the app has answered (its
        reads end in a 413, or it needs no body), then the connection is closed, not drained."""
        body = self.owing.get(handler)
        if body is None or body.total_bytes <= self.body_caps[handler]:
            return
        if handler in self.answered:
            self._close(handler, "body_too_large")
        else:
            handler.pause_reading()

    def _owe(
        self, handler: RequestHandler, body: StreamReader | None, seconds: float, reason: str
    ) -> None:
        """The connection owes a head or a body, by a deadline."""
        self.owing[handler] = body
        self.deadlines[handler] = self._loop.call_later(seconds, self._close, handler, reason)

    def _settle(self, handler: RequestHandler) -> None:
        """The connection owes nothing now: no deadline, never evicted."""
        self.owing.pop(handler, None)
        self.body_caps.pop(handler, None)
        self.answered.discard(handler)
        deadline = self.deadlines.pop(handler, None)
        if deadline is not None:
            deadline.cancel()

    def _close(self, handler: RequestHandler, reason: str) -> None:
        body = self.owing.get(handler)
        self.forget(handler)
        if body is not None:
            # Whoever reads the body learns at once that its client is gone (aiohttp would tell
            # it only at the next loop turn, with a RuntimeError): the handler, or else aiohttp
            # itself, draining what its handler left unread, which takes only a timeout quietly.
            gone = f"connection closed: {reason}"
            reading = handler in self.handling
            body.set_exception(ConnectionResetError(gone) if reading else TimeoutError(gone))
        handler.force_close()
        self._count(reason)

    def _count(self, reason: str) -> None:
        self.cut[reason] += 1
        self._cuts.count(reason, open=len(self.open), cap=self.cap)

    def _quiet(self, handler: Handler) -> Handler:
        """The app's handler, without a logged traceback when its client has gone away."""

        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            self.handling.add(request.protocol)
            try:
                return await handler(request)
            except ConnectionError as error:
                transport = request.transport
                if transport is not None and not transport.is_closing():
                    raise
                # The body's stream holds the error, whose frames hold the stream: a cycle only the
                # collector would free (~10 objects a connection, stalls of tens of milliseconds).
                error.__traceback__ = None
                # The answer can reach nobody; aiohttp drops it without a word.
                return web.Response(status=CLIENT_GONE)
            finally:
                self.handling.discard(request.protocol)
                if request.protocol in self.owing:
                    self.answered.add(request.protocol)

        return handle


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, admitted (or not) and forgotten by the guard."""

    def __init__(self, guard: ConnectionGuard, handler: RequestHandler) -> None:
        self.guard = guard
        self.handler = handler
        self.admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have asyncio.Transport's methods but not its class.
        self.admitted = self.guard.admit(self.handler, cast(asyncio.Transport, transport))
        if self.admitted:
            self.handler.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.admitted:
            self.handler.data_received(data)
            self.guard.check_body(self.handler)

    def eof_received(self) -> None:
        if self.admitted:
            self.handler.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.forget(self.handler)
        if self.admitted:
            self.handler.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.admitted:
            self.handler.pause_writing()

    def resume_writing(self) -> None:
        if self.admitted:
            self.handler.resume_writing()


class GuardedSite(web.BaseSite):
    """A TCP site whose connections go through a `ConnectionGuard`."""

    def __init__(
        self, runner: web.BaseRunner, guard: ConnectionGuard, host: str, port: int
    ) -> None:
        super().__init__(runner, backlog=ACCEPT_BATCH)
        self._guard = guard
        self._host = host
        self._port = port

    @property
    def name(self) -> str:
        """The site's URL."""
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        """Listen."""
        await super().start()
        self._server = await asyncio.get_running_loop().create_server(
            self._guard, self._host, self._port, backlog=self._backlog
        )
        for listening in self._server.sockets:
            # asyncio listens with the batch size; the kernel's queue may be deeper (a duplicate
            # descriptor of the same socket changes it).
            with socket.fromfd(listening.fileno(), listening.family, listening.type) as sock:
                sock.listen(LISTEN_BACKLOG)
