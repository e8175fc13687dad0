"""Websocket origin check: only the site's own pages (or an origin the operator trusts) may open a socket."""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import is_same_domain, split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}
#: Channels' AllowedHostsOriginValidator falls back to these when DEBUG is on and ALLOWED_HOSTS is empty.
DEBUG_ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

Origin = tuple[str, str, int]  # (scheme, lowercased host, port)


class WebsocketOriginValidator:
    """ASGI middleware that refuses a websocket handshake (HTTP 403) unless its Origin header is allowed.

    The rule, the same as Django's CSRF origin check for HTTP:

    * the Origin's scheme, host and port equal the connection's own: scheme ``http`` for a ``ws``
      connection and ``https`` for ``wss`` (or for a request that carries the header named by
      ``SECURE_PROXY_SSL_HEADER``, as ``request.is_secure()`` counts it), host and port from the
      ``Host`` header, 80/443 when a port is omitted; and that host is in ``ALLOWED_HOSTS``;
    * or the Origin is listed in ``CSRF_TRUSTED_ORIGINS`` (a full origin such as
      ``https://studio.example.org``, or ``https://*.example.org`` for a domain and its subdomains),
      whatever the ``Host`` header says: the reverse-proxy case.

    A handshake without an Origin header is refused unless ``ALLOWED_HOSTS`` contains ``*``, as
    Channels' ``AllowedHostsOriginValidator`` (which compared only the host) does.
    """

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            raise ValueError("WebsocketOriginValidator only handles websocket connections")
        if self.allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)

    def allowed(self, scope) -> bool:
        headers = {}
        for name, value in scope.get("headers", []):  # the last of repeated headers wins, as in Channels
            headers[name.decode("latin1").lower()] = value.decode("latin1")
        allowed_hosts = allowed_host_patterns()
        if "origin" not in headers:
            return "*" in allowed_hosts
        origin = parse_origin(headers["origin"])
        if origin is None:
            return False
        return origin == own_origin(scope, headers, allowed_hosts) or is_trusted(origin)


def allowed_host_patterns() -> list[str]:
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return DEBUG_ALLOWED_HOSTS
    return list(settings.ALLOWED_HOSTS)


def parse_host(scheme: str, netloc: str) -> Origin | None:
    """``(scheme, host, port)`` of ``host[:port]``, or None when it is not a valid host."""
    host, port = split_domain_port(netloc)
    if not host or scheme not in DEFAULT_PORTS:
        return None
    return scheme, host, int(port) if port else DEFAULT_PORTS[scheme]


def parse_origin(value: str) -> Origin | None:
    """``(scheme, host, port)`` of a serialised origin (``scheme://host[:port]``); None for ``null`` or junk."""
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return parse_host(parts.scheme.lower(), parts.netloc)


def connection_scheme(scope, headers: dict[str, str]) -> str:
    if scope.get("scheme", "ws") == "wss":
        return "https"
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        meta_name, secure_value = proxy_header
        header = meta_name.removeprefix("HTTP_").replace("_", "-").lower()
        # Django takes the first value of a comma-separated header (request.is_secure()).
        if headers.get(header, "").split(",")[0].strip() == secure_value:
            return "https"
    return "http"


def own_origin(scope, headers: dict[str, str], allowed_hosts: list[str]) -> Origin | None:
    """The origin of the site the browser connected to, or None when its Host is missing or not allowed."""
    own = parse_host(connection_scheme(scope, headers), headers.get("host", ""))
    if own is None or not validate_host(own[1], allowed_hosts):
        return None
    return own


def is_trusted(origin: Origin) -> bool:
    scheme, host, port = origin
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        parts = urlsplit(trusted)
        wildcard = parts.netloc.startswith("*")
        candidate = parse_host(parts.scheme.lower(), parts.netloc.removeprefix("*"))
        if candidate is None:
            continue
        if candidate == origin:
            return True
        trusted_scheme, trusted_host, trusted_port = candidate
        # "https://*.example.org" leaves trusted_host ".example.org": the domain and its subdomains.
        if wildcard and (trusted_scheme, trusted_port) == (scheme, port) and is_same_domain(host, trusted_host):
            return True
    return False
