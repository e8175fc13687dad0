"""Opening a dataset (folder or archive): detection, reading, validation, the public entry points."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TypedDict

from kdsam_core.datasets.archive import ArchiveError, archive_kind, extract_archive, temporary_folder
from kdsam_core.datasets.detect import detect_format
from kdsam_core.datasets.formats import FORMATS
from kdsam_core.datasets.formats.base import ReadContext
from kdsam_core.datasets.fs import relative, scan_folder
from kdsam_core.datasets.limits import DEFAULT_LIMITS, Limits
from kdsam_core.datasets.problems import Problem
from kdsam_core.datasets.report import DatasetReport, build_report
from kdsam_core.datasets.sample import Sample
from kdsam_core.datasets.validate import SampleCheck, validate_samples


def _unique_ids(samples: list[Sample]) -> tuple[list[Sample], list[Problem]]:
    """Give later samples with an already used id a distinct one (``<subset>_<id>`` or ``<id>_<k>``)."""
    used: set[str] = set()
    out: list[Sample] = []
    problems: list[Problem] = []
    for sample in samples:
        if sample.id not in used:
            used.add(sample.id)
            out.append(sample)
            continue
        base = (
            f"{sample.subset}_{sample.id}"
            if sample.subset and f"{sample.subset}_{sample.id}" not in used
            else sample.id
        )
        new_id, k = base, 2
        while new_id in used:
            new_id, k = f"{base}_{k}", k + 1
        used.add(new_id)
        problems.append(
            Problem(
                "duplicate_id",
                sample.image,
                f"image {sample.image} has the same name as another image; it is imported as {new_id!r}",
                new_id,
            )
        )
        group = new_id if sample.group == sample.id else sample.group
        out.append(replace(sample, id=new_id, group=group))
    return out, problems


class _DatasetOptions(TypedDict):
    """The keyword options :func:`open_dataset` passes on to every :class:`Dataset` it makes."""

    format: str | None
    mask_label: int | None
    workers: int | None


class Dataset:
    """An opened dataset. Use through :func:`open_dataset` (which owns any temporary folder).

    ``candidates`` are the samples found by the reader (not decoded yet); ``checks``/``samples()``
    /``report()`` validate every image and mask once (cached).
    """

    def __init__(
        self,
        source: Path,
        base: Path | None,
        limits: Limits = DEFAULT_LIMITS,
        *,
        archive: bool = False,
        format: str | None = None,
        mask_label: int | None = None,
        workers: int | None = None,
        problems: list[Problem] | None = None,
    ) -> None:
        self.source = Path(source)
        self.base = base
        self.limits = limits
        self.archive = archive
        self.workers = workers
        self.format: str | None = None
        self.root: Path | None = None
        self._problems: list[Problem] = list(problems or [])
        self.candidates: list[Sample] = []
        self._checks: list[SampleCheck] | None = None
        if base is None or any(p.blocking for p in self._problems):
            return
        detection = detect_format(base, format)
        self._problems.extend(detection.problems)
        if detection.format is None:
            return
        self.format, self.root = detection.format, detection.root
        ctx = ReadContext(base=base, limits=limits, mask_label=mask_label)
        result = FORMATS[self.format].read(self.root, ctx)
        self.candidates, renamed = _unique_ids(result.samples)
        self._problems.extend(result.problems)
        self._problems.extend(renamed)

    # -- validation ------------------------------------------------------------------------------
    @property
    def checks(self) -> list[SampleCheck]:
        if self._checks is None:
            self._checks = validate_samples(self.candidates, self.workers) if self.candidates else []
        return self._checks

    @property
    def problems(self) -> list[Problem]:
        """Every problem: source/archive, layout, then per sample (in sample order)."""
        problems = list(self._problems)
        for check in self.checks:
            problems.extend(check.problems)
        if not any(p.blocking for p in problems):
            where = relative(self.root, self.base) if self.root is not None and self.base is not None else "."
            if not self.candidates and self.format is not None:
                problems.append(
                    Problem(
                        "no_images",
                        where or ".",
                        f"no images were found in the {FORMATS[self.format].TITLE} layout at {where or '.'}; "
                        "check that the images are PNG, JPEG, TIFF, BMP or DICOM files with the expected names",
                    )
                )
            elif self.candidates and not any(c.usable for c in self.checks):
                problems.append(
                    Problem(
                        "no_usable_samples",
                        where or ".",
                        "every image was skipped because of the problems listed; fix them and upload again",
                    )
                )
        return problems

    @property
    def importable(self) -> bool:
        return not any(p.blocking for p in self.problems) and any(c.usable for c in self.checks)

    def samples(self, *, include_unlabelled: bool = True, include_skipped: bool = False) -> Iterator[Sample]:
        """Validated samples under the default actions (skipped ones only with ``include_skipped``)."""
        for check in self.checks:
            if not check.usable and not include_skipped:
                continue
            if check.sample.unlabelled and not include_unlabelled:
                continue
            yield check.sample

    def report(self) -> DatasetReport:
        title = FORMATS[self.format].TITLE if self.format else None
        root = None
        if self.root is not None and self.base is not None:
            root = relative(self.root, self.base) or "."
        return build_report(
            source=str(self.source),
            archive=self.archive,
            format=self.format,
            format_title=title,
            root=root,
            checks=self.checks,
            problems=self.problems,
            limits=self.limits.to_dict(),
        )


@contextmanager
def open_dataset(
    source: str | Path,
    limits: Limits | None = None,
    *,
    format: str | None = None,
    mask_label: int | None = None,
    workers: int | None = None,
) -> Iterator[Dataset]:
    """Open a dataset folder or archive (.zip, .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz).

    Archives are extracted safely into a temporary folder that lives as long as the ``with``
    block; sample paths point into it, so copy what you need inside the block. Unsafe or broken
    sources do not raise: the dataset has blocking problems and no samples. Raises
    ``FileNotFoundError`` when ``source`` does not exist and ``ValueError`` for an unknown ``format``.
    """
    limits = limits or DEFAULT_LIMITS
    source = Path(source)
    if format is not None and format not in FORMATS:
        raise ValueError(f"unknown dataset format {format!r}; choose one of {', '.join(FORMATS)}")
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such file or folder")
    options: _DatasetOptions = {"format": format, "mask_label": mask_label, "workers": workers}
    if source.is_dir():
        yield Dataset(source, source, limits, problems=scan_folder(source, limits), **options)
        return
    if archive_kind(source) is None:
        problem = Problem(
            "unsupported_source",
            source.name,
            f"{source.name} is neither a folder nor a .zip/.tar.gz archive; upload the dataset folder as an archive",
        )
        yield Dataset(source, None, limits, problems=[problem], **options)
        return
    with temporary_folder(limits) as tmp:
        try:
            extract_archive(source, tmp, limits)
        except ArchiveError as error:
            problem = Problem(error.code, error.path, error.message)
            yield Dataset(source, None, limits, archive=True, problems=[problem], **options)
            return
        yield Dataset(source, tmp, limits, archive=True, **options)


def inspect_dataset(
    source: str | Path,
    limits: Limits | None = None,
    *,
    format: str | None = None,
    mask_label: int | None = None,
    workers: int | None = None,
) -> DatasetReport:
    """Detect, read and validate a dataset folder or archive; return its :class:`DatasetReport`."""
    with open_dataset(source, limits, format=format, mask_label=mask_label, workers=workers) as dataset:
        return dataset.report()


def iter_samples(
    source: str | Path,
    limits: Limits | None = None,
    *,
    format: str | None = None,
    mask_label: int | None = None,
    include_unlabelled: bool = True,
    workers: int | None = None,
) -> Iterator[Sample]:
    """Yield the validated, importable samples of a dataset (temporary folders live until the
    generator is exhausted or closed)."""
    with open_dataset(source, limits, format=format, mask_label=mask_label, workers=workers) as dataset:
        yield from dataset.samples(include_unlabelled=include_unlabelled)
