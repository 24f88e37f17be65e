"""What workers add to the shared services: the GitHub App client, the model, the caches.

Apart from livebot/services.py so that the web tier never loads the model client.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import openai

from livebot.code.snapshots import SnapshotCache
from livebot.config.repo_config import ConfigCache
from livebot.github.client import GitHubApp
from livebot.llm.client import make_client
from livebot.services import Services, github_app


@dataclass(frozen=True)
class ProgressTiming:
    """When a long run starts showing what it does in its placeholder (for people who never
    open the link), and how often it freshens that line."""

    after_seconds: float = 20.0
    every_seconds: float = 15.0
    # How often a run's check (on the pull request's commit) shows a new activity as its title.
    check_title_seconds: float = 10.0


@dataclass(frozen=True)
class WorkerServices(Services):
    """What workflows need besides: the GitHub App and the model."""

    github: GitHubApp
    llm: openai.AsyncOpenAI
    snapshots: SnapshotCache = field(default_factory=SnapshotCache)
    configs: ConfigCache = field(default_factory=ConfigCache)
    progress: ProgressTiming = ProgressTiming()


def worker_services(services: Services) -> WorkerServices:
    """The services plus the clients workflows call (the settings were checked for the mode)."""
    settings = services.settings
    return WorkerServices(
        settings=settings,
        mode=services.mode,
        redis=services.redis,
        redis_url=services.redis_url,
        run_log=services.run_log,
        queue=services.queue,
        slug=services.slug,
        session=services.session,
        archive=services.archive,
        github=github_app(settings, services.session),
        llm=make_client(settings.openai_api_key, settings.openai_base_url),
    )
