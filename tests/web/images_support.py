"""An ``Image`` row for tests that need one without uploading (no stored file: its path is never read)."""

from __future__ import annotations


def image_row(owner, **fields):
    """A 4×3 PNG image of ``owner`` on the active model version; ``fields`` override (``status``, ``task_id``…)."""
    from webapp.registry.services import ensure_active_model_version
    from webapp.segmentation.models import Image

    values = {
        "file": "images/x.png",
        "original_filename": "x.png",
        "content_type": "image/png",
        "width": 4,
        "height": 3,
        "sha256": "0" * 64,
        "model_version": ensure_active_model_version(),
        **fields,
    }
    return Image.objects.create(owner=owner, **values)
