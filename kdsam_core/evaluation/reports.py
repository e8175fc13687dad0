"""Reports of a model comparison: JSON, and a Markdown table in the layout of the paper's Table 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kdsam_core.evaluation.evaluate import Comparison
from kdsam_core.training.prompts import describe_protocol

#: The paper's Table 1 (Dice), for reference columns in reports.
PAPER_TABLE1 = {
    "Kvasir-SEG": {"SAM": 0.8715, "MobileSAM": 0.8719, "KD SAM": 0.8586},
    "Fetal Head": {"SAM": 0.9755, "MobileSAM": 0.9734, "KD SAM": 0.9774},
    "ISIC 2017": {"SAM": 0.9091, "MobileSAM": 0.9055, "KD SAM": 0.9114},
    "Breast Ultrasound": {"SAM": 0.9051, "MobileSAM": 0.8985, "KD SAM": 0.8216},
}


def _fmt(value: Any, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown_table(comparison: Comparison, metric: str = "dice") -> str:
    """Rows = datasets, columns = models, cells = mean Dice (Table 1 layout), then details."""
    summary = comparison.summary()
    models = list(comparison.models)
    title = "Dice" if metric == "dice" else "IoU"
    lines = [
        f"Table 1. {title} score comparison across datasets (mean over images).",
        "",
        f"Prompt protocol: {describe_protocol(comparison.protocol)} (seed {comparison.seed}).",
        "",
        "| Dataset | " + " | ".join(models) + " |",
        "|---|" + "---|" * len(models),
    ]
    for dataset, by_model in summary.items():
        cells = [_fmt((by_model.get(m) or {}).get(metric, {}).get("mean")) for m in models]
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    params = []
    for m in models:
        total = (comparison.models[m].get("parameters") or {}).get("total")
        params.append("–" if total is None else f"{total / 1e6:.1f}M")
    lines.append("| Parameters | " + " | ".join(params) + " |")
    lines += [
        "",
        f"Details ({title}: n, mean, median, 95% bootstrap CI of the mean):",
        "",
        "| Dataset | Model | n | mean | median | 95% CI |",
        "|---|---|---|---|---|---|",
    ]
    for dataset, by_model in summary.items():
        for m in models:
            s = (by_model.get(m) or {}).get(metric)
            if not s:
                continue
            lines.append(
                f"| {dataset} | {m} | {s['n']} | {_fmt(s['mean'])} | {_fmt(s['median'])} | "
                f"[{_fmt(s['ci_low'])}, {_fmt(s['ci_high'])}] |"
            )
    weights = [f"- **{m}**: {info.get('weights', 'unknown')}" for m, info in comparison.models.items()]
    lines += ["", "Weights:", *weights, ""]
    return "\n".join(lines)


def write_reports(
    comparison: Comparison, out_dir: Path | str, figures: bool = True, models=None, device: str = "cpu"
) -> dict[str, str]:
    """Write ``results.json``, ``table1.md`` (Dice), ``table1_iou.md``, ``figure2_dice.png`` and,
    when ``models`` (name → model) are given, ``figure3_cases.png``; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    json_path = out_dir / "results.json"
    json_path.write_text(json.dumps(comparison.to_dict(), indent=1, default=str))
    paths["json"] = str(json_path)
    for metric, name in (("dice", "table1.md"), ("iou", "table1_iou.md")):
        path = out_dir / name
        path.write_text(markdown_table(comparison, metric))
        paths[f"markdown_{metric}"] = str(path)
    if figures:
        from kdsam_core.evaluation.figures import dice_boxplot_and_bars, overlay_grid

        paths["figure2"] = str(dice_boxplot_and_bars(comparison, out_dir / "figure2_dice.png"))
        grid = overlay_grid(comparison, models, out_dir / "figure3_cases.png", device=device) if models else None
        if grid is not None:
            paths["figure3"] = str(grid)
    return paths
