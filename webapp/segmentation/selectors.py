"""Queries on images and embeddings; every one is scoped to the requesting user."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from webapp.segmentation.models import Embedding, Image, Mask


def images_of(user) -> QuerySet[Image]:
    return Image.objects.filter(owner=user).select_related("model_version").annotate(mask_count=Count("masks"))


def image_of(user, image_id: int) -> Image | None:
    return images_of(user).filter(pk=image_id).first()


def embedding_for(image: Image) -> Embedding | None:
    return Embedding.objects.filter(image=image, model_version=image.model_version).first()


def queue_position(image: Image) -> int | None:
    """1-based position among images waiting for the encoder, or ``None`` when not queued."""
    if image.status != Image.Status.QUEUED:
        return None
    return Image.objects.filter(status=Image.Status.QUEUED, created_at__lte=image.created_at, id__lte=image.id).count()


def masks_of(image: Image) -> QuerySet[Mask]:
    return image.masks.select_related("author", "model_version")


def mask_of(user, mask_id: int) -> Mask | None:
    """A mask on one of the user's images."""
    return Mask.objects.select_related("image", "author", "model_version").filter(pk=mask_id, image__owner=user).first()
