"""The settings table: README.md agrees with it, every bad value is named at once in plain words,
and names that look like settings but are none are warned about."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from livebot.core import settings_doc
from livebot.core.settings import (
    KNOWN_NAMES,
    MODE_NEEDS,
    MODES,
    SETTINGS,
    Settings,
    SettingsError,
    load_settings,
    read_settings,
)
from livebot.core.unknown_keys import OTHER_READERS
from tests.fake_github import generate_private_key_pem

ROOT = Path(__file__).resolve().parents[1]
# What a GitHub Actions runner sets (docs: "Default environment variables"), and other tools'.
GITHUB_ACTIONS_ENV = (
    "GITHUB_ACTION GITHUB_ACTION_PATH GITHUB_ACTION_REPOSITORY GITHUB_ACTIONS GITHUB_ACTOR "
    "GITHUB_ACTOR_ID GITHUB_API_URL GITHUB_BASE_REF GITHUB_ENV GITHUB_EVENT_NAME "
    "GITHUB_EVENT_PATH GITHUB_GRAPHQL_URL GITHUB_HEAD_REF GITHUB_JOB GITHUB_OUTPUT GITHUB_PATH "
    "GITHUB_REF GITHUB_REF_NAME GITHUB_REF_PROTECTED GITHUB_REF_TYPE GITHUB_REPOSITORY "
    "GITHUB_REPOSITORY_ID GITHUB_REPOSITORY_OWNER GITHUB_REPOSITORY_OWNER_ID GITHUB_RETENTION_DAYS "
    "GITHUB_RUN_ATTEMPT GITHUB_RUN_ID GITHUB_RUN_NUMBER GITHUB_SERVER_URL GITHUB_SHA "
    "GITHUB_STEP_SUMMARY GITHUB_TRIGGERING_ACTOR GITHUB_WORKFLOW GITHUB_WORKFLOW_REF "
    "GITHUB_WORKFLOW_SHA GITHUB_WORKSPACE GITHUB_TOKEN GITHUB_STATE "
    "OPENAI_ORG_ID OPENAI_PROJECT_ID OPENAI_API_BASE OPENAI_API_VERSION OPENAI_LOG"
).split()


def read(tmp_path: Path, environ: dict[str, str], dotenv: str = "") -> Any:
    env_file = tmp_path / ".env"
    env_file.write_text(dotenv)
    return read_settings(environ, env_file)


def test_the_readme_table_is_the_code_table() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings_doc.section(readme) == settings_doc.table(), (
        "README.md's settings table differs from livebot/core/settings.py: "
        "run `python -m livebot.core.settings_doc`"
    )
    names = re.findall(r"^\| `([A-Z_]+)`", settings_doc.section(readme), re.MULTILINE)
    assert names == [row.env for row in SETTINGS.values()]


@pytest.mark.parametrize("name", list(SETTINGS))
def test_each_default_is_the_fields_and_reads_back_from_its_readme_form(name: str) -> None:
    row = SETTINGS[name]
    assert getattr(Settings(), name) == row.default
    if row.default not in (None, ()):  # an empty default is "unset", as None is
        shown = row.parser.show(row.default)
        assert f"`{shown}`" in settings_doc.default_cell(row)
        assert row.read({row.env: shown}) == row.default


def test_the_modes_needs_come_from_the_table() -> None:
    assert set(MODE_NEEDS) == set(MODES)
    assert MODE_NEEDS["serve"] == (
        "GITHUB_APP_ID",
        "GITHUB_PRIVATE_KEY",
        "GITHUB_WEBHOOK_SECRET",
        "OPENAI_API_KEY",
    )
    assert MODE_NEEDS["check"] == MODE_NEEDS["demo"] == MODE_NEEDS["setup"] == ()


def test_every_bad_value_is_named_at_once_in_plain_words(tmp_path: Path) -> None:
    environ = {
        "GITHUB_APP_ID": "abc",
        "PORT": "eighty",
        "LIVEBOT_CLAIM_TIMEOUT": "soon",
        "GITHUB_PRIVATE_KEY": "not a key",
    }
    with pytest.raises(SettingsError) as info:
        load_settings(environ, tmp_path / "none.env")
    text = str(info.value)
    assert text.startswith("4 settings need fixing:\n")
    assert (
        "GITHUB_APP_ID must be a whole number above 0 (the App ID on your app's settings page), "
        "got 'abc'"
    ) in text
    assert (
        "PORT must be a port number from 0 to 65535 (the web server's port), got 'eighty'" in text
    )
    assert "LIVEBOT_CLAIM_TIMEOUT must be a number of seconds above 0" in text
    assert "GITHUB_PRIVATE_KEY must be an RSA private key in PEM form" in text
    assert "download a new private key" in text
    assert "invalid literal" not in text and "could not convert" not in text
    # A key is a secret: what was found is described, never repeated.
    assert "not a key" not in text


def test_bad_and_missing_settings_are_one_error(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LIVEBOT_WORKERS=many\n")
    with pytest.raises(SettingsError) as info:
        load_settings({"GITHUB_APP_ID": "-3"}, tmp_path / ".env", mode="serve")
    lines = str(info.value).splitlines()
    assert lines[0] == "5 settings need fixing:"
    assert f"got 'many' (in {tmp_path / '.env'})" in lines[2]
    # GITHUB_APP_ID is bad, not missing: named once.
    assert sum("GITHUB_APP_ID" in line for line in lines) == 1
    assert any(line.strip().startswith("GITHUB_WEBHOOK_SECRET is not set") for line in lines)
    assert any("OPENAI_API_KEY is not set (nor OPENAI_BASE_URL" in line for line in lines)
    assert any("GITHUB_PRIVATE_KEY is not set (nor GITHUB_PRIVATE_KEY_PATH)" in ln for ln in lines)


def test_a_key_file_is_read_and_an_unreadable_one_named(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text(generate_private_key_pem())
    reading = read(tmp_path, {"GITHUB_PRIVATE_KEY_PATH": str(key)})
    assert reading.problems == [] and reading.settings.github_private_key == key.read_text().strip()
    key.unlink()
    (problem,) = read(tmp_path, {"GITHUB_PRIVATE_KEY_PATH": str(key)}).problems
    assert problem.name == "GITHUB_PRIVATE_KEY_PATH" and problem.setting == "GITHUB_PRIVATE_KEY"
    assert "must name a file this user can read" in problem.text and str(key) in problem.text


def test_unknown_names_in_dotenv_are_all_warned_with_a_guess(tmp_path: Path) -> None:
    dotenv = (
        "OPENAI_APIKEY=sk-1\nLIVEBOT_WORKER=2\nLIVEBOT_FAVOURITE_COLOUR=blue\nOPENAI_API_BASE=http://x\n"
        # Compose reads these from the same file for compose.yaml.
        "LIVEBOT_HTTP_PORT=8081\nGITHUB_APP_KEY_FILE=key.pem\nPOSTGRES_PASSWORD=p\n"
    )
    reading = read(tmp_path, {}, dotenv)
    guesses = {unknown.name: unknown.meant for unknown in reading.unknown}
    assert guesses == {
        "OPENAI_APIKEY": "OPENAI_API_KEY",
        "LIVEBOT_WORKER": "LIVEBOT_WORKERS",
        "LIVEBOT_FAVOURITE_COLOUR": None,
        "OPENAI_API_BASE": "OPENAI_BASE_URL",
    }
    assert reading.unknown[0].text == (
        f"OPENAI_APIKEY (in {tmp_path / '.env'}) is not a livebot setting; "
        "did you mean OPENAI_API_KEY?"
    )


def test_the_environment_is_warned_about_only_for_likely_misspellings(tmp_path: Path) -> None:
    others = dict.fromkeys(GITHUB_ACTIONS_ENV, "set by someone else")
    assert read(tmp_path, others).unknown == []
    typos = read(tmp_path, {**others, "LIVEBOT_WORKER": "2", "OPENAI_APIKEY": "k"}).unknown
    assert [(u.name, u.source, u.meant) for u in typos] == [
        ("LIVEBOT_WORKER", "the environment", "LIVEBOT_WORKERS"),
        ("OPENAI_APIKEY", "the environment", "OPENAI_API_KEY"),
    ]


def test_names_the_project_itself_writes_are_known() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    interpolated = set(re.findall(r"\$\{((?:LIVEBOT|GITHUB|OPENAI)_[A-Z_]+)", compose))
    assert interpolated <= OTHER_READERS
    assigned = set(re.findall(r"^\s+((?:LIVEBOT|GITHUB|OPENAI)_[A-Z_]+):", compose, re.M))
    assert assigned and assigned <= KNOWN_NAMES
    setup = (ROOT / "livebot" / "setup" / "app_setup.py").read_text()
    written = set(re.findall(r'"((?:GITHUB|LIVEBOT|OPENAI)_[A-Z_]+)"', setup))
    assert written and written <= KNOWN_NAMES
