"""FSDP2 training under `torchrun --standalone --nproc_per_node=2` (gloo, CPU) on real Aozora token shards.

Four short runs of the debug model share one token directory:
  A: 44 steps straight (one full epoch is 42 steps of 16 sequences), checkpoints at 22 and 44;
  B: 22 steps, then C: the same directory resumed to 44 -> must equal A bit for bit;
  D: planted corrupt batches -> one skipped spike, then three in a row -> rollback past them.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import torch
from test_train_corpus import SP_MODEL, aozora_documents, write_shards

from pipeline.tokenize import run as tokenize
from train import checkpoint as ckpt
from train.data import PackedSequences, TokenCorpus

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "configs" / "train_debug.toml"
SEQ_LEN, GLOBAL_BATCH = 64, 16  # micro-batch 8 x 2 ranks


def torchrun(overrides: dict[str, object], nproc: int = 2) -> subprocess.CompletedProcess:
    sets = []
    for key, value in overrides.items():
        sets += ["--set", f"{key}={json.dumps(value)}"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    cmd += ["-m", "jpcorpus", "train", "--config", str(CONFIG), *sets]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fsdp")
    write_shards(root / "shards", aozora_documents())
    argv = ["--input", str(root / "shards"), "--tokenizer", str(SP_MODEL), "--output", str(root / "tokens")]
    assert tokenize([*argv, "--val-fraction", "0.1"]) == 0
    base = {
        "data.tokens_dir": str(root / "tokens"),
        "data.micro_batch_size": 8,
        "optim.decay_steps": 44,  # fixed, so a 22-step run has the same schedule as the 44-step one
        "run.log_every_steps": 1,
        "checkpoint.every_steps": 22,
        "checkpoint.keep_last": 3,
        "eval.every_steps": 22,
    }
    torchrun({**base, "run.output_dir": str(root / "A"), "run.max_steps": 44})
    torchrun({**base, "run.output_dir": str(root / "B"), "run.max_steps": 22})
    torchrun({**base, "run.output_dir": str(root / "B"), "run.max_steps": 44})
    torchrun(
        {
            **base,
            "run.output_dir": str(root / "D"),
            "run.max_steps": 30,
            "debug.corrupt_batches": [20, 25, 26, 27],
            "guard.spike_factor": 1.2,
            "guard.window_steps": 10,
        }
    )
    return root


def train_losses(run_dir: Path) -> dict[int, dict]:
    out = {}
    for rec in read_jsonl(run_dir / "metrics.jsonl"):
        if "loss" in rec:
            assert rec["step"] not in out, f"step {rec['step']} logged twice"
            out[rec["step"]] = rec
    return out


def test_loss_falls_on_real_text(runs):
    losses = train_losses(runs / "A")
    assert sorted(losses) == list(range(1, 45))
    first = sum(losses[s]["loss"] for s in range(1, 4)) / 3
    last = sum(losses[s]["loss"] for s in range(42, 45)) / 3
    assert first > 8.5  # ~ln(8000) = 8.99 at init
    assert last < first - 1.5, (first, last)
    val = {r["step"]: r["val_loss"] for r in read_jsonl(runs / "A" / "metrics.jsonl") if "val_loss" in r}
    assert val[44] < val[22] < 8.5
    assert all(math.isfinite(r["grad_norm"]) and r["tokens_per_s"] > 0 for r in losses.values())


def test_resume_reproduces_the_uninterrupted_run_bit_for_bit(runs):
    a, b = train_losses(runs / "A"), train_losses(runs / "B")
    assert sorted(b) == list(range(1, 45))
    for step in range(1, 45):
        assert a[step]["loss"] == b[step]["loss"], step
        assert a[step]["grad_norm"] == b[step]["grad_norm"], step
    events = [e["event"] for e in read_jsonl(runs / "B" / "events.jsonl")]
    assert events.count("resume") == 1
    for rank in (0, 1):
        name = f"provenance/rank-{rank:05d}.jsonl"
        assert (runs / "A" / name).read_text() == (runs / "B" / name).read_text()
    # The final weights agree exactly too.
    from train.export_hf import load_checkpoint_model

    model_a, _ = load_checkpoint_model(ckpt.step_dir(runs / "A" / "checkpoints", 44))
    model_b, _ = load_checkpoint_model(ckpt.step_dir(runs / "B" / "checkpoints", 44))
    for (name, pa), (_, pb) in zip(model_a.state_dict().items(), model_b.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), name


def test_provenance_covers_every_token_of_the_epoch_exactly_once(runs):
    corpus = TokenCorpus(runs / "tokens", "train")
    packed = PackedSequences(corpus, SEQ_LEN, seed=1234)
    covered: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for rank in (0, 1):
        records = read_jsonl(runs / "A" / "provenance" / f"rank-{rank:05d}.jsonl")
        assert [r["step"] for r in records] == list(range(1, 45))
        assert all(r["status"] == "trained" and r["rank"] == rank for r in records)
        for r in records:
            for epoch, doc_id, lo, hi in r["spans"]:
                if epoch == 0:
                    covered[doc_id].append((lo, hi))
    lengths = dict(zip(corpus.doc_ids, corpus.doc_len.tolist(), strict=True))
    num_covered = 0
    for doc_id, spans in covered.items():
        spans.sort()
        for (_, hi), (lo, _) in zip(spans, spans[1:], strict=False):
            assert hi <= lo, f"{doc_id}: token range seen twice in epoch 0"
        num_covered += sum(hi - lo for lo, hi in spans)
        assert spans[-1][1] <= lengths[doc_id]
    assert num_covered == packed.samples_per_epoch * SEQ_LEN
    # Only the epoch's tail (< seq_len tokens, by design) is not an input; every other document is complete.
    assert corpus.num_tokens - num_covered < SEQ_LEN + 1
    complete = [d for d, s in covered.items() if sum(hi - lo for lo, hi in s) == lengths[d]]
    assert len(complete) >= corpus.num_docs - 1


def test_spike_guard_skips_a_planted_batch_and_rolls_back_after_three(runs):
    events = read_jsonl(runs / "D" / "events.jsonl")
    skips = [e for e in events if e["event"] == "spike_skip"]
    rollbacks = [e for e in events if e["event"] == "rollback"]
    # Batch 20 = samples [304, 320): skipped alone, training goes on.
    assert skips[0]["samples"] == [19 * GLOBAL_BATCH, 20 * GLOBAL_BATCH] and skips[0]["consecutive"] == 1
    # Batches 25-27 in a row: three spikes, then back to the step-22 checkpoint with the data cursor kept.
    assert [s["samples"][0] // GLOBAL_BATCH + 1 for s in skips[1:]] == [25, 26, 27]
    assert [s["consecutive"] for s in skips[1:]] == [1, 2, 3]
    assert len(rollbacks) == 1 and rollbacks[0]["to_step"] == 22
    # The checkpoint at step 22 had drawn 23 batches (batch 20 was skipped); everything up to batch 27 is skipped.
    assert rollbacks[0]["skipped_samples"] == [23 * GLOBAL_BATCH, 27 * GLOBAL_BATCH]
    end = events[-1]
    assert end["event"] == "end" and end["step"] == 30 and end["skipped"] == 4 and end["rollbacks"] == 1
    losses = train_losses(runs / "D")
    assert sorted(losses) == list(range(1, 31)) and all(r["loss"] < 8.0 for s, r in losses.items() if s > 12)
    # Provenance: each step once per rank, and no trained step contains a planted batch.
    planted = {(n - 1) * GLOBAL_BATCH for n in (20, 25, 26, 27)}
    for rank in (0, 1):
        trained = [
            r for r in read_jsonl(runs / "D" / "provenance" / f"rank-{rank:05d}.jsonl") if r["status"] == "trained"
        ]
        assert [r["step"] for r in trained] == list(range(1, 31))
        assert not planted & {r["samples"][0] for r in trained}


def test_export_matches_transformers_llama_logits(runs, tmp_path):
    transformers = pytest.importorskip("transformers")
    import sentencepiece as spm

    from train.export_hf import export, load_checkpoint_model

    step_dir = ckpt.step_dir(runs / "A" / "checkpoints", 44)
    out = export(step_dir, tmp_path / "hf")
    assert (out / "tokenizer.model").read_bytes() == SP_MODEL.read_bytes()
    ours, _ = load_checkpoint_model(step_dir)
    hf = transformers.LlamaForCausalLM.from_pretrained(str(out), dtype=torch.float32).eval()
    sp = spm.SentencePieceProcessor(model_file=str(SP_MODEL))
    ids = torch.tensor([sp.encode("禅智内供の鼻と云えば、池の尾で知らない者はない。長さは五六寸あって")])
    with torch.no_grad():
        a, b = ours(ids), hf(ids).logits
    assert a.shape == b.shape == (1, ids.shape[1], 8000)
    assert torch.allclose(a, b, atol=1e-5, rtol=1e-5), (a - b).abs().max()
    assert torch.equal(a.argmax(-1), b.argmax(-1))


def test_damaged_checkpoint_is_refused_before_training(runs, tmp_path):
    from jpcorpus.cli import main as cli_main

    run_dir = tmp_path / "run"
    shutil.copytree(runs / "A" / "checkpoints", run_dir / "checkpoints")
    newest = ckpt.list_complete(run_dir / "checkpoints")[-1][1]
    shard = next(newest.glob("*.distcp"))
    shard.write_bytes(shard.read_bytes()[:100])
    with pytest.raises(ValueError, match="damaged"):
        ckpt.read_complete(newest)
    overrides = [f"data.tokens_dir={json.dumps(str(runs / 'tokens'))}", f"run.output_dir={json.dumps(str(run_dir))}"]
    args = ["train", "--config", str(CONFIG)] + [x for o in overrides for x in ("--set", o)]
    assert cli_main(args) == 2
