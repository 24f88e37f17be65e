"""Recorded runs, replayed through the real run log so a person can watch the live page."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final, cast

from livebot.core.cancellation import cancel_and_wait
from livebot.github.comments import cancelled_by
from livebot.runs import visibility
from livebot.runs.events import TERMINAL_STATUSES, UsageData
from livebot.runs.log import RunLog, RunWriter
from livebot.store import keys

log = logging.getLogger(__name__)

DEMO_REPOSITORY: Final = "example/livebot-demo"
TOKEN_SECONDS: Final = 0.03
# Runs playing at once: each click on Play starts one, and anyone with the link can click.
MAX_PLAYING: Final = 20
STOPPED_MESSAGE: Final = "The demo stopped before this run finished."
# The run's field that names its recording: it marks a demo run (the page links to no GitHub).
RECORDING_FIELD: Final = "recording"
# How often a playing run looks for a press on its page's Cancel button (a worker polls too).
CANCEL_POLL_SECONDS: Final = 0.2
# Who cancels the recording that is cancelled: a person in the thread, as `@livebot cancel`.
CANCELLED_BY: Final = "octocat"
DEMO_ANSWER: Final = """\
## Why `parse_config` crashes on an empty file

The crash comes from `yaml.safe_load`, which returns `None` for an empty document.
`parse_config` then calls `.get()` on it:

```python
def parse_config(text: str) -> dict:
    data = yaml.safe_load(text)
    return data.get("livebot", {})   # AttributeError when data is None
```

### Fix

Treat an empty document as an empty mapping:

```python
data = yaml.safe_load(text) or {}
```

| input | before | after |
|---|---|---|
| empty file | `AttributeError` | defaults |
| `livebot: {}` | defaults | defaults |

I would also add a test for the empty file, so this does not come back.
"""
REVIEW_FINDINGS: Final[list[dict[str, Any]]] = [
    {
        "path": "app/config.py",
        "line": 12,
        "severity": "major",
        "title": "`None` from an empty file is used as a mapping",
        "body": "`yaml.safe_load` returns `None` for an empty document; `.get` then raises.",
        "suggestion": "    data = yaml.safe_load(text) or {}",
    },
    {
        "path": "app/config.py",
        "line": 27,
        "severity": "minor",
        "title": "Port read as a string",
        "body": "`PORT` from the environment is compared with an int further down.",
        "suggestion": '    port = int(env.get("PORT", "3000"))',
    },
    {
        "path": "tests/test_config.py",
        "line": 1,
        "severity": "nit",
        "title": "No test for the empty file",
        "body": "A test with an empty file would have caught the crash.",
    },
]
# The lines of the pull request each suggestion replaces, as the review's result carries them.
REPLACED: Final[dict[tuple[str, int], str]] = {
    ("app/config.py", 12): "    data = yaml.safe_load(text)",
    ("app/config.py", 27): '    port = env.get("PORT", "3000")',
}
REVIEW_SUMMARY: Final = (
    "The change reads settings from YAML; an empty file crashes it, and one setting keeps "
    "the wrong type. Two fixes suggested inline, one test missing."
)
REVIEW_TEXT: Final = """\
Reviewed **3 files** of this pull request: two findings to fix before merging, one note.
See the inline comments on `app/config.py`.
"""
FAILURE_TEXT: Final = "Looking at the failing job, the first error is in"
# What a model that does not answer in time makes a real run say (livebot.llm.client).
TIMEOUT_MESSAGE: Final = "The model did not answer in time"
CANCELLED_TEXT: Final = """\
Here is the README in French, section by section.

## Livebot

Livebot est une application GitHub. Installez-la sur un dépôt, mentionnez-la dans une issue
ou une pull request et elle répond avec un LLM, en direct, mot après mot.

## Démarrage

Installez le paquet, puis lancez la démonstration : elle ne demande ni application GitHub ni
"""
# What a reasoning model thinks before it answers: the page folds it above the answer.
DEMO_THINKING: Final = (
    "The user says parse_config crashes on an empty file. yaml.safe_load returns None for an "
    "empty document, not {}, so the .get() on the next line would raise AttributeError. "
    "I should read app/config.py to be sure that is the line, then suggest `or {}` and a test."
)


def demo_tokens(text: str) -> list[str]:
    """Split text the way a model streams it: words with their spacing."""
    return re.findall(r"\s*\S+|\s+", text)


async def _stream(writer: RunWriter, text: str, speed: float) -> None:
    for token in demo_tokens(text):
        writer.token(token)
        await asyncio.sleep(TOKEN_SECONDS / speed)


async def _think(writer: RunWriter, text: str, speed: float) -> None:
    for piece in demo_tokens(text):
        writer.thinking(piece)
        await asyncio.sleep(TOKEN_SECONDS / speed)


async def play_answer(writer: RunWriter, speed: float) -> None:
    """An answer to a question by a model that thinks first, after reading a file."""
    await writer.status("running", "Reading the issue and its comments")
    await asyncio.sleep(0.8 / speed)
    await _think(writer, DEMO_THINKING, speed)
    await writer.emit("tool_call", {"name": "read_file", "arguments": {"path": "app/config.py"}})
    await asyncio.sleep(0.6 / speed)
    await writer.emit("tool_result", {"name": "read_file", "summary": "48 lines of app/config.py"})
    await writer.status("running", "Writing the answer")
    await _stream(writer, DEMO_ANSWER, speed)
    usage: UsageData = {
        "prompt_tokens": 1234,
        "completion_tokens": len(demo_tokens(DEMO_ANSWER)),
    }
    await writer.complete("succeeded", usage=usage)


async def play_review(writer: RunWriter, speed: float) -> None:
    """A pull request review: the diff read, findings submitted as inline comments."""
    await writer.status("running", "Reading the pull request's diff")
    await asyncio.sleep(0.6 / speed)
    await writer.emit("tool_call", {"name": "read_file", "arguments": {"path": "app/config.py"}})
    await asyncio.sleep(0.5 / speed)
    await writer.emit("tool_result", {"name": "read_file", "summary": "48 lines of app/config.py"})
    await writer.status("running", "Writing the review")
    await _stream(writer, REVIEW_TEXT, speed)
    arguments = {"summary": REVIEW_SUMMARY, "findings": REVIEW_FINDINGS}
    await writer.emit("tool_call", {"name": "submit_review", "arguments": arguments})
    await asyncio.sleep(0.8 / speed)
    # As a real review answers: each finding says where it was posted and what it replaces.
    posted = [posted_finding(finding) for finding in REVIEW_FINDINGS]
    await writer.emit(
        "tool_result", {"name": "submit_review", "summary": REVIEW_SUMMARY, "findings": posted}
    )
    await writer.complete("succeeded", usage={"prompt_tokens": 5120, "completion_tokens": 412})


def posted_finding(finding: dict[str, Any]) -> dict[str, Any]:
    """A finding as the review's result gives it: placed, with the lines a suggestion replaces."""
    replaced = REPLACED.get((finding["path"], finding["line"]))
    return {**finding, **({"replaced": replaced} if replaced else {}), "placement": "inline"}


async def play_failure(writer: RunWriter, speed: float) -> None:
    """A model that times out: one retry, then the run fails, saying why."""
    await writer.status("running", "Reading the workflow run's logs")
    await asyncio.sleep(0.6 / speed)
    await _stream(writer, FAILURE_TEXT, speed)
    await asyncio.sleep(1.0 / speed)
    retrying = f"{TIMEOUT_MESSAGE}; retrying"
    await writer.error(retrying, "llm_timeout", recoverable=True, retry_count=1)
    await asyncio.sleep(1.5 / speed)
    await writer.error(TIMEOUT_MESSAGE, "llm_timeout", recoverable=False)
    await writer.complete("failed")


async def play_cancelled(writer: RunWriter, speed: float) -> None:
    """A long answer that someone in the thread cancels (`@livebot cancel`) halfway."""
    await writer.status("running", "Reading README.md")
    await asyncio.sleep(0.6 / speed)
    await writer.status("running", "Writing the answer")
    await _stream(writer, CANCELLED_TEXT, speed)
    await asyncio.sleep(1.0 / speed)
    await end_cancelled(writer, CANCELLED_BY)


async def end_cancelled(writer: RunWriter, who: str) -> None:
    """End the run as a worker ends a cancelled one: who stopped it, then `cancelled`."""
    await writer.error(f"Cancelled {cancelled_by(who)}", "cancelled", recoverable=False)
    await writer.complete("cancelled")


@dataclass(frozen=True)
class Recording:
    """One recorded run: what its page is titled and how it plays."""

    title: str
    number: int
    workflow: str
    about: str
    play: Callable[[RunWriter, float], Coroutine[Any, Any, None]]


RECORDINGS: Final[dict[str, Recording]] = {
    "answer": Recording(
        "Why does parse_config crash on an empty file?",
        1,
        "answer",
        "An answer: the model thinks, reads a file, then writes.",
        play_answer,
    ),
    "review": Recording(
        "Read settings from YAML",
        2,
        "review",
        "A pull request review with inline findings and suggested changes.",
        play_review,
    ),
    "failure": Recording(
        "Why did the nightly build fail?",
        3,
        "answer",
        "A failure: the model stops answering, one retry, then the run gives up.",
        play_failure,
    ),
    "cancel": Recording(
        "Translate the README into French",
        4,
        "answer",
        "A cancel: someone in the thread stops the run halfway.",
        play_cancelled,
    ),
}


def is_demo(meta: dict[str, str]) -> bool:
    """Whether a run is a recording played by the demo (older demos' runs had the workflow)."""
    return bool(meta.get(RECORDING_FIELD)) or meta.get("workflow") == "demo"


class DemoBusy(Exception):
    """MAX_PLAYING runs are already playing."""


class DemoPlayer:
    """Starts recorded runs and never leaves one "running" after the demo stops."""

    def __init__(self, run_log: RunLog, speed: float = 1.0) -> None:
        self.run_log = run_log
        self.speed = speed
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, name: str) -> str:
        """A fresh run of the recording `name`, playing; its id."""
        if len(self._tasks) >= MAX_PLAYING:
            raise DemoBusy(name)
        recording = RECORDINGS[name]
        run_id = await self.run_log.create(
            workflow=recording.workflow,
            repository=DEMO_REPOSITORY,
            number=recording.number,
            # The demo's repository is made up and its recordings are public.
            fields={"title": recording.title, RECORDING_FIELD: name, visibility.FIELD: "public"},
        )
        await self.run_log.redis.sadd(keys.DEMO_RUNS, run_id)
        task = asyncio.create_task(self._play(recording, run_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run_id

    async def _play(self, recording: Recording, run_id: str) -> None:
        writer = self.run_log.writer(run_id)
        try:
            play = asyncio.create_task(recording.play(writer, self.speed))
            watch = asyncio.create_task(self._cancel_requested(run_id))
            try:
                await asyncio.wait({play, watch}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                await cancel_and_wait([play, watch])
            if play.cancelled():
                # Pressed Cancel on the page: the run ends as a real one does.
                await end_cancelled(writer, watch.result())
            else:
                play.result()
        finally:
            writer.close()
        # Only a run that ended leaves the set: a cancelled one is ended by `end_unfinished`.
        await self.run_log.redis.srem(keys.DEMO_RUNS, run_id)

    async def _cancel_requested(self, run_id: str) -> str:
        """Who cancelled the run from its page, once someone does."""
        while True:
            who = await self.run_log.cancel_requested_by(run_id)
            if who:
                return who
            await asyncio.sleep(CANCEL_POLL_SECONDS)

    async def end_unfinished(self) -> None:
        """Mark every demo run that is not over as cancelled (at start, after a crash, and stop)."""
        for run_id in cast(set[str], await self.run_log.redis.smembers(keys.DEMO_RUNS)):
            meta = await self.run_log.meta(run_id)
            if meta is not None and meta.get("status") not in TERMINAL_STATUSES:
                writer = self.run_log.writer(run_id)
                await writer.error(STOPPED_MESSAGE, "demo_stopped", recoverable=False)
                await writer.complete("cancelled")
            await self.run_log.redis.srem(keys.DEMO_RUNS, run_id)

    async def close(self) -> None:
        """Stop playing and end what was playing."""
        await cancel_and_wait(self._tasks)
        await self.end_unfinished()
