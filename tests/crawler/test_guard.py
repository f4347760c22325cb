"""The SSRF guard: which addresses are refused, and that the crawler's transport really checks."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable

import httpcore
import httpx
import pytest

from empreinte.crawler.fetch import make_client
from empreinte.errors import BlockedAddress
from empreinte.net.guard import GuardedBackend, refusal
from tests.crawler.site import Site, html

REFUSED = [
    "127.0.0.1",
    "127.1.2.3",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",
    "169.254.1.1",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::a00:1",
    "2002:7f00:1::",
]
ALLOWED = ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_allow_loopback_opens_127_slash_8_and_nothing_else() -> None:
    allowed = {a for a in REFUSED if refusal(ipaddress.ip_address(a), allow_loopback=True) is None}
    assert allowed == {"127.0.0.1", "127.1.2.3"}


class _Recorder(httpcore.AsyncNetworkBackend):
    """A network backend that records where it was asked to connect, and never connects."""

    def __init__(self) -> None:
        self.connected: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connected.append(host)
        raise httpcore.ConnectError("recorder never connects")


DNS = {
    "evil.test": ["127.0.0.1"],
    "metadata.test": ["169.254.169.254"],
    "mixed.test": ["93.184.216.34", "10.0.0.7"],
    "public.test": ["93.184.216.34"],
}


async def _resolve(host: str, port: int) -> list[str]:
    return DNS[host]


@pytest.mark.parametrize("host", ["evil.test", "metadata.test", "mixed.test"])
def test_names_resolving_to_private_addresses_are_refused_before_connecting(host: str) -> None:
    recorder = _Recorder()
    backend = GuardedBackend(resolver=_resolve, inner=recorder)

    async def go() -> None:
        await backend.connect_tcp(host, 80)

    with pytest.raises(BlockedAddress):
        asyncio.run(go())
    assert recorder.connected == []


def test_connection_goes_to_the_checked_address_not_a_second_lookup() -> None:
    recorder = _Recorder()
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    backend = GuardedBackend(resolver=rebinding, inner=recorder)
    with pytest.raises(httpcore.ConnectError):
        asyncio.run(backend.connect_tcp("rebind.test", 80))
    assert recorder.connected == ["93.184.216.34"]


def test_the_crawler_client_refuses_loopback_unless_allowed() -> None:
    site = Site(lambda path: html("<p>hello</p>"))

    async def get(allow: bool) -> int:
        async with make_client(user_agent="test", allow_loopback=allow) as client:
            return (await client.get(site.base + "/")).status_code

    with site.running():
        with pytest.raises(BlockedAddress):
            asyncio.run(get(False))
        assert site.hits["/"] == 0
        assert asyncio.run(get(True)) == 200
    assert site.hits["/"] == 1


def test_the_crawler_client_ignores_proxies_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    site = Site(lambda path: html("<p>hello</p>"))

    async def get() -> httpx.Response:
        async with make_client(user_agent="test", allow_loopback=True) as client:
            return await client.get(site.base + "/")

    with site.running():
        assert asyncio.run(get()).status_code == 200
