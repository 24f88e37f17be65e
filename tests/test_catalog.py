"""Adding a workflow is its module and one line: a registry given one more workflow parses its
words, takes its settings key, lists it in help, runs its jobs and counts them under its name."""

from __future__ import annotations

from typing import Final

from prometheus_client import REGISTRY as METRICS
from redis.asyncio import Redis

from livebot.config.repo_config import OperatorLimits, parse_config
from livebot.github import comments
from livebot.intake.commands import Command, parse_command
from livebot.llm.usage import Usage
from livebot.queue.jobs import JobQueue
from livebot.queue.registry import REGISTRY, WORKFLOWS, Registry
from livebot.runs.execution import Run, Workflow
from livebot.worker_services import WorkerServices
from livebot.workflows.catalog import CATALOG, DEFAULT_WORKFLOW, Entry
from tests.fake_github import FakeGitHub
from tests.support import ISSUE, OWNER, REPO, SLUG, eventually
from tests.workers import make_job, running

POEM: Final = Entry(
    name="poem",
    words=("poem", "verse"),
    usage="`@{slug} poem`",
    does="write a poem about the thread",
)
POEM_TEXT: Final = "Roses are red, the build is green."


async def write_poem(run: Run) -> None:
    """The new workflow: no model, one fixed answer."""
    await run.status("Writing a poem")
    await run.succeed(POEM_TEXT, Usage())


WITH_POEM: Final = Registry((*WORKFLOWS, Workflow(POEM, write_poem)))


def test_the_shipped_registry_runs_exactly_the_catalogs_workflows() -> None:
    """Intake and the settings read the catalog, the workers the registry: they agree."""
    assert REGISTRY.catalog == CATALOG


def test_its_words_parse_to_its_kind() -> None:
    body = f"@{SLUG} verse about this bug"
    assert parse_command(body, SLUG, WITH_POEM.catalog) == Command("poem", "about this bug")
    assert parse_command(f"@{SLUG} poem", SLUG, WITH_POEM.catalog) == Command("poem", "")
    # The shipped catalog has no such word: a question for the default workflow.
    assert parse_command(body, SLUG) == Command(DEFAULT_WORKFLOW, "verse about this bug")


def test_the_settings_take_its_name_under_commands() -> None:
    text = "commands: {poem: false, goal: false}\n"
    config = parse_config(text, OperatorLimits(), commands=WITH_POEM.catalog.names)
    assert config.notes == ()
    assert dict(config.commands) == {
        "answer": True,
        "review": True,
        "goal": False,
        "resolve": True,
        "poem": False,
    }
    # The shipped schema does not know the key.
    [note] = parse_config(text, OperatorLimits()).notes
    assert "unknown setting `commands.poem`, ignored" in note


async def test_help_lists_it(
    worker_services: WorkerServices, queue: JobQueue, redis_client: Redis, fake_github: FakeGitHub
) -> None:
    await queue.enqueue(make_job("help"))
    async with running(worker_services, redis_client, WITH_POEM):
        await eventually(lambda: _count(fake_github, 1), "the help reply")
    [comment] = fake_github.comments_on(OWNER, REPO, ISSUE)
    row = comments.HELP_ROW.format(usage=POEM.usage, does=POEM.does).format(slug=SLUG)
    assert row in comment["body"]


async def test_the_registry_runs_its_jobs_and_counts_them_under_its_name(
    worker_services: WorkerServices, queue: JobQueue, redis_client: Redis, fake_github: FakeGitHub
) -> None:
    labels = {"workflow": "poem", "outcome": "done"}
    before = METRICS.get_sample_value("livebot_jobs_total", labels) or 0.0
    job = make_job("poem")
    await queue.enqueue(job)
    async with running(worker_services, redis_client, WITH_POEM):
        await eventually(
            lambda: METRICS.get_sample_value("livebot_jobs_total", labels) == before + 1,
            "the job counted as done",
        )
    meta = await worker_services.run_log.meta(job.run_id)
    assert meta is not None and (meta["workflow"], meta["status"]) == ("poem", "succeeded")
    [comment] = fake_github.comments_on(OWNER, REPO, ISSUE)
    assert comment["body"].startswith(POEM_TEXT)


async def _count(fake: FakeGitHub, count: int) -> bool:
    return len(fake.comments_on(OWNER, REPO, ISSUE)) == count
