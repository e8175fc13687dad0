"""Reads of datasets and upload sessions: visibility by team membership, items, and what training consumes."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from django.db.models import QuerySet

from webapp.datasets import storage
from webapp.datasets.models import Dataset, DatasetItem, DatasetUpload


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
