"""What workers add to the shared services: the GitHub App client, the model, the caches.

Apart from livebot/services.py so that the web tier never loads the model client.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from livebot.code.snapshots import SnapshotCache
from livebot.config.repo_config import ConfigCache
from livebot.github.client import BACKOFF, GitHubApp
from livebot.llm.client import RETRY_BACKOFF, ModelClient, make_client
from livebot.services import Services, github_app


@dataclass(frozen=True)
class WorkerServices(Services):
    """What workflows need besides: the GitHub App and the model."""

    github: GitHubApp
    llm: ModelClient
    snapshots: SnapshotCache = field(default_factory=SnapshotCache)
    configs: ConfigCache = field(default_factory=ConfigCache)


def worker_services(
    services: Services,
    *,
    github_backoff: float = BACKOFF,
    llm_retry_backoff: float = RETRY_BACKOFF,
) -> WorkerServices:
    """The services plus the clients workflows call (the settings were checked for the mode);
    the backoffs are the seconds before the first retry of a GitHub request, a model turn."""
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
        github=github_app(settings, services.session, backoff=github_backoff),
        llm=make_client(
            settings.openai_api_key, settings.openai_base_url, retry_backoff=llm_retry_backoff
        ),
    )
