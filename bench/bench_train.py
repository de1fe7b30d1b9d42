"""Training throughput and MFU of ``train.model.Transformer`` under FSDP2 (or plain), on CPU or one/many GPUs.

    # GPU, one H100 (bf16, compile on, FSDP2 over a world of one):
    python bench/bench_train.py --device cuda --preset llm-jp-1.3b --steps 20 --compile --json bench_train.json
    # the same through torchrun (N processes, FSDP2 sharding across them):
    torchrun --standalone --nproc_per_node=1 bench/bench_train.py --device cuda --preset llm-jp-1.3b --compile
    # CPU, what the tests can run:
    python bench/bench_train.py --device cpu --preset debug --steps 10 --seq-len 128

Synthetic uniform token ids (throughput does not depend on the text) unless ``--tokens-dir`` points at real token
shards. Timed steps follow untimed warm-up steps (compilation, allocator warm-up). MFU counts 6N + attention
FLOPs per token (PaLM appendix B) against the device's dense bf16 peak (H100 SXM 989, A100 312 TFLOP/s).
If ``torch.compile`` fails, the model is rebuilt eagerly and the result says so; a ``--max-seconds`` budget cuts the
timed loop short rather than overrun. Results are printed and written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from jpcorpus.config import replace_dotted  # noqa: E402
from train import hardware  # noqa: E402
from train.config import MODEL_PRESETS, ParallelConfig  # noqa: E402
from train.model import Transformer, flops_per_token, num_params  # noqa: E402
from train.parallelize import parallelize  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--preset", default="debug", choices=sorted(MODEL_PRESETS))
    p.add_argument("--vocab-size", type=int, help="override the preset's vocabulary")
    p.add_argument("--steps", type=int, default=10, help="timed optimizer steps")
    p.add_argument("--warmup-steps", type=int, default=3, help="untimed steps first (compile, allocator)")
    p.add_argument("--seq-len", type=int, default=2048)
    p.add_argument("--micro-batch-size", type=int, default=4)
    p.add_argument("--mode", choices=("fsdp", "plain"), default="fsdp", help="FSDP2 (bf16 params) or plain autocast")
    p.add_argument("--ac", choices=("none", "selective", "full"), default="none", help="activation checkpointing")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--dtype", choices=("bf16", "fp32"), default=None, help="default: bf16 on cuda, fp32 on cpu")
    p.add_argument("--tokens-dir", help="real token shards instead of synthetic ids")
    p.add_argument("--peak-tflops", type=float, default=0.0, help="per device; default: looked up from the GPU name")
    p.add_argument("--max-seconds", type=float, default=150.0, help="stop the timed loop after this long")
    p.add_argument("--json", default="bench_train.json", help="where to write the results")
    return p.parse_args(argv)


def init_dist(device_type: str) -> tuple[int, int]:
    backend = "nccl" if device_type == "cuda" else "gloo"
    if "RANK" in os.environ:
        if device_type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend)
    else:
        if device_type == "cuda":
            torch.cuda.set_device(0)
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    return dist.get_rank(), dist.get_world_size()


def build(args, cfg, device, dtype, compile_model: bool):
    torch.manual_seed(0)
    if args.mode == "fsdp":
        with torch.device("meta"):
            model = Transformer(cfg)
        pcfg = ParallelConfig(
            mixed_precision="bf16" if dtype == torch.bfloat16 else "fp32",
            activation_checkpointing=args.ac,
            compile=compile_model,
        )
        parallelize(model, pcfg, device)
        model.to_empty(device=device)
        model.init_weights(buffer_device=device)
    else:
        model = Transformer(cfg).to(device)
        model.init_weights()
        if compile_model:
            for block in model.layers.values():
                block.compile(fullgraph=True)
    fused = device.type == "cuda" and args.mode == "plain"
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=fused or None)
    return model, opt


def batches(args, cfg, device, rank):
    gen = torch.Generator().manual_seed(rank)
    if args.tokens_dir:
        from train.data import PackedSequences, TokenCorpus

        packed = PackedSequences(TokenCorpus(args.tokens_dir, "train"), args.seq_len, seed=0)
        i = rank * 10_000
        while True:
            rows = [packed.sample(i + b)[1].tokens for b in range(args.micro_batch_size)]
            i += args.micro_batch_size
            t = torch.tensor(__import__("numpy").stack(rows))
            yield t[:, :-1].to(device, non_blocking=True), t[:, 1:].to(device, non_blocking=True)
    while True:
        t = torch.randint(0, cfg.vocab_size, (args.micro_batch_size, args.seq_len + 1), generator=gen)
        yield t[:, :-1].to(device, non_blocking=True), t[:, 1:].to(device, non_blocking=True)


def train_step(model, opt, x, y, autocast_dtype, device):
    with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        logits = model(x)
    loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def warm_up(args, cfg, device, dtype, compiled, autocast_dtype, notes, rank):
    """Build and run the untimed steps; if compilation fails, rebuild eagerly and say so."""
    model, opt = build(args, cfg, device, dtype, compiled)
    data = batches(args, cfg, device, rank)
    try:
        for _ in range(max(1, args.warmup_steps)):
            loss = train_step(model, opt, *next(data), autocast_dtype, device)
        sync(device)
        return model, opt, loss, compiled
    except torch.OutOfMemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - compile can fail in many ways; fall back and say so
        if not compiled:
            raise
        notes.append(f"torch.compile failed ({type(exc).__name__}: {str(exc)[:300]}); fell back to eager")
        if rank == 0:
            traceback.print_exc()
    del model, opt
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return warm_up(args, cfg, device, dtype, False, autocast_dtype, notes, rank)


def run(args) -> dict:
    device_type = args.device
    if device_type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda but no CUDA device is visible")
    rank, world = init_dist(device_type)
    device = torch.device("cuda", torch.cuda.current_device()) if device_type == "cuda" else torch.device("cpu")
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[
        args.dtype or ("bf16" if device_type == "cuda" else "fp32")
    ]
    if device_type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    cfg = MODEL_PRESETS[args.preset]
    overrides = {"max_seq_len": max(cfg.max_seq_len, args.seq_len)}
    if args.vocab_size:
        overrides["vocab_size"] = args.vocab_size
    cfg = replace_dotted(cfg, overrides)
    autocast_dtype = dtype if (args.mode == "plain" and dtype != torch.float32) else None
    device_name = torch.cuda.get_device_name(device) if device_type == "cuda" else "cpu"
    peak = args.peak_tflops or (hardware.detect_peak_tflops(device_name) if device_type == "cuda" else 0.0)

    notes = []
    compiled = args.compile
    t0 = time.perf_counter()
    while True:
        try:
            model, opt, loss, compiled = warm_up(args, cfg, device, dtype, compiled, autocast_dtype, notes, rank)
            break
        except torch.OutOfMemoryError:
            # Too big a micro-batch for this card: halve it rather than lose the whole measurement.
            if args.micro_batch_size == 1:
                raise
            notes.append(f"out of memory at micro-batch {args.micro_batch_size}; retried with half")
            args.micro_batch_size //= 2
            model = opt = None
            torch.cuda.empty_cache()
    data = batches(args, cfg, device, rank)
    warmup_s = time.perf_counter() - t0
    if device_type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    num_steps, start = 0, time.perf_counter()
    while num_steps < args.steps:
        loss = train_step(model, opt, *next(data), autocast_dtype, device)
        num_steps += 1
        if time.perf_counter() - start > args.max_seconds:
            sync(device)
            notes.append(f"stopped after {num_steps} timed steps: --max-seconds {args.max_seconds} reached")
            break
    sync(device)
    elapsed = time.perf_counter() - start
    tokens = num_steps * args.micro_batch_size * args.seq_len * world
    tps = tokens / elapsed
    flops_tok = flops_per_token(cfg, args.seq_len)
    mfu = flops_tok * tps / (peak * 1e12 * world) if peak else None
    if device_type == "cuda":
        peak_mem = torch.cuda.max_memory_allocated(device) / 2**30
    else:
        import resource

        peak_mem = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {
        "preset": args.preset,
        "num_params": num_params(cfg),
        "device": device_name,
        "world_size": world,
        "mode": args.mode,
        "dtype": str(dtype).removeprefix("torch."),
        "compile_requested": args.compile,
        "compiled": compiled,
        "activation_checkpointing": args.ac,
        "seq_len": args.seq_len,
        "micro_batch_size": args.micro_batch_size,
        "timed_steps": num_steps,
        "warmup_s": round(warmup_s, 2),
        "step_s": elapsed / max(num_steps, 1),
        "tokens_per_s": tps,
        "tokens_per_s_per_device": tps / world,
        "flops_per_token": flops_tok,
        "peak_tflops_per_device": peak or None,
        "mfu": mfu,
        "peak_memory_gib": peak_mem,
        "final_loss": float(loss.item()),
        "torch": torch.__version__,
        "notes": notes,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        result = run(args)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if int(os.environ.get("RANK", 0)) == 0:
        mfu = f"{result['mfu']:.1%}" if result["mfu"] is not None else "n/a (no peak for this device)"
        print(
            f"{result['preset']} ({result['num_params'] / 1e6:.0f}M) on {result['world_size']} x {result['device']}, "
            f"{result['mode']} {result['dtype']}, compile={result['compiled']}, seq {result['seq_len']} x "
            f"mb {result['micro_batch_size']}: {result['tokens_per_s']:,.0f} tokens/s "
            f"({result['step_s'] * 1000:.0f} ms/step), MFU {mfu}, peak memory {result['peak_memory_gib']:.1f} GiB"
        )
        for note in result["notes"]:
            print("note:", note)
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1), encoding="utf-8")
        print("results:", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
