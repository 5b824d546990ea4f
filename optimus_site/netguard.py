"""Where the server may connect on a caller's say-so: the guard against server-side request forgery.

An app user chooses the Web Push endpoint the sender will POST to, and a shop's backend chooses
the item URLs that end up in pushes. Left alone, `https://169.254.169.254/…` (the cloud's metadata
service), `https://10.0.0.1/`, `https://[::1]:6379/` or a name that resolves to one of them would
make Optimus a proxy into its own network. So:

- `check_url` refuses what can be refused from the text alone: another scheme, credentials in the
  URL, control characters, a literal non-public address, a name like `localhost`, and — for push
  endpoints — a host outside the allow-list of push services;
- `public_addresses` resolves a name and refuses it unless every address is public; the sender
  connects to the address it checked (`PinnedAdapter`), so a DNS answer that changes between the
  check and the connection (rebinding) cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

# Names that are never public, whatever a resolver says.
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".intranet", ".lan", ".home.arpa", ".corp")

# The push services of the browsers (Chrome/Edge through FCM, Firefox, Safari, Windows/legacy Edge).
DEFAULT_PUSH_HOSTS = (
    "fcm.googleapis.com",
    "android.googleapis.com",
    "updates.push.services.mozilla.com",
    "*.push.services.mozilla.com",
    "web.push.apple.com",
    "*.push.apple.com",
    "*.notify.windows.com",
)


class UnsafeDestination(ValueError):
    """The URL or host may not be connected to; the message says why, for an error reply or a log."""


def is_public_address(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for a globally routable unicast address. Private, loopback, link-local (the metadata
    service's 169.254.169.254), carrier-grade NAT, multicast, reserved, unspecified and documentation
    ranges are not; neither is an IPv6 address that embeds one of those (IPv4-mapped, 6to4, NAT64…)."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or (ip.sixtofour if ip in ipaddress.IPv6Network("2002::/16") else None)
        if ip in ipaddress.IPv6Network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and not is_public_address(embedded):
            return False
    return ip.is_global and not ip.is_multicast


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address `host` is written as, if it is one — including the forms resolvers accept for
    IPv4 ("2130706433", "0x7f.1", "127.1"), which ipaddress does not."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        pass
    if re.fullmatch(r"(0[xX][0-9a-fA-F]+|[0-9]+)(\.(0[xX][0-9a-fA-F]+|[0-9]+)){0,3}", host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def host_matches(host: str, patterns: Iterable[str]) -> bool:
    """`host` equals a pattern, or ends with the part after "*." of a wildcard pattern; "*" is any."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.strip().lower().rstrip(".")
        if pattern == "*" or host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


def check_url(url: str, *, schemes: tuple[str, ...] = ("https",), allowed_hosts: Iterable[str] | None = None) -> str:
    """The URL's host name if the URL may be connected to as far as its text tells, else
    UnsafeDestination. `allowed_hosts`: patterns the host must match (None: any public host)."""
    if not isinstance(url, str) or any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise UnsafeDestination("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeDestination(f"is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in schemes:
        raise UnsafeDestination(f"must be an {' or '.join(s + '://' for s in schemes)} URL")
    if parts.username is not None or parts.password is not None:
        raise UnsafeDestination("must not contain a user name or password")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeDestination("has no host")
    if port == 0:
        raise UnsafeDestination("has no valid port")
    literal = _literal_address(host)
    if literal is not None:
        if not is_public_address(literal):
            raise UnsafeDestination(f"points at a non-public address ({literal})")
    elif host.lower() in LOCAL_NAMES or host.lower().endswith(LOCAL_SUFFIXES) or "." not in host:
        raise UnsafeDestination(f"points at a local name ({host})")
    if allowed_hosts is not None and not host_matches(host, allowed_hosts):
        raise UnsafeDestination(f"host {host} is not a known push service")
    return host


def public_addresses(host: str, port: int) -> list[str]:
    """The host's addresses, if every one of them is public; else UnsafeDestination. One private
    address among public ones is refused too: which one a client picks is not ours to choose."""
    literal = _literal_address(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise UnsafeDestination(f"{host} does not resolve ({exc})") from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        if not is_public_address(address.split("%", 1)[0]):
            raise UnsafeDestination(f"{host} resolves to a non-public address ({address})")
    return addresses


def pinned_session(*, allow_private: bool = False):
    """A requests Session that connects only to public addresses it resolved itself, keeps TLS
    checked against the name, and never follows a redirect."""
    import requests
    from requests.adapters import HTTPAdapter

    class PinnedAdapter(HTTPAdapter):
        def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
            parts = urlsplit(request.url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            host = parts.hostname or ""
            address = host if allow_private else public_addresses(host, port)[0]
            host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
            if parts.scheme == "https":
                # TLS is still verified against the name, not the address we connect to.
                pool_kwargs["server_hostname"] = host
                pool_kwargs["assert_hostname"] = host
            return self.poolmanager.connection_from_host(
                host=address, port=port, scheme=parts.scheme, pool_kwargs=pool_kwargs
            )

        def send(self, request, **kwargs):
            request.headers.setdefault("Host", urlsplit(request.url).netloc)
            return super().send(request, **kwargs)

    class NoRedirectSession(requests.Session):
        def send(self, request, **kwargs):
            kwargs["allow_redirects"] = False
            return super().send(request, **kwargs)

    session = NoRedirectSession()
    session.trust_env = False  # no proxy from the environment between us and the check
    adapter = PinnedAdapter(max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
