"""``kdsam datasets inspect|convert|split``: JSON output, exit codes, clear user errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

from kdsam_core.cli import main


def _run(capsys, *argv):
    code = main(["datasets", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_inspect_prints_the_report_as_json(capsys, datasets_kit):
    code, out, _ = _run(capsys, "inspect", datasets_kit.fixtures / "kvasir_seg")
    report = json.loads(out)
    assert code == 0
    assert (report["format"], report["pairs"], report["unlabelled"], report["problems"]) == ("kvasir_seg", 2, 0, [])


def test_inspect_accepts_a_zip_archive(tmp_path, capsys, datasets_kit):
    archive = datasets_kit.make_zip(tmp_path / "hc18.zip", folder=datasets_kit.fixtures / "hc18")
    code, out, _ = _run(capsys, "inspect", archive)
    assert code == 0 and json.loads(out)["format"] == "hc18"


def test_inspect_accepts_a_targz_archive(tmp_path, capsys, datasets_kit):
    archive = datasets_kit.make_targz(tmp_path / "busi.tar.gz", datasets_kit.fixtures / "busi")
    code, out, _ = _run(capsys, "inspect", archive, "--compact")
    assert code == 0 and json.loads(out)["class_counts"] == {"benign": 2, "malignant": 1} and out.count("\n") == 1


def test_inspect_exits_non_zero_on_an_unsafe_archive(tmp_path, capsys, datasets_kit):
    archive = datasets_kit.make_zip(tmp_path / "evil.zip", entries={"../../evil.png": b"x"})
    code, out, err = _run(capsys, "inspect", archive)
    assert code != 0 and [p["code"] for p in json.loads(out)["problems"]] == ["archive_path_traversal"]
    assert "archive_path_traversal" in err


def test_inspect_exits_non_zero_when_nothing_is_importable(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    code, out, _ = _run(capsys, "inspect", tmp_path)
    assert code != 0 and json.loads(out)["problems"][0]["code"] == "unknown_format"


def test_inspect_exits_zero_with_only_skippable_problems(tmp_path, capsys, datasets_kit):
    datasets_kit.generic_dataset(tmp_path, count=2)
    (tmp_path / "masks" / "img1.png").unlink()
    code, out, _ = _run(capsys, "inspect", tmp_path)
    assert code == 0 and json.loads(out)["problems"][0]["skippable"] is True


def test_inspect_missing_path_is_a_cli_error(tmp_path, capsys):
    code, out, err = _run(capsys, "inspect", tmp_path / "nope")
    assert code == 2 and out == "" and "does not exist" in err and str(tmp_path / "nope") in err


def test_inspect_limits_are_configurable(tmp_path, capsys, datasets_kit):
    archive = datasets_kit.make_zip(tmp_path / "kv.zip", folder=datasets_kit.fixtures / "kvasir_seg")
    code, out, _ = _run(capsys, "inspect", archive, "--max-files", "2")
    assert code == 1 and json.loads(out)["problems"][0]["code"] == "archive_too_many_files"
    code, out, _ = _run(capsys, "inspect", archive, "--max-pixels", "100")
    assert code == 1 and "decompression_bomb" in json.loads(out)["problem_counts"]


def test_inspect_format_option_overrides_detection(tmp_path, capsys, datasets_kit):
    code, out, _ = _run(capsys, "inspect", datasets_kit.fixtures / "kvasir_seg", "--format", "generic")
    assert code == 0 and json.loads(out)["format"] == "generic"


def test_convert_writes_manifest_images_and_masks(tmp_path, capsys, datasets_kit):
    code, out, _ = _run(capsys, "convert", datasets_kit.fixtures / "busi", tmp_path / "out")
    assert code == 0 and json.loads(out)["written"] == 3
    with open(tmp_path / "out" / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["id"] for r in rows} == {"benign (20)", "benign (51)", "malignant (158)"}
    assert all((tmp_path / "out" / r["image"]).is_file() and (tmp_path / "out" / r["mask"]).is_file() for r in rows)


def test_convert_of_an_unimportable_dataset_is_a_cli_error(tmp_path, capsys, datasets_kit):
    archive = datasets_kit.make_zip(tmp_path / "evil.zip", entries={"/etc/evil.png": b"x"})
    code, _, err = _run(capsys, "convert", archive, tmp_path / "out")
    assert code == 2 and "archive_absolute_path" in err and not (tmp_path / "out").exists()


def test_split_prints_a_deterministic_assignment(capsys, datasets_kit):
    code, out, _ = _run(capsys, "split", datasets_kit.fixtures / "hc18", "--seed", "4", "--ratios", "0.5,0.5,0")
    first = json.loads(out)
    _, again, _ = _run(capsys, "split", datasets_kit.fixtures / "hc18", "--seed", "4", "--ratios", "0.5,0.5,0")
    assert code == 0 and first == json.loads(again)
    assert first["splits"]["779_HC"] == first["splits"]["779_2HC"] and sum(first["counts"].values()) == 3


def test_split_with_bad_ratios_is_a_cli_error(capsys, datasets_kit):
    code, _, err = _run(capsys, "split", datasets_kit.fixtures / "hc18", "--ratios", "a,b")
    assert code == 2 and "--ratios" in err


def test_kdsam_module_entry_point_runs_inspect(datasets_kit):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kdsam_core",
            "datasets",
            "inspect",
            str(datasets_kit.fixtures / "isic2017"),
            "--compact",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["format"] == "isic"
    assert "django" not in result.stderr.lower()
