"""Where the worker loop runs: one process, ``torchrun`` ranks, or Ray Train workers.

``DistContext.create()`` reads what the launcher set up: an already initialised process group
(Ray Train's ``TorchTrainer``), ``torchrun``'s ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (it then
initialises gloo on CPU or NCCL on GPU), or nothing (a single process). ``LOCAL_WORLD_SIZE``
(set by torchrun and Ray Train) is the number of training processes on this node, which share
its cores (``train.threads``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    launcher: str = "local"
    local_world_size: int = 1  # training processes on this node
    reserved_cpus: float | None = None  # CPUs the scheduler reserved for this process (Ray)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    @classmethod
    def create(cls, use_gpu: bool | None = None) -> DistContext:
        use_gpu = torch.cuda.is_available() if use_gpu is None else use_gpu
        if dist.is_available() and dist.is_initialized():
            rank, world = dist.get_rank(), dist.get_world_size()
            local = int(os.environ.get("LOCAL_RANK", 0))
            launcher = "ray" if os.environ.get("RAY_TRAIN_WORKER") or _in_ray() else "torchrun"
        elif int(os.environ.get("WORLD_SIZE", "1")) > 1:
            rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
            local = int(os.environ.get("LOCAL_RANK", 0))
            dist.init_process_group("nccl" if use_gpu else "gloo")
            launcher = "torchrun"
        else:
            rank, world, local, launcher = 0, 1, 0, "local"
        device = torch.device(f"cuda:{local}") if use_gpu else torch.device("cpu")
        if use_gpu:
            torch.cuda.set_device(device)
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world)) if world > 1 else 1
        return cls(rank, world, local, device, launcher, local_world)


def _in_ray() -> bool:
    try:
        import ray.train

        return ray.train.get_context().get_world_size() >= 1
    except Exception:
        return False


def all_reduce_mean(x: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    if ctx.distributed:
        x = x.clone()
        dist.all_reduce(x)
        x /= ctx.world_size
    return x
