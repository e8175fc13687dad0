"""The ``kdsam`` command line.

Each subcommand lives in its own module of this package and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (called with the parsed namespace, returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: Modules of this package that provide subcommands, in the order ``--help`` lists them.
SUBCOMMAND_MODULES = (
    "params",
    "datasets",
    "distill",
    "finetune",
    "evaluate",
    "export",
    "embed",
)


class CliError(Exception):
    """A user-facing error: printed as ``kdsam: error: <message>`` with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kdsam",
        description="KD-SAM: distil SAM into a ResNet-50 encoder, fine-tune its decoder, evaluate, export.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"{__name__}.{name}":
                continue  # subcommand not written yet
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as error:
        print(f"kdsam: error: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"kdsam: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
