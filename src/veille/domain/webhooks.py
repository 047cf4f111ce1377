"""Which addresses a webhook may be sent to: public ones, or what configuration allows."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from veille.domain.access import Scope
from veille.domain.alerts import Alert
from veille.domain.errors import Invalid

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known NAT64 prefix: an IPv4 inside


class TargetRefused(Invalid, ValueError):
    """A webhook target Veille will not send alerts to, with the reason."""


class TargetUnresolved(TargetRefused):
    """The target's name resolves to nothing (now): refused at creation, retried later
    at delivery, like any connection failure."""


@dataclass(frozen=True)
class TargetAllowList:
    """Internal targets an operator allowed by name (`VEILLE_WEBHOOK_ALLOWED_TARGETS`):
    host names (exact, case-insensitive), addresses, or networks in CIDR notation."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> TargetAllowList:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def names(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def covers(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


def address_refusal(address: IPAddress) -> str | None:
    """Why `address` is not a public unicast address ("a loopback address" …), or None.

    IPv6 forms that carry an IPv4 address (mapped, 6to4, NAT64) are judged by it, so
    `::ffff:127.0.0.1` is loopback, as it is to the kernel.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_refusal(embedded)
            return f"{inner} ({embedded} inside)" if inner else None
    for label, test in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("shared (carrier-grade NAT)", address in _SHARED),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    ):
        if test:
            return f"a {label} address"
    if not address.is_global:
        return "not a public address"
    return None


def target_host(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) webhook URL; TargetRefused when it has none."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("a webhook URL must start with http:// or https://")
    if not parts.hostname:
        raise TargetRefused("the URL names no host")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_addresses(host: str, addresses: Iterable[IPAddress], allow: TargetAllowList) -> None:
    """Refuse unless every address `host` resolved to is public or allowed: one internal
    address among public ones is enough for a request to land inside."""
    found = list(addresses)
    if not found:
        raise TargetUnresolved(f"{host} does not resolve to any address")
    for address in found:
        problem = address_refusal(address)
        if problem and not allow.covers(address):
            which = f"{address} is" if str(address) == host else f"{host} resolves to {address},"
            raise TargetRefused(
                f"{which} {problem}: webhooks go only to public addresses unless"
                " VEILLE_WEBHOOK_ALLOWED_TARGETS names them"
            )


@dataclass(frozen=True)
class Webhook:
    """An outside dispatch system that receives the alerts of its scope, signed with its
    secret."""

    webhook_id: int
    name: str
    url: str
    secret: str
    scope: Scope
    active: bool
    created_at: datetime

    def receives(self, alert: Alert) -> bool:
        """Active, and its scope covers the alert's camera; never a covert hit: a webhook
        belongs to no organisation, so it can never be a covert list's owner."""
        return (
            self.active
            and not alert.covert
            and self.scope.covers(zone=alert.zone, province=alert.province)
        )


@dataclass(frozen=True)
class WebhookDelivery:
    """The final result of delivering one alert event to one webhook."""

    delivery_id: int
    webhook_id: int
    alert_id: int
    event: str  # new | repeat | update
    attempts: int
    status: str  # delivered | failed
    http_status: int | None
    error: str | None
    at: datetime  # when the result was recorded
