"""The API's JSON parser: DRF's, with a nesting limit, so that a deeply nested body is a 400 and never a 500."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError


def _deeper_than(data, limit: int) -> bool:
    """Whether lists and objects in ``data`` nest more than ``limit`` levels (iteratively: no recursion)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


class JSONParser(parsers.JSONParser):
    """``rest_framework.parsers.JSONParser`` that rejects documents nested deeper than :attr:`max_depth`.

    Python's JSON decoder recurses once per level and raises ``RecursionError`` (not a ``ValueError``, so
    DRF lets it through as a 500) somewhere below 1000 levels; shallower but still absurd nesting would
    reach the same limit later, in validation, error messages or the JSON encoder of the database.
    Nothing this API takes nests more than a few levels.
    """

    max_depth = 64

    def parse(self, stream, media_type=None, parser_context=None):
        message = f"JSON parse error - the document nests deeper than {self.max_depth} levels."
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(message) from None
        if isinstance(data, (dict, list)) and _deeper_than(data, self.max_depth):
            raise ParseError(message)
        return data
