"""``jpcorpus train --config FILE.toml [--set KEY=VALUE ...]``: pretraining with FSDP2, launched by torchrun.

    torchrun --standalone --nproc_per_node=8 -m jpcorpus train --config configs/train_gpt3_small.toml
    torchrun --nnodes=12 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 -m jpcorpus train ...

Without torchrun it runs as a single process. Every input problem (token directory, vocabulary, shapes, too
little data for the world size, a damaged checkpoint) is reported before the first step. Outputs under
``run.output_dir``: ``config.json``, ``metrics.jsonl`` (one line per logged step and per validation),
``events.jsonl`` (start/resume/spike skips/rollbacks/checkpoints), ``provenance/rank-*.jsonl``, ``checkpoints/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from collections import deque
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

from jpcorpus.config import parse_overrides, to_dict
from jpcorpus.errors import ConfigError, UsageError
from train import checkpoint as ckpt
from train import hardware
from train.config import GuardConfig, OptimConfig, TrainConfig, load_train_config
from train.data import PackedSequences, ShardedLoader, TokenCorpus, check_vocab, eval_batches
from train.model import Transformer, flops_per_token, num_params
from train.parallelize import parallelize

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE.toml", help="training config (see configs/)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. optim.lr=1e-3")


def lr_at(step: int, cfg: OptimConfig, max_steps: int) -> float:
    """Linear warmup to ``lr`` then cosine decay to ``lr * min_lr_ratio`` (step counts from 1)."""
    if cfg.warmup_steps and step <= cfg.warmup_steps:
        return cfg.lr * step / cfg.warmup_steps
    decay_steps = cfg.decay_steps or max(1, max_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / decay_steps)
    min_lr = cfg.lr * cfg.min_lr_ratio
    return min_lr + 0.5 * (cfg.lr - min_lr) * (1 + math.cos(math.pi * progress))


class SpikeGuard:
    """Flags a step whose loss exceeds ``spike_factor`` x the running mean of accepted steps (or is not finite)."""

    def __init__(self, cfg: GuardConfig) -> None:
        self.cfg = cfg
        self.history: deque[float] = deque(maxlen=cfg.window_steps)
        self.consecutive = 0

    def check(self, loss: float) -> str:
        """``"ok"``, ``"spike"`` (skip this batch) or ``"rollback"`` (too many spikes in a row)."""
        if not self.cfg.enabled:
            return "ok"
        mean = sum(self.history) / len(self.history) if self.history else math.inf
        spiking = not math.isfinite(loss) or (
            len(self.history) >= self.cfg.min_history_steps and loss > self.cfg.spike_factor * mean
        )
        if not spiking:
            self.consecutive = 0
            self.history.append(loss)
            return "ok"
        self.consecutive += 1
        return "rollback" if self.consecutive >= self.cfg.max_consecutive_spikes else "spike"

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history), "consecutive": self.consecutive}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = deque(state["history"], maxlen=self.cfg.window_steps)
        self.consecutive = int(state["consecutive"])


class Recorder:
    """Rank 0's JSONL metrics/events (and TensorBoard when asked); other ranks record nothing."""

    def __init__(self, out: Path, enabled: bool, tensorboard: bool) -> None:
        self.enabled = enabled
        self.metrics = out / "metrics.jsonl"
        self.events = out / "events.jsonl"
        self.tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise ConfigError(
                    "run.tensorboard = true needs the tensorboard package (pip install tensorboard)"
                ) from exc
            self.tb = SummaryWriter(str(out / "tensorboard"))

    def _append(self, path: Path, record: dict[str, Any]) -> None:
        if self.enabled:
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def metric(self, record: dict[str, Any]) -> None:
        self._append(self.metrics, record)
        if self.tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)) and value is not None:
                    self.tb.add_scalar(key, value, record["step"])

    def event(self, kind: str, **fields: Any) -> None:
        self._append(self.events, {"event": kind, "time": time.time(), **fields})
        if self.enabled:
            log.info("event %s %s", kind, fields)

    def truncate_metrics(self, last_step: int) -> None:
        """Resume/rollback re-does steps after ``last_step``: drop their metric lines so each step appears once."""
        if not self.enabled or not self.metrics.exists():
            return
        lines = self.metrics.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if json.loads(line)["step"] <= last_step]
        self.metrics.write_text("".join(kept), encoding="utf-8")


def init_distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank); a single process gets a world of one so FSDP2 runs the same code."""
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if "RANK" in os.environ:
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend)
        return dist.get_rank(), dist.get_world_size(), local_rank
    if backend == "nccl":
        torch.cuda.set_device(0)
    dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    return 0, 1, 0


def resolve_device(cfg: TrainConfig, local_rank: int) -> torch.device:
    if cfg.run.device == "cuda" or (cfg.run.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("run.device = 'cuda' but no CUDA device is visible")
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def build_optimizer(model: torch.nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        # Matrices decay; norms and embeddings do not (the embedding is also the tied output matrix).
        (decay if p.ndim >= 2 and "embed" not in name else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)


def memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (Linux)


def all_reduce_mean(value: torch.Tensor) -> float:
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value.item() / dist.get_world_size()


def compute_loss(model, inputs, targets, z_loss_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss to backprop, cross-entropy) for one micro-batch; z-loss (PaLM) keeps logits from drifting."""
    logits = model(inputs).float()  # (B, T, V)
    ce = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))
    if z_loss_weight:
        return ce + z_loss_weight * torch.logsumexp(logits, dim=-1).pow(2).mean(), ce
    return ce, ce


@torch.no_grad()
def validate(model, packed_val: PackedSequences, cfg: TrainConfig, rank: int, world: int, device) -> float | None:
    model.eval()
    total, n = torch.zeros((), device=device), 0
    for x, y in eval_batches(packed_val, cfg.data.micro_batch_size, cfg.eval.num_batches, rank, world):
        logits = model(x.to(device)).float()
        total += F.cross_entropy(logits.view(-1, logits.size(-1)), y.to(device).reshape(-1))
        n += 1
    model.train()
    return all_reduce_mean(total / n) if n else None


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run (or resume) training; returns a summary. Must be called on every rank."""
    rank, world, local_rank = init_distributed()
    device = resolve_device(cfg, local_rank)
    out = Path(cfg.run.output_dir)
    ckpt_root = out / "checkpoints"

    # --- everything that can be wrong with the inputs is checked before any model is built ---
    train_corpus = TokenCorpus(cfg.data.tokens_dir, "train")
    check_vocab(train_corpus.meta, cfg.model)
    if train_corpus.num_tokens == 0:
        raise ValueError(f"{cfg.data.tokens_dir}: the train split holds no tokens (empty token shards)")
    packed = PackedSequences(train_corpus, cfg.data.seq_len, cfg.data.seed)
    loader = ShardedLoader(packed, cfg.data, rank, world, out / "provenance" if cfg.data.provenance else None)
    val_corpus = TokenCorpus(cfg.data.tokens_dir, "val")
    packed_val = PackedSequences(val_corpus, cfg.data.seq_len, cfg.data.seed) if val_corpus.num_tokens > 1 else None
    existing = list_resumable(ckpt_root) if cfg.checkpoint.resume else []
    resume_meta = ckpt.read_complete(existing[-1][1]) if existing else None  # size-checks a damaged copy now

    recorder = Recorder(out, rank == 0, cfg.run.tensorboard)
    config_dict = to_dict(cfg)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config_dict, ensure_ascii=False, indent=1), encoding="utf-8")
        log.info("config: %s", json.dumps(config_dict, ensure_ascii=False))
        log.info(
            "model %s params, %d train docs / %d tokens, %d samples per epoch (%d tail tokens unused), "
            "%d sequences x %d tokens per step on %d rank(s), device %s",
            f"{num_params(cfg.model):,}", train_corpus.num_docs, train_corpus.num_tokens, packed.samples_per_epoch,
            train_corpus.num_tokens - 1 - packed.samples_per_epoch * cfg.data.seq_len, loader.global_batch,
            cfg.data.seq_len, world, device,
        )  # fmt: skip
        if packed_val is None:
            log.warning("validation split is empty: no validation loss will be reported")

    torch.manual_seed(cfg.run.seed)
    with torch.device("meta"):
        model = Transformer(cfg.model)
    parallelize(model, cfg.parallel, device)
    model.to_empty(device=device)
    model.init_weights(buffer_device=device)
    model.train()
    optimizer = build_optimizer(model, cfg.optim)
    guard = SpikeGuard(cfg.guard)

    step = 0
    if resume_meta is not None:
        step = restore(existing[-1][1], model, optimizer, loader, guard)
        loader.truncate_provenance(step)
        recorder.truncate_metrics(step)
        recorder.event("resume", step=step, checkpoint=str(existing[-1][1]))
    else:
        recorder.event("start", world_size=world, device=str(device))

    peak_tflops = cfg.run.peak_tflops or (
        hardware.detect_peak_tflops(torch.cuda.get_device_name(device)) if device.type == "cuda" else 0.0
    )
    flops_tok = flops_per_token(cfg.model, cfg.data.seq_len)
    tokens_per_step = loader.global_batch * cfg.data.seq_len
    num_skipped = num_rollbacks = 0
    window_start, window_tokens = time.perf_counter(), 0
    last_loss = math.nan

    while step < cfg.run.max_steps:
        corrupt = (loader.cursor // loader.global_batch + 1) in cfg.debug.corrupt_batches
        micro, record = loader.step_batches(corrupt=corrupt)
        ce_sum = torch.zeros((), device=device)
        for i, (x, y) in enumerate(micro):
            model.set_requires_gradient_sync(i == len(micro) - 1)  # reduce-scatter once per optimizer step
            loss, ce = compute_loss(model, x.to(device), y.to(device), cfg.optim.z_loss_weight)
            (loss / len(micro)).backward()
            ce_sum += ce.detach()
        step_loss = all_reduce_mean(ce_sum / len(micro))
        verdict = guard.check(step_loss)
        if verdict != "ok":
            optimizer.zero_grad(set_to_none=True)
            num_skipped += 1
            loader.log_provenance(step + 1, "skipped", record)
            recorder.event(
                "spike_skip", step=step + 1, loss=step_loss, consecutive=guard.consecutive, samples=record["samples"]
            )
            if verdict == "rollback":
                if num_rollbacks >= cfg.guard.max_rollbacks:
                    raise RuntimeError(
                        f"loss spikes persist after {num_rollbacks} rollbacks (step {step + 1}); stopping: "
                        "check the learning rate and the data (events.jsonl lists every skipped batch)"
                    )
                step = rollback(ckpt_root, model, optimizer, loader, guard, recorder, step)
                num_rollbacks += 1
            continue
        lr = lr_at(step + 1, cfg.optim, cfg.run.max_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        grad_norm = torch.nn.utils.clip_grad_norm_(
            model.parameters(), cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else math.inf
        )
        grad_norm = grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        last_loss = step_loss
        loader.log_provenance(step, "trained", record)
        window_tokens += tokens_per_step

        if step % cfg.run.log_every_steps == 0 or step == cfg.run.max_steps:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            elapsed = time.perf_counter() - window_start
            tps = window_tokens / elapsed if elapsed > 0 else 0.0
            mfu = flops_tok * tps / (peak_tflops * 1e12 * world) if peak_tflops else None
            recorder.metric(
                {
                    "step": step, "loss": step_loss, "lr": lr, "grad_norm": grad_norm.item(),
                    "tokens_per_s": tps, "mfu": mfu, "memory_gib": memory_gib(device),
                    "tokens_seen": loader.cursor * cfg.data.seq_len,
                }
            )  # fmt: skip
            if rank == 0:
                log.info(
                    "step %d loss %.4f lr %.2e grad_norm %.3f tokens/s %.0f mfu %s",
                    step, step_loss, lr, grad_norm.item(), tps, f"{mfu:.1%}" if mfu is not None else "n/a",
                )  # fmt: skip
            window_start, window_tokens = time.perf_counter(), 0
        if packed_val is not None and cfg.eval.every_steps and step % cfg.eval.every_steps == 0:
            val_loss = validate(model, packed_val, cfg, rank, world, device)
            recorder.metric({"step": step, "val_loss": val_loss})
        if (cfg.checkpoint.every_steps and step % cfg.checkpoint.every_steps == 0) or step == cfg.run.max_steps:
            save_checkpoint(ckpt_root, step, model, optimizer, loader, guard, config_dict, cfg)
            recorder.event("checkpoint", step=step)

    recorder.event("end", step=step, skipped=num_skipped, rollbacks=num_rollbacks)
    return {"step": step, "loss": last_loss, "skipped": num_skipped, "rollbacks": num_rollbacks}


def list_resumable(root: Path) -> list[tuple[int, Path]]:
    return ckpt.list_complete(root)


def save_checkpoint(root, step, model, optimizer, loader, guard, config_dict, cfg: TrainConfig) -> None:
    state = {"step": step, "loader": loader.state_dict(), "guard": guard.state_dict()}
    ckpt.save(root, step, model, optimizer, state, config_dict, cfg.checkpoint.keep_last)


def restore(path: Path, model, optimizer, loader: ShardedLoader, guard: SpikeGuard) -> int:
    meta = ckpt.load(path, model, optimizer)
    state = meta["train_state"]
    loader.load_state_dict(state["loader"])
    guard.load_state_dict(state["guard"])
    return int(state["step"])


def rollback(
    root: Path, model, optimizer, loader: ShardedLoader, guard: SpikeGuard, recorder: Recorder, step: int
) -> int:
    """Restore the newest checkpoint but keep the data cursor, so the offending data is skipped (PaLM, OPT)."""
    found = ckpt.list_complete(root)
    if not found:
        raise RuntimeError(
            f"{guard.consecutive} consecutive loss spikes at step {step + 1} and no checkpoint to roll back to; "
            "lower checkpoint.every_steps or raise guard.spike_factor"
        )
    cursor = loader.cursor
    ckpt_step = restore(found[-1][1], model, optimizer, loader, guard)
    skipped = [loader.cursor, cursor]
    loader.cursor = cursor
    guard.consecutive = 0
    loader.truncate_provenance(ckpt_step)
    recorder.truncate_metrics(ckpt_step)
    recorder.event(
        "rollback", from_step=step, to_step=ckpt_step, skipped_samples=skipped, checkpoint=str(found[-1][1])
    )
    return ckpt_step


def main(args: argparse.Namespace, extra: list[str]) -> int:
    if extra:
        raise UsageError(f"unexpected arguments {extra}")
    cfg = load_train_config(args.config, parse_overrides(args.set))
    try:
        summary = train(cfg)
    except (ValueError, FileNotFoundError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise UsageError(str(exc)) from exc
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if int(os.environ.get("RANK", 0)) == 0:
        print(json.dumps(summary))
    return 0
