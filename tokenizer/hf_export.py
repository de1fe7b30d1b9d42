"""SentencePiece ``ModelProto`` -> Hugging Face ``tokenizers`` JSON that encodes exactly like the .model.

How each SentencePiece behaviour maps (checked by tests/test_tokenizer_hf_export.py on real text):
- pieces and scores -> ``Unigram(vocab, unk_id, byte_fallback=True)``; SentencePiece's unigram encoder is the
  same Viterbi search over log-probabilities with the same unknown penalty (min score - 10).
- BPE models -> ``BPE(vocab, merges)`` with merges ranked by the merged piece's score, which is the order
  SentencePiece's BPE encoder applies them in.
- ``precompiled_charsmap`` (nmt_nfkc, nfkc) -> ``Precompiled`` normaliser, the same compiled table.
- spaces -> "▁" (``Replace``); ``add_dummy_prefix`` -> ``Prepend("▁")`` (SentencePiece prepends even before a
  leading space, which Metaspace's prepend does not).
- ``remove_extra_whitespaces`` -> strip and collapse runs of spaces before the replacement.
- user-defined symbols ("\\n", "。\\n") in unigram models -> vocabulary entries scored ``length * max_score - 0.1``
  with SentencePiece's max_score (at least FLT_MIN, so ~-0.1), the score its lattice gives them, so the same
  Viterbi path wins; in BPE models -> added tokens
  (SentencePiece's BPE cuts them out of the text first, as added tokens are).
- control symbols (<s>, </s>, <pad>, extras) -> special added tokens, so ``transformers`` knows them.
  Known differences, both outside ordinary text: a literal "<s>" in raw text becomes the special token in HF
  (SentencePiece spells it out), and BPE + add_dummy_prefix + user-defined symbols adds the prefix per segment.
- decoding: "▁" -> " ", byte pieces fused back into UTF-8, the dummy prefix stripped.
"""

from __future__ import annotations

import json
from typing import Any

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers

from tokenizer.model_proto import CONTROL, NORMAL, UNKNOWN, UNUSED, USER_DEFINED

SPACE = "▁"
FLT_MIN = 1.1754943508222875e-38  # C's FLT_MIN


def bpe_merges(proto: Any) -> list[tuple[str, str]]:
    """Every (left, right) split of a normal piece into two pieces of the vocabulary, best score first."""
    score = {p.piece: p.score for p in proto.pieces if p.type in (NORMAL, USER_DEFINED)}
    ranked: list[tuple[float, int, int, str, str]] = []
    piece_id = {p.piece: i for i, p in enumerate(proto.pieces)}
    for piece in score:
        for k in range(1, len(piece)):
            left, right = piece[:k], piece[k:]
            if left in score and right in score:
                ranked.append((-score[piece], piece_id[left], piece_id[right], left, right))
    ranked.sort()
    return [(left, right) for *_, left, right in ranked]


def to_hf_tokenizer(proto: Any) -> Tokenizer:
    """Build a ``tokenizers.Tokenizer`` equivalent to the SentencePiece model ``proto``."""
    spec = proto.trainer_spec
    norm = proto.normalizer_spec
    pieces = list(proto.pieces)
    unk_id = next(i for i, p in enumerate(pieces) if p.type == UNKNOWN)
    if spec.model_type == 2:  # BPE
        vocab = {p.piece: i for i, p in enumerate(pieces)}
        model = models.BPE(
            vocab=vocab,
            merges=bpe_merges(proto),
            unk_token=pieces[unk_id].piece,
            byte_fallback=spec.byte_fallback,
            fuse_unk=True,  # SentencePiece emits one <unk> for a run of unknown characters
        )
    elif spec.model_type in (0, 1):  # unigram (0 is the proto default, i.e. unset)
        # Unused pieces never win in SentencePiece's lattice; give them the floor score so they do not here.
        normal_scores = [p.score for p in pieces if p.type == NORMAL]
        floor = min(normal_scores) - 10.0
        # unigram_model.cc starts max_score_ at FLT_MIN, the smallest *positive* float, so when every normal
        # score is negative (always, for log-probabilities) it stays ~0 and a user-defined symbol scores ~-0.1
        # whatever its length. Measured: with max(normal_scores) instead, "。」\n「" split as 。」+\n「 here but
        # 。+」\n「 in SentencePiece (37 of 694 held-out documents differed with multi-character newline pieces).
        max_score = max(max(normal_scores), FLT_MIN)

        def score(p: Any) -> float:
            if p.type == UNUSED:
                return floor
            if p.type == USER_DEFINED:  # unigram_model.cc: length * max_score_ - 0.1
                return len(p.piece) * max_score - 0.1
            return p.score

        vocab = [(p.piece, score(p)) for p in pieces]
        model = models.Unigram(vocab, unk_id=unk_id, byte_fallback=spec.byte_fallback)
    else:
        raise ValueError(f"unsupported SentencePiece model_type {spec.model_type} (only unigram and BPE)")
    tok = Tokenizer(model)

    steps: list[normalizers.Normalizer] = []
    if norm.precompiled_charsmap:
        steps.append(normalizers.Precompiled(norm.precompiled_charsmap))
    # Proto defaults apply when a field is unset: add_dummy_prefix and remove_extra_whitespaces default true.
    add_dummy_prefix = norm.add_dummy_prefix if norm.HasField("add_dummy_prefix") else True
    remove_extra = norm.remove_extra_whitespaces if norm.HasField("remove_extra_whitespaces") else True
    escape = norm.escape_whitespaces if norm.HasField("escape_whitespaces") else True
    if remove_extra:
        # Only spaces: SentencePiece keeps a leading or trailing "\n", which Strip would remove.
        steps += [normalizers.Replace(Regex(r"\A +| +\z"), ""), normalizers.Replace(Regex(" {2,}"), " ")]
    if add_dummy_prefix:
        # SentencePiece prepends even when the text already starts with a space ("  x" -> "▁▁▁x"); Metaspace's
        # prepend skips that case, so a plain Prepend normaliser it is.
        steps.append(normalizers.Prepend(SPACE))
    if escape:
        steps.append(normalizers.Replace(" ", SPACE))
    if steps:
        tok.normalizer = normalizers.Sequence(steps)

    decode_steps: list[decoders.Decoder] = [decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    if add_dummy_prefix:
        decode_steps.append(decoders.Strip(content=" ", left=1, right=0))
    tok.decoder = decoders.Sequence(decode_steps)

    # Added tokens keep their SentencePiece ids (add_tokens reuses an id the model already has).
    tok.add_special_tokens(
        [AddedToken(p.piece, special=True, normalized=False) for p in pieces if p.type in (CONTROL, UNKNOWN)]
    )
    user_defined = [p.piece for p in pieces if p.type == USER_DEFINED]
    if user_defined and spec.model_type == 2:
        tok.add_tokens([AddedToken(piece, special=False, normalized=False) for piece in user_defined])
    return tok


def tokenizer_json(proto: Any) -> str:
    """The ``tokenizer.json`` text for ``proto`` (pretty-printed, stable key order)."""
    return json.dumps(json.loads(to_hf_tokenizer(proto).to_str()), ensure_ascii=False, indent=1)
