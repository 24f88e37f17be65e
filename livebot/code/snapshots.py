"""A repository's files at one commit, fetched in one call (the tarball) and cached per commit.

A repository too large for the tarball (by its reported size, or a tarball past its byte or file
cap) is listed from one recursive tree call and its files are fetched on demand, by blob sha: a
path from the tree never goes into a URL. Either way a run costs the installation one or two
calls, not one per file.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import tarfile
from dataclasses import dataclass, field
from typing import Any, Final

from cachetools import LRUCache
from gidgethub import BadRequest

from livebot.github.client import BodyTooLarge, InstallationAPI
from livebot.github.paths import repo_path

log = logging.getLogger(__name__)

MAX_TARBALL_REPO_KB: Final = 200_000  # `size` of the repository as GitHub reports it
# The reported size is the base repository's: a pull request's head (a fork's) can be far larger.
MAX_TARBALL_BYTES: Final = 64 * 1024 * 1024  # downloaded, compressed
MAX_TARBALL_FILES: Final = 50_000  # entries parsed; each costs time and memory even when empty
# Bytes unpacked, skipped files included (gzip must inflate a file to step over it): 64 MiB of
# zeros compressed inflates to ~64 GiB, minutes of CPU.
MAX_TARBALL_UNPACKED: Final = 1024 * 1024 * 1024
MAX_SNAPSHOT_BYTES: Final = 256 * 1024 * 1024  # extracted, across all files
MAX_FILE_BYTES: Final = 1024 * 1024  # larger files are listed but not read
CACHE_BYTES: Final = 512 * 1024 * 1024
BINARY_PROBE_BYTES: Final = 8192


class FileUnavailable(Exception):
    """The file does not exist, is binary or too large; the message says which."""


class TarballTooLarge(Exception):
    """A tarball holds more entries, or declares more bytes, than its caps; parsed no further."""


@dataclass(frozen=True)
class TarballLimits:
    """How much of a tarball is read before the tree listing is used instead."""

    max_bytes: int = MAX_TARBALL_BYTES
    max_files: int = MAX_TARBALL_FILES


@dataclass
class Snapshot:
    """The files of one commit: their texts, and the paths of those not kept (binary, large)."""

    repository: str
    sha: str
    texts: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    # A repository too large for the tarball: {path: blob sha} listed by the tree, fetched when
    # read.
    pending: dict[str, str] = field(default_factory=dict)
    gh: InstallationAPI | None = None

    @property
    def paths(self) -> list[str]:
        """Every file path, sorted."""
        return sorted([*self.texts, *self.skipped, *self.pending])

    @property
    def complete(self) -> bool:
        """Whether every file's text is at hand (else searches cover only those read so far)."""
        return not self.pending

    @property
    def size(self) -> int:
        """Characters held, for the cache's budget."""
        return sum(map(len, self.texts.values())) + 100 * len(self.skipped) + 1

    async def read(self, path: str) -> str:
        """A file's text."""
        if path in self.texts:
            return self.texts[path]
        if path in self.skipped:
            raise FileUnavailable(f"{path} is {self.skipped[path]}")
        if path not in self.pending:
            raise FileUnavailable(f"{path} does not exist at {self.sha[:7]}")
        text = await self._fetch(path, self.pending[path])
        self.pending.pop(path, None)
        self.texts[path] = text
        return text

    async def _fetch(self, path: str, blob: str) -> str:
        if self.gh is None:
            raise FileUnavailable(f"{path} cannot be fetched")
        try:
            item = await self.gh.getitem(repo_path(self.repository, "git", "blobs", blob))
        except BadRequest as exc:
            raise FileUnavailable(f"{path} could not be read ({exc.status_code})") from None
        if not isinstance(item, dict) or item.get("encoding") != "base64":
            raise FileUnavailable(f"{path} is not a file")
        return _text(base64.b64decode(item["content"]), path)


def _text(data: bytes, path: str) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise FileUnavailable(f"{path} is too large to read ({len(data):,} bytes)")
    if b"\0" in data[:BINARY_PROBE_BYTES]:
        raise FileUnavailable(f"{path} is binary")
    return data.decode("utf-8", errors="replace")


def parse_tarball(
    repository: str,
    sha: str,
    data: bytes,
    max_files: int = MAX_TARBALL_FILES,
    max_unpacked: int = MAX_TARBALL_UNPACKED,
) -> Snapshot:
    """A snapshot from GitHub's tarball (one top folder `owner-repo-sha7/`), within size caps;
    TarballTooLarge past `max_files` entries or `max_unpacked` bytes their headers declare."""
    snapshot = Snapshot(repository, sha)
    budget = MAX_SNAPSHOT_BYTES
    unpacked = 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for count, member in enumerate(archive, start=1):
            if count > max_files:
                raise TarballTooLarge(f"more than {max_files:,} entries")
            unpacked += member.size
            if unpacked > max_unpacked:
                raise TarballTooLarge(f"more than {max_unpacked:,} bytes unpacked")
            if not member.isfile():
                continue
            _, _, path = member.name.partition("/")
            if not path:
                continue
            if member.size > MAX_FILE_BYTES:
                snapshot.skipped[path] = f"too large to read ({member.size:,} bytes)"
                continue
            if member.size > budget:
                snapshot.skipped[path] = "beyond the snapshot's size budget"
                continue
            extracted = archive.extractfile(member)
            content = extracted.read() if extracted is not None else b""
            budget -= len(content)
            try:
                snapshot.texts[path] = _text(content, path)
            except FileUnavailable as exc:
                snapshot.skipped[path] = str(exc).removeprefix(f"{path} is ")
    return snapshot


class SnapshotCache:
    """Snapshots by (repository, commit), bounded by the characters they hold."""

    def __init__(
        self, max_chars: int = CACHE_BYTES, limits: TarballLimits = TarballLimits()
    ) -> None:
        self.limits = limits
        self._cache: LRUCache[tuple[str, str], Snapshot] = LRUCache(
            maxsize=max_chars, getsizeof=lambda snapshot: snapshot.size
        )
        self._loading: dict[tuple[str, str], asyncio.Task[Snapshot]] = {}

    async def get(
        self, gh: InstallationAPI, repository: str, sha: str, repo_size_kb: int
    ) -> Snapshot:
        """The snapshot of `sha`, fetched once however many runs ask at the same time."""
        key = (repository, sha)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        task = self._loading.get(key)
        if task is None:
            task = asyncio.create_task(_load(gh, repository, sha, repo_size_kb, self.limits))
            self._loading[key] = task
            task.add_done_callback(lambda _: self._loading.pop(key, None))
        snapshot = await asyncio.shield(task)
        if snapshot.complete:
            try:
                self._cache[key] = snapshot
            except ValueError:
                log.info("snapshot too large to cache", extra={"repository": repository})
        return snapshot


async def _load(
    gh: InstallationAPI, repository: str, sha: str, repo_size_kb: int, limits: TarballLimits
) -> Snapshot:
    if repo_size_kb <= MAX_TARBALL_REPO_KB:
        try:
            data = await gh.download(repo_path(repository, "tarball", sha), limits.max_bytes)
            # Parsing thousands of entries takes seconds: never on the event loop.
            return await asyncio.to_thread(parse_tarball, repository, sha, data, limits.max_files)
        except (BodyTooLarge, TarballTooLarge) as exc:
            log.info(
                "tarball over its cap; listing the tree instead",
                extra={"repository": repository, "sha": sha, "reason": str(exc)},
            )
    return await _listing(gh, repository, sha)


async def _listing(gh: InstallationAPI, repository: str, sha: str) -> Snapshot:
    """The commit's files from one recursive tree call, each fetched by its blob sha when read."""
    query = {"recursive": 1}
    tree: dict[str, Any] = await gh.getitem(repo_path(repository, "git", "trees", sha, query=query))
    snapshot = Snapshot(repository, sha, gh=gh)
    for entry in tree.get("tree", []):
        if entry.get("type") != "blob":
            continue
        if entry.get("size", 0) > MAX_FILE_BYTES:
            snapshot.skipped[entry["path"]] = f"too large to read ({entry['size']:,} bytes)"
        else:
            snapshot.pending[entry["path"]] = entry["sha"]
    return snapshot
