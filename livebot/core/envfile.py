"""Adding settings to a `.env` file: private (0600), and never replacing a value already there."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

PRIVATE_MODE = 0o600


@dataclass(frozen=True)
class EnvUpdate:
    """What an update wrote, and the names it left alone because they had a value."""

    written: list[str]
    kept: list[str]


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file only its owner can read, created with that mode (no window)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    os.chmod(path, PRIVATE_MODE)


def _quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def add_settings(path: Path, values: Mapping[str, str]) -> EnvUpdate:
    """Append the settings `path` lacks (an empty value counts as lacking); keep the others."""
    existing = {k: v for k, v in dotenv_values(path).items() if v} if path.exists() else {}
    kept = [name for name in values if name in existing]
    fresh = {name: value for name, value in values.items() if name not in existing}
    text = path.read_text() if path.exists() else ""
    if text and not text.endswith("\n"):
        text += "\n"
    text += "".join(f"{name}={_quoted(value)}\n" for name, value in fresh.items())
    write_private(path, text)
    return EnvUpdate(written=list(fresh), kept=kept)
