"""Building blocks of the jobs tests: a team, a ready dataset of real images, a tiny model version."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
PAIRS = [
    (
        "kvasir",
        "tests/fixtures/images/kvasir_cju0qkwl35piu0993l0dewei2.jpg",
        "tests/fixtures/images/kvasir_cju0qkwl35piu0993l0dewei2_mask.jpg",
        "train",
    ),
    ("busi", "tests/fixtures/images/busi_benign_111.png", "tests/fixtures/images/busi_benign_111_mask.png", "train"),
    (
        "isic",
        "tests/fixtures/datasets/isic2017/ISIC-2017_Training_Data/ISIC_0010444.jpg",
        "tests/fixtures/datasets/isic2017/ISIC-2017_Training_Part1_GroundTruth/ISIC_0010444_segmentation.png",
        "val",
    ),
    (
        "isic2",
        "tests/fixtures/datasets/isic2017/ISIC-2017_Training_Data/ISIC_0013037.jpg",
        "tests/fixtures/datasets/isic2017/ISIC-2017_Training_Part1_GroundTruth/ISIC_0013037_segmentation.png",
        "test",
    ),
]


def make_team(name: str, users_roles: dict):
    from webapp.accounts.models import Team
    from webapp.accounts.services import add_member

    team = Team.objects.create(name=name)
    for user, role in users_roles.items():
        add_member(team, user, role)
    return team


def make_dataset(team, media_root: Path, name: str = "polyps"):
    """A ready dataset whose items are real images and masks copied into MEDIA_ROOT."""
    from webapp.datasets.models import Dataset, DatasetItem

    dataset = Dataset.objects.create(team=team, name=name, state=Dataset.State.READY, format="generic")
    for item_id, image, mask, split in PAIRS:
        stored = {}
        for kind, source in (("image", image), ("mask", mask)):
            data = (REPO_ROOT / source).read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            relative = f"test-datasets/{digest}{Path(source).suffix}"
            (media_root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO_ROOT / source, media_root / relative)
            stored[kind] = (relative, digest)
        with Image.open(REPO_ROOT / image) as img:
            width, height = img.size
        DatasetItem.objects.create(
            dataset=dataset,
            item_id=item_id,
            image_file=stored["image"][0],
            mask_file=stored["mask"][0],
            sha256=stored["image"][1],
            split=split,
            split_group=item_id,
            width=width,
            height=height,
        )
    return dataset


def make_tiny_model_version(team=None, state="published"):
    from kdsam_core.config import KDSamConfig
    from kdsam_core.modeling import build_kdsam
    from webapp.registry.models import ModelVersion
    from webapp.registry.services import register_model

    return register_model(
        build_kdsam(KDSamConfig.tiny(), seed=0),
        name="tiny-kdsam",
        weights=ModelVersion.Weights.TRAINED,
        source="test",
        team=team,
        state=state,
    )
