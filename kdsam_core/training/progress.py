"""Progress reporting of long jobs: one event type, several renderers.

The trainers call ``callback(event)`` with a :class:`ProgressEvent`; the CLI renders events as a
progress bar (:class:`TqdmProgress`), the web worker forwards ``event.to_dict()`` to the browser.
A callback may raise :class:`StopTraining` to end a run cleanly after the current step (the last
complete epoch's checkpoint stays valid, so ``--resume`` continues from there).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TextIO


class StopTraining(Exception):
    """Raised by a callback to stop a run (e.g. the user cancelled the job)."""


@dataclass
class ProgressEvent:
    """``kind``: ``"cache"`` (embedding precomputation), ``"step"``, ``"epoch"``, ``"stage"`` (a step
    after training, named in ``extra["stage"]``: evaluation, export) or ``"done"``."""

    kind: str
    phase: str  #: "distill", "finetune", "embed", "evaluate"
    epoch: int = 0  #: 1-based epoch (0 outside epochs)
    epochs: int = 0
    step: int = 0  #: 1-based step within the epoch (or items done for "cache")
    steps: int = 0  #: steps per epoch (or items to do for "cache")
    losses: dict[str, float] = field(default_factory=dict)
    lr: float | None = None
    throughput: float | None = None  #: images per second
    eta_s: float | None = None  #: seconds left for the whole run (epochs to go at the current pace)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in data.items()}


class ProgressCallback(Protocol):
    def __call__(self, event: ProgressEvent) -> None: ...


class Throughput:
    """Images/s and ETA from wall-clock time since :meth:`start`."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.images = 0
        self.steps = 0

    def update(self, images: int) -> None:
        self.images += images
        self.steps += 1

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.images / elapsed if elapsed > 0 else 0.0

    def eta(self, steps_left: int) -> float | None:
        elapsed = time.perf_counter() - self.started
        if not self.steps:
            return None
        return elapsed / self.steps * steps_left


def null_callback(event: ProgressEvent) -> None:
    return None


class CallbackList:
    def __init__(self, *callbacks: Callable[[ProgressEvent], None] | None) -> None:
        self.callbacks = [c for c in callbacks if c is not None]

    def __call__(self, event: ProgressEvent) -> None:
        for callback in self.callbacks:
            callback(event)


class TqdmProgress:
    """Renders events as a tqdm bar per epoch (or per cache pass) on stderr."""

    def __init__(self, stream: TextIO | None = None, disable: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.disable = disable
        self.bar = None
        self.key: tuple | None = None

    def _bar(self, key: tuple, total: int, desc: str):
        from tqdm import tqdm

        if self.key != key:
            self.close()
            self.bar = tqdm(
                total=total, desc=desc, file=self.stream, disable=self.disable, leave=True, dynamic_ncols=True
            )
            self.key = key
        return self.bar

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "cache":
            bar = self._bar(
                ("cache", event.phase, event.extra.get("what")),
                event.steps,
                f"{event.phase}: {event.extra.get('what', 'embeddings')}",
            )
            bar.update(max(0, event.step - bar.n))
            bar.set_postfix_str(f"cached {event.extra.get('hits', 0)}/{event.steps}")
        elif event.kind == "step":
            bar = self._bar(("epoch", event.epoch), event.steps, f"{event.phase} epoch {event.epoch}/{event.epochs}")
            bar.update(max(0, event.step - bar.n))
            postfix = {k: f"{v:.4g}" for k, v in event.losses.items()}
            if event.lr is not None:
                postfix["lr"] = f"{event.lr:.1e}"
            if event.throughput:
                postfix["img/s"] = f"{event.throughput:.1f}"
            if event.eta_s is not None:
                postfix["eta"] = _hms(event.eta_s)
            bar.set_postfix(postfix)
        elif event.kind in ("epoch", "done"):
            self.close()
            text = " ".join(f"{k}={v:.4g}" for k, v in event.losses.items())
            print(f"{event.phase} {event.kind} {event.epoch}/{event.epochs}: {text}", file=self.stream)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            self.key = None


class JsonLinesProgress:
    """Writes one JSON object per event (for machines: ``kdsam distill --progress json``)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, event: ProgressEvent) -> None:
        self.stream.write(json.dumps(event.to_dict()) + "\n")
        self.stream.flush()


def _hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
