"""Queries on model versions."""

from __future__ import annotations

from webapp.registry.models import ModelVersion


def active_model_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()
