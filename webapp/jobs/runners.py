"""What each job kind does: gather inputs from the database, call ``kdsam_core``, register outputs.

Every runner takes ``(job, reporter)`` and returns the job's result dict. Runs live in
``<data dir>/jobs/<id>-<created>/``; a second attempt of the same job resumes from the checkpoint there.
Embedding caches are shared between jobs under ``<data dir>/cache/`` (keyed by image content,
model weights and preprocessing version).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from kdsam_core.training.data import Sample
from webapp.jobs.models import Job
from webapp.jobs.progress import JobProgressReporter
from webapp.registry import services as registry
from webapp.registry.models import ModelVersion


def job_dir(job: Job) -> Path:
    """The job's run folder; named by id and creation time, so a reused id never resumes a stranger's run."""
    path = settings.STUDIO.data_dir / "jobs" / f"{job.pk}-{job.created_at:%Y%m%dT%H%M%S%f}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(name: str) -> Path:
    return settings.STUDIO.data_dir / "cache" / name


def dataset_of(job: Job):
    from webapp.datasets.models import Dataset

    return Dataset.objects.get(pk=job.params["dataset"], team_id=job.team_id)


def samples_of(dataset, splits: tuple[str, ...] | None, labelled: bool = True) -> list[Sample]:
    """The dataset's items of ``splits`` (all when ``None``) as ``kdsam_core`` samples."""
    media = Path(settings.MEDIA_ROOT)
    items = dataset.items.order_by("item_id")
    if splits is not None:
        items = items.filter(split__in=splits)
    if labelled:
        items = items.exclude(mask_file="")
    return [
        Sample(
            image=media / item.image_file, mask=(media / item.mask_file) if item.mask_file else None, id=item.item_id
        )
        for item in items
    ]


def training_data(dataset, split: str, samples: list[Sample]) -> dict:
    return {"dataset": dataset.pk, "dataset_name": dataset.name, "split": split, "items": len(samples)}


def fresh_model(version: ModelVersion):
    """A private copy of a version's model (training must not touch the cached serving copy)."""
    from kdsam_core.modeling.teachers import load_model

    model, _ = load_model(version.architecture, Path(version.checkpoint.path))
    return model


def resume_wanted(job: Job, reporter: JobProgressReporter) -> bool:
    """Resume when an earlier attempt left an epoch checkpoint (one cancelled before its first epoch did not).

    The checkpoint is the record of the epochs the run finished: the job's history is completed from
    it, since a worker killed between writing it and reporting the epoch never stored that entry.
    """
    from kdsam_core.training.common import checkpoint_history

    state_path = job_dir(job) / "last.pt"
    if not state_path.exists():
        return False
    reporter.restore_history(checkpoint_history(state_path))
    return True


# ---------------------------------------------------------------------------------------------


def run_distill(job: Job, reporter: JobProgressReporter) -> dict:
    from kdsam_core.modeling.checkpoint import load_kdsam
    from kdsam_core.modeling.teachers import build_kdsam_from_teacher, load_teacher_sam
    from kdsam_core.training.distill import DistillConfig, distill

    p = job.params
    dataset = dataset_of(job)
    train, val = samples_of(dataset, ("train",), labelled=False), samples_of(dataset, ("val",), labelled=False)
    checkpoint = registry.teacher_checkpoint(p["teacher"])
    reporter.log(
        f"teacher {p['teacher']} from {checkpoint.name}; {len(train)} training and {len(val)} validation images"
    )
    teacher = load_teacher_sam(p["teacher"], checkpoint)
    imagenet = registry.imagenet_resnet50_file() if p["imagenet_init"] else None
    model = build_kdsam_from_teacher(
        p["teacher"], checkpoint, teacher=teacher, imagenet_weights=imagenet, seed=p["seed"]
    )
    config = DistillConfig(
        epochs=p["epochs"],
        batch_size=p["batch_size"],
        lr=p["lr"],
        weight_decay=p["weight_decay"],
        loss=p["loss"],
        perceptual_weight=p["perceptual_weight"],
        early_stopping_patience=p["early_stopping_patience"],
        plateau_patience=p["plateau_patience"],
        seed=p["seed"],
    )
    result = distill(
        model,
        teacher,
        train,
        val,
        job_dir(job),
        config,
        cache_dir=cache_dir("teacher"),
        teacher_kind=p["teacher"],
        resume=resume_wanted(job, reporter),
        callback=reporter,
        metadata={"job": job.pk, "dataset": dataset.name},
    )
    trained, metadata = load_kdsam(result.checkpoint)
    version = registry.register_files(
        trained,
        result.checkpoint,
        name=f"kdsam-distilled-{p['teacher']}-job{job.pk}",
        weights=ModelVersion.Weights.TRAINED,
        source=f"job {job.pk}",
        metadata=metadata,
        copy=True,
        state=ModelVersion.State.DRAFT,
        team_id=job.team_id,
        job=job,
        teacher=p["teacher"],
        training_data=training_data(dataset, "train", train),
        created_by=job.owner,
        metrics={"distillation": {"best_val_loss": result.best_val_loss, "best_epoch": result.best_epoch}},
    )
    return {
        "model_version": version.pk,
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "stopped_early": result.stopped_early,
        "cache": result.cache,
    }


def run_finetune(job: Job, reporter: JobProgressReporter) -> dict:
    from kdsam_core.modeling.checkpoint import load_kdsam
    from kdsam_core.training.finetune import FinetuneConfig, finetune
    from kdsam_core.training.prompts import PromptConfig

    p = job.params
    dataset = dataset_of(job)
    base = ModelVersion.objects.get(pk=p["model_version"])
    train, val = samples_of(dataset, ("train",)), samples_of(dataset, ("val",))
    reporter.log(f"fine-tuning {base.name} on {dataset.name}: {len(train)} training and {len(val)} validation pairs")
    config = FinetuneConfig(
        epochs=p["epochs"],
        batch_size=p["batch_size"],
        lr=p["lr"],
        weight_decay=p["weight_decay"],
        loss=p["loss"],
        prompts=PromptConfig(
            mode=p["prompt_mode"],
            box_jitter=p["box_jitter"],
            positive_points=p["positive_points"],
            negative_points=p["negative_points"],
        ),
        early_stopping_patience=p["early_stopping_patience"],
        seed=p["seed"],
    )
    result = finetune(
        fresh_model(base),
        train,
        val,
        job_dir(job),
        config,
        cache_dir=cache_dir("student"),
        resume=resume_wanted(job, reporter),
        callback=reporter,
        metadata={"job": job.pk, "dataset": dataset.name, "parent": base.pk},
    )
    trained, metadata = load_kdsam(result.checkpoint)
    evaluation = result.evaluation or {}
    version = registry.register_files(
        trained,
        result.checkpoint,
        name=f"{base.name}-ft-{dataset.name}-job{job.pk}"[:200],
        weights=ModelVersion.Weights.TRAINED,
        source=f"job {job.pk}",
        metadata=metadata,
        copy=True,
        decoder_onnx=Path(result.onnx["single"]),
        state=ModelVersion.State.DRAFT,
        team_id=job.team_id,
        job=job,
        parent=base,
        teacher=base.teacher,
        training_data=training_data(dataset, "train", train),
        created_by=job.owner,
    )
    if evaluation:  # the team's record of its validation split, like an evaluate job's
        registry.record_evaluation(
            job, version, dataset, split="val", protocol=evaluation.get("protocol", ""), stats=evaluation
        )
    return {
        "model_version": version.pk,
        "best_epoch": result.best_epoch,
        "evaluation": _summary(evaluation),
        "cache": result.cache,
    }


def run_evaluate(job: Job, reporter: JobProgressReporter) -> dict:
    from kdsam_core.evaluation.evaluate import compare_models
    from kdsam_core.evaluation.reports import write_reports
    from kdsam_core.training.prompts import EVAL_PROTOCOL, PromptConfig

    p = job.params
    dataset = dataset_of(job)
    splits = None if p["split"] == "all" else (p["split"],)
    samples = samples_of(dataset, splits)
    if not samples:
        raise ValueError(f"the {p['split']} split of {dataset.name} has no labelled images to evaluate on")
    versions = list(ModelVersion.objects.filter(pk__in=p["model_versions"]))
    models = {f"{v.name} (v{v.pk})": fresh_model(v) for v in versions}
    protocol = EVAL_PROTOCOL if p["prompt_mode"] == "box" else PromptConfig(mode=p["prompt_mode"], box_jitter=0)
    reporter.log(f"evaluating {len(models)} models on {len(samples)} images of {dataset.name} ({p['split']})")
    comparison = compare_models(
        models,
        {dataset.name: samples},
        protocol=protocol,
        seed=p["seed"],
        callback=reporter,
        model_info={f"{v.name} (v{v.pk})": {"model_version": v.pk} for v in versions},
    )
    out = job_dir(job) / "report"
    files = write_reports(comparison, out, models=models)
    summary = comparison.summary()
    for version in versions:  # the team's own record; the versions themselves are not changed
        stats = summary.get(dataset.name, {}).get(f"{version.name} (v{version.pk})")
        if stats is not None:
            registry.record_evaluation(
                job, version, dataset, split=p["split"], protocol=protocol.to_dict(), stats=stats
            )
    return {
        "summary": summary,
        "protocol": protocol.to_dict(),
        "files": {key: str(Path(path).relative_to(job_dir(job))) for key, path in files.items()},
    }


def run_export(job: Job, reporter: JobProgressReporter) -> dict:
    from kdsam_core.export import quantize_dynamic_onnx

    version = ModelVersion.objects.get(pk=job.params["model_version"])
    result: dict = {"model_version": version.pk, "decoder": version.decoder_onnx.name}
    if not job.params["quantize"]:
        return result
    own = version.team_id == job.team_id
    derived = job.model_versions.first()  # a retry after the copy was registered
    if derived is None and not (own and registry.has_quantized_decoder(version)):
        quantized = job_dir(job) / "decoder_int8.onnx"
        quantize_dynamic_onnx(Path(version.decoder_onnx.path), quantized)
        reporter.log(f"wrote {quantized.name} ({quantized.stat().st_size / 1e6:.1f} MB)")
        if own:  # the team's version gains its int8 decoder; nothing else of it changes
            version = registry.attach_quantized_decoder(version, quantized)
        else:  # a deployment-wide (or another team's) version never changes: the job's team gets a new one
            derived = registry.register_quantized_copy(
                version, quantized, team_id=job.team_id, job=job, created_by=job.owner
            )
            reporter.log(f"registered {derived.name} (v{derived.pk}), a draft of this team")
    else:
        reporter.log("the int8 decoder exists already; kept")
    if derived is not None:
        result["source_version"] = version.pk
        version = derived
    return {
        **result,
        "model_version": version.pk,  # the version holding both decoders
        "decoder": version.decoder_onnx.name,
        "decoder_int8": version.decoder_onnx_quantized.name,
    }


def run_embed(job: Job, reporter: JobProgressReporter) -> dict:
    import torch

    from kdsam_core.training.caches import fill_cache
    from kdsam_core.training.common import PreparedImages
    from kdsam_core.training.finetune import student_cache

    dataset = dataset_of(job)
    version = ModelVersion.objects.get(pk=job.params["model_version"])
    model = registry.load_model(version)
    samples = samples_of(dataset, None, labelled=False)
    images = PreparedImages(samples, model.image_encoder.img_size)
    cache = student_cache(model, cache_dir("student"))  # the cache fine-tuning reads
    stats = fill_cache(
        model.image_encoder,
        images,
        cache,
        torch.device("cpu"),
        callback=reporter,
        phase="embed",
        what="student embeddings",
    )
    return {"images": len(samples), "cache_hits": stats.hits, "computed": stats.misses}


def _summary(evaluation: dict) -> dict:
    return {k: v for k, v in evaluation.items() if k != "records"}


RUNNERS: dict[str, Callable[[Job, JobProgressReporter], dict]] = {
    "distill": run_distill,
    "finetune": run_finetune,
    "evaluate": run_evaluate,
    "export": run_export,
    "embed": run_embed,
}
