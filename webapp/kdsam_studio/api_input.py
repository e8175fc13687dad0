"""Integers from requests, bounded to what the database stores, so that a huge number is a 400 and never a 500.

PostgreSQL (CI, production) stores ``IntegerField`` as ``integer`` and ids as ``bigint``; SQLite (local runs)
takes anything up to ``2**63 - 1``. Beyond these ranges the database driver raises (``OverflowError``,
``DataError``) where Django's own lookups do not guard. Body fields use :class:`IdField` and
:class:`DbIntegerField`; query parameters use :func:`query_int` and :func:`query_id`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from rest_framework import serializers

from webapp.kdsam_studio.api_errors import ApiError

#: PostgreSQL's ``integer`` (an ``IntegerField``).
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
#: PostgreSQL's ``bigint`` (a ``BigAutoField`` id, a ``BigIntegerField``), also SQLite's integer.
BIGINT_MAX = 2**63 - 1

_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)


class IdField(serializers.IntegerField):
    """The id of a row (a team, a dataset, a model version): 1 to ``BIGINT_MAX``."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(**kwargs)


class DbIntegerField(serializers.IntegerField):
    """A value stored in an ``IntegerField`` (e.g. a split seed): ``INT_MIN`` to ``INT_MAX``."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", INT_MIN)
        kwargs.setdefault("max_value", INT_MAX)
        super().__init__(**kwargs)


def query_int(
    params: Mapping[str, str], name: str, default: int | None = None, *, minimum: int | None = None, maximum=None
) -> int | None:
    """The query parameter ``name`` as an integer (``default`` when absent or empty).

    Raises ``ApiError("invalid_<name>", field=name)`` (400) unless it is a whole number in ASCII digits
    within ``minimum`` … ``maximum``.
    """
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw) if _INTEGER.fullmatch(raw) else None
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits())
        value = None
    if value is None:
        raise ApiError(
            f"invalid_{name}", f"The query parameter {name} must be a whole number, got {raw[:40]!r}.", field=name
        )
    if minimum is not None and value < minimum:
        raise ApiError(f"invalid_{name}", f"The query parameter {name} must be at least {minimum}.", field=name)
    if maximum is not None and value > maximum:
        raise ApiError(f"invalid_{name}", f"The query parameter {name} must be at most {maximum}.", field=name)
    return value


def query_id(params: Mapping[str, str], name: str) -> int | None:
    """The query parameter ``name`` as the id of a row (``None`` when absent); a 400 naming it when it is not one."""
    return query_int(params, name, minimum=1, maximum=BIGINT_MAX)
