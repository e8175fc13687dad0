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
from django.db.models import Q
from django.utils import timezone
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from kdsam_core import dicom as kdsam_dicom
from kdsam_core import image_metadata, masks_io
from kdsam_core.embedding_codec import encode_embedding, transcode_embedding
from kdsam_core.transforms import rgb_array
from webapp.kdsam_studio.api_errors import ApiError
from webapp.kdsam_studio.broker_errors import BROKER_ERRORS, queue_unavailable
from webapp.registry import services as registry_services
from webapp.segmentation.models import Embedding, Image, Mask

log = logging.getLogger(__name__)

ACCEPTED_FORMATS = {"PNG": ("png", "image/png"), "JPEG": ("jpg", "image/jpeg")}
#: formats the server converts to PNG for display and for the encoder
CONVERTED_FORMATS = {"TIFF": "tiff", "BMP": "bmp"}
ACCEPTED_TEXT = "PNG or JPEG (or TIFF, BMP, single-frame DICOM)"


class UploadRejected(ApiError):
    """The upload is not an image we can segment; ``message`` says what and how to fix it."""

    def __init__(self, code: str, message: str, *, field: str = "file"):
        super().__init__(code, message, field=field)


@dataclass(frozen=True)
class CheckedImage:
    content: bytes
    extension: str
    content_type: str
    width: int
    height: int
    source_format: str = ""
    #: the de-identified DICOM (DICOM uploads only)
    dicom: bytes | None = None
    display_meta: dict | None = None


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _converted(img, fmt: str) -> CheckedImage:
    """TIFF/BMP → 8-bit PNG (16-bit and float images scaled by their own min/max)."""
    from kdsam_core.datasets.images import pil_to_array

    if getattr(img, "n_frames", 1) > 1:
        raise UploadRejected(
            "unsupported_format", f"the {fmt} file has {img.n_frames} pages; upload a single-page image."
        )
    array = pil_to_array(img)
    return CheckedImage(
        _png_bytes(array), "png", "image/png", array.shape[1], array.shape[0], source_format=CONVERTED_FORMATS[fmt]
    )


def _checked_dicom(name: str, content: bytes) -> CheckedImage:
    from webapp.segmentation import dicom_io

    try:
        converted = dicom_io.read_upload(name, content, settings.STUDIO.max_image_pixels)
    except dicom_io.DicomRejected as error:
        raise UploadRejected(error.code, error.message) from None
    height, width = converted.display.shape[:2]
    return CheckedImage(
        _png_bytes(converted.display),
        "png",
        "image/png",
        width,
        height,
        source_format="dicom",
        dicom=converted.deidentified,
        display_meta=converted.meta,
    )


def _without_metadata(name: str, content: bytes) -> bytes:
    """``content`` (PNG/JPEG) without text chunks, EXIF, XMP, comments (kdsam_core.image_metadata)."""
    try:
        return image_metadata.strip_metadata(content)
    except image_metadata.ImageMetadataError as error:
        raise UploadRejected(
            "corrupt_image", f"{name} could not be read: {error}. Export the image again and retry."
        ) from None


def check_image_bytes(name: str, content: bytes) -> CheckedImage:
    """Decode and validate an upload fully; EXIF-rotated images are re-encoded upright as PNG.

    PNG and JPEG files are stored without their metadata (:func:`_without_metadata`, pixels bit-identical);
    TIFF, BMP and DICOM are converted to a PNG that holds none.

    Raises :class:`UploadRejected` for anything that is not a complete PNG/JPEG within the limits.
    """
    config = settings.STUDIO
    if not content:
        raise UploadRejected("empty_file", f"{name} is empty. Choose a PNG or JPEG image.")
    if len(content) > config.max_upload_mb * 1024 * 1024:
        raise UploadRejected(
            "file_too_large",
            f"{name} is larger than {config.max_upload_mb} MB. Downscale it or raise KDSAM_MAX_UPLOAD_MB.",
        )
    if kdsam_dicom.is_dicom_bytes(content):
        return _checked_dicom(name, content)
    previous_limit = PILImage.MAX_IMAGE_PIXELS
    PILImage.MAX_IMAGE_PIXELS = config.max_image_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(content)) as img:
                fmt = img.format
                if fmt not in ACCEPTED_FORMATS and fmt not in CONVERTED_FORMATS:
                    raise UploadRejected(
                        "unsupported_format", f"{name} is a {fmt} image; upload a {ACCEPTED_TEXT} image."
                    )
                img.load()  # full decode: catches truncated files
                if fmt in CONVERTED_FORMATS:
                    try:
                        return _converted(img, fmt)
                    except UploadRejected as error:
                        raise UploadRejected(error.code, f"{name}: {error.message}") from None
                width, height = img.size
                upright = ImageOps.exif_transpose(img)
                if upright is not img and upright.size != (0, 0) and img.getexif().get(0x0112, 1) != 1:
                    buffer = io.BytesIO()
                    upright.save(buffer, format="PNG")
                    png = _without_metadata(name, buffer.getvalue())
                    return CheckedImage(png, "png", "image/png", upright.width, upright.height)
    except UploadRejected:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise UploadRejected(
            "image_too_large",
            f"{name} has more than {config.max_image_pixels:,} pixels; downscale it or raise KDSAM_MAX_IMAGE_PIXELS.",
        ) from None
    except UnidentifiedImageError:
        raise UploadRejected(
            "invalid_image",
            f"{name} is not a PNG or JPEG image (its content is not an image format we can read). "
            f"Upload a {ACCEPTED_TEXT} file.",
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise UploadRejected(
            "corrupt_image",
            f"{name} could not be decoded ({error}); the file may be truncated or damaged. Export it again and retry.",
        ) from None
    finally:
        PILImage.MAX_IMAGE_PIXELS = previous_limit
    extension, content_type = ACCEPTED_FORMATS[fmt]
    content = _without_metadata(name, content)
    return CheckedImage(content, extension, content_type, width, height, source_format=extension.replace("jpg", "jpeg"))


def upload_model_version(owner, version_id: int | None):
    """The model version an upload is embedded with: the picked published one, else the active one."""
    if version_id is None:
        return registry_services.ensure_active_model_version()
    from webapp.registry.selectors import published_model_versions

    version = published_model_versions(owner).filter(pk=version_id).first()
    if version is None:
        raise UploadRejected(
            "unknown_model_version",
            f"Model version {version_id} is not published for you; pick one from the model list (GET /api/models/).",
            field="model_version",
        )
    return version


def upload_image(owner, name: str, content: bytes, model_version: int | None = None) -> Image:
    """Store a validated image and queue its embedding (or reuse one of identical content).

    ``model_version``: a published version picked by the user; the active version by default.
    Nothing is written when validation fails or the image does not fit in the storage quota of one of the
    owner's teams (413 ``team_quota_exceeded``); a failure after the file is written removes it.
    """
    version = upload_model_version(owner, model_version)
    checked = check_image_bytes(name, content)
    digest = hashlib.sha256(checked.content).hexdigest()
    path = f"images/{digest[:2]}/{digest}.{checked.extension}"
    dicom_path = ""
    if checked.dicom is not None:
        dicom_path = f"dicom/{digest[:2]}/{hashlib.sha256(checked.dicom).hexdigest()}.dcm"
    from webapp.datasets.services import quota  # 413 team_quota_exceeded before anything is written

    files = {path: len(checked.content), dicom_path: len(checked.dicom or b"")}
    quota.ensure_room_for_image(owner, files, what=PurePath(name).name)
    created: list[str] = []
    if not default_storage.exists(path):
        default_storage.save(path, ContentFile(checked.content))
        created.append(path)
    if checked.dicom is not None and not default_storage.exists(dicom_path):
        default_storage.save(dicom_path, ContentFile(checked.dicom))
        created.append(dicom_path)
    try:
        with transaction.atomic():
            image = Image.objects.create(
                owner=owner,
                file=path,
                original_filename=PurePath(name).name[:255],
                content_type=checked.content_type,
                width=checked.width,
                height=checked.height,
                sha256=digest,
                model_version=version,
                source_format=checked.source_format,
                dicom_file=dicom_path,
                display_meta=checked.display_meta or {},
            )
            cached = Embedding.objects.filter(image__sha256=digest, model_version=version).first()
            if cached is not None:
                Embedding.objects.create(
                    image=image,
                    model_version=version,
                    file=cached.file.name,
                    browser_file=cached.browser_file.name,
                    dtype=cached.dtype,
                    size_bytes=cached.size_bytes,
                    seconds=0.0,
                )
                image.status = Image.Status.READY
                image.save(update_fields=["status"])
    except Exception:
        for created_path in created:
            default_storage.delete(created_path)
        raise
    if cached is None:
        # Queued after the commit (the task must find the row), but not in on_commit: a broker failure
        # must undo the upload instead of leaving a queued row without a task.
        try:
            enqueue_embedding(image)
        except BROKER_ERRORS:
            log.exception("could not queue the embedding of image %s; the upload is undone", image.pk)
            image.delete()
            for created_path in created:
                if not Image.objects.filter(Q(file=created_path) | Q(dicom_file=created_path)).exists():
                    default_storage.delete(created_path)
            raise queue_unavailable("your image was not stored.") from None
    return image


def enqueue_embedding(image: Image) -> None:
    from worker.tasks import embed_image as embed_image_task

    result = embed_image_task.apply_async(args=[image.pk])
    Image.objects.filter(pk=image.pk, task_id="").update(task_id=result.id or "")


#: The statuses in which an image waits for its embedding task (webapp/kdsam_studio/stuck_tasks.py sweeps them).
PENDING_STATUSES = (Image.Status.QUEUED, Image.Status.EMBEDDING)


def requeue_pending_embeddings() -> int:
    """Queue again every image still waiting (the embedded broker keeps nothing across restarts)."""
    pending = list(Image.objects.filter(status__in=PENDING_STATUSES).values_list("pk", flat=True))
    return sum(requeue_embedding(image_id) for image_id in pending)


def requeue_embedding(image_id: int, seen_updated_at=None) -> bool:
    """Queue the embedding of a pending image again, as ``queued``; returns whether this call did.

    With ``seen_updated_at`` only if the row is still as the caller saw it (the stuck-task sweep): of several
    sweeps (workers, hosts) that saw the same stuck image, one conditional update wins and only it enqueues.
    A broker failure propagates; the row is then ``queued`` without a task and the next sweep retries it.
    """
    rows = Image.objects.filter(pk=image_id, status__in=PENDING_STATUSES)
    if seen_updated_at is not None:
        rows = rows.filter(updated_at=seen_updated_at)
    if not rows.update(status=Image.Status.QUEUED, task_id="", updated_at=timezone.now()):
        return False
    enqueue_embedding(Image(pk=image_id))
    return True


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
        encoder = registry_services.load_encoder(image.model_version)
        with default_storage.open(image.file.name, "rb") as f, PILImage.open(f) as img:
            rgb = rgb_array(img)
        started = time.perf_counter()
        result = encoder(rgb)
        seconds = time.perf_counter() - started
        payload = encode_embedding(
            result.embedding,
            "float16",
            image_size=list(result.original_size),
            input_size=list(result.input_size),
            model_version=image.model_version_id,
        )
        path = _replace_stored(f"embeddings/{image.model_version_id}/{image.sha256}.kdem", payload)
        browser_path = store_browser_encoding(path, payload)
        with transaction.atomic():
            embedding, _ = Embedding.objects.update_or_create(
                image=image,
                model_version=image.model_version,
                defaults={
                    "file": path,
                    "browser_file": browser_path,
                    "dtype": "float16",
                    "size_bytes": len(payload),
                    "seconds": seconds,
                },
            )
            image.error = ""
            _set_status(image, Image.Status.READY, notify=False)
        transaction.on_commit(lambda: notify_status(image))
        log.info("embedded image %s in %.2f s", image.pk, seconds)
        _export_browser_decoder(image.model_version)
        return embedding
    except Exception as error:
        log.exception("embedding of image %s failed", image.pk)
        image.error = f"The encoder failed on this image: {type(error).__name__}: {error}"
        _set_status(image, Image.Status.FAILED)
        raise


def _export_browser_decoder(version) -> None:
    """The browser needs this version's multimask decoder: export it here, off the request path."""
    from webapp.segmentation.browser_decoder import ensure_browser_decoder

    try:
        ensure_browser_decoder(version)
    except Exception:  # the decoder view exports it on first request instead
        log.exception("could not export the browser decoder of model version %s", version.pk)


def warm_up_worker() -> None:
    """Load the active model version's encoder and run it once, and export its browser decoder.

    Called when a worker starts (``worker_ready``), so the first upload does not pay for loading
    the checkpoint, building the serving path (ONNX export or bf16 kernels) and the first,
    slowest forward pass. Without an active version there is nothing to do.
    """
    from webapp.registry.selectors import active_model_version

    version = active_model_version()
    if version is None:
        return
    started = time.perf_counter()
    encoder = registry_services.load_encoder(version)
    size = version.image_size or 1024
    encoder(np.zeros((size, size, 3), dtype=np.uint8))
    _export_browser_decoder(version)
    log.info("worker warm-up: model version %s ready in %.1f s", version.pk, time.perf_counter() - started)


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
        async_to_sync(layer.group_send)(
            user_group(image.owner_id), {"type": "image.status", "image": image_payload(image)}
        )
    except Exception:  # a broken channel layer must never fail the embedding itself
        log.exception("could not publish status of image %s", image.pk)


#: encodings the embedding endpoint serves, each a file the worker wrote: "raw" is the float16 KDEM
#: (``Embedding.file``), "quant8-zlib" the browser's (``Embedding.browser_file``, ≈0.85 MB instead of 2 MiB)
EMBEDDING_ENCODINGS = ("raw", "quant8-zlib")
BROWSER_ENCODING = "quant8-zlib"


def _replace_stored(name: str, content: bytes) -> str:
    """Store ``content`` under exactly ``name`` (content-addressed names: an older copy is replaced)."""
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(content))


def store_browser_encoding(raw_name: str, raw: bytes | None = None) -> str:
    """Write the browser's encoding of the float16 embedding stored as ``raw_name``; returns its name.

    Done where the embedding is made (the worker), so the web tier only hands out stored files.
    """
    if raw is None:
        with default_storage.open(raw_name, "rb") as f:
            raw = f.read()
    stem = raw_name.removesuffix(".kdem")
    return _replace_stored(f"{stem}.{BROWSER_ENCODING}.kdem", transcode_embedding(raw, BROWSER_ENCODING))


def embedding_file(embedding: Embedding, encoding: str = "raw") -> str:
    """The storage name of ``embedding`` in ``encoding`` (a 400 naming the encodings for any other)."""
    if encoding not in EMBEDDING_ENCODINGS:
        raise ApiError(
            "unsupported_encoding",
            f"Unknown embedding encoding {encoding!r}; use one of {', '.join(EMBEDDING_ENCODINGS)}.",
            field="encoding",
        )
    if encoding == "raw":
        return embedding.file.name
    if not embedding.browser_file:  # only if the migration could not read the float16 file
        raise ApiError(
            "embedding_not_ready",
            "This embedding has no browser encoding; ask an admin to re-embed the image, or use encoding=raw.",
            field="encoding",
            status_code=409,
        )
    return embedding.browser_file.name


# --------------------------------------------------------------------------- masks


class MaskRejected(ApiError):
    """A mask that cannot be saved; ``message`` says what and how to fix it."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(code, message, field=field)


def _checked_mask(image: Image, rle) -> np.ndarray:
    try:
        mask = masks_io.rle_decode(rle, expected_size=(image.height, image.width))
    except masks_io.MaskFormatError as error:
        raise MaskRejected(
            "invalid_mask", f"The mask for {image.original_filename} is invalid: {error}.", field="rle"
        ) from None
    if not mask.any():
        raise MaskRejected(
            "empty_mask", "The mask is empty: click on the object (or paint it) before saving.", field="rle"
        )
    return mask


def save_mask(author, image: Image, *, label: str, color: str, rle, prompts: dict, mask: Mask | None = None) -> Mask:
    """Create (or, with ``mask``, replace) a labelled mask; the model version is the image's."""
    binary = _checked_mask(image, rle)
    fields = {
        "label": label.strip(),
        "color": color.lower(),
        "rle": masks_io.rle_encode(binary),
        "area": int(binary.sum()),
        "prompts": prompts or {},
        "model_version_id": image.model_version_id,
        "author": author,
    }
    if not fields["label"]:
        raise MaskRejected("missing_label", "Give the object a label (e.g. 'lesion A') before saving.", field="label")
    if mask is None:
        return Mask.objects.create(image=image, **fields)
    for key, value in fields.items():
        setattr(mask, key, value)
    mask.save()
    return mask


def delete_mask(mask: Mask) -> None:
    mask.delete()


@dataclass(frozen=True)
class ExportFile:
    content: bytes
    content_type: str
    filename: str


def _stem(text: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in text).strip("_")
    return safe or "mask"


def export_mask(mask: Mask, fmt: str) -> ExportFile:
    """One mask as PNG (0/255), NIfTI (.nii.gz, uint8 0/1) or COCO JSON with a compressed RLE."""
    image = mask.image
    binary = masks_io.rle_decode(mask.rle)
    stem = f"{_stem(PurePath(image.original_filename).stem)}_{_stem(mask.label)}_{mask.pk}"
    if fmt == "png":
        return ExportFile(masks_io.mask_to_png(binary), "image/png", f"{stem}.png")
    if fmt == "nifti":
        return ExportFile(masks_io.mask_to_nifti(binary), "application/gzip", f"{stem}.nii.gz")
    if fmt == "coco":
        document = masks_io.coco_document(
            {"id": image.pk, "file_name": image.original_filename, "width": image.width, "height": image.height},
            [{"id": mask.pk, "label": mask.label, "mask": binary}],
        )
        return ExportFile(document, "application/json", f"{stem}.coco.json")
    if fmt == "dicom_seg" and image.dicom_file:
        with default_storage.open(image.dicom_file.name, "rb") as f:
            source = f.read()
        content = kdsam_dicom.write_segmentation(
            source, binary, label=mask.label, software=f"model v{mask.model_version_id}"
        )
        return ExportFile(content, "application/dicom", f"{stem}.seg.dcm")
    raise MaskRejected(
        "unsupported_format",
        f"Cannot export {image.original_filename} as {fmt!r}; use one of {', '.join(image.export_formats)}.",
        field="format",
    )


def modality_pixels(image: Image) -> bytes:
    """The DICOM's modality values (e.g. HU) as a float32 KDEM array, for window/level in the browser."""
    if not image.dicom_file:
        raise MaskRejected(
            "not_dicom", f"{image.original_filename} is not a DICOM image: it has no modality values to window."
        )
    with default_storage.open(image.dicom_file.name, "rb") as f:
        values = kdsam_dicom.modality_values(kdsam_dicom.load(f.read()))
    size = [image.height, image.width]
    return encode_embedding(values, "float32", image_size=size, input_size=size)


def export_image_masks(image: Image) -> ExportFile:
    """Every saved object of an image in one COCO JSON (one category per label)."""
    objects = [{"id": m.pk, "label": m.label, "mask": masks_io.rle_decode(m.rle)} for m in image.masks.all()]
    if not objects:
        raise MaskRejected(
            "no_masks", f"{image.original_filename} has no saved masks yet: segment and save an object first."
        )
    document = masks_io.coco_document(
        {"id": image.pk, "file_name": image.original_filename, "width": image.width, "height": image.height}, objects
    )
    return ExportFile(document, "application/json", f"{_stem(PurePath(image.original_filename).stem)}.coco.json")
