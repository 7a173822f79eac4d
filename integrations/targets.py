"""Which webhook targets dsign may call: never its own host or the internal network, unless allowed.

A subscription names a URL; an administrator could otherwise point it at 127.0.0.1 or the metadata
address and read the internal network through delivery errors. The host is resolved and every address
it resolves to is checked (a name with one public and one private address is refused). The operator,
not the web admin, can allow hosts (`WEBHOOK_ALLOWED_HOSTS`) for receivers inside the network.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class TargetRefused(Exception):
    """The URL may not be called; the message says why."""


def _allowed_hosts() -> set[str]:
    return {host.strip().lower().rstrip(".") for host in getattr(settings, "WEBHOOK_ALLOWED_HOSTS", []) if host}


def _refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    for flag, words in (
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_private", "a private network address"),
        ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"),
        ("is_unspecified", "an unspecified address"),
    ):
        if getattr(address, flag):
            return words
    if isinstance(address, ipaddress.IPv4Address) and address in ipaddress.ip_network("100.64.0.0/10"):
        return "a shared (carrier-grade NAT) address"
    return None


def _addresses(host: str, port: int) -> list[str]:
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"the host {host} cannot be resolved ({exc})") from exc
    return sorted(found, key=lambda address: (":" in address, address))  # IPv4 first


def target_check(*, url: str, resolve: bool = True) -> list[str]:
    """The addresses `url` may be called at; TargetRefused unless it is http(s) to public addresses only
    or to an allowed host. Deliveries connect to the first of them (not to a second resolution, which
    a rebinding DNS server could point elsewhere).

    With `resolve=False` (form validation) only a literal address is checked; deliveries always resolve.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise TargetRefused("the webhook URL must be http:// or https:// with a host")
    host = parts.hostname.lower().rstrip(".")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if host in _allowed_hosts():
        return _addresses(host, port) if resolve else []
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    elif host == "localhost" or host.endswith(".localhost"):
        addresses = ["127.0.0.1"]
    elif resolve:
        addresses = _addresses(host, port)
    else:
        return []
    for text in addresses:
        reason = _refusal(ipaddress.ip_address(text.split("%", 1)[0]))
        if reason:
            raise TargetRefused(
                f"{host} resolves to {text}, {reason}; webhooks may not call it unless the operator allows the "
                "host in WEBHOOK_ALLOWED_HOSTS"
            )
    return addresses
