"""``jpcorpus plan --preset NAME --tokens N --gpus N --gpu h100``: size a pretraining run before paying for it.

Reports parameters, training FLOPs (6ND, and with attention), memory per GPU under FSDP2 (ZeRO-3) with bf16
compute, and wall-clock days at an assumed MFU. Memory per GPU is:

- model state, sharded over all GPUs: fp32 master weights (4 B) + fp32 gradients (4 B) + AdamW m, v (8 B) per
  parameter -> 16 N / G bytes;
- gathered bf16 blocks in flight: parameters and gradients of ~2 blocks (current + prefetched);
- activations per micro-batch (bf16, SDPA/flash attention so no T x T scores are kept), per block about
  ``s*b*d * (18 + 8*ffn/d)`` bytes (our block: norm inputs/outputs, q/k/v before and after RoPE, attention
  output, SwiGLU gate/up/product), or ``2*s*b*d`` for a checkpointed block (its input only) plus one block's
  activations during recomputation; plus the logits (bf16 output, fp32 copy and its gradient: 10 bytes per
  position per vocabulary entry).

These are estimates (allocator fragmentation and communication buffers come on top; ``overhead_gib`` adds a
fixed allowance); ``bench/bench_train.py`` measures the real peak.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass

from jpcorpus.config import replace_dotted
from jpcorpus.errors import UsageError
from train import hardware
from train.config import MODEL_PRESETS, ModelConfig
from train.model import flops_per_token, num_params
from train.parallelize import checkpointed_block_ids

GIB = 2**30


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    preset: str
    num_params: int
    tokens: float
    gpus: int
    gpu: str
    seq_len: int
    micro_batch_size: int
    activation_checkpointing: str
    model_state_gib: float  # per GPU
    gathered_blocks_gib: float
    activations_gib: float
    logits_gib: float
    overhead_gib: float
    total_gib: float
    gpu_memory_gib: float
    fits: bool
    flops_6nd: float
    flops_with_attention: float
    mfu: float
    days: float  # with attention FLOPs at the assumed MFU
    days_6nd: float


def block_activation_bytes(cfg: ModelConfig, seq_len: int, micro_batch: int) -> float:
    sbd = seq_len * micro_batch * cfg.d_model
    return sbd * (18 + 8 * cfg.ffn_dim / cfg.d_model)


def make_plan(
    preset: str,
    tokens: float,
    gpus: int,
    gpu: str,
    *,
    seq_len: int = 2048,
    micro_batch_size: int = 1,
    activation_checkpointing: str = "selective",
    mfu: float = 0.40,
    overhead_gib: float = 2.0,
    model_overrides: dict | None = None,
) -> Plan:
    if preset not in MODEL_PRESETS:
        raise UsageError(f"unknown preset {preset!r}; known: {sorted(MODEL_PRESETS)}")
    if gpus <= 0 or tokens <= 0 or not 0 < mfu <= 1:
        raise UsageError(f"need gpus > 0, tokens > 0 and 0 < mfu <= 1 (got {gpus}, {tokens}, {mfu})")
    try:
        device = hardware.lookup(gpu)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    cfg = replace_dotted(MODEL_PRESETS[preset], model_overrides or {})
    n = num_params(cfg)
    per_block = (num_params(cfg) - cfg.vocab_size * cfg.d_model * (1 if cfg.tie_embeddings else 2)) / cfg.n_layers
    model_state = 16 * n / gpus
    gathered = 2 * per_block * (2 + 2)  # two blocks' bf16 parameters and bf16 gradients
    ac_ids = checkpointed_block_ids(cfg.n_layers, activation_checkpointing)
    full_block = block_activation_bytes(cfg, seq_len, micro_batch_size)
    kept = (cfg.n_layers - len(ac_ids)) * full_block + len(ac_ids) * 2 * seq_len * micro_batch_size * cfg.d_model
    activations = kept + (full_block if ac_ids else 0)
    logits = 10 * seq_len * micro_batch_size * cfg.vocab_size
    total = (model_state + gathered + activations + logits) / GIB + overhead_gib
    flops_6nd = 6 * n * tokens
    flops_attn = flops_per_token(cfg, seq_len) * tokens
    seconds_per_flop = 1 / (gpus * device.peak_tflops * 1e12 * mfu)
    return Plan(
        preset=preset,
        num_params=n,
        tokens=tokens,
        gpus=gpus,
        gpu=gpu,
        seq_len=seq_len,
        micro_batch_size=micro_batch_size,
        activation_checkpointing=activation_checkpointing,
        model_state_gib=model_state / GIB,
        gathered_blocks_gib=gathered / GIB,
        activations_gib=activations / GIB,
        logits_gib=logits / GIB,
        overhead_gib=overhead_gib,
        total_gib=total,
        gpu_memory_gib=device.memory_gib,
        fits=total <= device.memory_gib,
        flops_6nd=flops_6nd,
        flops_with_attention=flops_attn,
        mfu=mfu,
        days=flops_attn * seconds_per_flop / 86400,
        days_6nd=flops_6nd * seconds_per_flop / 86400,
    )


def format_plan(p: Plan) -> str:
    return "\n".join(
        [
            f"preset {p.preset}: {p.num_params / 1e9:.3f} B parameters; {p.tokens / 1e9:.1f} B tokens "
            f"on {p.gpus} x {p.gpu} ({p.gpu_memory_gib:.0f} GiB)",
            f"memory per GPU (seq {p.seq_len}, micro-batch {p.micro_batch_size}, AC {p.activation_checkpointing}):",
            f"  model state (fp32 params + grads + AdamW, sharded)  {p.model_state_gib:8.2f} GiB",
            f"  gathered bf16 blocks in flight                     {p.gathered_blocks_gib:8.2f} GiB",
            f"  activations                                        {p.activations_gib:8.2f} GiB",
            f"  logits                                             {p.logits_gib:8.2f} GiB",
            f"  allowance (allocator, buffers, CUDA context)       {p.overhead_gib:8.2f} GiB",
            f"  total                                              {p.total_gib:8.2f} GiB -> "
            + ("fits" if p.fits else "DOES NOT FIT (more GPUs, smaller micro-batch or more checkpointing)"),
            f"compute: 6ND = {p.flops_6nd:.3e} FLOPs; with attention {p.flops_with_attention:.3e} FLOPs",
            f"time at {p.mfu:.0%} MFU: {p.days:.1f} days ({p.days_6nd:.1f} days counting 6ND only)",
        ]
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", required=True, choices=sorted(MODEL_PRESETS))
    parser.add_argument("--tokens", required=True, type=float, help="training tokens, e.g. 300e9")
    parser.add_argument("--gpus", required=True, type=int)
    parser.add_argument("--gpu", required=True, choices=sorted(hardware.DEVICES))
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--micro-batch-size", type=int, default=1)
    parser.add_argument("--ac", choices=("none", "selective", "full"), default="selective")
    parser.add_argument("--mfu", type=float, default=0.40, help="assumed model FLOPs utilisation")
    parser.add_argument("--vocab-size", type=int, help="override the preset's vocabulary (e.g. your tokenizer's)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def main(args: argparse.Namespace, extra: list[str]) -> int:
    if extra:
        raise UsageError(f"unexpected arguments {extra}")
    plan = make_plan(
        args.preset,
        args.tokens,
        args.gpus,
        args.gpu,
        seq_len=args.seq_len,
        micro_batch_size=args.micro_batch_size,
        activation_checkpointing=args.ac,
        mfu=args.mfu,
        model_overrides={"vocab_size": args.vocab_size} if args.vocab_size else None,
    )
    print(json.dumps(asdict(plan), indent=1) if args.json else format_plan(plan))
    return 0
