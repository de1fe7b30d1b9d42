"""FSDP2 sharding, activation checkpointing and compilation of ``train.model.Transformer`` (torchtitan's order).

Per block: activation checkpointing wrapper -> ``torch.compile`` -> ``fully_shard``; then ``fully_shard`` on the
root (embeddings, final norm, output). The model is expected on the meta device; the caller then runs
``to_empty(device=...)`` and ``init_weights()`` (or loads a checkpoint), so no rank ever holds the full model.
"""

from __future__ import annotations

import logging

import torch
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

from train.config import ParallelConfig

log = logging.getLogger(__name__)


def resolve_param_dtype(cfg: ParallelConfig, device: torch.device) -> torch.dtype:
    if cfg.mixed_precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return torch.bfloat16 if cfg.mixed_precision == "bf16" else torch.float32


def checkpointed_block_ids(num_layers: int, mode: str) -> set[int]:
    """Blocks whose activations are recomputed: none, every second one (layer-selective AC), or all."""
    match mode:
        case "none":
            return set()
        case "selective":
            return set(range(0, num_layers, 2))
        case "full":
            return set(range(num_layers))
        case _:
            raise ValueError(f"parallel.activation_checkpointing: invalid mode {mode!r}")


def parallelize(model: nn.Module, cfg: ParallelConfig, device: torch.device) -> nn.Module:
    """Shard ``model`` (a Transformer on the meta device) in place with FSDP2 over the default process group."""
    param_dtype = resolve_param_dtype(cfg, device)
    # bf16 compute, fp32 gradient reduction (BLOOM's lesson: bf16 params, but keep reductions and master weights
    # in fp32). The sharded master parameters and optimizer state stay fp32.
    mp = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32)
    ac_ids = checkpointed_block_ids(len(model.layers), cfg.activation_checkpointing)
    for name, block in list(model.layers.items()):
        if int(name) in ac_ids:
            block = checkpoint_wrapper(block, preserve_rng_state=False)
        if cfg.compile:
            block.compile(fullgraph=True)  # in place: parameter names (and so checkpoints) do not change
        model.layers[name] = block
        # The last block's parameters are needed again first in backward; keeping them avoids one all-gather.
        last = int(name) == len(model.layers) - 1
        fully_shard(block, mp_policy=mp, reshard_after_forward=cfg.reshard_after_forward and not last)
    fully_shard(model, mp_policy=mp, reshard_after_forward=cfg.reshard_after_forward)
    log.info(
        "FSDP2: %d blocks sharded, param dtype %s, reduce fp32, AC on %d block(s), compile=%s",
        len(model.layers),
        param_dtype,
        len(ac_ids),
        cfg.compile,
    )
    return model
