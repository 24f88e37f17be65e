"""The cheap, offline checks every start runs before starting anything: one line for each."""

from __future__ import annotations

import os
import socket
import tempfile
from typing import Any

from livebot.core.settings import Settings, SettingsError

# The modes that listen on HOST:PORT.
SERVING_MODES = frozenset({"serve", "web", "demo", "setup"})


def check_data_dir(settings: Settings) -> None:
    """LIVEBOT_DATA_DIR exists (or can be made) and this user can write in it."""
    folder = settings.data_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise SettingsError(
            f"LIVEBOT_DATA_DIR {folder} is not writable ({exc.strerror or exc}); "
            f"set LIVEBOT_DATA_DIR to a folder user {os.getuid()} can write, or change its owner"
        ) from None


def _addresses(settings: Settings) -> list[Any]:
    try:
        return socket.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise SettingsError(
            f"HOST={settings.host} cannot be resolved ({reason}); "
            "set HOST to an address of this machine, such as 0.0.0.0 or 127.0.0.1"
        ) from None


def check_host(settings: Settings) -> None:
    """HOST names an address of this machine."""
    _addresses(settings)


def check_port(settings: Settings) -> None:
    """PORT is free on HOST: said before anything starts, not after Redis did."""
    family, kind, proto, _, address = _addresses(settings)[0]
    with socket.socket(family, kind, proto) as probe:
        # As the server binds: a port left in TIME_WAIT by a previous run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise listen_error(settings, exc) from None


def listen_error(settings: Settings, exc: OSError) -> SettingsError:
    """The one line for a HOST:PORT the server cannot listen on."""
    return SettingsError(
        f"cannot listen on {settings.host}:{settings.port} ({exc.strerror or exc}); "
        "set HOST and PORT to a free address"
    )
