"""Typed keys of what the web application holds."""

from __future__ import annotations

from aiohttp import web
from redis.asyncio import Redis

from bot.jobs import JobQueue
from bot.run_log import RunLog
from bot.settings import Settings
from web.fanout import FanOut

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", Redis)
RUN_LOG = web.AppKey("run_log", RunLog)
FANOUT = web.AppKey("fanout", FanOut)
LINK_SECRET = web.AppKey("link_secret", bytes)
JOB_QUEUE = web.AppKey("job_queue", JobQueue)
APP_SLUG = web.AppKey("app_slug", str)
