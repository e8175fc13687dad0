"""Medical segmentation datasets: format readers, validation, archive safety, splitting, conversion.

Pure Python (numpy, Pillow, OpenCV, SciPy, pydicom); never imports Django. Typical use::

    from kdsam_core.datasets import inspect_dataset, open_dataset, split_samples, convert_dataset

    report = inspect_dataset("kvasir-seg.zip")          # DatasetReport, report.to_json()
    with open_dataset("kvasir-seg.zip") as dataset:      # archive extracted to a temp dir
        samples = list(dataset.samples())                # validated Sample objects
        splits = split_samples(samples, seed=0, ratios=(0.8, 0.1, 0.1))
        mask = samples[0].load_mask()                    # uint8 0/1, loaded on demand

See ``docs/datasets.md`` for the supported layouts, problem codes and limits.
"""

from kdsam_core.datasets.archive import ArchiveError, extract_archive, extracted, is_archive
from kdsam_core.datasets.convert import MANIFEST_COLUMNS, ConvertResult, convert_dataset
from kdsam_core.datasets.dataset import Dataset, inspect_dataset, iter_samples, open_dataset
from kdsam_core.datasets.detect import Detection, detect_format
from kdsam_core.datasets.formats import FORMATS
from kdsam_core.datasets.limits import DEFAULT_LIMITS, Limits
from kdsam_core.datasets.masks import binarise, fill_outline
from kdsam_core.datasets.problems import PROBLEM_CODES, DatasetError, Problem
from kdsam_core.datasets.report import DatasetReport
from kdsam_core.datasets.sample import Sample
from kdsam_core.datasets.split import assign_splits, parse_ratios, split_samples

FORMAT_KEYS = tuple(FORMATS)

__all__ = [
    "DEFAULT_LIMITS",
    "FORMAT_KEYS",
    "MANIFEST_COLUMNS",
    "PROBLEM_CODES",
    "ArchiveError",
    "ConvertResult",
    "Dataset",
    "DatasetError",
    "DatasetReport",
    "Detection",
    "Limits",
    "Problem",
    "Sample",
    "assign_splits",
    "binarise",
    "convert_dataset",
    "detect_format",
    "extract_archive",
    "extracted",
    "fill_outline",
    "inspect_dataset",
    "is_archive",
    "iter_samples",
    "open_dataset",
    "parse_ratios",
    "split_samples",
]
