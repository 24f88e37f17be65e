"""Mentions and commands parsed from comment bodies."""

from __future__ import annotations

import pytest

from livebot.intake.commands import Command, parse_command
from livebot.workflows.catalog import COMMAND_WORDS, DEFAULT_WORKFLOW

SLUG = "livebot"


@pytest.mark.parametrize(("word", "name"), sorted(COMMAND_WORDS.items()))
def test_every_command_word(word: str, name: str) -> None:
    assert parse_command(f"@{SLUG} {word} now", SLUG) == Command(name, "now")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("@livebot why does it crash?", Command(DEFAULT_WORKFLOW, "why does it crash?")),
        ("Hey @LiveBot, REVIEW please", Command("review", "please")),
        ("Hey @LiveBot review, please", Command("review", "please")),
        ("@livebot help.", Command("help", "")),
        ("@livebot", Command(DEFAULT_WORKFLOW, "")),
        ("first line\n@livebot fix it", Command("resolve", "it")),
        ("`@livebot` in code", None),
        ("```\n@livebot in a block\n```", None),
        ("~~~python\n@livebot\n~~~\n", None),
        ("> @livebot quoted\nmy own words", None),
        ("> quoted\n@livebot describe", Command("goal", "")),
        ("someone@livebot.dev", None),
        ("@livebot-staging hi", None),
        ("@livebots hi", None),
        ("(@livebot why?)", Command(DEFAULT_WORKFLOW, "why?)")),
        (None, None),
    ],
)
def test_mentions(body: str | None, expected: Command | None) -> None:
    assert parse_command(body, SLUG) == expected
