"""The ``kdsam`` subcommands end to end on tiny models: distill → embed → finetune → evaluate."""

from __future__ import annotations

import json

import pytest

from kdsam_core.cli import build_parser, main
from kdsam_core.modeling.teachers import save_teacher_state
from tests.core.kdsam_testutil import FIXTURES, set_threads, tiny_teacher

KVASIR = FIXTURES / "kvasir"
ISIC = FIXTURES / "isic"


@pytest.mark.parametrize("command", ["params", "distill", "finetune", "evaluate", "export", "embed"])
def test_every_subcommand_has_help_and_device(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--device" in text and "{auto,cpu,cuda}" in text


def _json(capsys) -> dict:
    out = capsys.readouterr().out
    return json.loads(out[out.index("{") :])


def test_distill_embed_finetune_evaluate_pipeline(tmp_path, capsys):
    set_threads()
    teacher = save_teacher_state(tiny_teacher(), tmp_path / "tiny_teacher.pth")
    run = tmp_path / "distill"
    assert (
        main(
            [
                "distill",
                "--teacher",
                "tiny",
                "--teacher-checkpoint",
                str(teacher),
                "--images",
                str(KVASIR / "images"),
                "--val-images",
                str(ISIC / "images"),
                "--epochs",
                "1",
                "--batch-size",
                "4",
                "--loss",
                "mse+perceptual",
                "--out",
                str(run),
                "--progress",
                "none",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    distilled = _json(capsys)
    assert distilled["cache"]["misses"] == 8 and distilled["epochs_run"] == 1
    assert distilled["loss"]["mode"] == "mse+perceptual"

    # the embed subcommand writes into the same teacher cache: everything is already there
    assert (
        main(
            [
                "embed",
                "--model",
                f"tiny_teacher={teacher}",
                "--images",
                str(KVASIR / "images"),
                "--cache",
                str(run / "cache"),
                "--progress",
                "none",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    embedded = _json(capsys)
    assert embedded["hit_rate"] == 1.0 and embedded["images"] == 4

    tuned = tmp_path / "finetune"
    assert (
        main(
            [
                "finetune",
                "--checkpoint",
                str(run / "kdsam.pt"),
                "--images",
                str(KVASIR / "images"),
                "--masks",
                str(KVASIR / "masks"),
                "--val-images",
                str(ISIC / "images"),
                "--val-masks",
                str(ISIC / "masks"),
                "--mask-suffix",
                "_segmentation",
                "--epochs",
                "1",
                "--batch-size",
                "4",
                "--no-onnx",
                "--out",
                str(tuned),
                "--progress",
                "none",
                "--device",
                "cpu",
            ]
        )
        == 2
    )  # the suffix applies to both folders: Kvasir masks have none
    assert "no mask" in capsys.readouterr().err
    assert (
        main(
            [
                "finetune",
                "--checkpoint",
                str(run / "kdsam.pt"),
                "--images",
                str(ISIC / "images"),
                "--masks",
                str(ISIC / "masks"),
                "--mask-suffix",
                "_segmentation",
                "--val-fraction",
                "0.25",
                "--epochs",
                "1",
                "--batch-size",
                "4",
                "--no-onnx",
                "--out",
                str(tuned),
                "--progress",
                "json",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    events = [json.loads(line) for line in out.splitlines() if line.startswith('{"kind"')]
    assert {"cache", "step", "epoch"} <= {e["kind"] for e in events}
    result = json.loads(out[out.index("{\n") :])
    assert result["evaluation"]["dice"]["n"] == 1

    report = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                "--model",
                f"KD-SAM:kdsam={tuned / 'kdsam.pt'}",
                "--model",
                f"random={run / 'kdsam.pt'}",
                "--model",
                f"teacher:tiny_teacher={teacher}",
                "--dataset",
                "Kvasir-SEG",
                str(KVASIR / "images"),
                str(KVASIR / "masks"),
                "--dataset",
                "ISIC 2017",
                str(ISIC / "images"),
                str(ISIC / "masks"),
                "_segmentation",
                "--out",
                str(report),
                "--no-figures",
                "--progress",
                "none",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    summary = _json(capsys)["summary"]
    assert set(summary) == {"Kvasir-SEG", "ISIC 2017"}
    assert set(summary["ISIC 2017"]) == {"KD-SAM", "random", "teacher"}
    assert "| Dataset | KD-SAM | random | teacher |" in (report / "table1.md").read_text()


@pytest.mark.parametrize(
    "argv,needle",
    [
        (
            ["distill", "--teacher", "vit_b", "--teacher-checkpoint", "{tmp}/sam_vit_b.pth", "--images", "{tmp}"],
            "vit_b teacher checkpoint not found",
        ),
        (
            ["finetune", "--checkpoint", "{tmp}/kdsam.pt", "--images", "{tmp}", "--masks", "{tmp}"],
            "KD-SAM checkpoint not found",
        ),
        (["evaluate", "--model", "sam_vit_h={tmp}/sam.pth", "--dataset", "x", "{tmp}", "{tmp}"], "sam.pth"),
        (
            ["evaluate", "--model", "random", "--dataset", "x", "{tmp}/nope", "{tmp}"],
            "image folder of dataset x not found",
        ),
        (
            ["embed", "--model", "mobilesam={tmp}/mobile_sam.pt", "--images", "{tmp}", "--cache", "{tmp}/c"],
            "mobile_sam.pt",
        ),
    ],
)
def test_missing_files_fail_with_a_clear_message(tmp_path, capsys, argv, needle):
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv] + ["--device", "cpu"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("kdsam: error:") and needle.replace("{tmp}", str(tmp_path)) in err
