"""The committed OpenAPI schema (source of the frontend's types) matches the server."""

from __future__ import annotations

import json
from pathlib import Path

from drf_spectacular.generators import SchemaGenerator

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_committed_openapi_schema_equals_the_generated_one():
    generated = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))
    committed = json.loads((REPO_ROOT / "frontend" / "openapi.json").read_text())
    assert committed == generated, "frontend/openapi.json is stale: run `make openapi` and commit the result"


def test_schema_names_the_types_the_frontend_uses():
    schemas = json.loads((REPO_ROOT / "frontend" / "openapi.json").read_text())["components"]["schemas"]
    assert {"ImageObject", "ModelVersion", "ApiError"} <= set(schemas)
    assert set(schemas["ImageObject"]["required"]) >= {"id", "status", "width", "height", "embedding_url"}
