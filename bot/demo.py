"""A recorded run, replayed through the real run log so a person can watch the live page."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Final

from bot.run_log import RunLog

log = logging.getLogger(__name__)

DEMO_REPOSITORY: Final = "example/livebot-demo"
DEMO_TITLE: Final = "Demo of the live page (recorded events)"
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
TOKEN_SECONDS: Final = 0.03


def demo_tokens(text: str) -> list[str]:
    """Split text the way a model streams it: words with their spacing."""
    return re.findall(r"\s*\S+|\s+", text)


async def play(run_log: RunLog, run_id: str, speed: float = 1.0) -> None:
    """Feed one recorded run, at a model's pace, through a coalescing writer."""
    writer = run_log.writer(run_id)
    pause = TOKEN_SECONDS / speed
    await writer.status("running", "Reading the issue and its comments")
    await asyncio.sleep(0.8 / speed)
    await writer.emit("tool_call", {"name": "read_file", "arguments": {"path": "app/config.py"}})
    await asyncio.sleep(0.6 / speed)
    await writer.emit("tool_result", {"name": "read_file", "summary": "48 lines of app/config.py"})
    await writer.status("running", "Writing the answer")
    for token in demo_tokens(DEMO_ANSWER):
        writer.token(token)
        await asyncio.sleep(pause)
    await writer.complete(
        "succeeded",
        comment_url=None,
        usage={"prompt_tokens": 1234, "completion_tokens": len(demo_tokens(DEMO_ANSWER))},
    )


async def create_demo_run(run_log: RunLog) -> str:
    """A queued demo run, labelled as such on its page."""
    return await run_log.create(
        workflow="demo", repository=DEMO_REPOSITORY, number=1, fields={"title": DEMO_TITLE}
    )


async def play_later(run_log: RunLog, run_id: str, speed: float, delay: float) -> None:
    """Play the demo run after a head start, so whoever opens the link sees it being written."""
    await asyncio.sleep(delay)
    await play(run_log, run_id, speed)
