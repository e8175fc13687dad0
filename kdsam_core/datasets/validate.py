"""Per-sample checks (decoding, sizes, mask values) and dataset-wide duplicate detection."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from kdsam_core.datasets.images import ImageFileError, probe_image
from kdsam_core.datasets.masks import MaskError, load_mask_files
from kdsam_core.datasets.problems import Problem
from kdsam_core.datasets.sample import Sample
from kdsam_core.hashing import array_sha256


@dataclass
class SampleCheck:
    """Validation outcome of one sample: the sample with size/hash/negative filled in, its problems,
    and whether it is imported under the default actions (``usable``)."""

    sample: Sample
    problems: list[Problem] = field(default_factory=list)
    usable: bool = True
    mode: str | None = None  # "gray" or "rgb"


def content_hash(array: np.ndarray) -> str:
    """SHA-256 of the decoded pixels (shape included): equal for byte-different copies of one image.

    JPEGs with a side over 2048 px are hashed from their reduced-scale decode (see ``probe_image``).
    """
    return array_sha256(array)


def _image_problem(sample: Sample, error: ImageFileError) -> Problem:
    code = {"decompression_bomb": "decompression_bomb", "unsupported": "unsupported_dicom"}.get(
        error.kind, "unreadable_image"
    )
    return Problem(code, sample.image, f"image {sample.image} {error.message}", sample.id)


def _rel_mask(sample: Sample, path) -> str:
    """The reported (source-relative) form of one of the sample's mask paths."""
    for candidate, rel in zip(sample.mask_paths, sample.masks):
        if candidate == path:
            return rel
    return getattr(path, "name", str(path))


def check_sample(sample: Sample) -> SampleCheck:
    """Decode the image and its mask(s) and report what is wrong with them."""
    try:
        width, height, image = probe_image(sample.image_path, sample.max_image_pixels)
    except ImageFileError as error:
        return SampleCheck(sample, [_image_problem(sample, error)], usable=False)
    updates: dict = {"width": width, "height": height, "content_hash": content_hash(image)}
    check = SampleCheck(sample, mode="gray" if image.ndim == 2 else "rgb")
    del image
    if sample.unlabelled or not sample.mask_paths:
        check.sample = replace(sample, **updates)
        return check
    first_mask = _rel_mask(sample, sample.mask_paths[0])
    try:
        result = load_mask_files(
            sample.mask_paths, rule=sample.mask_rule, label=sample.mask_label, max_pixels=sample.max_image_pixels
        )
    except ImageFileError as error:
        path = _rel_mask(sample, error.path) if error.path is not None else first_mask
        code = "decompression_bomb" if error.kind == "decompression_bomb" else "unreadable_mask"
        check.problems.append(Problem(code, path, f"mask {path} {error.message}", sample.id))
        check.usable = False
        check.sample = replace(sample, **updates)
        return check
    except MaskError as error:
        check.problems.append(Problem(error.code, first_mask, f"mask {first_mask}: {error.message}", sample.id))
        check.usable = False
        check.sample = replace(sample, **updates)
        return check
    mask = result.mask
    if mask.shape != (height, width):
        check.problems.append(
            Problem(
                "size_mismatch",
                first_mask,
                f"mask {first_mask} is {mask.shape[1]}x{mask.shape[0]} pixels but image {sample.image} is "
                f"{width}x{height}; masks must have exactly the image's size (re-export the mask)",
                sample.id,
            )
        )
        check.usable = False
        check.sample = replace(sample, **updates)
        return check
    if result.note:
        check.problems.append(Problem("non_binary_mask", first_mask, f"mask {first_mask} {result.note}", sample.id))
    empty = not mask.any()
    if empty and not sample.negative:
        check.problems.append(
            Problem(
                "empty_mask",
                first_mask,
                f"mask {first_mask} has no foreground pixel; "
                "the image is kept as a negative (no lesion) or can be skipped",
                sample.id,
            )
        )
    updates["negative"] = empty
    check.sample = replace(sample, **updates)
    return check


def safe_check_sample(sample: Sample) -> SampleCheck:
    """:func:`check_sample` that turns any unexpected error into ``unreadable_image`` (never crashes)."""
    try:
        return check_sample(sample)
    except Exception as error:  # pragma: no cover - defensive
        message = f"image {sample.image} could not be checked: {error.__class__.__name__}: {error}"
        return SampleCheck(sample, [Problem("unreadable_image", sample.image, message, sample.id)], usable=False)


def find_duplicates(checks: list[SampleCheck]) -> None:
    """Mark later copies of identical images (same decoded pixels) as ``duplicate_image``."""
    first: dict[str, SampleCheck] = {}
    for check in sorted((c for c in checks if c.usable and c.sample.content_hash), key=lambda c: c.sample.image):
        key = check.sample.content_hash
        if key is None:  # filtered out above; narrows the type
            continue
        if key not in first:
            first[key] = check
            continue
        original = first[key].sample
        check.problems.append(
            Problem(
                "duplicate_image",
                check.sample.image,
                f"image {check.sample.image} has the same pixels as {original.image}; the later copy is skipped "
                "unless you choose to keep both",
                check.sample.id,
            )
        )
        check.usable = False


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def validate_samples(samples: list[Sample], workers: int | None = None) -> list[SampleCheck]:
    """Check every sample (in parallel threads), then detect duplicates. Order is preserved."""
    workers = workers or default_workers()
    if workers == 1 or len(samples) < 4:
        checks = [safe_check_sample(s) for s in samples]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            checks = list(pool.map(safe_check_sample, samples))
    find_duplicates(checks)
    return checks
