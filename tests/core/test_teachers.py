"""Teachers from checkpoint files, the registry of teachers, the KD-SAM builder, and ``kdsam params``."""

from __future__ import annotations

import json

import pytest
import torch

from kdsam_core.cli import build_parser, main
from kdsam_core.modeling import registry
from kdsam_core.modeling.checkpoint import CheckpointError, load_sam_decoder_weights
from kdsam_core.modeling.teachers import (
    MODEL_NAMES,
    build_device,
    build_kdsam_from_teacher,
    build_teacher_sam,
    load_imagenet_trunk_file,
    load_teacher_sam,
    save_teacher_state,
)
from kdsam_core.modeling.tiny import tiny_config
from tests.core.kdsam_testutil import SIZE, tiny_teacher


def test_tiny_teacher_round_trips_through_a_checkpoint_file(tmp_path):
    teacher = tiny_teacher()
    path = save_teacher_state(teacher, tmp_path / "tiny.pth")
    loaded = load_teacher_sam("tiny", path)
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        out = loaded.image_encoder(x)
        assert out.shape == (1, 256, SIZE // 16, SIZE // 16)
        assert torch.equal(out, teacher.image_encoder(x))


def test_wrong_kind_of_file_names_file_kind_and_keys(tmp_path):
    path = save_teacher_state(tiny_teacher(), tmp_path / "not_vit_b.pth")
    with pytest.raises(CheckpointError) as info:
        load_teacher_sam("vit_b", path)
    message = str(info.value)
    assert "not_vit_b.pth" in message and "SAM ViT-B" in message
    assert "keys of the wrong shape" in message and "image_encoder." in message and "vs expected" in message


def test_mobilesam_kind_rejects_a_sam_file(tmp_path):
    path = save_teacher_state(tiny_teacher(), tmp_path / "sam.pth")
    with pytest.raises(
        CheckpointError, match=r"sam.pth does not look like a MobileSAM \(TinyViT\) checkpoint.*missing keys"
    ):
        load_teacher_sam("vit_t", path)


def test_truncated_and_missing_files_are_named(tmp_path):
    path = save_teacher_state(tiny_teacher(), tmp_path / "cut.pth")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pth.*truncated"):
        load_teacher_sam("vit_h", path)
    with pytest.raises(CheckpointError, match=r"nothing\.pth"):
        load_teacher_sam("vit_l", tmp_path / "nothing.pth")


def test_kdsam_takes_prompt_encoder_and_decoder_from_the_teacher(tmp_path):
    teacher = tiny_teacher(seed=3)
    path = save_teacher_state(teacher, tmp_path / "tiny.pth")
    model = build_kdsam_from_teacher("tiny", path, tiny_config(SIZE))
    for key, value in teacher.state_dict().items():
        if key.startswith(("prompt_encoder.", "mask_decoder.")):
            assert torch.equal(model.state_dict()[key], value), key
    assert type(model.image_encoder).__name__ == "StudentEncoder"


def test_imagenet_trunk_initialisation_from_a_local_file(tmp_path):
    import torchvision

    torch.manual_seed(5)
    resnet = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(resnet.state_dict(), path)
    model = build_kdsam_from_teacher("tiny", None, tiny_config(SIZE), imagenet_weights=path)
    assert torch.equal(model.image_encoder.trunk[0].weight, resnet.conv1.weight)
    assert torch.equal(model.image_encoder.trunk[7][1].conv2.weight, resnet.layer4[1].conv2.weight)
    bad = save_teacher_state(tiny_teacher(), tmp_path / "teacher.pth")
    with pytest.raises(CheckpointError, match=r"teacher\.pth"):
        load_imagenet_trunk_file(model, bad)


@pytest.mark.parametrize("name,total", [("kdsam", 28_687_728), ("sam_vit_b", 93_735_472), ("mobilesam", 10_130_092)])
def test_params_prints_json_counts(capsys, name, total):
    assert main(["params", "--model", name]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert set(counts) == {"total", "image_encoder", "prompt_encoder", "mask_decoder"}
    assert counts["total"] == total
    assert counts["total"] == counts["image_encoder"] + counts["prompt_encoder"] + counts["mask_decoder"]


def test_params_with_a_missing_checkpoint_is_a_clear_error(capsys, tmp_path):
    assert main(["params", "--model", "sam_vit_h", "--checkpoint", str(tmp_path / "sam_vit_h.pth")]) == 2
    assert "sam_vit_h checkpoint not found" in capsys.readouterr().err


@pytest.mark.parametrize("kind", list(registry.TEACHERS))
def test_registry_entries_describe_the_model_they_build(kind):
    teacher = registry.TEACHERS[kind]
    with build_device(kind):
        encoder = build_teacher_sam(kind).image_encoder
    assert int(encoder.img_size) == teacher.img_size
    if teacher.family == registry.MOBILESAM_FAMILY:  # TinyViT: its neck reads the last stage
        assert encoder.neck[0].in_channels == teacher.embed_dim
    else:  # SAM's ViT (and the test ViT)
        assert encoder.patch_embed.proj.out_channels == teacher.embed_dim
    assert MODEL_NAMES[teacher.name] == kind
    assert teacher.official == (teacher.family != registry.TEST_FAMILY)


def test_registry_names_the_official_files_and_the_default_teacher():
    assert {t.kind: t.checkpoint for t in registry.OFFICIAL_TEACHERS} == {
        "vit_h": "sam_vit_h_4b8939.pth",
        "vit_l": "sam_vit_l_0b3195.pth",
        "vit_b": "sam_vit_b_01ec64.pth",
        "vit_t": "mobile_sam.pt",
    }
    assert registry.DEFAULT_TEACHER == "vit_h"
    assert list(MODEL_NAMES) == ["kdsam", "sam_vit_h", "sam_vit_l", "sam_vit_b", "mobilesam", "tiny_teacher"]
    with pytest.raises(ValueError, match=r"unknown teacher kind 'vit_x'; choose one of \['tiny', 'vit_b'"):
        registry.teacher("vit_x")


def test_cli_choices_come_from_the_registry():
    parser = build_parser()
    distill = parser._subparsers._group_actions[0].choices["distill"]
    teacher = next(a for a in distill._actions if a.dest == "teacher")
    assert teacher.choices == ["vit_h", "vit_l", "vit_b", "vit_t", "tiny"] and teacher.default == "vit_h"
    params = parser._subparsers._group_actions[0].choices["params"]
    model = next(a for a in params._actions if a.dest == "model")
    assert model.choices == ["kdsam", "sam_vit_h", "sam_vit_l", "sam_vit_b", "mobilesam"]


def test_missing_sam_decoder_file_names_the_file_and_the_sam_kinds(tmp_path):
    from kdsam_core.config import KDSamConfig
    from kdsam_core.modeling import build_kdsam

    with pytest.raises(CheckpointError, match=r"SAM \(vit_h/vit_l/vit_b\) checkpoint not found: .*sam_vit_b\.pth"):
        load_sam_decoder_weights(build_kdsam(KDSamConfig.tiny()), tmp_path / "sam_vit_b.pth")
