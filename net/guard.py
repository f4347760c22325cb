"""Refuse to connect to any address that is not public: the SSRF guard of all outbound HTTP.

A hostile page can link to ``http://169.254.169.254/`` (cloud credentials), to
``http://10.0.0.5/admin``, or to a name that resolves there, or redirect to
one; an NGO could register such a webhook. The check therefore runs where the
connection is made, after DNS: every httpx transport of Empreinte uses
:class:`GuardedBackend` (asynchronous: the crawler) or
:class:`SyncGuardedBackend` (synchronous: webhooks and re-checks) as its
network backend, which resolves the host, refuses it if *any* address is
private, loopback, link-local, a cloud metadata address, multicast, reserved
or otherwise not global, and then connects to the address it checked (so a
second lookup cannot swap it: no DNS rebinding). The URL keeps its host
name, so TLS still verifies the certificate against it and sends SNI.

Every connection goes through the backend, so every redirect hop is checked
too. Proxies from the environment are ignored (``trust_env=False``); a proxy
would hide the real destination.

``allow_loopback=True`` (tests and the demo) permits 127.0.0.0/8 and nothing
else: not ``::1``, not IPv4-mapped forms, not private ranges.
"""

from __future__ import annotations

import asyncio
import ipaddress
import select
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

import httpcore
import httpx

from empreinte.errors import BlockedAddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Resolve a host and port to the IP addresses to try, in order."""

METADATA: Final = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
_LOOPBACK_V4: Final = ipaddress.ip_network("127.0.0.0/8")
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")


def refusal(ip: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Say why Empreinte must not connect to ``ip``, or return None when it may."""
    if ip in METADATA:
        return "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_v4(ip)
        if embedded is not None and refusal(embedded) is not None:
            return f"an IPv6 form of {embedded}"
    if allow_loopback and isinstance(ip, ipaddress.IPv4Address) and ip in _LOOPBACK_V4:
        return None
    checks = (
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
        (not ip.is_global, "not a public address"),
    )
    for failed, reason in checks:
        if failed:
            return reason
    return None


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    return ip.teredo[1] if ip.teredo is not None else None


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the system's resolver (getaddrinfo, in a thread)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def resolve(host: str, port: int) -> list[str]:
    """Resolve with the system's resolver, synchronously."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_addresses(host: str, addresses: Iterable[str], *, allow_loopback: bool) -> list[str]:
    """Return ``addresses`` if every one is allowed; else raise :class:`BlockedAddress`."""
    checked = list(addresses)
    if not checked:
        raise httpcore.ConnectError(f"{host} has no address")
    for address in checked:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        reason = refusal(ip, allow_loopback=allow_loopback)
        if reason is not None:
            raise BlockedAddress(f"{host} resolves to {address}: {reason}")
    return checked


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that resolves, checks every address, then connects to a checked one."""

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_loopback = allow_loopback
        self._resolve = resolver or system_resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            found = await self._resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = check_addresses(host, found, allow_loopback=self.allow_loopback)
        error: Exception | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
                return _Stream(stream)
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError(f"cannot connect to {host}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("Empreinte never connects to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _Stream(httpcore.AsyncNetworkStream):
    """A connection whose "is it readable?" check costs one ``poll``.

    httpcore asks every pooled connection that question each time it places
    a request; anyio answers by rebuilding all the socket's attributes
    (``getpeername`` and more), which was the crawler's largest CPU cost with
    a few dozen connections open.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            return _readable(self._socket)
        return self._inner.get_extra_info(info)


def _readable(sock: socket.socket) -> bool:
    if sock.fileno() == -1:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool built on :class:`GuardedBackend`.

    httpx takes no network backend, so the pool it builds is replaced by an
    equal one that has the guard (``_pool`` is httpx's attribute; a test
    checks that the guard is in effect, so an httpx change cannot silently
    drop it).
    """

    def __init__(self, backend: GuardedBackend, limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


SyncResolver = Callable[[str, int], list[str]]


class SyncGuardedBackend(httpcore.NetworkBackend):
    """The synchronous twin of :class:`GuardedBackend`, for webhooks and re-checks."""

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        resolver: SyncResolver | None = None,
        inner: httpcore.NetworkBackend | None = None,
    ) -> None:
        self.allow_loopback = allow_loopback
        self._resolve = resolver or resolve
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            found = self._resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = check_addresses(host, found, allow_loopback=self.allow_loopback)
        error: Exception | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError(f"cannot connect to {host}")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise BlockedAddress("Empreinte never connects to Unix sockets")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class SyncGuardedTransport(httpx.HTTPTransport):
    """httpx's synchronous transport with its pool built on :class:`SyncGuardedBackend`."""

    def __init__(
        self, backend: SyncGuardedBackend, limits: httpx.Limits, *, verify: bool = True
    ) -> None:
        super().__init__(trust_env=False, limits=limits, verify=verify)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )
