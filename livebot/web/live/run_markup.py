"""The live page of a run in the one page shell: run.html's content, its scripts and JSON config,
the demo banner and the footer's run id."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Final

from aiohttp import web

from livebot.web.pages.shell import render
from livebot.web.paths import STATIC_DIR

NOTE: Final = "Live run"
# Before the shell's stylesheets, so that live.css styles the highlighted code; the scripts run
# deferred, in this order, and live.js reads the config block (JSON, never run: the CSP holds).
HEAD: Final = """<link rel="stylesheet" href="/static/highlight-github.min.css"
  media="not all and (prefers-color-scheme: dark)">
<link rel="stylesheet" href="/static/highlight-github-dark.min.css"
  media="(prefers-color-scheme: dark)">
<script id="run-config" type="application/json">{config}</script>
<script src="/static/markdown-it.min.js" defer></script>
<script src="/static/highlight.min.js" defer></script>
<script src="/static/markdown.js" defer></script>
<script src="/static/views.js" defer></script>
<script src="/static/live.js" defer></script>
"""
# The demo banner, shown by live.js for a demo run, and the screen readers' announcer, outside
# <main>: what it says is no part of the page's text.
BANNER: Final = """<div id="demo-banner" class="flash flash-demo" role="note" hidden>
  <div class="flash-inner">
    <strong>Demo</strong>
    <span>This is a demo of the live page, with recorded events; no GitHub or model is involved.
    The repository is made up.</span>
  </div>
</div>
<div id="announcer" class="sr-only" role="status" aria-live="polite" aria-atomic="true"></div>
"""
# live.js fills in the run's id and, where runs are archived, shows the repository's history.
FOOTER: Final = """    <span class="site-footer-sep" aria-hidden="true">·</span>
    <span>run <code id="run-id"></code></span>
    <span class="site-footer-sep" aria-hidden="true" id="history-sep" hidden>·</span>
    <a id="history-link" hidden>this repository's runs</a>
"""


@cache
def content() -> str:
    """The page's content (run.html), read once."""
    return (STATIC_DIR / "run.html").read_text()


def encoded(config: Mapping[str, object]) -> str:
    """The config as JSON for a <script type="application/json"> block: no '<' may close it."""
    text = json.dumps(config)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page(config: Mapping[str, object], title: str) -> web.Response:
    """The live page of the run `config` describes; live.js follows it from there."""
    return render(
        title,
        content(),
        note=NOTE,
        heading="",
        head=HEAD.format(config=encoded(config)),
        banner=BANNER,
        footer=FOOTER,
        body_data={"run-state": "connecting"},
    )
