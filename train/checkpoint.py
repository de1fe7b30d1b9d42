"""Checkpoints with torch.distributed.checkpoint (DCP): complete or invisible, last K kept.

Layout of ``OUTPUT/checkpoints/step-00001000/``::

    .metadata, __*_*.distcp     DCP: sharded model + optimizer state (each rank writes its own shards)
    rank-00000.pt ...           per-rank RNG state (CPU and CUDA generators)
    COMPLETE.json               written last by rank 0: step, loader/guard state, resolved config, file sizes

A checkpoint is written to ``step-XXXXXXXX.partial`` and renamed after every rank has finished and
``COMPLETE.json`` is in place, so a crash mid-save leaves only a ``.partial`` directory that resume ignores.
``COMPLETE.json`` lists every file's size; loading checks them first, so a truncated copy is a clear error
instead of a confusing failure deep inside DCP. The directory must be on a filesystem all ranks share.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    get_model_state_dict,
    get_state_dict,
    set_model_state_dict,
    set_state_dict,
)

log = logging.getLogger(__name__)

COMPLETE = "COMPLETE.json"
_STEP_DIR = re.compile(r"^step-(\d{8})$")


def step_dir(root: Path, step: int) -> Path:
    return root / f"step-{step:08d}"


def list_complete(root: Path) -> list[tuple[int, Path]]:
    """(step, dir) of every complete checkpoint under ``root``, oldest first."""
    if not root.is_dir():
        return []
    found = []
    for d in root.iterdir():
        m = _STEP_DIR.match(d.name)
        if m and (d / COMPLETE).is_file():
            found.append((int(m.group(1)), d))
    return sorted(found)


def read_complete(ckpt: Path) -> dict[str, Any]:
    """The metadata of a complete checkpoint, after checking every file's size; a clear error otherwise."""
    ckpt = Path(ckpt)
    marker = ckpt / COMPLETE
    if not ckpt.is_dir():
        raise ValueError(f"checkpoint directory not found: {ckpt}")
    if not marker.is_file():
        raise ValueError(f"{ckpt} is not a complete checkpoint (no {COMPLETE}; an interrupted save?)")
    try:
        meta = json.loads(marker.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{marker}: damaged ({exc})") from exc
    for name, size in meta["files"].items():
        path = ckpt / name
        if not path.is_file():
            raise ValueError(f"checkpoint {ckpt} is damaged: {name} is missing")
        if path.stat().st_size != size:
            raise ValueError(
                f"checkpoint {ckpt} is damaged: {name} has {path.stat().st_size} bytes, {size} were written"
            )
    return meta


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def rng_state() -> dict[str, Any]:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def save(
    root: Path,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train_state: dict[str, Any],
    config: dict[str, Any],
    keep_last: int,
) -> Path:
    """Save a checkpoint of ``step`` (all ranks call this); returns its final directory."""
    final = step_dir(root, step)
    partial = final.with_name(final.name + ".partial")
    rank = _rank()
    if rank == 0:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
    _barrier()
    model_sd, optim_sd = get_state_dict(model, optimizer)
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(partial))
    torch.save(rng_state(), partial / f"rank-{rank:05d}.pt")
    _barrier()
    if rank == 0:
        files = {p.name: p.stat().st_size for p in sorted(partial.iterdir()) if p.is_file()}
        meta = {"step": step, "train_state": train_state, "config": config, "files": files}
        tmp = partial / (COMPLETE + ".partial")
        tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, partial / COMPLETE)
        if final.exists():  # a rollback re-saves a step it had saved before
            shutil.rmtree(final)
        os.replace(partial, final)
        for _old_step, old in list_complete(root)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
        log.info("checkpoint saved: %s", final)
    _barrier()
    return final


def load(ckpt: Path, model: nn.Module, optimizer: torch.optim.Optimizer | None) -> dict[str, Any]:
    """Restore model (+ optimizer, + this rank's RNG) from ``ckpt``; returns its COMPLETE.json metadata."""
    meta = read_complete(ckpt)
    if optimizer is not None:
        model_sd, optim_sd = get_state_dict(model, optimizer)
        state = {"model": model_sd, "optim": optim_sd}
    else:
        state = {"model": get_model_state_dict(model)}
    try:
        dcp.load(state, checkpoint_id=str(ckpt))
    except Exception as exc:  # DCP raises CheckpointException/RuntimeError variants; name the directory
        raise ValueError(f"checkpoint {ckpt} could not be loaded: {exc}") from exc
    if optimizer is not None:
        set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    else:
        set_model_state_dict(model, state["model"])
    rng_file = Path(ckpt) / f"rank-{_rank():05d}.pt"
    if optimizer is not None and rng_file.is_file():
        rng = torch.load(rng_file, weights_only=True)
        torch.set_rng_state(rng["cpu"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state(rng["cuda"])
    return meta


def load_model_weights(ckpt: Path, model: nn.Module) -> dict[str, Any]:
    """Single-process load of the model weights only (export, generation): no process group needed."""
    meta = read_complete(ckpt)
    state = {"model": model.state_dict()}
    try:
        dcp.load(state, checkpoint_id=str(ckpt))
    except Exception as exc:  # as above: name the directory
        raise ValueError(f"checkpoint {ckpt} could not be loaded: {exc}") from exc
    model.load_state_dict(state["model"])
    return meta
