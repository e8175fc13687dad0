"""The KD-SAM model: a drop-in replacement for SAM's image encoder."""

from __future__ import annotations

import pytest
import torch

from kdsam_core.config import KDSamConfig
from kdsam_core.inference import embed_image
from kdsam_core.modeling import build_kdsam, count_parameters
from kdsam_core.modeling.checkpoint import CheckpointError, load_kdsam, load_sam_decoder_weights, save_kdsam


@pytest.fixture(scope="module")
def kdsam():
    return build_kdsam(seed=0)


def test_embedding_of_a_non_square_image_is_256x64x64(kdsam, landscape_rgb):
    result = embed_image(kdsam, landscape_rgb)
    assert landscape_rgb.shape[:2] == (529, 622)
    assert result.embedding.shape == (1, 256, 64, 64)
    assert result.original_size == (529, 622)
    assert result.input_size == (871, 1024)


def test_parameter_count_is_near_the_papers_26_million(kdsam):
    counts = count_parameters(kdsam)
    assert counts["total"] == counts["image_encoder"] + counts["prompt_encoder"] + counts["mask_decoder"]
    assert 24e6 < counts["total"] < 30e6


def test_same_seed_gives_identical_weights():
    a, b = build_kdsam(KDSamConfig.tiny(), seed=3), build_kdsam(KDSamConfig.tiny(), seed=3)
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), name


def test_checkpoint_round_trip_keeps_weights_and_metadata(tmp_path):
    model = build_kdsam(KDSamConfig.tiny(), seed=1)
    path = save_kdsam(model, tmp_path / "m.pt", {"teacher": "vit_b", "metrics": {"dice": 0.5}})
    loaded, metadata = load_kdsam(path)
    assert metadata["teacher"] == "vit_b" and metadata["metrics"] == {"dice": 0.5}
    assert metadata["architecture"]["student"]["trunk"] == "resnet18"
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key])


def test_missing_checkpoint_error_names_the_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"m\.pt"):
        load_kdsam(tmp_path / "m.pt")


def test_truncated_checkpoint_error_names_the_file_and_says_truncated(tmp_path):
    path = save_kdsam(build_kdsam(KDSamConfig.tiny(), seed=1), tmp_path / "m.pt")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"m\.pt is not a readable KD-SAM checkpoint.*truncated"):
        load_kdsam(path)


def test_sam_checkpoint_with_wrong_shapes_lists_the_mismatching_keys(tmp_path):
    model = build_kdsam(KDSamConfig.tiny(), seed=1)
    state = {k: v for k, v in model.state_dict().items() if k.startswith(("prompt_encoder.", "mask_decoder."))}
    state["mask_decoder.iou_token.weight"] = torch.zeros(1, 128)
    del state["mask_decoder.mask_tokens.weight"]
    torch.save(state, tmp_path / "sam_vit_b.pth")
    with pytest.raises(CheckpointError) as error:
        load_sam_decoder_weights(model, tmp_path / "sam_vit_b.pth")
    message = str(error.value)
    assert "sam_vit_b.pth" in message and "SAM" in message
    assert "mask_decoder.mask_tokens.weight" in message
    assert "mask_decoder.iou_token.weight: file (1, 128) vs expected (1, 256)" in message
