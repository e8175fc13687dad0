"""Figures of a model comparison: Figure 2 (box plot + bar chart of Dice) and Figure 3 (cases)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kdsam_core.evaluation.evaluate import Comparison


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def dice_boxplot_and_bars(comparison: Comparison, path: Path | str, metric: str = "dice") -> Path:
    """(a) box plot and (b) bar chart (mean ± 95% CI) of per-image Dice per dataset and model."""
    plt = _pyplot()
    datasets = list(comparison.records)
    models = list(comparison.models)
    summary = comparison.summary()
    width = 0.8 / max(len(models), 1)
    colours = plt.get_cmap("tab10").colors
    fig, (ax_box, ax_bar) = plt.subplots(1, 2, figsize=(max(8, 3 * len(datasets) + 4), 4.5))
    for j, model in enumerate(models):
        positions = np.arange(len(datasets)) + (j - (len(models) - 1) / 2) * width
        data = [[r[metric] for r in comparison.records[d].get(model, [])] or [np.nan] for d in datasets]
        box = ax_box.boxplot(data, positions=positions, widths=width * 0.9, patch_artist=True, showfliers=True)
        for patch in box["boxes"]:
            patch.set_facecolor(colours[j % 10])
            patch.set_alpha(0.7)
        means = [summary[d].get(model, {}).get(metric, {}).get("mean") or 0.0 for d in datasets]
        low = [summary[d].get(model, {}).get(metric, {}).get("ci_low") or 0.0 for d in datasets]
        high = [summary[d].get(model, {}).get(metric, {}).get("ci_high") or 0.0 for d in datasets]
        errors = np.array([np.subtract(means, low), np.subtract(high, means)]).clip(min=0)
        ax_bar.bar(positions, means, width * 0.9, yerr=errors, capsize=3, color=colours[j % 10], label=model)
    for ax, title in ((ax_box, "(a) Box plot"), (ax_bar, "(b) Bar chart (mean, 95% CI)")):
        ax.set_xticks(np.arange(len(datasets)))
        ax.set_xticklabels(datasets, rotation=15)
        ax.set_ylabel("Dice" if metric == "dice" else metric)
        ax.set_ylim(0, 1.02)
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
    ax_bar.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Dice per dataset and model — prompts: {comparison.protocol.mode}")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def overlay_grid(
    comparison: Comparison, models, path: Path | str, cases: int = 2, reference: str | None = None, device: str = "cpu"
) -> Path | None:
    """Figure 3: the best and worst ``cases`` images per dataset by the ``reference`` model's Dice
    (default: the last model). Each row: the image with the ground-truth outline, then every model's
    prediction (red) on the same prompt. Predictions are recomputed for the chosen images only."""
    import torch

    from kdsam_core.evaluation.evaluate import predict

    plt = _pyplot()
    names = [m for m in comparison.models if m in models]
    if not names:
        return None
    reference = reference if reference in names else names[-1]
    rows = []
    for dataset, by_model in comparison.records.items():
        ref = by_model.get(reference, [])
        if not ref or dataset not in comparison.samples:
            continue
        order = [int(i) for i in np.argsort([r["dice"] for r in ref], kind="stable")]
        best = order[::-1][:cases]
        worst = [i for i in order[:cases] if i not in best]
        rows += [(dataset, i, "best") for i in best] + [(dataset, i, "worst") for i in worst]
    if not rows:
        return None
    fig, axes = plt.subplots(
        len(rows), len(names) + 1, figsize=(2.4 * (len(names) + 1), 2.4 * len(rows)), squeeze=False
    )
    dev = torch.device(device)
    for row, (dataset, i, kind) in enumerate(rows):
        sample = comparison.samples[dataset][i]
        prompt = comparison.prompts[dataset][i]
        image, gt = sample.load_image(), sample.load_mask()
        axes[row, 0].imshow(image)
        axes[row, 0].contour(gt, levels=[0.5], colors="lime", linewidths=1)
        if prompt.box is not None:
            x0, y0, x1, y1 = prompt.box
            axes[row, 0].add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="yellow", lw=0.8))
        axes[row, 0].set_title(f"{dataset} ({kind}): {sample.id[:14]}", fontsize=7)
        for col, name in enumerate(names, 1):
            pred = predict(models[name].to(dev).eval(), image, prompt, dev)
            dice = comparison.records[dataset][name][i]["dice"]
            axes[row, col].imshow(image)
            overlay = np.zeros((*pred.shape, 4))
            overlay[pred] = (1.0, 0.15, 0.15, 0.45)
            axes[row, col].imshow(overlay)
            axes[row, col].contour(gt, levels=[0.5], colors="lime", linewidths=0.8)
            axes[row, col].set_title(f"{name}: Dice {dice:.3f}", fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
