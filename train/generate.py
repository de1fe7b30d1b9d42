"""``jpcorpus generate --checkpoint DIR --prompt TEXT``: sample a continuation (greedy or top-p) on one device.

The tokenizer is the one the run's token shards were made with (its path and sha256 are in the token
directory's meta.json); ``--tokenizer`` overrides it, and a vocabulary larger than the model's is an error. No KV
cache: each new token re-runs the (truncated) context, which is plenty for checking a checkpoint by eye.
"""

from __future__ import annotations

import argparse
import logging

import torch

from jpcorpus.errors import UsageError
from train.export_hf import load_checkpoint_model
from train.shard_format import read_meta

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="DIR", help="a checkpoints/step-XXXXXXXX directory")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--tokenizer", metavar="M.model", help="SentencePiece model (default: the run's)")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--top-p", type=float, default=0.0, help="nucleus sampling; 0 = greedy")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)


@torch.no_grad()
def generate_ids(
    model: torch.nn.Module,
    prompt_ids: list[int],
    max_new_tokens: int,
    top_p: float,
    temperature: float,
    eos_id: int,
    seed: int,
) -> list[int]:
    gen = torch.Generator().manual_seed(seed)
    ids = list(prompt_ids)
    max_len = model.cfg.max_seq_len
    for _ in range(max_new_tokens):
        context = torch.tensor([ids[-max_len:]])
        logits = model(context)[0, -1].float()  # (V,)
        if top_p <= 0:
            nxt = int(logits.argmax())
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            sorted_p, order = probs.sort(descending=True)
            keep = sorted_p.cumsum(0) - sorted_p < top_p  # smallest prefix whose mass reaches top_p
            sorted_p = torch.where(keep, sorted_p, torch.zeros_like(sorted_p))
            nxt = int(order[torch.multinomial(sorted_p / sorted_p.sum(), 1, generator=gen)])
        ids.append(nxt)
        if nxt == eos_id:
            break
    return ids[len(prompt_ids) :]


def generate(checkpoint: str, prompt: str, tokenizer: str | None = None, **kwargs) -> str:
    import sentencepiece as spm

    model, meta = load_checkpoint_model(checkpoint)
    if tokenizer is None:
        try:
            tokenizer = read_meta(meta["config"]["data"]["tokens_dir"])["tokenizer"]["path"]
        except ValueError as exc:
            raise UsageError(f"the run's token directory is gone ({exc}); pass --tokenizer") from exc
    try:
        sp = spm.SentencePieceProcessor(model_file=str(tokenizer))
    except (OSError, RuntimeError) as exc:
        raise UsageError(f"cannot load tokenizer {tokenizer}: {exc}") from exc
    if sp.vocab_size() > model.cfg.vocab_size:
        raise UsageError(
            f"tokenizer {tokenizer} has {sp.vocab_size()} pieces but the model only {model.cfg.vocab_size}"
        )
    out = generate_ids(model, sp.encode(prompt), eos_id=sp.eos_id(), **kwargs)
    return sp.decode([i for i in out if i != sp.eos_id()])


def main(args: argparse.Namespace, extra: list[str]) -> int:
    if extra:
        raise UsageError(f"unexpected arguments {extra}")
    try:
        text = generate(
            args.checkpoint,
            args.prompt,
            args.tokenizer,
            max_new_tokens=args.max_new_tokens,
            top_p=args.top_p,
            temperature=args.temperature,
            seed=args.seed,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    print(args.prompt + text)
    return 0
