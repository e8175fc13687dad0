"""Problems found while reading a dataset: a stable code, the file concerned, and what to do.

Every problem is either *blocking* (the dataset cannot be imported at all until it is fixed) or
*skippable* (only the file or sample concerned is affected; the importer applies the default
``action`` unless the user chooses otherwise). The table :data:`PROBLEM_CODES` is the single source
of truth for codes, documented in ``docs/datasets.md``, and for the choices a user has
(:data:`CHOICES`, :data:`SKIPPABLE_CHOICES`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Choice:
    """What a user may decide about a skippable problem whose default keeps the sample."""

    default: str  # what happens without a choice
    alternative: str  # what choosing it does
    field: str  # the confirm option that selects the alternative: "skip" (this code) or "keep_duplicates"


#: the confirm options that select a choice's alternative
CHOICE_FIELDS = ("skip", "keep_duplicates")

_SKIP_THESE = "skip these images"


@dataclass(frozen=True)
class ProblemKind:
    code: str
    blocking: bool
    action: str  # what the importer does by default (for skippable problems) or "fix_and_retry"
    summary: str
    choice: Choice | None = None  # what the user may choose instead of the default action


_KINDS = (
    # -- the source as a whole (blocking) -------------------------------------------------------
    ProblemKind("unsupported_source", True, "fix_and_retry", "not a folder, .zip or .tar archive"),
    ProblemKind("archive_corrupt", True, "fix_and_retry", "the archive cannot be read"),
    ProblemKind("archive_encrypted", True, "fix_and_retry", "the archive has password-protected entries"),
    ProblemKind("archive_absolute_path", True, "fix_and_retry", "an archive entry has an absolute path"),
    ProblemKind(
        "archive_path_traversal", True, "fix_and_retry", "an archive entry escapes the root with '..' (zip-slip)"
    ),
    ProblemKind("archive_symlink", True, "fix_and_retry", "an archive entry is a symbolic link"),
    ProblemKind("archive_hardlink", True, "fix_and_retry", "an archive entry is a hard link"),
    ProblemKind(
        "archive_special_file", True, "fix_and_retry", "an archive entry is a device, FIFO or other special file"
    ),
    ProblemKind("archive_duplicate_entry", True, "fix_and_retry", "two archive entries extract to the same path"),
    ProblemKind("archive_too_large", True, "fix_and_retry", "the archive expands beyond the size limit"),
    ProblemKind(
        "archive_insufficient_storage", True, "fix_and_retry", "the archive expands beyond the free disk space"
    ),
    ProblemKind("archive_too_many_files", True, "fix_and_retry", "the archive holds more files than the limit"),
    ProblemKind("too_many_files", True, "fix_and_retry", "the folder holds more files than the limit"),
    ProblemKind("unsafe_symlink", True, "fix_and_retry", "a symbolic link in the folder points outside it"),
    ProblemKind("decompression_bomb", True, "fix_and_retry", "an image declares more pixels than the limit"),
    ProblemKind("unknown_format", True, "fix_and_retry", "no supported dataset layout was found"),
    ProblemKind("ambiguous_format", True, "fix_and_retry", "several dataset layouts were found; choose one"),
    ProblemKind("manifest_invalid", True, "fix_and_retry", "the CSV manifest lacks the image/mask columns"),
    ProblemKind("no_images", True, "fix_and_retry", "the dataset contains no images"),
    ProblemKind("no_usable_samples", True, "fix_and_retry", "every image was skipped because of other problems"),
    # -- single files or samples (skippable) ----------------------------------------------------
    ProblemKind(
        "image_without_mask",
        False,
        "import_unlabelled",
        "an image has no mask",
        Choice("import the image without a mask", _SKIP_THESE, "skip"),
    ),
    ProblemKind("mask_without_image", False, "ignore_file", "a mask has no image"),
    ProblemKind(
        "mixed_formats", False, "ignore_file", "an image of another format than the dataset's (e.g. a PNG among DICOMs)"
    ),
    ProblemKind("size_mismatch", False, "skip_sample", "mask and image sizes differ"),
    ProblemKind(
        "empty_mask",
        False,
        "keep_as_negative",
        "a mask has no foreground pixel",
        Choice("keep the image as a negative", _SKIP_THESE, "skip"),
    ),
    ProblemKind("unreadable_image", False, "skip_sample", "an image is truncated, corrupt or not an image"),
    ProblemKind("unreadable_mask", False, "skip_sample", "a mask is truncated, corrupt or not an image"),
    ProblemKind(
        "non_binary_mask",
        False,
        "binarise",
        "a mask has more than two values",
        Choice("binarise the mask", _SKIP_THESE, "skip"),
    ),
    ProblemKind("outline_not_ellipse", False, "skip_sample", "an HC18 annotation cannot be filled"),
    ProblemKind("unsupported_dicom", False, "skip_sample", "a DICOM file is multi-frame or has no pixel data"),
    ProblemKind(
        "duplicate_image",
        False,
        "skip_duplicate",
        "an image has the same pixels as another",
        Choice("skip the later copy", "keep every copy", "keep_duplicates"),
    ),
    ProblemKind(
        "duplicate_id",
        False,
        "rename",
        "two images have the same file stem",
        Choice("rename the later image", "skip the renamed images", "skip"),
    ),
    ProblemKind("manifest_missing_file", False, "skip_sample", "a manifest row names a file that does not exist"),
)

#: code -> :class:`ProblemKind`
PROBLEM_CODES: dict[str, ProblemKind] = {kind.code: kind for kind in _KINDS}

#: code -> :class:`Choice` of every problem a user may decide on: the ``skip`` ones first, then the others
CHOICES: dict[str, Choice] = {
    kind.code: kind.choice for field in CHOICE_FIELDS for kind in _KINDS if kind.choice and kind.choice.field == field
}

#: codes whose samples are kept by default and that the user may choose to skip instead
SKIPPABLE_CHOICES: tuple[str, ...] = tuple(code for code, choice in CHOICES.items() if choice.field == "skip")

#: human description of each default action
ACTIONS = {
    "fix_and_retry": "the dataset cannot be imported; fix the file and upload again",
    "import_unlabelled": "the image is imported without a mask (or skipped, if you prefer)",
    "ignore_file": "the file is ignored",
    "skip_sample": "the sample is skipped",
    "keep_as_negative": "the sample is kept as a negative (no foreground), or skipped if you prefer",
    "binarise": "the mask is binarised (see the message for the rule)",
    "skip_duplicate": "the later copy is skipped (or kept, if you prefer)",
    "rename": "the later image gets a distinct id",
}


@dataclass(frozen=True)
class Problem:
    """One finding about one file (``path`` is relative to the dataset source, POSIX style)."""

    code: str
    path: str
    message: str
    sample_id: str | None = None

    def __post_init__(self) -> None:
        if self.code not in PROBLEM_CODES:
            raise ValueError(f"unknown problem code {self.code!r}")

    @property
    def kind(self) -> ProblemKind:
        return PROBLEM_CODES[self.code]

    @property
    def blocking(self) -> bool:
        return self.kind.blocking

    @property
    def skippable(self) -> bool:
        return not self.kind.blocking

    @property
    def action(self) -> str:
        return self.kind.action

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "path": self.path,
            "message": self.message,
            "blocking": self.blocking,
            "skippable": self.skippable,
            "action": self.action,
            "sample_id": self.sample_id,
        }


class DatasetError(Exception):
    """Raised by operations that need an importable dataset (e.g. :func:`convert_dataset`)."""

    def __init__(self, message: str, problems: list[Problem] | tuple[Problem, ...] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


def choices_for(problem_counts: dict[str, int]) -> list[dict]:
    """The choices open for a report's ``problem_counts``: one per choosable problem present, with its count."""
    return [
        {
            "code": code,
            "count": problem_counts[code],
            "default": choice.default,
            "alternative": choice.alternative,
            "field": choice.field,
        }
        for code, choice in CHOICES.items()
        if problem_counts.get(code)
    ]


def describe_blocking(problems) -> str:
    """A one-paragraph explanation of the blocking problems, for error messages."""
    blocking = [p for p in problems if p.blocking]
    if not blocking:
        return ""
    lines = [f"{p.code}: {p.message}" for p in blocking[:5]]
    if len(blocking) > 5:
        lines.append(f"... and {len(blocking) - 5} more blocking problems")
    return "; ".join(lines)
