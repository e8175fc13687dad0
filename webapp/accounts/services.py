"""User accounts."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model


def ensure_admin(username: str = "admin", password: str | None = None) -> str | None:
    """Create the first superuser if there is none; returns the password when one was generated.

    ``password`` (e.g. from ``KDSAM_ADMIN_PASSWORD``) is used instead of generating one.
    """
    User = get_user_model()
    if User.objects.filter(is_superuser=True).exists():
        return None
    generated = password or secrets.token_urlsafe(12)
    User.objects.create_superuser(username=username, email="", password=generated)
    return generated
