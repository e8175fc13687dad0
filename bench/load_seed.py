"""Seed the simulated clinicians of ``bench.api_load`` into a running studio's database (run with its environment).

    python -m bench.load_seed --clinicians 500 --teams 10 --images 1,2,3,4

Creates ``clinicians`` users (``bench-clinician-0001``…) spread round-robin over ``teams`` teams as clinicians,
gives each one its own copy (an ``Image`` row with its ``Embedding``) of every listed image, which must be ready:
the copies point at the files the worker stored for the originals, as an upload of identical content does. Then a
signed-in session per user, made the way ``django.contrib.auth.login`` makes one (user id, backend, session auth
hash), with a CSRF cookie value, so the load starts without hashing hundreds of passwords through the sign-in
form. Prints one ``BENCH-JSON`` line: the clinicians (username, ``sessionid``, ``csrftoken``, images) and the
absolute path of each image's stored embedding files.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.kdsam_studio.settings")

BACKEND = "django.contrib.auth.backends.ModelBackend"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clinicians", type=int, required=True)
    p.add_argument("--teams", type=int, default=2)
    p.add_argument("--images", required=True, help="comma-separated ids of ready images to copy to every clinician")
    args = p.parse_args(argv)

    import django

    django.setup()
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.auth.hashers import make_password
    from django.core.files.storage import default_storage
    from django.db import transaction
    from django.middleware.csrf import _get_new_csrf_string

    from bench.common import emit_child_json
    from webapp.accounts.models import Membership, Team
    from webapp.segmentation.models import Embedding, Image

    User = get_user_model()
    sources = list(Image.objects.filter(pk__in=[int(x) for x in args.images.split(",")]).order_by("pk"))
    embeddings = {e.image_id: e for e in Embedding.objects.filter(image__in=sources)}
    missing = [im.pk for im in sources if im.pk not in embeddings or not embeddings[im.pk].browser_file]
    if not sources or missing:
        raise SystemExit(f"bench.load_seed: images {missing or args.images} have no stored quant8-zlib embedding")
    # One password hash for everybody (each one costs ~0.3 s of PBKDF2): the users could still sign in with it.
    password_hash = make_password(secrets.token_urlsafe(16))
    with transaction.atomic():
        teams = [Team.objects.get_or_create(name=f"Bench team {k + 1}")[0] for k in range(max(1, args.teams))]
        users = User.objects.bulk_create(
            [
                User(username=f"bench-clinician-{k + 1:04d}", password=password_hash, is_active=True)
                for k in range(args.clinicians)
            ]
        )
        users = list(User.objects.filter(username__startswith="bench-clinician-").order_by("username"))
        Membership.objects.bulk_create(
            [
                Membership(user=u, team=teams[k % len(teams)], role=Membership.Role.CLINICIAN)
                for k, u in enumerate(users)
            ]
        )
        copies = Image.objects.bulk_create(
            [
                Image(
                    owner=u,
                    file=src.file.name,
                    original_filename=src.original_filename,
                    content_type=src.content_type,
                    width=src.width,
                    height=src.height,
                    sha256=src.sha256,
                    model_version_id=src.model_version_id,
                    status=Image.Status.READY,
                    source_format=src.source_format,
                    display_meta=src.display_meta,
                )
                for u in users
                for src in sources
            ]
        )
        by_owner: dict[int, list] = {}
        for im in Image.objects.filter(owner__in=users).order_by("pk"):
            by_owner.setdefault(im.owner_id, []).append(im)
        source_of = {(src.sha256, src.file.name): src for src in sources}
        Embedding.objects.bulk_create(
            [
                Embedding(
                    image=im,
                    model_version_id=im.model_version_id,
                    file=embeddings[source_of[(im.sha256, im.file.name)].pk].file.name,
                    browser_file=embeddings[source_of[(im.sha256, im.file.name)].pk].browser_file.name,
                    dtype=embeddings[source_of[(im.sha256, im.file.name)].pk].dtype,
                    size_bytes=embeddings[source_of[(im.sha256, im.file.name)].pk].size_bytes,
                    seconds=0.0,
                )
                for ims in by_owner.values()
                for im in ims
            ]
        )
    SessionStore = import_module(settings.SESSION_ENGINE).SessionStore
    clinicians = []
    for user in users:
        session = SessionStore()
        session[SESSION_KEY] = user._meta.pk.value_to_string(user)
        session[BACKEND_SESSION_KEY] = BACKEND
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        clinicians.append(
            {
                "username": user.username,
                "sessionid": session.session_key,
                "csrftoken": _get_new_csrf_string(),
                "images": [{"id": im.pk, "width": im.width, "height": im.height} for im in by_owner[user.pk]],
            }
        )
    emit_child_json(
        {
            "clinicians": clinicians,
            "cookie_names": {"session": settings.SESSION_COOKIE_NAME, "csrf": settings.CSRF_COOKIE_NAME},
            "csrf_header": settings.CSRF_HEADER_NAME.removeprefix("HTTP_").replace("_", "-"),
            "teams": len(teams),
            "copies": len(copies),
            "embedding_files": {
                str(src.pk): {
                    "raw": default_storage.path(embeddings[src.pk].file.name),
                    "quant8-zlib": default_storage.path(embeddings[src.pk].browser_file.name),
                }
                for src in sources
            },
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
