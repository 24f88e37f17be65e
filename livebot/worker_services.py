"""What workers add to the shared services: the GitHub App client, the model, the caches.

Apart from livebot/services.py so that the web tier never loads the model client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from livebot.archive.learnings import PostgresLearnings
from livebot.code.snapshots import SnapshotCache
from livebot.config.repo_config import ConfigCache, OperatorLimits, RepoConfig, load_repo_config
from livebot.github.client import BACKOFF, GitHubApp
from livebot.learnings.store import Learnings, RedisLearnings
from livebot.llm.client import RETRY_BACKOFF, ModelClient, make_client
from livebot.queue.jobs import Job
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
    llm: ModelClient
    snapshots: SnapshotCache = field(default_factory=SnapshotCache)
    configs: ConfigCache = field(default_factory=ConfigCache)
    progress: ProgressTiming = ProgressTiming()

    @cached_property
    def learnings(self) -> Learnings:
        """Where repositories' learnings are kept: the archive's database when there is one."""
        if self.archive is not None:
            return PostgresLearnings(self.archive.pool)
        return RedisLearnings(self.redis)


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


async def repository_config(services: WorkerServices, job: Job) -> RepoConfig:
    """The job's repository's `.github/livebot.yml`, within the operator's maxima."""
    return await load_repo_config(
        services.github.api(job.installation_id),
        job.repository,
        None,
        OperatorLimits.from_run_limits(services.settings.limits),
        services.configs,
    )
