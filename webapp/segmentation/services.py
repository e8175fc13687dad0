"""Business logic of the segmentation domain: accepting uploads and computing embeddings."""

from __future__ import annotations

import hashlib
import io
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import PurePath

import numpy as np
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from kdsam_core.embedding_codec import encode_embedding
from kdsam_core.inference import embed_image
from kdsam_core.transforms import rgb_array
from webapp.registry import services as registry_services
from webapp.segmentation.models import Embedding, Image

log = logging.getLogger(__name__)

ACCEPTED_FORMATS = {"PNG": ("png", "image/png"), "JPEG": ("jpg", "image/jpeg")}


class UploadRejected(Exception):
    """The upload is not an image we can segment; ``message`` says what and how to fix it."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CheckedImage:
    content: bytes
    extension: str
    content_type: str
    width: int
    height: int


def check_image_bytes(name: str, content: bytes) -> CheckedImage:
    """Decode and validate an upload fully; EXIF-rotated images are re-encoded upright as PNG.

    Raises :class:`UploadRejected` for anything that is not a complete PNG/JPEG within the limits.
    """
    config = settings.STUDIO
    if not content:
        raise UploadRejected("empty_file", f"{name} is empty. Choose a PNG or JPEG image.")
    if len(content) > config.max_upload_mb * 1024 * 1024:
        raise UploadRejected("file_too_large", f"{name} is larger than {config.max_upload_mb} MB. Downscale it or raise KDSAM_MAX_UPLOAD_MB.")
    previous_limit = PILImage.MAX_IMAGE_PIXELS
    PILImage.MAX_IMAGE_PIXELS = config.max_image_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(content)) as img:
                fmt = img.format
                if fmt not in ACCEPTED_FORMATS:
                    raise UploadRejected("unsupported_format", f"{name} is a {fmt} image; upload a PNG or JPEG image.")
                img.load()  # full decode: catches truncated files
                width, height = img.size
                upright = ImageOps.exif_transpose(img)
                if upright is not img and upright.size != (0, 0) and img.getexif().get(0x0112, 1) != 1:
                    buffer = io.BytesIO()
                    upright.save(buffer, format="PNG")
                    return CheckedImage(buffer.getvalue(), "png", "image/png", upright.width, upright.height)
    except UploadRejected:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise UploadRejected("image_too_large", f"{name} has more than {config.max_image_pixels:,} pixels; downscale it or raise KDSAM_MAX_IMAGE_PIXELS.") from None
    except UnidentifiedImageError:
        raise UploadRejected("invalid_image", f"{name} is not a PNG or JPEG image (its content is not an image format we can read). Upload a PNG or JPEG file.") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise UploadRejected("corrupt_image", f"{name} could not be decoded ({error}); the file may be truncated or damaged. Export it again and retry.") from None
    finally:
        PILImage.MAX_IMAGE_PIXELS = previous_limit
    extension, content_type = ACCEPTED_FORMATS[fmt]
    return CheckedImage(content, extension, content_type, width, height)


def upload_image(owner, name: str, content: bytes) -> Image:
    """Store a validated image and queue its embedding (or reuse one of identical content).

    Nothing is written when validation fails; a failure after the file is written removes it.
    """
    checked = check_image_bytes(name, content)
    version = registry_services.ensure_active_model_version()
    digest = hashlib.sha256(checked.content).hexdigest()
    path = f"images/{digest[:2]}/{digest}.{checked.extension}"
    created_file = False
    if not default_storage.exists(path):
        default_storage.save(path, ContentFile(checked.content))
        created_file = True
    try:
        with transaction.atomic():
            image = Image.objects.create(
                owner=owner, file=path, original_filename=PurePath(name).name[:255],
                content_type=checked.content_type, width=checked.width, height=checked.height,
                sha256=digest, model_version=version,
            )
            cached = Embedding.objects.filter(image__sha256=digest, model_version=version).first()
            if cached is not None:
                Embedding.objects.create(image=image, model_version=version, file=cached.file.name, dtype=cached.dtype,
                                         size_bytes=cached.size_bytes, seconds=0.0)
                image.status = Image.Status.READY
                image.save(update_fields=["status"])
            else:
                transaction.on_commit(lambda: enqueue_embedding(image))
    except Exception:
        if created_file:
            default_storage.delete(path)
        raise
    return image


def enqueue_embedding(image: Image) -> None:
    from worker.tasks import embed_image as embed_image_task

    result = embed_image_task.apply_async(args=[image.pk])
    Image.objects.filter(pk=image.pk, task_id="").update(task_id=result.id or "")


def requeue_pending_embeddings() -> int:
    """Queue again every image still waiting (the embedded broker keeps nothing across restarts)."""
    pending = list(Image.objects.filter(status__in=[Image.Status.QUEUED, Image.Status.EMBEDDING]))
    for image in pending:
        Image.objects.filter(pk=image.pk).update(status=Image.Status.QUEUED)
        enqueue_embedding(image)
    return len(pending)


def compute_embedding(image_id: int) -> Embedding | None:
    """Run the encoder on an image and store its embedding; idempotent.

    Marks the image ``embedding`` then ``ready``, or ``failed`` with a message, notifying the
    owner's browsers at each step.
    """
    image = Image.objects.select_related("model_version").filter(pk=image_id).first()
    if image is None:
        log.warning("image %s vanished before its embedding was computed", image_id)
        return None
    existing = Embedding.objects.filter(image=image, model_version=image.model_version).first()
    if existing is not None and image.status == Image.Status.READY:
        return existing
    _set_status(image, Image.Status.EMBEDDING)
    try:
        model = registry_services.load_model(image.model_version)
        with default_storage.open(image.file.name, "rb") as f, PILImage.open(f) as img:
            rgb = rgb_array(img)
        started = time.perf_counter()
        result = embed_image(model, rgb)
        seconds = time.perf_counter() - started
        payload = encode_embedding(
            result.embedding, "float16", image_size=list(result.original_size),
            input_size=list(result.input_size), model_version=image.model_version_id,
        )
        path = f"embeddings/{image.model_version_id}/{image.sha256}.kdem"
        if default_storage.exists(path):
            default_storage.delete(path)
        default_storage.save(path, ContentFile(payload))
        with transaction.atomic():
            embedding, _ = Embedding.objects.update_or_create(
                image=image, model_version=image.model_version,
                defaults={"file": path, "dtype": "float16", "size_bytes": len(payload), "seconds": seconds},
            )
            image.error = ""
            _set_status(image, Image.Status.READY, notify=False)
        transaction.on_commit(lambda: notify_status(image))
        log.info("embedded image %s in %.2f s", image.pk, seconds)
        return embedding
    except Exception as error:
        log.exception("embedding of image %s failed", image.pk)
        image.error = f"The encoder failed on this image: {type(error).__name__}: {error}"
        _set_status(image, Image.Status.FAILED)
        raise


def _set_status(image: Image, status: str, notify: bool = True) -> None:
    image.status = status
    image.save(update_fields=["status", "error", "updated_at"])
    if notify:
        notify_status(image)


def user_group(user_id: int) -> str:
    return f"images.user.{user_id}"


def notify_status(image: Image) -> None:
    """Push the image's new state to its owner's websocket connections (best effort)."""
    from webapp.segmentation.serializers import image_payload

    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(user_group(image.owner_id), {"type": "image.status", "image": image_payload(image)})
    except Exception:  # a broken channel layer must never fail the embedding itself
        log.exception("could not publish status of image %s", image.pk)


def embedding_bytes(embedding: Embedding) -> bytes:
    with default_storage.open(embedding.file.name, "rb") as f:
        return f.read()


