"""Multi-process training under ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node N -m kdsam_core distill ...`` sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``;
:func:`setup_distributed` then initialises the process group (NCCL on CUDA, gloo on CPU). Each global
batch of ``batch_size`` images is split into equal contiguous shards, one per rank, so the averaged
DDP gradient equals the single-process gradient of the same global batch. BatchNorm statistics are
synchronised across ranks (``nn.SyncBatchNorm`` on CUDA; :class:`AllReduceBatchNorm2d` on CPU/gloo,
where ``SyncBatchNorm`` is not supported), so the forward pass too matches the single-process one.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_with_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def setup_distributed(device: torch.device) -> DistInfo:
    """Initialise the process group when launched by torchrun; a no-op otherwise."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    if not launched_with_torchrun():
        return DistInfo()
    backend = "nccl" if device.type == "cuda" else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank)


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(indices: list[int], info: DistInfo) -> list[int]:
    """This rank's contiguous share of a global batch (global batch must divide by world size)."""
    if not info.enabled:
        return indices
    if len(indices) % info.world_size:
        raise ValueError(f"global batch of {len(indices)} does not split over {info.world_size} ranks")
    per_rank = len(indices) // info.world_size
    return indices[info.rank * per_rank : (info.rank + 1) * per_rank]


def all_reduce_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if not info.enabled:
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / info.world_size


def broadcast_object(obj, info: DistInfo):
    if not info.enabled:
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


class AllReduceBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are all-reduced over ranks (works with gloo on CPU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            from torch.distributed.nn.functional import all_reduce

            # Two passes (mean, then centred squares) for the same accuracy as BatchNorm's own kernel.
            count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
            total = all_reduce(torch.cat([x.sum(dim=(0, 2, 3)), count]))
            n = total[-1]
            mean = total[:-1] / n
            centred = x - mean.view(1, -1, 1, 1)
            var = all_reduce((centred * centred).sum(dim=(0, 2, 3))) / n
        # The buffers exist exactly when track_running_stats (BatchNorm's own rule); named for the checker.
        running_mean, running_var, tracked = self.running_mean, self.running_var, self.num_batches_tracked
        with torch.no_grad():
            if (
                self.track_running_stats
                and running_mean is not None
                and running_var is not None
                and tracked is not None
            ):
                tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1.0 / float(tracked)
                running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                running_var.mul_(1 - momentum).add_(momentum * var.detach() * n / max(float(n) - 1, 1.0))
        y = centred / torch.sqrt(var.view(1, -1, 1, 1) + self.eps)
        if self.affine:
            y = y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return y


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Swap BatchNorm2d layers for rank-synchronised ones (state dict keys unchanged)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _convert_cpu(module)


def _convert_cpu(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, AllReduceBatchNorm2d):
        new = AllReduceBatchNorm2d(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats
        )
        new.load_state_dict(module.state_dict())
        new.train(module.training)
        return new
    for name, child in module.named_children():
        module._modules[name] = _convert_cpu(child)
    return module
