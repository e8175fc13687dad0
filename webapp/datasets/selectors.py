"""Reads of datasets and upload sessions: visibility by team membership, items, and what training consumes."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from django.db.models import CharField, F, QuerySet, Sum, Value
from django.db.models.functions import Concat, Substr

from webapp.datasets import conf, storage
from webapp.datasets.models import Dataset, DatasetItem, DatasetUpload, StoredFile


class DatasetSample(NamedTuple):
    """One item as training reads it: ``image_path, mask_path, item_id, class_label = sample``."""

    image_path: Path
    mask_path: Path | None
    item_id: str
    class_label: str | None


def datasets_of(user) -> QuerySet[Dataset]:
    """Datasets of every team the user is a member of (any role), newest first.

    The upload session's report (possibly megabytes for large datasets) is not loaded.
    """
    return (
        Dataset.objects.filter(team__memberships__user=user)
        .select_related("team", "created_by", "upload")
        .defer("upload__report")
        .distinct()
    )


def dataset_of(user, dataset_id: int) -> Dataset | None:
    return datasets_of(user).filter(pk=dataset_id).first()


def uploads_of(user) -> QuerySet[DatasetUpload]:
    """Upload sessions of every team the user is a member of (any role), newest first (report deferred)."""
    return (
        DatasetUpload.objects.filter(team__memberships__user=user)
        .select_related("team", "created_by")
        .defer("report")
        .distinct()
    )


def upload_of(user, upload_id: int) -> DatasetUpload | None:
    return uploads_of(user).filter(pk=upload_id).first()


def report_of(dataset: Dataset) -> dict | None:
    """The validation report the dataset was imported from (``None`` when its upload session was deleted)."""
    return DatasetUpload.objects.filter(dataset=dataset).values_list("report", flat=True).first()


def items_of(dataset: Dataset, *, split: str | None = None, class_label: str | None = None) -> QuerySet[DatasetItem]:
    items = dataset.items.all()
    if split:
        items = items.filter(split=split)
    if class_label:
        items = items.filter(class_label=class_label)
    return items.order_by("item_id")


def item_of(dataset: Dataset, item_pk: int) -> DatasetItem | None:
    return dataset.items.filter(pk=item_pk).first()


def dataset_samples(dataset: Dataset, split: str | None = None, *, labelled_only: bool = False) -> list[DatasetSample]:
    """The items of a dataset (optionally one split) as absolute file paths, sorted by item id.

    ``mask_path`` is ``None`` for unlabelled images; masks are single-channel PNGs, 0 / 255.
    Raises ``ValueError`` when the dataset is not ready or ``split`` is unknown.
    """
    if dataset.state != Dataset.State.READY:
        raise ValueError(f"dataset {dataset.name!r} is {dataset.state}, not ready")
    if split is not None and split not in DatasetItem.Split.values:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(DatasetItem.Split.values)}")
    items = items_of(dataset, split=split)
    if labelled_only:
        items = items.filter(unlabelled=False)
    return [
        DatasetSample(storage.path_of(image), storage.path_of(mask) if mask else None, item_id, label or None)
        for image, mask, item_id, label in items.values_list("image_file", "mask_file", "item_id", "class_label")
    ]


# --------------------------------------------------------------------------- a team's storage (services/quota.py)

#: What a team's storage is made of, in the order the API lists it.
STORAGE_PARTS = ("datasets", "images", "models", "uploads")


def _thumbnails(items: QuerySet[DatasetItem], sha_field: str, kind: str) -> QuerySet:
    """The thumbnail paths of ``items`` (storage.thumbnail_rel, computed by the database)."""
    ext = ".jpg" if kind == "image" else ".png"
    path = Concat(
        Value(f"{conf.THUMBS}/"),
        Substr(sha_field, 1, 2),
        Value("/"),
        F(sha_field),
        Value(f".{kind}{ext}"),
        output_field=CharField(),
    )
    return items.exclude(**{sha_field: ""}).annotate(thumbnail=path).values("thumbnail")


def team_file_paths(team_id: int) -> dict[str, list[QuerySet]]:
    """Per part, querysets of the paths (relative to MEDIA_ROOT, one column each) the team's rows reference.

    A path may come from several rows (and several querysets of its part): the team holds that file once.
    """
    from webapp.registry.models import ModelVersion
    from webapp.segmentation.models import Embedding, Image

    items = DatasetItem.objects.filter(dataset__team_id=team_id).order_by()
    images = Image.objects.filter(owner__memberships__team_id=team_id).order_by()
    embeddings = Embedding.objects.filter(image__owner__memberships__team_id=team_id).order_by()
    versions = ModelVersion.objects.filter(team_id=team_id).order_by()
    return {
        "datasets": [
            items.values("image_file"),
            items.exclude(mask_file="").values("mask_file"),
            _thumbnails(items, "sha256", "image"),
            _thumbnails(items, "mask_sha256", "mask"),
        ],
        "images": [
            images.values("file"),
            images.exclude(dicom_file="").values("dicom_file"),
            embeddings.values("file"),
            embeddings.exclude(browser_file="").values("browser_file"),
        ],
        "models": [
            versions.values("checkpoint"),
            versions.values("decoder_onnx"),
            versions.exclude(decoder_onnx_quantized="").values("decoder_onnx_quantized"),
        ],
    }


def unrecorded_paths(team_id: int) -> set[str]:
    """Paths the team's rows reference whose size is not recorded yet (thumbnails are recorded when made)."""
    recorded = StoredFile.objects.values("path")
    missing: set[str] = set()
    for part, querysets in team_file_paths(team_id).items():
        for paths in querysets[:2] if part == "datasets" else querysets:
            column = next(iter(paths.query.values_select))
            missing.update(
                paths.exclude(**{f"{column}__in": recorded}).exclude(**{column: ""}).values_list(column, flat=True)
            )
    return missing


def team_stored_bytes(team_id: int, *, exclude_upload: int | None = None) -> dict[str, int]:
    """The team's bytes per part (:data:`STORAGE_PARTS`), from recorded sizes: each file counts once for the team,
    however many of its rows reference it. ``uploads`` is the declared size of its unfinished uploads' staged
    archives (the session ``exclude_upload`` left out)."""
    from webapp.datasets.services.sessions import ACTIVE_STATES

    out = {}
    for part, querysets in team_file_paths(team_id).items():
        first, *rest = querysets
        paths = first.union(*rest) if rest else first
        out[part] = StoredFile.objects.filter(path__in=paths).aggregate(total=Sum("size"))["total"] or 0
    uploads = DatasetUpload.objects.filter(team_id=team_id, state__in=ACTIVE_STATES).exclude(upload_path="")
    if exclude_upload is not None:
        uploads = uploads.exclude(pk=exclude_upload)
    out["uploads"] = uploads.aggregate(total=Sum("upload_size"))["total"] or 0
    return out
