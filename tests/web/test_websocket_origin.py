"""A websocket opens only from the page's own origin (scheme, host and port) or a CSRF-trusted origin."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import WebsocketCommunicator

from webapp.kdsam_studio.asgi import application

in_database = pytest.mark.django_db(transaction=True)


def in_own_loop(coroutine):
    """Run ``coroutine`` to completion on a fresh event loop in another thread.

    The browser tests' sync Playwright keeps an event loop running on the main thread for the rest of
    the session, so a test here cannot start one of its own there.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def connect_as_user(django_user_model, *, origin: bytes, host: bytes, scheme: str = "ws") -> bool:
    """Open /ws/images/ through the real ASGI application as a signed-in user; True when accepted."""
    user = await sync_to_async(django_user_model.objects.create_user)("ws-origin", password="pw-long-enough-1")
    communicator = WebsocketCommunicator(application, "/ws/images/", headers=[(b"origin", origin), (b"host", host)])
    communicator.scope["user"] = user
    communicator.scope["scheme"] = scheme
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return connected


class AcceptEverything(AsyncWebsocketConsumer):
    async def connect(self):
        await self.accept()


async def connect_to_validator(headers: list[tuple[bytes, bytes]], scheme: str = "ws") -> bool:
    """Open a socket through the origin validator alone, in front of a consumer that accepts all."""
    from webapp.kdsam_studio.origin import WebsocketOriginValidator

    communicator = WebsocketCommunicator(WebsocketOriginValidator(AcceptEverything.as_asgi()), "/ws/", headers=headers)
    communicator.scope["scheme"] = scheme
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return connected


@in_database
def test_same_scheme_host_and_port_is_accepted(django_user_model):
    assert in_own_loop(connect_as_user(django_user_model, origin=b"http://127.0.0.1:8000", host=b"127.0.0.1:8000"))


@in_database
def test_another_port_on_the_same_host_is_refused(django_user_model):
    assert not in_own_loop(connect_as_user(django_user_model, origin=b"http://127.0.0.1:9999", host=b"127.0.0.1:8000"))


@in_database
def test_another_host_is_refused(django_user_model):
    assert not in_own_loop(
        connect_as_user(django_user_model, origin=b"http://evil.example:8000", host=b"127.0.0.1:8000")
    )


@in_database
def test_https_origin_on_a_plain_ws_connection_is_refused(django_user_model):
    assert not in_own_loop(connect_as_user(django_user_model, origin=b"https://127.0.0.1:8000", host=b"127.0.0.1:8000"))


@in_database
def test_csrf_trusted_origin_is_accepted_behind_a_proxy_with_another_host(django_user_model, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://studio.example.org"]
    assert in_own_loop(connect_as_user(django_user_model, origin=b"https://studio.example.org", host=b"127.0.0.1:8000"))


def test_https_origin_on_a_wss_connection_with_default_port_is_accepted():
    headers = [(b"origin", b"https://localhost"), (b"host", b"localhost")]
    assert in_own_loop(connect_to_validator(headers, scheme="wss"))


def test_origin_whose_host_is_not_in_allowed_hosts_is_refused_even_when_it_equals_host():
    headers = [(b"origin", b"http://rebound.example:8000"), (b"host", b"rebound.example:8000")]
    assert not in_own_loop(connect_to_validator(headers))


def test_forwarded_https_counts_when_the_proxy_ssl_header_is_configured(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    headers = [(b"origin", b"https://localhost"), (b"host", b"localhost"), (b"x-forwarded-proto", b"https")]
    assert in_own_loop(connect_to_validator(headers))


def test_forwarded_https_is_ignored_without_the_proxy_ssl_header_setting(settings):
    settings.SECURE_PROXY_SSL_HEADER = None
    headers = [(b"origin", b"https://localhost"), (b"host", b"localhost"), (b"x-forwarded-proto", b"https")]
    assert not in_own_loop(connect_to_validator(headers))


def test_missing_origin_is_refused():
    assert not in_own_loop(connect_to_validator([(b"host", b"localhost")]))


def test_missing_origin_is_accepted_when_allowed_hosts_is_a_wildcard(settings):
    settings.ALLOWED_HOSTS = ["*"]
    assert in_own_loop(connect_to_validator([(b"host", b"localhost")]))


def test_subdomain_of_a_wildcard_csrf_trusted_origin_is_accepted(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.org"]
    headers = [(b"origin", b"https://studio.example.org"), (b"host", b"127.0.0.1:8000")]
    assert in_own_loop(connect_to_validator(headers))


def test_csrf_trusted_origin_on_another_port_is_refused(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://studio.example.org"]
    headers = [(b"origin", b"https://studio.example.org:8443"), (b"host", b"127.0.0.1:8000")]
    assert not in_own_loop(connect_to_validator(headers))
