"""Webhook targets: internal addresses are refused, names are judged by what they resolve to."""

from __future__ import annotations

import ipaddress

import pytest

from veille.adapters.dispatch import pinned_request
from veille.adapters.webhook_targets import check_target
from veille.domain.webhooks import (
    TargetAllowList,
    TargetRefused,
    TargetUnresolved,
    address_refusal,
)

pytestmark = pytest.mark.unit

NOBODY = TargetAllowList()


def url_for(address: str, rest: str = ":8080/hook", scheme: str = "http") -> str:
    return f"{scheme}://{f'[{address}]' if ':' in address else address}{rest}"


def resolver(table: dict[str, list[str]]):
    def resolve(host: str, port: int):
        return [ipaddress.ip_address(a) for a in table.get(host, [])]

    return resolve


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),  # unique local (ULA)
        ("fd12:3456::1", "private"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "shared"),  # carrier-grade NAT
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
        ("192.0.2.10", "private"),  # documentation range: not public either
    ],
)
def test_internal_addresses_are_refused_with_their_kind(address: str, kind: str):
    problem = address_refusal(ipaddress.ip_address(address))
    assert problem is not None and kind in problem
    with pytest.raises(TargetRefused, match=kind):
        check_target(url_for(address), allow=NOBODY, resolve=resolver({}))


@pytest.mark.parametrize("address", ["8.8.8.8", "193.191.245.10", "2001:4860:4860::8888"])
def test_public_addresses_are_accepted(address: str):
    assert address_refusal(ipaddress.ip_address(address)) is None
    checked = check_target(url_for(address, "/hook", "https"), allow=NOBODY, resolve=resolver({}))
    assert str(checked.address) == address and checked.port == 443


def test_a_name_is_judged_by_every_address_it_resolves_to():
    dns = resolver(
        {
            "dispatch.example": ["193.191.245.10"],
            "sneaky.example": ["193.191.245.10", "169.254.169.254"],
            "localhost": ["127.0.0.1", "::1"],
        }
    )
    assert str(check_target("https://dispatch.example/h", allow=NOBODY, resolve=dns).address) == (
        "193.191.245.10"
    )
    for url in ("http://sneaky.example/h", "http://localhost:9000/h"):
        with pytest.raises(TargetRefused, match="resolves to"):
            check_target(url, allow=NOBODY, resolve=dns)
    with pytest.raises(TargetUnresolved):
        check_target("http://nowhere.example/h", allow=NOBODY, resolve=dns)


def test_the_allow_list_admits_named_hosts_addresses_and_networks():
    allow = TargetAllowList.parse(["127.0.0.1", "10.20.0.0/16", "Dispatch.Internal", " "])
    dns = resolver({"dispatch.internal": ["10.99.0.1"], "hooks.local": ["10.20.3.4"]})
    assert check_target("http://127.0.0.1:9/h", allow=allow, resolve=dns).address is not None
    assert str(check_target("http://hooks.local/h", allow=allow, resolve=dns).address) == (
        "10.20.3.4"
    )
    trusted = check_target("http://dispatch.internal/h", allow=allow, resolve=dns)
    assert trusted.address is None  # named: trusted as it is
    with pytest.raises(TargetRefused):
        check_target("http://10.21.0.1/h", allow=allow, resolve=dns)
    with pytest.raises(TargetRefused):
        check_target("http://127.0.0.2/h", allow=allow, resolve=dns)


@pytest.mark.parametrize("url", ["ftp://example.org/", "http:///nohost", "http://h:99999/"])
def test_urls_that_name_no_usable_http_target_are_refused(url: str):
    with pytest.raises(TargetRefused):
        check_target(url, allow=NOBODY, resolve=resolver({"h": ["8.8.8.8"]}))


def test_a_delivery_goes_to_the_checked_address_under_its_own_name():
    checked = check_target(
        "https://hooks.example:8443/in?x=1",
        allow=NOBODY,
        resolve=resolver({"hooks.example": ["193.191.245.10"]}),
    )
    url, headers, extensions = pinned_request("https://hooks.example:8443/in?x=1", checked)
    assert str(url) == "https://193.191.245.10:8443/in?x=1"
    assert headers == {"Host": "hooks.example:8443"}
    assert extensions == {"sni_hostname": "hooks.example"}
