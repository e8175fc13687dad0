"""Prompt simulation from ground-truth masks (METHOD.md, "Phase 2"; evaluation protocol).

All coordinates are ``(x, y)`` in original image pixels; :func:`to_model_space` maps a prompt to the
model's resized input space (SAM's ``ResizeLongestSide.apply_coords``/``apply_boxes``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from kdsam_core.transforms import apply_coords


@dataclass
class Prompt:
    points: np.ndarray | None = None  #: (N, 2) float, (x, y)
    labels: np.ndarray | None = None  #: (N,) 1 = foreground, 0 = background
    box: np.ndarray | None = None  #: (4,) x0, y0, x1, y1

    def add_point(self, xy: tuple[float, float], label: int) -> Prompt:
        pts = np.array([xy], dtype=np.float64)
        lab = np.array([label], dtype=np.float64)
        points = pts if self.points is None else np.concatenate([self.points, pts])
        labels = lab if self.labels is None else np.concatenate([self.labels, lab])
        return Prompt(points=points, labels=labels, box=self.box)

    def to_dict(self) -> dict:
        return {
            "points": None if self.points is None else self.points.tolist(),
            "labels": None if self.labels is None else self.labels.tolist(),
            "box": None if self.box is None else self.box.tolist(),
        }


@dataclass(frozen=True)
class PromptConfig:
    """How prompts are simulated.

    ``mode``: ``box``, ``points`` or ``box+points``. ``box_jitter``: each box side moves by up to this
    many pixels (uniform integer; MedSAM uses up to 20) — 0 for the evaluation protocol.
    ``positive_points``/``negative_points``: points sampled uniformly inside / outside the mask.
    ``iterative_clicks``: extra correction clicks after the first prediction (training only).
    """

    mode: str = "box"
    box_jitter: int = 20
    positive_points: int = 1
    negative_points: int = 0
    iterative_clicks: int = 0

    def __post_init__(self) -> None:
        if self.mode not in ("box", "points", "box+points"):
            raise ValueError(f"unknown prompt mode {self.mode!r}; choose box, points or box+points")

    def to_dict(self) -> dict:
        return asdict(self)


#: The default evaluation protocol: one box = the ground-truth bounding box, no jitter.
EVAL_PROTOCOL = PromptConfig(mode="box", box_jitter=0, positive_points=0, negative_points=0)


def describe_protocol(config: PromptConfig) -> str:
    parts = []
    if "box" in config.mode:
        parts.append(
            "one box = ground-truth bounding box"
            + (f" ± up to {config.box_jitter} px jitter" if config.box_jitter else ", no jitter")
        )
    if "points" in config.mode:
        parts.append(f"{config.positive_points} positive + {config.negative_points} negative random points")
    return "; ".join(parts)


def box_from_mask(mask: np.ndarray) -> np.ndarray | None:
    """Tight bounding box ``(x0, y0, x1, y1)`` of the foreground (pixel indices); ``None`` when empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float64)


def jitter_box(box: np.ndarray, max_jitter: int, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    if max_jitter <= 0:
        return box.copy()
    h, w = shape
    moved = box + rng.integers(-max_jitter, max_jitter + 1, size=4)
    x0, x1 = sorted((float(np.clip(moved[0], 0, w - 1)), float(np.clip(moved[2], 0, w - 1))))
    y0, y1 = sorted((float(np.clip(moved[1], 0, h - 1)), float(np.clip(moved[3], 0, h - 1))))
    return np.array([x0, y0, x1, y1], dtype=np.float64)


def _random_pixels(region: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    ys, xs = np.nonzero(region)
    if n <= 0 or len(xs) == 0:
        return np.zeros((0, 2))
    pick = rng.choice(len(xs), size=n, replace=len(xs) < n)
    return np.stack([xs[pick], ys[pick]], axis=1).astype(np.float64)


def simulate_prompt(mask: np.ndarray, config: PromptConfig, rng: np.random.Generator) -> Prompt:
    """A prompt for ``mask`` (``(H, W)`` binary) following ``config``."""
    mask = mask.astype(bool)
    prompt = Prompt()
    if "box" in config.mode:
        box = box_from_mask(mask)
        if box is None:  # empty mask: the whole image (the model should predict nothing)
            box = np.array([0, 0, mask.shape[1] - 1, mask.shape[0] - 1], dtype=np.float64)
        prompt.box = jitter_box(box, config.box_jitter, mask.shape, rng)
    if "points" in config.mode:
        pos = _random_pixels(mask, config.positive_points, rng)
        neg = _random_pixels(~mask, config.negative_points, rng)
        if len(pos) + len(neg):
            prompt.points = np.concatenate([pos, neg])
            prompt.labels = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    return prompt


def correction_click(pred: np.ndarray, gt: np.ndarray) -> tuple[tuple[float, float], int] | None:
    """The next click of an iterative session: the point deepest inside the larger error region.

    False negatives give a positive click, false positives a negative one; ``None`` when perfect.
    """
    pred, gt = pred.astype(bool), gt.astype(bool)
    fn, fp = gt & ~pred, pred & ~gt
    if not fn.any() and not fp.any():
        return None
    region, label = (fn, 1) if fn.sum() >= fp.sum() else (fp, 0)
    distance = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return (float(x), float(y)), label


def to_model_space(prompt: Prompt, original_size: tuple[int, int], long_side: int) -> tuple[np.ndarray, np.ndarray]:
    """``(coords (1, N, 2), labels (1, N))`` float32 numpy arrays in the input space, boxes as two corners
    with labels 2 and 3 (SAM's ONNX convention), points padded with a ``-1`` point when no box.

    ``original_size`` is ``(H, W)``; points need their labels (a prompt with points but no labels is
    a ``ValueError``).
    """
    coords: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    if prompt.points is not None and len(prompt.points):
        if prompt.labels is None:
            raise ValueError("a prompt with points needs their labels (1 = foreground, 0 = background)")
        coords.append(apply_coords(prompt.points, original_size, long_side))
        labels.append(prompt.labels.astype(np.float64))
    if prompt.box is not None:
        coords.append(apply_coords(prompt.box.reshape(2, 2), original_size, long_side))
        labels.append(np.array([2.0, 3.0]))
    else:
        coords.append(np.zeros((1, 2)))
        labels.append(np.array([-1.0]))
    return np.concatenate(coords)[None].astype(np.float32), np.concatenate(labels)[None].astype(np.float32)
