"""Typed keys of what the web application holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from livebot.core.settings import Settings
from livebot.demo.recordings import DemoPlayer
from livebot.github.redelivery import OutageNotes
from livebot.queue.jobs import JobQueue
from livebot.runs.log import RunLog
from livebot.setup.app_setup import SetupStates
from livebot.store.client import RedisClient
from livebot.web.app_name import AppName
from livebot.web.body import BodyBudget
from livebot.web.live.fanout import FanOut
from livebot.web.live.presence import Presence
from livebot.web.live.viewer_limits import ViewerLimits

if TYPE_CHECKING:
    from livebot.archive.store import Archive

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey[RedisClient]("redis")
RUN_LOG = web.AppKey("run_log", RunLog)
FANOUT = web.AppKey("fanout", FanOut)
LINK_SECRET = web.AppKey("link_secret", bytes)
JOB_QUEUE = web.AppKey("job_queue", JobQueue)
# The name people mention; empty while GitHub has not said it yet.
APP_NAME = web.AppKey("app_name", AppName)
HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
SETUP_STATES = web.AppKey("setup_states", SetupStates)
DEMO_PLAYER = web.AppKey("demo_player", DemoPlayer)
# Typed without its class: the web tier loads psycopg only when there is an archive.
ARCHIVE: web.AppKey[Archive] = web.AppKey("archive")
OUTAGES = web.AppKey("outages", OutageNotes)
BODY_BUDGET = web.AppKey("body_budget", BodyBudget)
PRESENCE = web.AppKey("presence", Presence)
VIEWER_LIMITS = web.AppKey("viewer_limits", ViewerLimits)
# Seconds of silence on an event stream before its handler writes a keep-alive comment.
KEEPALIVE = web.AppKey("keepalive_seconds", float)
# Seconds a webhook's body may take to arrive before the delivery is cut off (408).
WEBHOOK_BODY_SECONDS = web.AppKey("webhook_body_seconds", float)
# Seconds what GitHub said about a reader and a repository is trusted before it is asked again.
ACCESS_SECONDS = web.AppKey("access_seconds", float)
