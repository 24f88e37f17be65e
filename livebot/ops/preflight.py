"""The cheap, offline checks every start runs before starting anything: one line for each; and
the warnings a mode's start-up says (what it will do wrong, though it can start)."""

from __future__ import annotations

import os
import socket
import tempfile
from typing import Any, Final

from livebot.core.settings import Mode, Settings, SettingsError

# The modes that listen on HOST:PORT.
SERVING_MODES = frozenset({"serve", "web", "demo", "setup"})
# The modes that serve run pages of real runs (demo's are recorded, setup has none).
RUN_PAGE_MODES: Final = frozenset({"serve", "web"})
# The modes whose links go into comments on GitHub (a worker posts them, the web tier serves).
LINKING_MODES: Final = frozenset({"serve", "web", "worker"})
NO_PUBLIC_URL: Final = (
    "PUBLIC_URL is not set: the links in comments will point to {url}, which nobody but this "
    "machine can open; set PUBLIC_URL to this server's public address"
)
PRIVATE_RUNS_REFUSED: Final = (
    "LIVEBOT_PRIVATE_RUNS=signin but GITHUB_CLIENT_ID/GITHUB_CLIENT_SECRET are unset: "
    "nobody can sign in, so run pages of private repositories are refused"
)


def warnings(mode: Mode, settings: Settings) -> list[str]:
    """What `mode` will get wrong with these settings, each as one line (setup and the demo
    need neither PUBLIC_URL nor the OAuth client: setup is what writes them)."""
    found = []
    if mode in LINKING_MODES and not settings.public_url:
        found.append(NO_PUBLIC_URL.format(url=settings.base_url))
    if mode in RUN_PAGE_MODES and settings.private_runs == "signin" and not settings.sign_in:
        found.append(PRIVATE_RUNS_REFUSED)
    return found


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
