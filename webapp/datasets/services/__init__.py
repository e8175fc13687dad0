"""Business logic of datasets, one module per step: uploads ─► queueing ─► validation ─► confirmation ─►
imports (+ sample_files) ─► removal; thumbnails and housekeeping beside. The flow is in ``sessions``.
"""

from webapp.datasets.services.confirmation import confirm
from webapp.datasets.services.errors import DatasetRejected
from webapp.datasets.services.housekeeping import collect_garbage
from webapp.datasets.services.imports import run_import
from webapp.datasets.services.queueing import enqueue_import, enqueue_validation, requeue_pending
from webapp.datasets.services.removal import cancel, delete_dataset, delete_upload
from webapp.datasets.services.sample_files import store_sample
from webapp.datasets.services.sessions import ACTIVE_STATES, SETTLED_STATES
from webapp.datasets.services.thumbnails import thumbnail
from webapp.datasets.services.uploads import create_folder_import, create_upload, receive_chunk
from webapp.datasets.services.validation import validate

__all__ = [
    "ACTIVE_STATES",
    "SETTLED_STATES",
    "DatasetRejected",
    "cancel",
    "collect_garbage",
    "confirm",
    "create_folder_import",
    "create_upload",
    "delete_dataset",
    "delete_upload",
    "enqueue_import",
    "enqueue_validation",
    "receive_chunk",
    "requeue_pending",
    "run_import",
    "store_sample",
    "thumbnail",
    "validate",
]
