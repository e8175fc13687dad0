"""Sending a stored file once a view has checked that the user may have it: the one place that decides who
moves the bytes (``StudioConfig.file_delivery``).

* ``django``: a :class:`~django.http.FileResponse` streaming the file from storage in chunks (never read whole).
* ``x-accel-redirect``: an empty response whose ``X-Accel-Redirect`` names ``file_delivery_prefix`` + the
  storage name; nginx then sends the file from an ``internal`` location (``deploy/README.md``), keeping the
  ``Content-Type``, ``Content-Disposition`` and ``Cache-Control`` set here.
* ``x-sendfile``: the same with ``X-Sendfile`` and the file's absolute path (Apache mod_xsendfile, lighttpd).

The view sets the caching policy (``cache_policy``) on what this returns; access checks stay in the view,
so a user who may not see the object gets a 404 and no header naming a file.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import Storage, default_storage
from django.http import FileResponse, HttpResponse, HttpResponseBase


def stored_file_response(
    name: str,
    content_type: str,
    *,
    filename: str | None = None,
    attachment: bool = False,
    storage: Storage = default_storage,
) -> HttpResponseBase:
    """The response delivering ``storage``'s file ``name`` as ``content_type`` (named ``filename`` if given)."""
    delivery = settings.STUDIO.file_delivery
    if delivery == "django":
        return FileResponse(
            storage.open(name, "rb"), content_type=content_type, as_attachment=attachment, filename=filename or ""
        )
    response = HttpResponse(b"", content_type=content_type)
    if delivery == "x-accel-redirect":
        response["X-Accel-Redirect"] = settings.STUDIO.file_delivery_prefix + quote(name)
    else:
        response["X-Sendfile"] = storage.path(name)
    if filename or attachment:
        disposition = "attachment" if attachment else "inline"
        response["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(filename or name.rsplit('/')[-1])}"
    return response


def media_name(path: Path) -> str:
    """The storage name of a file written under ``MEDIA_ROOT`` by path (exported ONNX files)."""
    return Path(path).resolve().relative_to(Path(settings.MEDIA_ROOT).resolve()).as_posix()
