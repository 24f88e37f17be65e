"""LIVEBOT_TRUSTED_PROXIES: X-Forwarded-For counts only when the peer is a trusted proxy."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request

from livebot.core.parsers import IPNetwork
from livebot.core.settings import Settings, SettingsError, load_settings
from livebot.web.client_address import client_address
from tests.conftest import WebClient
from tests.test_hostile_input import running_run

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))


def address(peer: str, *forwarded: str, proxies: tuple[IPNetwork, ...] = PROXIES) -> str:
    headers = [("X-Forwarded-For", value) for value in forwarded]
    request = make_mocked_request("GET", "/", headers=headers).clone(remote=peer)
    return client_address(request, proxies)


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        # An untrusted peer's header is ignored, whatever it says.
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),
        ("203.0.113.9", ["10.0.0.1"], "203.0.113.9"),
        # A trusted proxy: the rightmost untrusted hop; what the client wrote left of it is not.
        ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["6.6.6.6, 198.51.100.1, 10.1.1.1"], "198.51.100.1"),
        ("10.0.0.2", ["6.6.6.6", "198.51.100.1, 10.9.9.9"], "198.51.100.1"),
        ("::1", ["2001:db8::7"], "2001:db8::7"),
        # Every hop trusted: the leftmost; a proxy with no header: itself.
        ("10.0.0.2", ["10.3.3.3, 10.4.4.4"], "10.3.3.3"),
        ("10.0.0.2", [], "10.0.0.2"),
        # A malformed hop stops the walk at the trusted hop that reported it.
        ("10.0.0.2", ["198.51.100.1, junk, 10.1.1.1"], "10.1.1.1"),
        ("10.0.0.2", ["unknown"], "10.0.0.2"),
    ],
)
def test_the_client_is_the_rightmost_untrusted_hop(
    peer: str, forwarded: list[str], client: str
) -> None:
    assert address(peer, *forwarded) == client


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert address("10.0.0.2", "198.51.100.1", proxies=()) == "10.0.0.2"


def test_the_setting_takes_addresses_and_cidrs(tmp_path: Path) -> None:
    no_file = tmp_path / ".env"
    assert load_settings({}, no_file).trusted_proxies == ()
    loaded = load_settings({"LIVEBOT_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7,::1"}, no_file)
    assert [str(n) for n in loaded.trusted_proxies] == ["10.0.0.0/8", "192.0.2.7/32", "::1/128"]
    with pytest.raises(
        SettingsError, match="LIVEBOT_TRUSTED_PROXIES must be comma-separated addresses or CIDRs"
    ):
        load_settings({"LIVEBOT_TRUSTED_PROXIES": "10.0.0.0/8, nginx"}, no_file)


async def test_spoofed_headers_from_an_untrusted_peer_share_its_cap(
    web_client: WebClient, settings: Settings
) -> None:
    settings = dataclasses.replace(settings, max_viewers_per_address=2)
    client = await web_client(settings)
    run_id, token = await running_run(client)
    url, params = f"/runs/{run_id}/events", {"token": token}
    held = [
        await client.get(url, params=params, headers={"X-Forwarded-For": f"198.51.100.{n}"})
        for n in range(2)
    ]
    assert [resp.status for resp in held] == [200, 200]
    spoofed = await client.get(url, params=params, headers={"X-Forwarded-For": "198.51.100.9"})
    assert spoofed.status == 429
    for resp in held:
        resp.close()


async def test_behind_a_trusted_proxy_each_client_has_its_own_cap(
    web_client: WebClient, settings: Settings
) -> None:
    loopback = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    settings = dataclasses.replace(settings, max_viewers_per_address=1, trusted_proxies=loopback)
    client = await web_client(settings)
    run_id, token = await running_run(client)
    url, params = f"/runs/{run_id}/events", {"token": token}

    def via_proxy(forwarded: str) -> dict[str, str]:
        return {"X-Forwarded-For": forwarded}

    first = await client.get(url, params=params, headers=via_proxy("198.51.100.1"))
    second = await client.get(url, params=params, headers=via_proxy("198.51.100.2"))
    assert (first.status, second.status) == (200, 200)
    # The first client again, claiming another address left of the one the proxy saw.
    again = await client.get(url, params=params, headers=via_proxy("6.6.6.6, 198.51.100.1"))
    assert again.status == 429
    for resp in (first, second):
        resp.close()
