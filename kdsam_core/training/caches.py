"""On-disk embedding caches (float16), keyed by image content hash + model + preprocessing version.

Layout: ``<root>/<namespace>/<hash[:2]>/<hash>.npy`` where ``namespace`` is a short digest of
``(model id, preprocessing version, image size)`` and ``<hash>`` the SHA-256 of the decoded pixels.
Each entry is ``(256, G, G)`` float16 plus, in ``meta.json`` of the namespace, what produced it.
Writes are atomic (temp file + rename) so concurrent workers or an interrupted run never leave a
half-written entry. :func:`fill_cache` computes the missing entries of a set of images with an
encoder; :func:`teacher_identity` / :func:`state_dict_digest` name the model part of the key.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from kdsam_core.config import PREPROCESSING_VERSION
from kdsam_core.training.common import PreparedImages, encode_batch, encoder_of
from kdsam_core.training.progress import ProgressEvent


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def as_dict(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "hit_rate": self.hit_rate}


@dataclass
class EmbeddingCache:
    root: Path
    model_id: str
    img_size: int
    preprocessing: str = PREPROCESSING_VERSION
    stats: CacheStats = field(default_factory=CacheStats)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        key = json.dumps([self.model_id, self.preprocessing, self.img_size]).encode()
        self.namespace = hashlib.sha256(key).hexdigest()[:16]
        self.folder = self.root / self.namespace
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = self.folder / "meta.json"
        if not meta.exists():
            meta.write_text(
                json.dumps(
                    {
                        "model_id": self.model_id,
                        "preprocessing": self.preprocessing,
                        "img_size": self.img_size,
                        "dtype": "float16",
                    },
                    indent=1,
                )
            )

    def path(self, content_hash: str) -> Path:
        return self.folder / content_hash[:2] / f"{content_hash}.npy"

    def __contains__(self, content_hash: str) -> bool:
        return self.path(content_hash).is_file()

    def get(self, content_hash: str) -> np.ndarray | None:
        path = self.path(content_hash)
        if not path.is_file():
            return None
        try:
            return np.load(path)
        except (ValueError, OSError, EOFError):
            return None  # corrupt entry: recomputed and overwritten

    def put(self, content_hash: str, embedding: np.ndarray | torch.Tensor) -> None:
        if isinstance(embedding, torch.Tensor):
            embedding = embedding.detach().float().cpu().numpy()
        array = np.asarray(embedding, dtype=np.float32)
        if array.ndim == 4:
            array = array[0]
        array16 = array.astype(np.float16)
        if not np.isfinite(array16).all():
            raise ValueError("embedding overflows float16 (values beyond ±65504)")
        path = self.path(content_hash)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as handle:
            np.save(handle, array16)
        os.replace(tmp, path)

    def ensure(
        self,
        hashes: Sequence[str],
        compute: Callable[[list[int]], torch.Tensor],
        batch_size: int = 8,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> CacheStats:
        """Make sure every hash has an entry; ``compute(indices)`` returns ``(len, 256, G, G)`` embeddings.

        Counts hits and misses in :attr:`stats` (and returns the stats of this call).
        """
        call = CacheStats()
        todo: list[int] = []
        seen: set[str] = set()
        for index, content_hash in enumerate(hashes):
            if content_hash in seen:
                continue
            seen.add(content_hash)
            if content_hash in self and self.get(content_hash) is not None:
                call.hits += 1
            else:
                call.misses += 1
                todo.append(index)
        done = call.hits
        total = len(seen)
        if on_progress:
            on_progress(done, total)
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            embeddings = compute(chunk)
            for index, embedding in zip(chunk, embeddings):
                self.put(hashes[index], embedding)
            done += len(chunk)
            if on_progress:
                on_progress(done, total)
        self.stats.hits += call.hits
        self.stats.misses += call.misses
        return call

    def load(self, content_hash: str) -> torch.Tensor:
        array = self.get(content_hash)
        if array is None:
            raise KeyError(f"no cached embedding for image {content_hash[:12]} in {self.folder}")
        return torch.from_numpy(array.astype(np.float32))


def state_dict_digest(module: nn.Module) -> str:
    """Digest of a module's weights (part of a student cache's model id: new weights, new cache)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def teacher_identity(teacher: nn.Module, teacher_kind: str) -> str:
    """The model id of a teacher's embedding cache: its kind plus a digest of its encoder's weights."""
    return f"{teacher_kind}:{state_dict_digest(encoder_of(teacher))}"


def fill_cache(
    encoder: nn.Module,
    images: PreparedImages,
    cache: EmbeddingCache,
    device: torch.device,
    batch_size: int = 4,
    callback: Callable[[ProgressEvent], None] | None = None,
    phase: str = "distill",
    what: str = "teacher embeddings",
) -> CacheStats:
    """Compute the missing embeddings of ``images`` with ``encoder`` and store them in ``cache``.

    ``encoder`` maps ``(B, 3, S, S)`` inputs to ``(B, 256, G, G)`` embeddings; it is put in eval mode
    and run ``batch_size`` images at a time (:func:`~kdsam_core.training.common.encode_batch`).
    ``callback`` gets ``"cache"`` events whose ``extra["hits"]`` counts the entries already cached.
    """
    encoder.eval()

    def compute(indices: list[int]) -> torch.Tensor:
        return encode_batch(encoder, torch.stack([images.tensor(i) for i in indices]), device)

    holder: dict[str, int] = {}

    def progress(done: int, total: int) -> None:
        holder.setdefault("hits", done)  # the first report counts the entries already cached
        if callback:
            callback(
                ProgressEvent(
                    kind="cache", phase=phase, step=done, steps=total, extra={"what": what, "hits": holder["hits"]}
                )
            )

    return cache.ensure(images.hashes, compute, batch_size=batch_size, on_progress=progress)
