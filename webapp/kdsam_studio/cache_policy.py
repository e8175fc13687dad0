"""Who may cache a response: the one place that sets ``Cache-Control`` on what the views serve.

Patient data (image files and display PNGs, embeddings in every encoding, DICOM window values, masks and their
exports, dataset item images, masks and thumbnails, job files) is never cacheable by a shared cache (a proxy,
a CDN): every response that carries it is ``private``, and nothing here is ever ``public``.

* :func:`immutable_private`: bytes that never change under their URL (ids are never reused) and that the
  browser should keep, because fetching them again costs the user time: an image's file, embedding and window
  values, a dataset item's files, a model version's ONNX (its URL carries the version, or the checkpoint hash).
  ``private, max-age=31536000, immutable`` plus ``Vary: Cookie``, so a later sign-in in the same browser (a new
  session cookie) never gets them from the cache.
* :func:`no_store`: anything that may change under its URL or that the browser need not keep: JSON (lists,
  details, errors), mask exports, job files. ``private, no-store``.
* :func:`apply_default`: run by ``SecurityHeadersMiddleware`` on every response; one that set no policy gets
  :func:`no_store`. Static files (the app bundle: no patient data) keep WhiteNoise's headers; Django's own
  pages (sign-in, admin) send ``never_cache``'s.

Model files are private too, deployment-wide ones included: they are served to signed-in users only, and
weights trained on patient images may memorise them, so no shared cache may hand them to anyone else.
"""

from __future__ import annotations

from django.http import HttpResponseBase
from django.utils.cache import patch_vary_headers

#: one year: "forever" for bytes whose URL changes when they do
IMMUTABLE_PRIVATE = "private, max-age=31536000, immutable"
NO_STORE = "private, no-store"


def immutable_private(response: HttpResponseBase) -> HttpResponseBase:
    """Kept by the user's own browser, for this session cookie only; never by a shared cache."""
    response["Cache-Control"] = IMMUTABLE_PRIVATE
    patch_vary_headers(response, ("Cookie",))
    return response


def no_store(response: HttpResponseBase) -> HttpResponseBase:
    """Never written to any cache, the browser's included."""
    response["Cache-Control"] = NO_STORE
    return response


def apply_default(response: HttpResponseBase) -> HttpResponseBase:
    """:func:`no_store` for a response that set no ``Cache-Control`` (a 304 keeps the stored response's)."""
    if "Cache-Control" not in response and response.status_code != 304:
        no_store(response)
    return response
