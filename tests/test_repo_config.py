"""Per-repository settings: parsing with notes, and loading through the fake GitHub."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest

from livebot.code.protected_paths import DEFAULT_PROTECTED_PATHS
from livebot.config.repo_config import (
    AutoReview,
    ConfigCache,
    OperatorLimits,
    RepoConfig,
    ResolveSettings,
    ReviewSettings,
    default_config,
    load_repo_config,
    notes_markdown,
    parse_config,
)
from livebot.core.settings import RunLimits
from livebot.github.client import InstallationAPI
from tests.fake_github import FakeGitHub
from tests.test_github_app import make_app

OWNER, REPO = "octo-org", "hello-world"
FULL = f"{OWNER}/{REPO}"
LIMITS = OperatorLimits()
P = "`.github/livebot.yml`"

EVERY_KEY = """\
commands: { answer: true, review: false, goal: true, resolve: false }
auto_review:
  enabled: true
  drafts: true
  on_push: full
allowed_users: [Octocat, hubot-2]
model: gpt-4o-mini
limits: { max_tool_calls: 12, max_tokens: 50000, max_seconds: 120 }
instructions: "Answer in French."
review:
  ignore: ["**/*.lock", "dist/**"]
  path_instructions: [{ path: "src/**", instructions: "Check error handling." }]
  max_comments: 5
  min_severity: major
  resolve_fixed: false
  blocking: true
resolve: { max_files: 3, max_bytes: 9000 }
"""


def notes(text: str, limits: OperatorLimits = LIMITS) -> tuple[str, ...]:
    return parse_config(text, limits).notes


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n", "null\n"])
def test_empty_file_is_the_defaults(text: str) -> None:
    assert parse_config(text, LIMITS) == default_config(LIMITS) == RepoConfig()


def test_every_key_valid() -> None:
    assert parse_config(EVERY_KEY, LIMITS) == RepoConfig(
        commands={"answer": True, "review": False, "goal": True, "resolve": False},
        auto_review=AutoReview(enabled=True, drafts=True, on_push="full"),
        allowed_users=frozenset({"octocat", "hubot-2"}),
        model="gpt-4o-mini",
        limits=RunLimits(max_tool_calls=12, max_tokens=50000, max_seconds=120),
        instructions="Answer in French.",
        review=ReviewSettings(
            ignore=("**/*.lock", "dist/**"),
            path_instructions=(("src/**", "Check error handling."),),
            max_comments=5,
            min_severity="major",
            resolve_fixed=False,
            blocking=True,
        ),
        resolve=ResolveSettings(max_files=3, max_bytes=9000),
        notes=(),
    )


@pytest.mark.parametrize(
    ("text", "note"),
    [
        (
            "commands:\n  review: maybe\n",
            "line 2: `commands.review` must be true or false; using true",
        ),
        (
            "commands: [review]\n",
            "line 1: `commands` must be a mapping (key: value); using the defaults for it",
        ),
        (
            "auto_review: {enabled: 1}\n",
            "line 1: `auto_review.enabled` must be true or false; using false",
        ),
        (
            "auto_review:\n  on_push: always\n",
            "line 2: `auto_review.on_push` must be one of incremental, full, off;"
            " using incremental",
        ),
        ("allowed_users: octocat\n", "line 1: `allowed_users` must be a list; using the default"),
        (
            "allowed_users:\n  - ok\n  - 'not a login'\n",
            "line 3: `allowed_users`: `not a login` is not a GitHub login, ignored",
        ),
        ("model: 3\n", "line 1: `model` must be a model name (or null); using the server's model"),
        (
            "model: http://evil.example/v1\n",
            "line 1: `model` must be a model name (or null); using the server's model",
        ),
        (
            "limits:\n\n  max_tool_calls: 0\n",
            "line 3: `limits.max_tool_calls` must be a whole number from 1 to 100; using 40",
        ),
        (
            "limits: {max_tokens: 1.5}\n",
            "line 1: `limits.max_tokens` must be a whole number from 1 to 1000000; using 200000",
        ),
        (
            "limits: {max_seconds: true}\n",
            "line 1: `limits.max_seconds` must be a whole number from 1 to 1800; using 600",
        ),
        ("instructions: [a]\n", "line 1: `instructions` must be text"),
        ("review:\n  ignore: [3]\n", "line 2: `review.ignore` must be text"),
        (
            "review:\n  path_instructions: [{path: a}]\n",
            "line 2: `review.path_instructions` entries need both `path` and `instructions`,"
            " ignored",
        ),
        (
            "review:\n  max_comments: many\n",
            "line 2: `review.max_comments` must be a whole number from 1 to 50; using 10",
        ),
        (
            "review:\n  min_severity: huge\n",
            "line 2: `review.min_severity` must be one of blocker, major, minor, nit; using minor",
        ),
        (
            "resolve: {max_files: -1}\n",
            "line 1: `resolve.max_files` must be a whole number from 1 to 100; using 20",
        ),
        (
            "resolve: 5\n",
            "line 1: `resolve` must be a mapping (key: value); using the defaults for it",
        ),
    ],
)
def test_each_bad_value_is_the_default_with_a_note(text: str, note: str) -> None:
    config = parse_config(text, LIMITS)
    assert config.notes == (f"{P} {note}",)
    assert replace(config, notes=(), allowed_users=frozenset()) == default_config(LIMITS)


def test_bad_key_does_not_spoil_the_rest() -> None:
    config = parse_config("model: small\nlimits: {max_tool_calls: x, max_seconds: 30}\n", LIMITS)
    assert config.model == "small"
    assert config.limits == RunLimits(max_tool_calls=40, max_tokens=200_000, max_seconds=30)
    assert len(config.notes) == 1


@pytest.mark.parametrize(
    ("text", "note"),
    [
        (
            "commands: {review: true\nmodel: x\n",
            "line 2: not valid YAML (expected ',' or '}', but got ':'); using the defaults",
        ),
        (
            "a: [\n",
            "line 2: not valid YAML (expected the node content, but found '<stream end>');"
            " using the defaults",
        ),
        (
            "model: x\n---\nmodel: y\n",
            "line 2: not valid YAML (but found another document); using the defaults",
        ),
        ("model: \x00\n", "not valid YAML (unreadable characters); using the defaults"),
    ],
)
def test_yaml_syntax_error_is_all_defaults_and_one_note(text: str, note: str) -> None:
    assert parse_config(text, LIMITS) == replace(default_config(LIMITS), notes=(f"{P} {note}",))


@pytest.mark.parametrize("text", ["- model: x\n", "just text\n", "42\n", "true\n"])
def test_top_level_must_be_a_mapping(text: str) -> None:
    assert parse_config(text, LIMITS) == replace(
        default_config(LIMITS),
        notes=(f"{P} line 1: the file must be a mapping (key: value); using the defaults for it",),
    )


def test_unknown_keys_are_reported_and_ignored() -> None:
    config = parse_config(
        "api_url: https://evil.example\ntoken: abc\ncommands: {deploy: true}\n", LIMITS
    )
    assert replace(config, notes=()) == default_config(LIMITS)
    assert config.notes == (
        f"{P} line 1: unknown setting `api_url`, ignored",
        f"{P} line 2: unknown setting `token`, ignored",
        f"{P} line 3: unknown setting `commands.deploy`, ignored",
    )


def test_duplicate_key_uses_the_last() -> None:
    config = parse_config("model: a\nmodel: b\n", LIMITS)
    assert config.model == "b"
    assert config.notes == (f"{P} line 2: `model` is set twice; using the last one",)


def test_values_above_the_operator_maxima_are_capped() -> None:
    limits = OperatorLimits(max_tool_calls=10, max_tokens=1000, max_seconds=60, max_comments=3)
    config = parse_config("limits: {max_tool_calls: 11}\nreview: {max_comments: 4}\n", limits)
    assert config.limits == RunLimits(max_tool_calls=10, max_tokens=1000, max_seconds=60)
    assert config.review.max_comments == 3
    assert config.notes == (
        f"{P} line 1: `limits.max_tool_calls` is 11, above this server's maximum; using 10",
        f"{P} line 2: `review.max_comments` is 4, above this server's maximum; using 3",
    )


def test_operator_limits_from_the_server_settings() -> None:
    limits = OperatorLimits.from_run_limits(RunLimits(max_tool_calls=8, max_seconds=90.5))
    assert limits == OperatorLimits(max_tool_calls=8, max_tokens=200_000, max_seconds=90)
    assert default_config(limits).limits == RunLimits(8, 200_000, 90)


def test_defaults_are_lowered_to_the_operator_maxima() -> None:
    limits = OperatorLimits(max_tool_calls=5, max_files=2)
    assert default_config(limits).limits.max_tool_calls == 5
    assert default_config(limits).resolve.max_files == 2


def test_allowed_users_are_lower_cased_logins() -> None:
    config = parse_config("allowed_users: [OctoCat, octocat, Mona-Lisa]\n", LIMITS)
    assert config.allowed_users == frozenset({"octocat", "mona-lisa"})
    assert config.notes == ()


def test_yaml_11_spellings_and_null_model() -> None:
    config = parse_config("commands: {goal: no, resolve: off}\nmodel: null\n", LIMITS)
    assert dict(config.commands) == {
        "answer": True,
        "review": True,
        "goal": False,
        "resolve": False,
    }
    assert config.model is None and config.notes == ()


def test_on_push_off_is_the_word_not_yaml_false() -> None:
    config = parse_config("auto_review: {enabled: true, on_push: off}\n", LIMITS)
    assert config.auto_review.on_push == "off" and config.notes == ()
    config = parse_config("auto_review: {on_push: no}\n", LIMITS)
    assert config.auto_review.on_push == "incremental" and len(config.notes) == 1


def test_alias_bomb_is_refused() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    assert parse_config(bomb, LIMITS) == replace(
        default_config(LIMITS),
        notes=(f"{P} line 2: anchors and aliases (`*name`) are not supported; using the defaults",),
    )


def test_deep_nesting_is_refused() -> None:
    config = parse_config("a: " + "[" * 5000 + "]" * 5000 + "\n", LIMITS)
    assert config.notes == (
        f"{P} line 1: the file is nested too deeply or too long; using the defaults",
    )


def test_huge_file_is_not_read() -> None:
    config = parse_config("# padding\n" * 7000, LIMITS)
    assert config == replace(
        default_config(LIMITS),
        notes=(f"{P} is 68 KiB, larger than the 64 KiB limit; using the defaults",),
    )


def test_long_text_is_cut_with_a_note() -> None:
    config = parse_config("instructions: " + "a" * 5000 + "\n", LIMITS)
    assert config.instructions == "a" * 4000
    assert config.notes == (
        f"{P} line 1: `instructions` is longer than 4000 characters; only the start is used",
    )


def test_quoted_keys_cannot_break_out_of_the_note() -> None:
    config = parse_config('"`@everyone`\\n# heading": 1\n', LIMITS)
    assert config.notes == (f"{P} line 1: unknown setting `@everyone # heading`, ignored",)


def test_notes_markdown() -> None:
    assert notes_markdown(default_config(LIMITS)) == ""
    assert notes_markdown(parse_config("token: x\n", LIMITS)) == (
        "\n\n---\n⚠️ Some settings in `.github/livebot.yml` were not used:\n"
        f"- {P} line 1: unknown setting `token`, ignored"
    )
    many = notes_markdown(parse_config("".join(f"k{i}: 1\n" for i in range(25)), LIMITS))
    assert many.count("\n- ") == 21 and many.endswith("- … and 5 more problems")


@pytest.fixture
async def fake() -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub() as fake:
        fake.add_repo(OWNER, REPO)
        yield fake


@pytest.fixture
async def gh(fake: FakeGitHub) -> AsyncIterator[InstallationAPI]:
    async with aiohttp.ClientSession() as session:
        yield make_app(session, fake, max_attempts=2).api(7)


async def test_loads_from_the_default_branch(fake: FakeGitHub, gh: InstallationAPI) -> None:
    fake.add_file(OWNER, REPO, ".github/livebot.yml", "model: small\n")
    config = await load_repo_config(gh, FULL, "main", LIMITS, ConfigCache())
    assert config == replace(default_config(LIMITS), model="small")
    [request] = fake.requests_to("GET", f"/repos/{FULL}/contents/.github/livebot.yml")
    assert request.query == {"ref": "main"}


async def test_missing_everywhere_is_the_defaults(fake: FakeGitHub, gh: InstallationAPI) -> None:
    config = await load_repo_config(gh, FULL, "main", LIMITS, ConfigCache())
    assert config == default_config(LIMITS)
    assert len(fake.requests_to("GET", "/repos/*/contents/.github/livebot.yml")) == 2


async def test_falls_back_to_the_owners_github_repo(fake: FakeGitHub, gh: InstallationAPI) -> None:
    fake.add_repo(OWNER, ".github")
    fake.add_file(OWNER, ".github", ".github/livebot.yml", "model: org-model\nbogus: 1\n")
    config = await load_repo_config(gh, FULL, "main", LIMITS, ConfigCache())
    assert config.model == "org-model"
    assert config.notes == (
        f"`{OWNER}/.github: .github/livebot.yml` line 2: unknown setting `bogus`, ignored",
    )


async def test_repository_file_wins_over_the_owners(fake: FakeGitHub, gh: InstallationAPI) -> None:
    fake.add_repo(OWNER, ".github")
    fake.add_file(OWNER, ".github", ".github/livebot.yml", "model: org-model\n")
    fake.add_file(OWNER, REPO, ".github/livebot.yml", "model: repo-model\n")
    config = await load_repo_config(gh, FULL, "main", LIMITS, ConfigCache())
    assert config.model == "repo-model"
    assert fake.requests_to("GET", f"/repos/{OWNER}/.github/*") == []


async def test_github_error_is_the_defaults_with_a_note(
    fake: FakeGitHub, gh: InstallationAPI
) -> None:
    fake.add_file(OWNER, REPO, ".github/livebot.yml", "model: small\n")
    fake.fail_next("GET", f"/repos/{FULL}/contents/*", status=500, times=2)
    cache = ConfigCache()
    config = await load_repo_config(gh, FULL, "main", LIMITS, cache)
    assert config == replace(
        default_config(LIMITS),
        notes=(
            "could not read `.github/livebot.yml`: GitHub answered 500 (Internal Server Error);"
            " using the defaults",
        ),
    )
    # A failure is not remembered: the next run reads the file.
    assert (await load_repo_config(gh, FULL, "main", LIMITS, cache)).model == "small"


async def test_a_burst_costs_one_lookup(fake: FakeGitHub, gh: InstallationAPI) -> None:
    fake.add_file(OWNER, REPO, ".github/livebot.yml", "model: small\n")
    cache = ConfigCache()
    configs = await asyncio.gather(
        *(load_repo_config(gh, FULL, "main", LIMITS, cache) for _ in range(5))
    )
    configs.append(await load_repo_config(gh, FULL, "main", LIMITS, cache))
    assert {c.model for c in configs} == {"small"}
    assert len(fake.requests_to("GET", "/repos/*/contents/*")) == 1


async def test_same_blob_is_parsed_once(fake: FakeGitHub, gh: InstallationAPI) -> None:
    fake.add_file(OWNER, REPO, ".github/livebot.yml", "model: small\n")
    cache = ConfigCache()
    first = await load_repo_config(gh, FULL, "main", LIMITS, cache)
    cache.lookups.clear()
    second = await load_repo_config(gh, FULL, "main", LIMITS, cache)
    assert second is first and len(cache.parsed) == 1
    assert len(fake.requests_to("GET", "/repos/*/contents/*")) == 2


def test_protected_paths_add_to_the_defaults_and_drop_only_defaults_named_exactly() -> None:
    text = (
        "resolve:\n  protected_paths:\n"
        '    - "scripts/**"\n'
        '    - "!package.json"\n'
        '    - "!Makefile"\n'
        '    - "Makefile"\n'  # listed again: it stays protected, and is not reported dropped
        '    - "!**/conftest.py"\n'
        "    - 3\n"
    )
    config = parse_config(text, LIMITS)
    protected = config.resolve.protected_paths
    kept = [g for g in DEFAULT_PROTECTED_PATHS if g != "package.json"]
    assert protected == (*kept, "scripts/**")
    assert config.resolve.dropped == ("package.json",)
    assert config.notes == (
        "`.github/livebot.yml` line 7: `resolve.protected_paths`: `!**/conftest.py` drops "
        "nothing: only a default, named exactly as it is listed, can be dropped; ignored",
        "`.github/livebot.yml` line 8: `resolve.protected_paths` must be text",
    )


def test_without_the_key_every_default_is_protected() -> None:
    config = parse_config("resolve: {max_files: 2}\n", LIMITS)
    assert config.resolve.protected_paths == DEFAULT_PROTECTED_PATHS
    assert config.resolve.dropped == ()
    # An empty list adds nothing and drops nothing.
    empty = parse_config("resolve: {protected_paths: []}\n", LIMITS)
    assert empty.resolve == default_config(LIMITS).resolve
