"""Model, presets, config, packing and planner: fast single-process tests (torchrun ones: test_train_fsdp)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from test_train_corpus import SP_MODEL, aozora_documents, write_shards

from jpcorpus.cli import main as cli_main
from jpcorpus.errors import ConfigError
from pipeline.tokenize import run as tokenize
from train.config import MODEL_PRESETS, PUBLISHED, DataConfig, GuardConfig, ModelConfig, OptimConfig, load_train_config
from train.data import PackedSequences, ShardedLoader, TokenCorpus, check_vocab
from train.model import Transformer, num_params
from train.plan import make_plan
from train.train import SpikeGuard, lr_at

# Our blocks are Llama-style (RMSNorm, RoPE, SwiGLU at 8/3 d, no biases, no learned positions) while GPT-3 and
# LLM-jp v1 are GPT-2 style; with the same shapes the counts agree within 2 % (GPT-3 rounds its table too).
PARAM_TOLERANCE = 0.02


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_preset_parameter_count_matches_the_published_size(name):
    n = num_params(MODEL_PRESETS[name])
    published = PUBLISHED[name]["params"]
    assert abs(n - published) / published < PARAM_TOLERANCE, f"{name}: {n:,} vs {published:,.0f}"


@pytest.mark.parametrize("name", ["debug", "gpt3-small", "gpt3-13b", "llm-jp-13b"])
def test_num_params_formula_equals_the_built_model(name):
    with torch.device("meta"):
        model = Transformer(MODEL_PRESETS[name])
    assert sum(p.numel() for p in model.parameters()) == num_params(MODEL_PRESETS[name])


def test_forward_shapes_and_causality():
    torch.manual_seed(0)
    cfg = MODEL_PRESETS["debug"]
    model = Transformer(cfg)
    model.init_weights()
    x = torch.randint(0, cfg.vocab_size, (2, 16))
    logits = model(x)
    assert logits.shape == (2, 16, cfg.vocab_size)
    # Changing a later token never changes earlier logits.
    y = x.clone()
    y[:, 10] = (y[:, 10] + 1) % cfg.vocab_size
    assert torch.equal(model(y)[:, :10], logits[:, :10])
    assert not torch.equal(model(y)[:, 10:], logits[:, 10:])


def test_impossible_shapes_and_unknown_keys_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not divisible by model.n_heads"):
        ModelConfig(vocab_size=100, d_model=100, n_layers=1, n_heads=3)
    with pytest.raises(ConfigError, match="multiple of model.n_kv_heads"):
        ModelConfig(vocab_size=100, d_model=64, n_layers=1, n_heads=4, n_kv_heads=3)
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[model]\npreset = "debug"\n[data]\ntokens_dir = "x"\nseq_lenn = 3\n[run]\noutput_dir = "o"\nmax_steps = 1\n'
    )
    with pytest.raises(ConfigError, match="unknown key.*seq_lenn"):
        load_train_config(cfg)
    cfg.write_text('[model]\npreset = "gpt5"\n[data]\ntokens_dir = "x"\n[run]\noutput_dir = "o"\nmax_steps = 1\n')
    with pytest.raises(ConfigError, match="unknown preset"):
        load_train_config(cfg)
    cfg.write_text(
        '[model]\npreset = "debug"\n[data]\ntokens_dir = "x"\nseq_len = 512\n[run]\noutput_dir = "o"\nmax_steps = 1\n'
    )
    with pytest.raises(ConfigError, match="exceeds model.max_seq_len"):
        load_train_config(cfg)
    assert load_train_config(cfg, {"model.max_seq_len": 512, "model.preset": "gpt3-small"}).model.d_model == 768


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    cfg = OptimConfig(lr=1e-3, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(5, cfg, 100) == pytest.approx(5e-4)
    assert lr_at(10, cfg, 100) == pytest.approx(1e-3)
    assert lr_at(100, cfg, 100) == pytest.approx(1e-4)
    assert lr_at(55, cfg, 100) == pytest.approx(1e-4 + 0.5 * 9e-4)
    assert all(lr_at(s, cfg, 100) >= lr_at(s + 1, cfg, 100) for s in range(10, 100))


def test_spike_guard_decisions():
    guard = SpikeGuard(GuardConfig(spike_factor=1.5, window_steps=4, min_history_steps=3, max_consecutive_spikes=2))
    assert [guard.check(x) for x in (9.0, 20.0, 8.0, 7.0)] == ["ok"] * 4  # no decisions before 3 accepted steps
    assert guard.check(6.0) == "ok"
    assert guard.check(30.0) == "spike"  # > 1.5 x mean(20, 8, 7, 6)? mean 10.25 -> 15.4
    assert guard.check(float("nan")) == "rollback"
    guard.load_state_dict({"history": [5.0, 5.0, 5.0], "consecutive": 0})
    assert guard.check(7.4) == "ok" and guard.check(9.0) == "spike"  # mean(5, 5, 5, 7.4) x 1.5 = 8.4


@pytest.fixture(scope="module")
def tokens_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tokens")
    write_shards(root / "in", aozora_documents())
    argv = ["--input", str(root / "in"), "--tokenizer", str(SP_MODEL), "--output", str(root / "out")]
    assert tokenize([*argv, "--val-fraction", "0.1", "--max-docs-per-shard", "30"]) == 0
    return root / "out"


def test_packing_order_is_seeded_and_covers_each_epoch_exactly_once(tokens_dir):
    corpus = TokenCorpus(tokens_dir, "train")
    packed = PackedSequences(corpus, seq_len=32, seed=7)
    counts = np.zeros(corpus.num_tokens, dtype=np.int64)  # index by (doc offset in a flat numbering)
    flat_start = dict(zip(range(corpus.num_docs), np.concatenate(([0], np.cumsum(corpus.doc_len)[:-1])), strict=True))
    for k in range(packed.samples_per_epoch):
        epoch, sample = packed.sample(k)
        assert epoch == 0 and sample.tokens.shape == (33,)
        # The sample's tokens are exactly the documents' tokens named by its spans, followed by one target token.
        pieces = [corpus.doc_tokens(d, lo, hi) for d, lo, hi in sample.spans]
        assert np.array_equal(np.concatenate(pieces), sample.tokens[:32])
        for d, lo, hi in sample.spans:
            counts[flat_start[d] + lo : flat_start[d] + hi] += 1
    assert counts.max() == 1 and counts.sum() == packed.samples_per_epoch * 32
    # Epoch 1 uses a different document order; the same seed gives the same order.
    assert packed.sample(packed.samples_per_epoch)[1].spans != packed.sample(0)[1].spans
    again = PackedSequences(corpus, seq_len=32, seed=7)
    assert np.array_equal(again.sample(123)[1].tokens, packed.sample(123)[1].tokens)


def test_ranks_get_disjoint_samples_and_the_cursor_resumes(tokens_dir, tmp_path):
    corpus = TokenCorpus(tokens_dir, "train")
    packed = PackedSequences(corpus, seq_len=32, seed=7)
    cfg = DataConfig(tokens_dir=str(tokens_dir), seq_len=32, micro_batch_size=2, grad_accum_steps=2, seed=7)
    loaders = [ShardedLoader(packed, cfg, r, 2, tmp_path / "prov") for r in (0, 1)]
    batches = [ld.step_batches()[0] for ld in loaders]
    rows = {tuple(x[i].tolist()) for micro in batches for x, _ in micro for i in range(2)}
    assert len(rows) == 8  # 2 ranks x 2 micro-batches x 2 sequences, all different
    x, y = batches[0][0]
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are inputs shifted by one
    resumed = ShardedLoader(packed, cfg, 0, 2, None)
    resumed.load_state_dict(loaders[0].state_dict())
    assert torch.equal(resumed.step_batches()[0][0][0], loaders[0].step_batches()[0][0][0])
    with pytest.raises(ValueError, match="sample order would change"):
        resumed.load_state_dict({**loaders[0].state_dict(), "seq_len": 64})


def test_bad_data_inputs_are_clear_errors(tokens_dir, tmp_path):
    corpus = TokenCorpus(tokens_dir, "train")
    packed = PackedSequences(corpus, seq_len=32, seed=0)
    cfg = DataConfig(tokens_dir=str(tokens_dir), seq_len=32, micro_batch_size=8)
    with pytest.raises(ValueError, match="not enough data.*ranks"):
        ShardedLoader(packed, cfg, 0, 10_000, None)  # more ranks than data
    with pytest.raises(ValueError, match="vocabulary mismatch.*8000"):
        check_vocab(corpus.meta, MODEL_PRESETS["gpt3-small"])
    check_vocab(corpus.meta, ModelConfig(vocab_size=8064, d_model=64, n_layers=1, n_heads=4))  # padded: fine
    with pytest.raises(ValueError, match="not a token directory"):
        TokenCorpus(tmp_path, "train")


def _train_cli(tmp_path, tokens, **overrides) -> int:
    sets = {"data.tokens_dir": str(tokens), "run.output_dir": str(tmp_path / "run"), "run.max_steps": 2, **overrides}
    argv = ["train", "--config", "configs/train_debug.toml"]
    for key, value in sets.items():
        argv += ["--set", f"{key}={json.dumps(value)}"]
    return cli_main(argv)


def test_train_cli_refuses_bad_inputs_before_the_first_step(tokens_dir, tmp_path, capsys, monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    assert _train_cli(tmp_path, tokens_dir, **{"model.vocab_size": 32000}) == 2
    assert "vocabulary mismatch" in capsys.readouterr().err
    assert _train_cli(tmp_path, tmp_path / "missing") == 2
    assert "not a token directory" in capsys.readouterr().err
    assert _train_cli(tmp_path, tokens_dir, **{"model.n_heads": 3}) == 2
    assert "not divisible" in capsys.readouterr().err
    # An empty split: a token directory whose train shards hold no documents.
    empty = tmp_path / "empty"
    empty.mkdir()
    meta = json.loads((tokens_dir / "meta.json").read_text())
    (empty / "meta.json").write_text(json.dumps({**meta, "shards": {"train": [], "val": []}}))
    assert _train_cli(tmp_path, empty) == 2
    assert "holds no tokens" in capsys.readouterr().err
    # A partial checkpoint (interrupted save) is invisible; a directory passed explicitly is refused.
    (tmp_path / "run" / "checkpoints" / "step-00000005.partial").mkdir(parents=True)
    assert (
        cli_main(
            ["generate", "--checkpoint", str(tmp_path / "run/checkpoints/step-00000005.partial"), "--prompt", "x"]
        )
        == 2
    )
    assert "not a complete checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_plan_lands_near_the_published_llm_jp_13b_run():
    # LLM-jp-13B v1.0: 96 x A100-40GB, 300B tokens (model card). Our shape count is within 1 % of 13B, the state
    # fits easily under FSDP at 96 ways, and 6ND = 2.3e22 FLOPs.
    plan = make_plan("llm-jp-13b", 300e9, 96, "a100-40gb", activation_checkpointing="selective", mfu=0.4)
    assert plan.fits and plan.total_gib < 40
    assert plan.model_state_gib == pytest.approx(16 * plan.num_params / 96 / 2**30)
    assert plan.flops_6nd == pytest.approx(6 * 12.87e9 * 300e9, rel=0.01)
    assert 20 < plan.days < 27
    assert math.isclose(plan.days / plan.days_6nd, plan.flops_with_attention / plan.flops_6nd)
    # On a single 40 GB card the 13B model state alone (16 B/param = 192 GiB) cannot fit.
    assert not make_plan("llm-jp-13b", 300e9, 1, "a100-40gb").fits
    # More checkpointing, less activation memory.
    mems = [
        make_plan("gpt3-xl", 1e9, 8, "h100", activation_checkpointing=m).activations_gib
        for m in ("none", "selective", "full")
    ]
    assert mems[0] > mems[1] > mems[2]


@pytest.mark.parametrize("name", ["train_debug.toml", "train_gpt3_small.toml", "train_llm_jp_1.3b.toml"])
def test_shipped_configs_load(name):
    from pathlib import Path

    cfg = load_train_config(Path(__file__).resolve().parent.parent / "configs" / name)
    assert cfg.data.seq_len <= cfg.model.max_seq_len
