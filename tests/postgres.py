"""A throw-away PostgreSQL for the suite and the benchmarks: initdb and pg_ctl, a free port."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support import free_port

USER = "livebot"
# PostgreSQL refuses to run as root: as root (CI), the server runs as Debian's `postgres` user.
SYSTEM_USER = "postgres"


def postgres_bin_dir() -> Path | None:
    """Debian's PostgreSQL binaries (the newest installed), or those on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


def _as_server_user() -> dict[str, Any]:
    """subprocess options that drop root for the server's own user."""
    if os.geteuid() != 0:
        return {}
    return {"user": SYSTEM_USER, "group": pwd.getpwnam(SYSTEM_USER).pw_gid}


@dataclass
class PostgresServer:
    """One PostgreSQL cluster in a temporary folder, listening on loopback only."""

    bin_dir: Path
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="livebot-pg-")))
    port: int = 0
    # Off for tests (speed); on for benchmarks (what production pays for each commit).
    durable: bool = False

    def init(self) -> None:
        """Create the cluster (no password: loopback and trust)."""
        self.port = self.port or free_port()
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.folder / "data"),
                "-U",
                USER,
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "LC_ALL": "C"},
            **_as_server_user(),
        )

    def start(self) -> None:
        """Start the server and wait until it answers."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder}"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        subprocess.run(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.folder / "data"),
                "-o",
                options,
                "-l",
                str(self.folder / "server.log"),
                "-w",
                "start",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            **_as_server_user(),
        )

    def stop(self) -> None:
        """Stop the server at once (connections are cut)."""
        subprocess.run(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.folder / "data"),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            **_as_server_user(),
        )

    def remove(self) -> None:
        """Delete the cluster's folder (after stop)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """A DATABASE_URL for one database of this server."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.url(name)


@contextmanager
def running_postgres(*, durable: bool = False) -> Iterator[PostgresServer]:
    """A new PostgreSQL server for the block's life (skips the test without PostgreSQL)."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    server = PostgresServer(bin_dir, durable=durable)
    server.init()
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            server.remove()
