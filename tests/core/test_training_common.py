"""Shared training helpers: the image content hash (the embedding caches' key), the epoch order,
and prompts mapped to the model's input space."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kdsam_core.hashing import array_sha256
from kdsam_core.training.caches import EmbeddingCache, fill_cache, teacher_identity
from kdsam_core.training.common import PreparedImages, encode_batch, encoder_of, epoch_batches
from kdsam_core.training.data import as_samples, image_hash
from kdsam_core.training.prompts import Prompt, to_model_space


def test_image_hash_is_pinned_and_follows_pixels_shape_and_dtype():
    image = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    # The value the embedding caches were written under: changing it would orphan every cache entry.
    assert image_hash(image) == "d47f84c234d8657224dc50b2d7137413d43ee52616a74d4446f6c12236ff01ce"
    assert array_sha256(image) == image_hash(image)
    assert image_hash(np.asfortranarray(image)) == image_hash(image)  # storage order does not matter
    assert image_hash(image.reshape(5, 4, 3)) != image_hash(image)
    assert image_hash(image.view(np.int8)) != image_hash(image)


def test_epoch_batches_depend_only_on_seed_and_epoch():
    first = epoch_batches(10, 3, seed=1, epoch=2)
    assert first == epoch_batches(10, 3, seed=1, epoch=2)
    assert first != epoch_batches(10, 3, seed=1, epoch=3)
    assert sorted(i for batch in first for i in batch) == list(range(10))
    assert [len(b) for b in first] == [3, 3, 3, 1]
    assert epoch_batches(5, 2, seed=0, epoch=1, shuffle=False) == [[0, 1], [2, 3], [4]]


class _Encoder(torch.nn.Module):
    img_size = 32

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 256, 16, stride=16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_fill_cache_stores_what_encode_batch_computes(tmp_path):
    encoder = _Encoder()
    rng = np.random.default_rng(0)
    samples = as_samples([rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(3)])
    images = PreparedImages(samples, 32)
    assert images.tensor(0).shape == (3, 32, 32)
    cache_id = teacher_identity(encoder, "toy")
    assert encoder_of(encoder) is encoder and cache_id.startswith("toy:")
    cache = EmbeddingCache(tmp_path, cache_id, 32)
    events = []
    stats = fill_cache(encoder, images, cache, torch.device("cpu"), batch_size=2, callback=events.append)
    assert (stats.hits, stats.misses) == (0, 3)
    expected = encode_batch(encoder, torch.stack([images.tensor(i) for i in range(3)]), torch.device("cpu"))
    assert expected.shape == (3, 256, 2, 2) and expected.device.type == "cpu"
    for i in range(3):
        assert torch.allclose(cache.load(images.hashes[i]), expected[i], atol=1e-2)
    assert [e.step for e in events] == [0, 2, 3] and events[-1].extra["hits"] == 0
    again = fill_cache(encoder, images, cache, torch.device("cpu"))
    assert (again.hits, again.misses) == (3, 0)


def test_points_without_labels_are_a_clear_error():
    prompt = Prompt(points=np.array([[1.0, 2.0]]), labels=None)
    with pytest.raises(ValueError, match="labels"):
        to_model_space(prompt, (50, 100), 128)
