"""Which URLs a webhook may be posted to: no server-side request forgery.

An endpoint is an ``https`` URL whose host resolves only to public addresses. Private,
loopback, link-local, multicast, reserved and unspecified addresses are refused, for IPv4 and
IPv6 alike, including IPv4 addresses wrapped in IPv6 (``::ffff:127.0.0.1``, NAT64, 6to4). The
check runs at registration and again at every delivery after resolution; the sender then
connects to the very address it checked (``sending.py``), so a name that resolves elsewhere a
moment later (DNS rebinding) changes nothing. ``WEBHOOK_ALLOW_PRIVATE_ADDRESSES`` (development
and tests only) lifts the address rule and allows ``http``.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from registry.validation import ValidationError

MAX_URL = 2000
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class RefusedAddress(ValueError):
    """The URL is not one a webhook may be posted to; the message says why."""


@dataclass(frozen=True)
class Target:
    """Where to post: the URL's parts, and the checked addresses to connect to, in order."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """True for an address on the public internet (never private, loopback, link-local, ...)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return is_public(ip.ipv4_mapped)  # the socket reaches the IPv4 address itself
    inner = _embedded_ipv4(ip)
    if inner is not None and not is_public(inner):
        return False
    refused = (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
    )
    return not refused and ip.is_global


def split(url: str, *, allow_private: bool) -> tuple[str, str, int, str]:
    """Scheme, host, port and path-with-query of a webhook URL; ``RefusedAddress`` if unusable."""
    if not url or len(url) > MAX_URL:
        raise RefusedAddress(f"Enter a URL of at most {MAX_URL} characters.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise RefusedAddress("The URL must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise RefusedAddress(f"The URL is not valid: {error}.") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise RefusedAddress(
            "The URL must start with https:// (webhooks are signed, but their content should "
            "not travel in clear)."
            if parts.scheme == "http"
            else "The URL must start with https://."
        )
    if parts.username is not None or parts.password is not None:
        raise RefusedAddress("The URL must not contain a user name or password.")
    if parts.fragment:
        raise RefusedAddress("The URL must not contain a #fragment.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise RefusedAddress("The URL has no host name.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    # A request line is ASCII: an address typed with other characters (an IRI) is sent as the
    # URI it stands for, each such character percent-encoded as UTF-8 (RFC 3987, 3.1).
    path = "".join(ch if ch.isascii() else quote(ch, safe="") for ch in path)
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (itself, for an address literal)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise RefusedAddress(f"The host name {host!r} could not be resolved ({error}).") from None
    found: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip not in found:
            found.append(ip)
    return found


def check(url: str, *, allow_private: bool) -> Target:
    """Where ``url`` is to be posted, resolved now; ``RefusedAddress`` unless every address of
    its host is public (or ``allow_private``). Run at registration and before every post."""
    scheme, host, port, path = split(url, allow_private=allow_private)
    addresses = resolve(host, port)
    if not addresses:
        raise RefusedAddress(f"The host name {host!r} has no address.")
    if not allow_private:
        refused = [str(ip) for ip in addresses if not is_public(ip)]
        if refused:
            raise RefusedAddress(
                f"The host {host!r} resolves to {', '.join(refused)}, which is not a public internet "
                "address (private, loopback, link-local, multicast, reserved or unspecified): "
                "webhooks are only posted to public addresses."
            )
    return Target(scheme, host, port, path, tuple(str(ip) for ip in addresses))


def validate_url(url: str, *, allow_private: bool) -> str:
    """The URL as stored, after the same checks as at delivery; ``ValidationError`` on ``url``."""
    url = (url or "").strip()
    try:
        check(url, allow_private=allow_private)
    except RefusedAddress as error:
        raise ValidationError({"url": str(error)}) from None
    return url
