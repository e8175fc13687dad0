"""Queries on images and embeddings; every one is scoped to the requesting user."""

from __future__ import annotations

from django.db.models import QuerySet

from webapp.segmentation.models import Embedding, Image


def images_of(user) -> QuerySet[Image]:
    return Image.objects.filter(owner=user).select_related("model_version")


def image_of(user, image_id: int) -> Image | None:
    return images_of(user).filter(pk=image_id).first()


def embedding_for(image: Image) -> Embedding | None:
    return Embedding.objects.filter(image=image, model_version=image.model_version).first()


def queue_position(image: Image) -> int | None:
    """1-based position among images waiting for the encoder, or ``None`` when not queued."""
    if image.status != Image.Status.QUEUED:
        return None
    return Image.objects.filter(status=Image.Status.QUEUED, created_at__lte=image.created_at, id__lte=image.id).count()
