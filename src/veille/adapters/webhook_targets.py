"""Resolve a webhook's host and check every address it resolves to, at creation and at
each delivery (a name can be re-pointed at an internal address after it was checked)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass

from veille.domain.webhooks import (
    IPAddress,
    TargetAllowList,
    TargetRefused,
    check_addresses,
    target_host,
)

Resolver = Callable[[str, int], list[IPAddress]]


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for `host` (empty if it gives none)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    # scope ids ("fe80::1%eth0") are not part of the address
    return list(dict.fromkeys(ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos))


@dataclass(frozen=True)
class CheckedTarget:
    """A target that passed: where to connect. `address` is None when the allow-list
    names the host itself (trusted as it is); otherwise the request goes to this very
    address, so the name is not looked up again between the check and the connection."""

    host: str
    port: int
    address: IPAddress | None


def check_target(url: str, *, allow: TargetAllowList, resolve: Resolver) -> CheckedTarget:
    """The target of `url` if Veille may send to it; raises TargetRefused with the reason."""
    host, port = target_host(url)
    if allow.names(host):
        return CheckedTarget(host, port, None)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    addresses = [literal] if literal is not None else resolve(host, port)
    check_addresses(host, addresses, allow)
    return CheckedTarget(host, port, addresses[0])


__all__ = ["CheckedTarget", "Resolver", "TargetRefused", "check_target", "system_resolver"]
