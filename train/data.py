"""Token shards -> fixed-length packed sequences, in a deterministic global order, sharded across ranks.

Packing: every epoch lays all documents of a split end to end (each already ends with EOS) in an order drawn
from ``(seed, epoch)``, and cuts that stream into samples of ``seq_len + 1`` tokens with stride ``seq_len``:
sample ``k`` is ``stream[k*T : k*T + T + 1]`` (inputs are the first T tokens, targets the last T). Every token of
an epoch is an input exactly once; the last ``< T`` tokens of an epoch are not used (logged at start).

Order: optimizer step ``s`` consumes global samples ``[s*G, (s+1)*G)`` (``G`` = micro batch x accumulation x
world size); rank ``r`` takes, for micro-batch ``m``, samples ``s*G + (m*W + r)*B + [0, B)``. The only loader state
is the global sample cursor, so resuming mid-epoch is exact and the state fits in the checkpoint.

Provenance: every optimizer step appends one JSON line per rank to ``provenance/rank-XXXXX.jsonl`` naming the
``[epoch, document id, start, end]`` token ranges (offsets within the document) that went into it, and
whether the step was trained or skipped by the spike guard: the base for "at which step was this text seen".
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from train import shard_format as sf
from train.config import DataConfig, ModelConfig

log = logging.getLogger(__name__)

VOCAB_PAD_MULTIPLE = 128  # model vocab may be the tokenizer's padded up to this (Megatron pads for speed)


class TokenCorpus:
    """All shards of one split of a token directory, as one document table over memory-mapped tokens."""

    def __init__(self, tokens_dir: str | Path, split: str) -> None:
        self.meta = sf.read_meta(tokens_dir)
        self.split = split
        dtype = np.dtype(self.meta["dtype"])
        self.shards = [sf.open_shard(tokens_dir, stem, dtype) for stem in self.meta["shards"].get(split, [])]
        self.doc_ids: list[str] = [d for s in self.shards for d in s.doc_ids]
        self.doc_shard = np.concatenate(
            [np.full(len(s.doc_ids), i, dtype=np.int32) for i, s in enumerate(self.shards)] or [np.zeros(0, np.int32)]
        )
        self.doc_offset = np.concatenate([s.offsets for s in self.shards] or [np.zeros(0, np.int64)])
        self.doc_len = np.concatenate([s.lengths for s in self.shards] or [np.zeros(0, np.int64)])
        self.num_tokens = int(self.doc_len.sum())

    @property
    def num_docs(self) -> int:
        return len(self.doc_ids)

    def doc_tokens(self, doc: int, start: int, end: int) -> np.ndarray:
        shard = self.shards[self.doc_shard[doc]]
        base = int(self.doc_offset[doc])
        return shard.tokens[base + start : base + end]


def check_vocab(meta: dict[str, Any], model: ModelConfig) -> None:
    """The model's embedding must cover the tokenizer; a much larger one means the wrong tokenizer or preset."""
    tok_vocab = int(meta["vocab_size"])
    padded = -(-tok_vocab // VOCAB_PAD_MULTIPLE) * VOCAB_PAD_MULTIPLE
    if not tok_vocab <= model.vocab_size <= padded:
        raise ValueError(
            f"vocabulary mismatch: the token shards were made with a {tok_vocab}-piece tokenizer "
            f"({meta['tokenizer']['path']}) but model.vocab_size is {model.vocab_size}; set model.vocab_size to "
            f"{tok_vocab} (or up to {padded} padded)"
        )


@dataclass(frozen=True, slots=True)
class Sample:
    tokens: np.ndarray  # (T+1,) int64
    spans: list[tuple[int, int, int]]  # (doc index, start, end) of the T input tokens


class PackedSequences:
    """Epoch-ordered packing of a corpus into samples of ``seq_len + 1`` tokens (see module docstring)."""

    def __init__(self, corpus: TokenCorpus, seq_len: int, seed: int) -> None:
        self.corpus, self.seq_len, self.seed = corpus, seq_len, seed
        self.samples_per_epoch = max(0, (corpus.num_tokens - 1) // seq_len)
        self._epoch: int | None = None
        self._order = self._starts = np.zeros(0, np.int64)

    def _epoch_order(self, epoch: int) -> None:
        if self._epoch == epoch:
            return
        rng = np.random.default_rng([self.seed, epoch])
        self._order = rng.permutation(self.corpus.num_docs)
        lengths = self.corpus.doc_len[self._order]
        self._starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
        self._epoch = epoch

    def sample(self, index: int) -> tuple[int, Sample]:
        """(epoch, sample) for global sample ``index``."""
        epoch, k = divmod(index, self.samples_per_epoch)
        self._epoch_order(epoch)
        T = self.seq_len
        start, end = k * T, k * T + T + 1
        pos = int(np.searchsorted(self._starts, start, side="right")) - 1
        pieces, spans = [], []
        while start < end:
            doc = int(self._order[pos])
            doc_start = int(self._starts[pos])
            lo, hi = start - doc_start, min(end - doc_start, int(self.corpus.doc_len[doc]))
            pieces.append(self.corpus.doc_tokens(doc, lo, hi))
            # The last token of a sample is only a target; it is the next sample's first input.
            input_hi = min(hi, end - 1 - doc_start)
            if input_hi > lo:
                spans.append((doc, lo, input_hi))
            start = doc_start + hi
            pos += 1
        tokens = np.concatenate(pieces).astype(np.int64)
        assert len(tokens) == T + 1, (len(tokens), T)
        return epoch, Sample(tokens, spans)


class ShardedLoader:
    """Per-rank micro-batches of each optimizer step, with a resumable cursor and a provenance log."""

    def __init__(
        self,
        packed: PackedSequences,
        cfg: DataConfig,
        rank: int,
        world_size: int,
        provenance_dir: Path | None,
    ) -> None:
        self.packed, self.cfg, self.rank, self.world_size = packed, cfg, rank, world_size
        self.global_batch = cfg.micro_batch_size * cfg.grad_accum_steps * world_size
        if packed.samples_per_epoch < self.global_batch:
            raise ValueError(
                f"not enough data: {packed.corpus.num_tokens} tokens give {packed.samples_per_epoch} sequences of "
                f"{cfg.seq_len}, fewer than one optimizer step needs ({self.global_batch} = micro_batch_size "
                f"{cfg.micro_batch_size} x grad_accum_steps {cfg.grad_accum_steps} x {world_size} ranks)"
            )
        self.cursor = 0  # global index of the next step's first sample
        self._provenance_path = provenance_dir / f"rank-{rank:05d}.jsonl" if provenance_dir else None
        if self._provenance_path:
            self._provenance_path.parent.mkdir(parents=True, exist_ok=True)

    def step_batches(self, corrupt: bool = False) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], dict[str, Any]]:
        """This rank's ``grad_accum_steps`` micro-batches ``(inputs, targets)`` of (B, T), plus its provenance."""
        B, W = self.cfg.micro_batch_size, self.world_size
        micro, spans = [], []
        for m in range(self.cfg.grad_accum_steps):
            first = self.cursor + (m * W + self.rank) * B
            rows = []
            for i in range(first, first + B):
                epoch, sample = self.packed.sample(i)
                rows.append(sample.tokens)
                spans.extend((epoch, self.packed.corpus.doc_ids[d], lo, hi) for d, lo, hi in sample.spans)
            batch = torch.from_numpy(np.stack(rows))  # (B, T+1)
            if corrupt:
                # Fault injection (debug.corrupt_batches): uniformly random ids, the classic "garbage shard".
                gen = torch.Generator().manual_seed(self.cursor + m)
                batch = torch.randint(0, int(self.packed.corpus.meta["vocab_size"]), batch.shape, generator=gen)
            micro.append((batch[:, :-1], batch[:, 1:]))
        record = {
            "rank": self.rank,
            "samples": [self.cursor, self.cursor + self.global_batch],
            "spans": spans,
        }
        self.cursor += self.global_batch
        return micro, record

    def log_provenance(self, step: int, status: str, record: dict[str, Any]) -> None:
        if self._provenance_path is None:
            return
        line = json.dumps({"step": step, "status": status, **record}, ensure_ascii=False)
        with open(self._provenance_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def truncate_provenance(self, last_step: int) -> None:
        """Drop provenance lines after ``last_step`` (resume/rollback re-does those steps)."""
        path = self._provenance_path
        if path is None or not path.exists():
            return
        kept = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                if json.loads(line)["step"] > last_step:
                    break
                kept.append(line)
        tmp = path.with_name(path.name + ".partial")
        tmp.write_text("".join(kept), encoding="utf-8")
        os.replace(tmp, path)

    def state_dict(self) -> dict[str, Any]:
        return {"cursor": self.cursor, "seq_len": self.cfg.seq_len, "seed": self.cfg.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("seq_len", "seed"):
            if int(state[key]) != getattr(self.cfg, key):
                raise ValueError(
                    f"checkpoint data.{key} = {int(state[key])} but the config says {getattr(self.cfg, key)}: "
                    "the sample order would change; start a new run or restore the setting"
                )
        self.cursor = int(state["cursor"])


def eval_batches(packed: PackedSequences, micro_batch_size: int, num_batches: int, rank: int, world_size: int):
    """Fixed validation micro-batches for this rank: the first samples of epoch 0, split across ranks."""
    available = packed.samples_per_epoch // (micro_batch_size * world_size)
    for m in range(min(num_batches, available)):
        first = (m * world_size + rank) * micro_batch_size
        rows = np.stack([packed.sample(i)[1].tokens for i in range(first, first + micro_batch_size)])
        batch = torch.from_numpy(rows)
        yield batch[:, :-1], batch[:, 1:]
