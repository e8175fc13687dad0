"""The key that names a session's browser caches (Cache Storage, frontend/src/session-caches.ts).

One random key per session, kept in the session: the app of one session never reads another
session's cached embeddings, and a sign-in (a new session: Django flushes it for another user and
signing out ends it) gives a new key, so the caches of every earlier session are stale. It is neither
the session id (the HttpOnly cookie stays out of scripts' reach) nor derived from the user.
"""

from __future__ import annotations

import secrets

SESSION_FIELD = "kdsam_cache_key"


def cache_key_of(session) -> str:
    """This session's cache key, made (and stored in the session) on first use."""
    key = session.get(SESSION_FIELD)
    if not key:
        key = secrets.token_urlsafe(16)
        session[SESSION_FIELD] = key
    return key
