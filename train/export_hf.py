"""``jpcorpus export-hf --checkpoint DIR --output HF_DIR``: a training checkpoint -> Hugging Face Llama checkpoint.

Writes ``config.json`` (``LlamaForCausalLM``) and ``model.safetensors`` with HF parameter names, plus the
SentencePiece model the token shards were made with (``tokenizer.model``), so
``LlamaForCausalLM.from_pretrained(HF_DIR)`` gives the same logits as ``train.model.Transformer`` (checked in
tests/test_train_export.py). Our RoPE already uses HF's rotate-half layout, so no q/k permutation is needed.
Runs in one process on CPU; ``transformers`` is not needed to export.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from jpcorpus.errors import UsageError
from train import checkpoint as ckpt
from train.config import ModelConfig, train_config_from_dict
from train.model import Transformer

log = logging.getLogger(__name__)

_BLOCK_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn.wq.weight": "self_attn.q_proj.weight",
    "attn.wk.weight": "self_attn.k_proj.weight",
    "attn.wv.weight": "self_attn.v_proj.weight",
    "attn.wo.weight": "self_attn.o_proj.weight",
    "mlp_norm.weight": "post_attention_layernorm.weight",
    "mlp.w_gate.weight": "mlp.gate_proj.weight",
    "mlp.w_up.weight": "mlp.up_proj.weight",
    "mlp.w_down.weight": "mlp.down_proj.weight",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="DIR", help="a checkpoints/step-XXXXXXXX directory")
    parser.add_argument("--output", required=True, metavar="HF_DIR", help="output directory")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help="stored weight dtype")


def hf_name(name: str) -> str:
    if name == "embed.weight":
        return "model.embed_tokens.weight"
    if name == "norm.weight":
        return "model.norm.weight"
    if name == "output.weight":
        return "lm_head.weight"
    _, index, rest = name.split(".", 2)  # layers.{i}.{rest}
    return f"model.layers.{index}.{_BLOCK_NAMES[rest]}"


def hf_config(cfg: ModelConfig, eos_id: int, bos_id: int, dtype: str) -> dict[str, Any]:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model,
        "intermediate_size": cfg.ffn_dim,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.num_kv_heads,
        "head_dim": cfg.dim_head,
        "max_position_embeddings": cfg.max_seq_len,
        "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": cfg.tie_embeddings,
        "initializer_range": cfg.init_std,
        "bos_token_id": bos_id if bos_id >= 0 else None,
        "eos_token_id": eos_id,
        "torch_dtype": dtype,
        "dtype": dtype,
    }


def load_checkpoint_model(checkpoint: str | Path) -> tuple[Transformer, dict[str, Any]]:
    """The model of a training checkpoint, on CPU in fp32, and the checkpoint's metadata."""
    meta = ckpt.read_complete(Path(checkpoint))
    cfg = train_config_from_dict(meta["config"])  # fully resolved when saved: no preset, every field present
    model = Transformer(cfg.model)
    model.init_weights()
    ckpt.load_model_weights(Path(checkpoint), model)
    model.eval()
    return model, meta


def export(checkpoint: str | Path, output: str | Path, dtype: str = "float32") -> Path:
    model, meta = load_checkpoint_model(checkpoint)
    cfg = model.cfg
    tokens_meta = _tokens_meta(meta)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    torch_dtype = torch.float32 if dtype == "float32" else torch.bfloat16
    tensors = {hf_name(k): v.detach().to(torch_dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    eos, bos = int(tokens_meta.get("eos_id", 2)), int(tokens_meta.get("bos_id", -1))
    (out / "config.json").write_text(json.dumps(hf_config(cfg, eos, bos, dtype), indent=2), encoding="utf-8")
    (out / "generation_config.json").write_text(
        json.dumps({"eos_token_id": eos, "bos_token_id": bos if bos >= 0 else None}, indent=2), encoding="utf-8"
    )
    sp_path = Path(tokens_meta.get("tokenizer", {}).get("path", ""))
    if sp_path.is_file():
        shutil.copyfile(sp_path, out / "tokenizer.model")
    else:
        log.warning("tokenizer %s not found; copy it into %s by hand", sp_path, out)
    log.info("exported %s (step %d) to %s", checkpoint, meta["step"], out)
    return out


def _tokens_meta(meta: dict[str, Any]) -> dict[str, Any]:
    from train.shard_format import read_meta

    try:
        return read_meta(meta["config"]["data"]["tokens_dir"])
    except ValueError:
        log.warning("token directory of the run is gone; EOS id assumed 2 and no tokenizer copied")
        return {}


def main(args: argparse.Namespace, extra: list[str]) -> int:
    if extra:
        raise UsageError(f"unexpected arguments {extra}")
    try:
        out = export(args.checkpoint, args.output, args.dtype)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    print(out)
    return 0
