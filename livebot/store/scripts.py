"""The Lua scripts Livebot runs in Redis, read from `livebot/store/lua/<name>.lua` (package data).

Each file starts with a comment saying its KEYS and ARGV; the callers register or evaluate the
text as they did when it lived in a Python string.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load(name: str) -> str:
    """The text of the script `name` (`lua/<name>.lua`), read once per process."""
    return resources.files(__package__).joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")
