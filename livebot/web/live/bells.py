"""The process's one Pub/Sub connection: the bell channels of the runs followed here.

Every append to a run's log PUBLISHes a bell on `keys.run_bell(run_id)` (livebot/runs/log.py);
the fan-out subscribes to the bells of the runs its viewers watch and unsubscribes as soon as
the last one leaves. One plain connection serves a Redis Cluster too: a classic PUBLISH is
broadcast to every node, so any one node hears every bell.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Final

# A raw connection, below redis-py's PubSub (bounded <9 in pyproject.toml): re-check on upgrade
# that send_command/read_response and the connection's retry keep their behaviour.
from redis.asyncio import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from livebot.core.cancellation import cancel_and_wait
from livebot.store.client import RedisClient

log = logging.getLogger(__name__)

CLIENT_NAME: Final = "livebot-bells"
# A subscription waits this long for Redis; then the viewer is told Redis is unavailable.
SUBSCRIBE_SECONDS: Final = 5.0
RECONNECT_FIRST_SECONDS: Final = 0.05
RECONNECT_MAX_SECONDS: Final = 2.0

Ack = tuple[str, "asyncio.Future[None] | None"]
Op = tuple[str, str, "asyncio.Future[None] | None"]


class BellsUnavailable(RedisConnectionError):
    """The Pub/Sub connection is down: a run cannot be followed now."""


class Bells:
    """Subscribes and unsubscribes bell channels on one connection, and reconnects it."""

    def __init__(
        self,
        redis: RedisClient,
        on_bell: Callable[[str, str], None],
        on_subscribed: Callable[[], None],
        *,
        dead_after: float,
    ) -> None:
        self.redis = redis
        self.on_bell = on_bell
        # Called each time every wanted channel is confirmed on a new connection: bells rung
        # while the connection was down are lost, and the fan-out reads the streams instead.
        self.on_subscribed = on_subscribed
        # No reply (not even to the sweep's PING) for this long: the connection is dead.
        self.dead_after = dead_after
        self.wanted: dict[str, asyncio.Future[None]] = {}
        self.connected = False
        self._ops: deque[Op] = deque()
        self._acks: deque[Ack] = deque()
        self._wake = asyncio.Event()
        self._attempt = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Connect, and keep connected until `close`."""
        self._task = asyncio.create_task(self._run(), name="bells")

    async def close(self) -> None:
        """Drop the connection for good."""
        if self._task is not None:
            await cancel_and_wait([self._task])

    async def subscribe(self, channel: str) -> None:
        """Subscribe to a channel; returns once Redis has confirmed it."""
        confirmed = self.wanted.get(channel)
        if confirmed is None:
            confirmed = self.wanted[channel] = asyncio.get_running_loop().create_future()
            self._queue("SUBSCRIBE", channel, confirmed)
        try:
            await asyncio.wait_for(asyncio.shield(confirmed), SUBSCRIBE_SECONDS)
        except TimeoutError:
            raise BellsUnavailable("Redis Pub/Sub is unavailable") from None

    def unsubscribe(self, channel: str) -> None:
        """Unsubscribe from a channel, now (the command goes out at once, unconfirmed)."""
        confirmed = self.wanted.pop(channel, None)
        if confirmed is not None:
            confirmed.cancel()
            self._queue("UNSUBSCRIBE", channel, None)

    def ping(self) -> None:
        """Ask for a reply: a connection that stays silent past `dead_after` is replaced."""
        self._queue("PING", "", None)

    def _queue(self, verb: str, channel: str, done: asyncio.Future[None] | None) -> None:
        if self.connected:
            self._ops.append((verb, channel, done))
            self._wake.set()
        # Otherwise the next connection subscribes to whatever is wanted by then.

    def _connection(self) -> AbstractConnection:
        client = self.redis
        cls: type[AbstractConnection]
        if isinstance(client, RedisCluster):
            nodes = client.get_nodes()
            # Each attempt another node: one that is down does not hold the bells back.
            node = nodes[self._attempt % len(nodes)]
            cls, kwargs = node.connection_class, node.connection_kwargs
        else:
            pool = client.connection_pool
            cls, kwargs = pool.connection_class, pool.connection_kwargs
        options = {
            **kwargs,
            # RESP2: bells arrive as replies (RESP3 would hand them to a push handler).
            "protocol": 2,
            "decode_responses": True,
            "health_check_interval": 0,
            "client_name": CLIENT_NAME,
            "retry": Retry(NoBackoff(), 0),
        }
        return cls(**options)

    async def _run(self) -> None:
        delay = RECONNECT_FIRST_SECONDS
        while True:
            self._attempt += 1
            connection = self._connection()
            try:
                await connection.connect()  # type: ignore[no-untyped-call]
                delay = RECONNECT_FIRST_SECONDS
                await self._serve(connection)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("Pub/Sub connection lost; reconnecting", extra={"error": repr(exc)})
            finally:
                self.connected = False
                with contextlib.suppress(Exception):
                    await connection.disconnect(nowait=True)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _serve(self, connection: AbstractConnection) -> None:
        """Subscribe to everything wanted, then read replies and bells until the link fails."""
        self._ops.clear()
        self._acks.clear()
        self.connected = True
        for channel, confirmed in self.wanted.items():
            self._ops.append(("SUBSCRIBE", channel, confirmed))
        # Replies come in order: the PING's comes after every SUBSCRIBE's.
        everything: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        everything.add_done_callback(lambda _: self.on_subscribed())
        self._ops.append(("PING", "", everything))
        self._wake.set()
        tasks = {
            asyncio.create_task(self._read(connection), name="bells-reader"),
            asyncio.create_task(self._write(connection), name="bells-writer"),
        }
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            await cancel_and_wait(tasks)

    async def _write(self, connection: AbstractConnection) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            commands: list[list[str]] = []
            while self._ops:
                verb, channel, done = self._ops.popleft()
                if commands and commands[-1][0] == verb and verb != "PING":
                    commands[-1].append(channel)  # one SUBSCRIBE for many channels
                else:
                    commands.append([verb, channel] if channel else [verb])
                self._acks.append((channel, done))
            await connection.send_packed_command(
                connection.pack_commands(commands), check_health=False
            )

    async def _read(self, connection: AbstractConnection) -> None:
        on_bell = self.on_bell
        while True:
            reply = await connection.read_response(timeout=self.dead_after)
            if reply is None:
                raise RedisConnectionError(f"no reply on Pub/Sub for {self.dead_after:g} s")
            # Outside subscribed mode (no channel left) PING answers a plain PONG.
            kind = "pong" if isinstance(reply, str) else reply[0]
            if kind == "message":
                on_bell(reply[1], reply[2])
            elif kind in ("subscribe", "unsubscribe", "pong") and self._acks:
                _, done = self._acks.popleft()
                if done is not None and not done.done():
                    done.set_result(None)
