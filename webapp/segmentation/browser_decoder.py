"""The decoder the browser runs: the image's model version exported with all SAM mask candidates.

The registry's ``decoder.onnx`` inputs without ``orig_im_size``; outputs ``iou_predictions``
``[1, 4]`` and ``low_res_masks`` ``[1, 4, 256, 256]`` (logits): index 0 is SAM's single-mask output
(what the official single-mask export returns when there are several prompts), 1–3 the multimask
candidates (from which the single-mask export picks the highest predicted IoU for one click or one
box). The UI shows 1–3 with their IoU after the first prompt and lets the user pick.

The graph is the fast export (:mod:`kdsam_core.export.fast_decoder`) and leaves SAM's
post-processing to the original size to the browser (frontend/src/mask-upsample.ts), which does it
in a few milliseconds for the masks it needs: about half the per-prompt time of the official
graph (BENCHMARKS.md, decoder tables).

Exported once per model version (a few seconds) by a worker when it starts or after an embedding,
or on first request, and kept under ``MEDIA_ROOT/browser-decoders/``.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from django.conf import settings

from kdsam_core.export import export_decoder_onnx
from webapp.registry import services as registry_services
from webapp.registry.models import ModelVersion

_lock = threading.Lock()


def decoder_path(version: ModelVersion) -> Path:
    tag = (version.checkpoint_sha256 or "none")[:16]
    return Path(settings.MEDIA_ROOT) / "browser-decoders" / f"{version.pk}-{tag}" / "decoder-multimask-lowres.onnx"


def ensure_browser_decoder(version: ModelVersion, model=None) -> Path:
    """The multimask decoder ONNX of ``version``, exported on first use (atomic, safe across processes)."""
    import fcntl

    path = decoder_path(version)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # threads of this process, then other processes (two workers warming up, the web server's view)
    with _lock, open(path.with_name("export.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            return path
        model = model if model is not None else registry_services.load_model(version)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            exported = export_decoder_onnx(model, Path(tmp) / "decoder.onnx", multimask=True, postprocess=False)
            os.replace(exported, path)
    return path
