"""The installed package's version, as `livebot --version` and the server's own page say it."""

from __future__ import annotations

import importlib.metadata


def version() -> str:
    """The installed package's version."""
    try:
        return importlib.metadata.version("livebot")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"
