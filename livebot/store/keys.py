"""Every Redis key livebot uses, named in one place.

Keys of one run share the hash tag `{run:<id>}` and the queue's keys share `{jobs}`, so every
script touches one Redis Cluster slot; no command spans two runs.
"""

from __future__ import annotations

from typing import Any, Final, cast

from redis.typing import EncodableT

# A stream entry as redis-py answers it with decode_responses=True: (id, {field: value}).
StreamEntry = tuple[str, dict[str, str]]
Fields = dict[EncodableT, EncodableT]

JOB_STREAM: Final = "livebot:{jobs}:stream"
DEAD_LETTERS: Final = "livebot:{jobs}:dead"
JOB_GROUP: Final = "workers"
# Deliveries the web tier took before it knew the app's name (GitHub unreachable at start).
DEFERRED_DELIVERIES: Final = "livebot:{jobs}:deferred"
# Finished runs waiting for the archive: a slot of its own, written after a run's seal.
FINISHED_STREAM: Final = "livebot:{archive}:finished"
ARCHIVE_GROUP: Final = "archivers"


def range_entries(reply: Any) -> list[StreamEntry]:
    """The entries of an XRANGE or XREVRANGE reply."""
    return cast(list[StreamEntry], reply or [])


def read_entries(reply: Any) -> list[StreamEntry]:
    """The entries of the one stream an XREAD or XREADGROUP reply is about."""
    return cast(list[StreamEntry], reply[0][1]) if reply else []


def run_meta(run_id: str) -> str:
    """The hash of one run's metadata."""
    return f"livebot:{{run:{run_id}}}:meta"


def run_events(run_id: str) -> str:
    """The stream of one run's events."""
    return f"livebot:{{run:{run_id}}}:events"


def run_bell(run_id: str) -> str:
    """The Pub/Sub channel on which each of a run's events is published as it is appended."""
    return f"livebot:{{run:{run_id}}}:bell"


def delivery(delivery_id: str) -> str:
    """Marks a webhook delivery as handled."""
    return f"livebot:{{jobs}}:delivery:{delivery_id}"


def once(name: str) -> str:
    """Marks something that should happen at most once (a polite refusal per person and thread)."""
    return f"livebot:{{jobs}}:once:{name}"


def daily_tokens(installation_id: int, day: str) -> str:
    """Tokens an installation's runs used on one day (UTC)."""
    return f"livebot:{{budget}}:{installation_id}:{day}"


def tokens_counted(attempt: str) -> str:
    """Marks an attempt's tokens as counted in its installation's day (a retry counts nothing)."""
    return f"livebot:{{budget}}:counted:{attempt}"


def thread_runs(repository: str, number: int) -> str:
    """The set of runs active in one issue or pull request thread."""
    return f"livebot:{{thread:{repository}#{number}}}:runs"


DEMO_RUNS: Final = "livebot:demo:runs"


def session(session_id: str) -> str:
    """The hash of one signed-in browser session (login, sealed GitHub token, CSRF token)."""
    return f"livebot:{{session:{session_id}}}"


def session_access(session_id: str, repository: str) -> str:
    """Whether a session's user can read a repository, as GitHub last said."""
    return f"livebot:{{session:{session_id}}}:can-read:{repository.lower()}"


def run_tombstone(run_id: str) -> str:
    """What is left of a run once its log has expired: when it expired, its comment."""
    return f"livebot:{{run:{run_id}}}:tombstone"


def run_viewers(run_id: str) -> str:
    """The sorted set of a run's open live pages: one member per stream, scored by expiry."""
    return f"livebot:{{run:{run_id}}}:viewers"


def own_branches(repository: str) -> str:
    """The hash of the `livebot/…` branches Livebot created in a repository: name → who made it.

    Kept without expiry: it is what lets `resolve` push to a branch again, weeks later."""
    return f"livebot:{{branches:{repository.lower()}}}"


def learnings(repository: str) -> str:
    """The hash of a repository's learnings (no expiry: they are kept until forgotten)."""
    return f"livebot:{{learnings:{repository.lower()}}}"


# `livebot serve --forward`: deliveries with a larger id than this are new (GitHub's delivery ids
# grow with time), and the GUIDs already taken in, scored by when.
FORWARD_AFTER: Final = "livebot:{forward}:after"
FORWARD_SEEN: Final = "livebot:{forward}:seen"
