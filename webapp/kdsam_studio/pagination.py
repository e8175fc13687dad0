"""Page-number pagination of API lists: ``?page=`` and ``?page_size=``, a page past the last is a 404 (as in DRF)."""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import QuerySet

from webapp.kdsam_studio.api_errors import ApiError
from webapp.kdsam_studio.api_input import query_int


def paginate(items: QuerySet, params: Mapping[str, str], *, default_size: int = 48, max_size: int = 200) -> dict:
    """``{"count", "page", "page_size", "results"}``: ``results`` is the requested slice of ``items``.

    ``page`` (from 1; smaller is 1) and ``page_size`` (capped to 1 … ``max_size``) must be whole numbers
    (else a 400 naming them); a page past the last one is ``ApiError("invalid_page", status_code=404)``,
    except page 1 of an empty list.
    """
    page = max(1, query_int(params, "page", 1))
    page_size = min(max_size, max(1, query_int(params, "page_size", default_size)))
    count = items.count()
    last = max(1, -(-count // page_size))
    if page > last:
        raise ApiError(
            "invalid_page",
            f"Invalid page {page}: the last page is {last} (at {page_size} items per page).",
            field="page",
            status_code=404,
        )
    start = (page - 1) * page_size
    return {"count": count, "page": page, "page_size": page_size, "results": items[start : start + page_size]}
