"""``kdsam datasets``: inspect, convert and split medical segmentation datasets.

    kdsam datasets inspect PATH            report as JSON; exit 1 when the dataset cannot be imported
    kdsam datasets convert PATH OUT        write OUT/images, OUT/masks, OUT/manifest.csv
    kdsam datasets split PATH --seed 0     train/val/test assignment as JSON

PATH is a dataset folder or a .zip / .tar.gz archive.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kdsam_core.cli import CliError

FORMAT_CHOICES = ("kvasir_seg", "isic", "hc18", "busi", "generic", "dicom")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="dataset folder or archive (.zip, .tar.gz, .tgz, .tar)")
    parser.add_argument("--format", choices=FORMAT_CHOICES, help="skip auto-detection and read this format")
    parser.add_argument(
        "--mask-label",
        type=int,
        metavar="N",
        help="for label-map masks: the label value that is foreground (others are background)",
    )
    parser.add_argument("--max-files", type=_positive_int, metavar="N", help="file-count limit (default 200000)")
    parser.add_argument(
        "--max-bytes", type=_positive_int, metavar="N", help="uncompressed archive size limit in bytes (default 16 GiB)"
    )
    parser.add_argument(
        "--max-pixels", type=_positive_int, metavar="N", help="per-image pixel limit, width*height (default 100000000)"
    )
    parser.add_argument(
        "--workers", type=_positive_int, metavar="N", help="decoding threads (default: CPU count, max 8)"
    )


def _limits(args: argparse.Namespace):
    from kdsam_core.datasets import DEFAULT_LIMITS, Limits

    return Limits(
        max_uncompressed_bytes=args.max_bytes or DEFAULT_LIMITS.max_uncompressed_bytes,
        max_files=args.max_files or DEFAULT_LIMITS.max_files,
        max_image_pixels=args.max_pixels or DEFAULT_LIMITS.max_image_pixels,
    )


def _source(args: argparse.Namespace) -> Path:
    path = Path(args.path)
    if not path.exists():
        raise CliError(f"{path} does not exist; give a dataset folder or a .zip/.tar.gz archive")
    return path


def _print_blocking(problems: list[dict]) -> None:
    for problem in problems:
        if problem["blocking"]:
            print(f"kdsam: {problem['code']}: {problem['message']}", file=sys.stderr)


def _inspect(args: argparse.Namespace) -> int:
    from kdsam_core.datasets import inspect_dataset

    report = inspect_dataset(
        _source(args), _limits(args), format=args.format, mask_label=args.mask_label, workers=args.workers
    )
    print(report.to_json(indent=None if args.compact else 2))
    if not report.importable:
        _print_blocking(report.problems)
        if not report.blocking_problems:
            print("kdsam: the dataset has no importable image", file=sys.stderr)
        return 1
    return 0


def _convert(args: argparse.Namespace) -> int:
    from kdsam_core.datasets import DatasetError, convert_dataset

    source = _source(args)
    try:
        result = convert_dataset(
            source,
            args.out,
            _limits(args),
            format=args.format,
            mask_label=args.mask_label,
            strict=args.strict,
            include_unlabelled=not args.labelled_only,
            workers=args.workers,
        )
    except DatasetError as error:
        raise CliError(str(error)) from None
    summary = {k: v for k, v in result.to_dict().items() if k != "report"}
    summary["format"] = result.report.format
    summary["problem_counts"] = result.report.problem_counts
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


def _split(args: argparse.Namespace) -> int:
    from kdsam_core.datasets import assign_splits, open_dataset, parse_ratios

    try:
        ratios = parse_ratios(args.ratios)
    except ValueError as error:
        raise CliError(f"--ratios: {error}") from None
    with open_dataset(
        _source(args), _limits(args), format=args.format, mask_label=args.mask_label, workers=args.workers
    ) as dataset:
        report = dataset.report()
        if not report.importable:
            _print_blocking(report.problems)
            raise CliError(f"{args.path} cannot be imported; run 'kdsam datasets inspect {args.path}' for details")
        samples = list(dataset.samples(include_unlabelled=args.include_unlabelled))
    assignment = assign_splits(samples, args.seed, ratios)
    counts = {name: sum(1 for v in assignment.values() if v == name) for name in ratios}
    print(
        json.dumps(
            {
                "format": report.format,
                "seed": args.seed,
                "ratios": ratios,
                "counts": counts,
                "splits": dict(sorted(assignment.items())),
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "datasets",
        help="inspect, convert and split segmentation datasets",
        description="Read Kvasir-SEG, ISIC, HC18, BUSI, generic and DICOM segmentation datasets "
        "from a folder or archive.",
    )
    commands = parser.add_subparsers(dest="datasets_command", metavar="SUBCOMMAND", required=True)

    inspect = commands.add_parser(
        "inspect",
        help="detect the format and report pairs and problems as JSON",
        description="Print the dataset report as JSON; exit 1 if it cannot be imported.",
    )
    _add_source_options(inspect)
    inspect.add_argument("--compact", action="store_true", help="print the JSON on one line")
    inspect.set_defaults(func=_inspect)

    convert = commands.add_parser(
        "convert",
        help="write the generic layout (images/, masks/, manifest.csv)",
        description="Convert a dataset into OUT/images/<id>.<ext>, OUT/masks/<id>.png "
        "(0/255) and OUT/manifest.csv (id,image,mask,group,class).",
    )
    _add_source_options(convert)
    convert.add_argument("out", metavar="OUT", help="output folder (must not exist or be empty)")
    convert.add_argument("--strict", action="store_true", help="refuse to convert when there is any problem")
    convert.add_argument("--labelled-only", action="store_true", help="leave out images without mask")
    convert.set_defaults(func=_convert)

    split = commands.add_parser("split", help="deterministic train/val/test split (grouped, stratified) as JSON")
    _add_source_options(split)
    split.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    split.add_argument("--ratios", default="0.8,0.1,0.1", help="train,val,test ratios (default 0.8,0.1,0.1)")
    split.add_argument("--include-unlabelled", action="store_true", help="also split images without mask")
    split.set_defaults(func=_split)
