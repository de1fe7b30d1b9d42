"""Configuration of ``jpcorpus tokenizer train``: the LLM-jp v2 recipe as defaults, each with its reason.

Loaded from TOML with ``jpcorpus.config.from_dict`` (unknown keys are errors); see configs/tokenizer_*.toml.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

# Text groups the sampler knows. Each document belongs to exactly one (see tokenizer.corpus).
GROUPS: tuple[str, ...] = ("ja", "en", "code")
# Pre-segmentation join rules: which Sudachi morpheme boundaries stay open to pieces (tokenizer.train).
#   aux:       between two function morphemes of an inflection chain (auxiliary verbs 助動詞, conjunctive て/で,
#              bound verbs/adjectives 非自立可能): い|まし|た -> いました, て|いる -> ている
#   stem:      between a verb/adjective (or auxiliary) and the function morpheme after it: 読ん|で -> 読んで
#   particles: between two particles: に|は -> には, で|も -> でも
#   pronoun:   between a pronoun and the case/binding/adverbial particle after it: 彼|は -> 彼は, それ|を -> それを
#   nominal:   between the nominaliser の/ん and an auxiliary verb after it: の|だ -> のだ, ん|です -> んです
#   final:     between a predicate (verb, adjective, auxiliary) or particle and a sentence-final particle:
#              です|か -> ですか, だ|よ -> だよ, の|か -> のか
#   symbols:   between two punctuation marks / symbols (補助記号): 。|」 -> 。」, ―|― -> ――, …|… -> ……
# pronoun, nominal and final are frequent in fiction and dialogue and rare in encyclopedic text (measured on the
# training text: 33 vs 3 of every 1,000 Sudachi boundaries in the Aozora train split vs the modern demo shards).
# Every one is a UD word boundary; the default config opens aux, nominal, final and symbols (docs/tokenizer.md).
JOIN_RULES: tuple[str, ...] = ("aux", "stem", "particles", "pronoun", "nominal", "final", "symbols")


@dataclass(frozen=True, slots=True, kw_only=True)
class SamplingConfig:
    """How much training text is streamed from the inputs, and in which mix."""

    # Total UTF-8 bytes of training text handed to SentencePiece. SentencePiece holds all of it in memory
    # (about 10x the text size at peak for unigram), so this is also the memory knob.
    max_bytes: int = 200_000_000
    # Share of max_bytes per group. LLM-jp v2.1 spends its 50k as ja 30k / en 20k / code 10k; a byte mix
    # leaning Japanese keeps Japanese compression up while English and code keep enough pieces.
    group_ratios: dict[str, float] = field(default_factory=lambda: {"ja": 0.6, "en": 0.25, "code": 0.15})
    # Seed of the hash that picks documents; the same inputs and seed give the same corpus.
    seed: int = 0
    # Lines longer than this (UTF-8 bytes) are cut at a sentence end; SentencePiece silently skips sentences
    # over its max_sentence_length (4192 bytes by default), which would bias the corpus against long lines.
    max_sentence_bytes: int = 4096

    def __post_init__(self) -> None:
        if self.max_bytes <= 0:
            raise ValueError(f"sampling.max_bytes must be positive, got {self.max_bytes}")
        if not self.group_ratios:
            raise ValueError("sampling.group_ratios is empty: name at least one of " + ", ".join(GROUPS))
        for group, ratio in self.group_ratios.items():
            if group not in GROUPS:
                raise ValueError(f"sampling.group_ratios: unknown group {group!r}; known: {list(GROUPS)}")
            if not (ratio > 0 and math.isfinite(ratio)):
                raise ValueError(f"sampling.group_ratios.{group} must be > 0, got {ratio}")
        if not 64 <= self.max_sentence_bytes <= 4192:
            raise ValueError(f"sampling.max_sentence_bytes must be in [64, 4192], got {self.max_sentence_bytes}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PresegConfig:
    """Morphological pre-segmentation of Japanese, used during training only.

    SentencePiece's ``pretokenization_delimiter`` keeps pieces from crossing the analyser's morpheme
    boundaries while it learns the vocabulary; encoding later runs on raw text and needs no analyser. This is
    the role MeCab -Owakati plays in LLM-jp's v2 recipe, and it is what keeps word-boundary F1 high.
    """

    # "none" trains on raw text (better compression, pieces cut words; issue 6 measured F1 ~0.74 vs 0.90).
    analyzer: Literal["none", "sudachi"] = "sudachi"
    # Sudachi split mode: A = short units (close to UD's SUW), B = middle, C = long units / named entities.
    # Longer units allow longer pieces (compression), shorter ones align with UD word boundaries (F1).
    sudachi_mode: Literal["A", "B", "C"] = "B"
    # Groups whose text is pre-segmented; English and code are split by whitespace already.
    groups: tuple[str, ...] = ("ja",)
    # Morpheme boundaries a piece may cross after all (see JOIN_RULES). Pre-segmenting at every morpheme caps
    # Japanese at ~1.5 chars/token on Aozora (one token per morpheme at best); letting pieces span the few,
    # very frequent function-word chains (ている, ました, なかった) buys compression for a small, known cost in
    # word-boundary recall and none in precision. Measured trade-off: docs/tokenizer.md.
    join: tuple[str, ...] = ()
    # Seed the unigram trainer with every substring of the pre-segmented chunks, counted by chunk frequency
    # (per_language mode, pre-segmented groups). SentencePiece's own seeding enumerates substrings repeated in
    # the array of *distinct* words, so a morpheme that is no substring of another chunk is never a candidate:
    # on 12 MB of Aozora the Japanese model stopped at 14.5k pieces when asked for 30k, spelling whole words
    # with shorter pieces (word-boundary precision 0.71-0.77). With this seed it reaches its size.
    seed_from_chunks: bool = True

    def __post_init__(self) -> None:
        for group in self.groups:
            if group not in GROUPS:
                raise ValueError(f"preseg.groups: unknown group {group!r}; known: {list(GROUPS)}")
        for rule in self.join:
            if rule not in JOIN_RULES:
                raise ValueError(f"preseg.join: unknown rule {rule!r}; known: {list(JOIN_RULES)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PerLanguageConfig:
    """Train one vocabulary per group, merge them, and re-estimate the unigram scores on the mixed corpus.

    LLM-jp v2 built its 50k this way (code 10k + en 20k + ja 30k, merged, re-estimated); it fixes each group's
    share of the vocabulary instead of letting the corpus mix decide it, and lets the maximum piece length
    differ per language. Unigram only.
    """

    enabled: bool = False
    # Pieces per group before merging; duplicates across groups are kept once, so the merged vocabulary is
    # smaller than the sum and is topped up to vocab_size from the groups' next-best pieces.
    vocab_sizes: dict[str, int] = field(default_factory=lambda: {"ja": 30000, "en": 12000, "code": 8000})
    # Longest piece in characters, per group: LLM-jp uses 8 for Japanese (longer Japanese pieces are mostly
    # phrase fragments that overfit the corpus) and SentencePiece's default 16 elsewhere.
    max_piece_lengths: dict[str, int] = field(default_factory=lambda: {"ja": 8, "en": 16, "code": 16})
    # Viterbi-EM passes over the sampled corpus to re-estimate merged scores (each pass encodes the corpus).
    num_reestimate_iterations: int = 2
    # Fill the merged vocabulary up to vocab_size with the most frequent pre-segmented chunks (whole words,
    # whole inflection chains) it lacks, then swap pieces the re-estimation never uses for more chunks.
    # SentencePiece's pruning drops frequent whole words (measured on the issue-6 corpus: もの, 7,411 chunks;
    # のみ, 勿論, 合併, 直接, 概念; 20,732 chunks seen twice or more were missing from the 36k Japanese model)
    # and the union of the groups' vocabularies stops ~2k short of vocab_size; a word that is one piece
    # is one token and no false word boundary. Measured: docs/tokenizer.md.
    fill_from_chunks: bool = True
    # A chunk must occur this often in the sampled corpus to be added (once is a name seen once).
    min_chunk_count: int = 2
    # Log-probability margin by which an added chunk starts above the pieces that spell it now: hard-count EM
    # only counts pieces on a Viterbi path, so a chunk starting below its spelling never gets a count (もの was
    # lost to も+の). Measured on the issue-6 bench: 0 -> 0.5 gave +0.4 points of Japanese chars/token, 1.0 no more.
    chunk_start_margin: float = 0.5
    # Which missing chunks fill first: "count" (most frequent first) or "saved_tokens" (count x (pieces that
    # spell the chunk now - 1): the tokens, and false word boundaries, it removes from the training text).
    # Measured on the issue-6 bench: saved_tokens lost 0.3 points of Japanese chars/token on held-out text.
    fill_rank: Literal["count", "saved_tokens"] = "count"

    def __post_init__(self) -> None:
        for name, table in (("vocab_sizes", self.vocab_sizes), ("max_piece_lengths", self.max_piece_lengths)):
            for group, value in table.items():
                if group not in GROUPS:
                    raise ValueError(f"per_language.{name}: unknown group {group!r}; known: {list(GROUPS)}")
                if value <= 0:
                    raise ValueError(f"per_language.{name}.{group} must be positive, got {value}")
        if not (self.chunk_start_margin >= 0 and math.isfinite(self.chunk_start_margin)):
            raise ValueError(f"per_language.chunk_start_margin must be >= 0, got {self.chunk_start_margin}")
        if self.min_chunk_count < 1:
            raise ValueError(f"per_language.min_chunk_count must be >= 1, got {self.min_chunk_count}")
        if self.num_reestimate_iterations < 0:
            raise ValueError(
                f"per_language.num_reestimate_iterations must be >= 0, got {self.num_reestimate_iterations}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenizerTrainConfig:
    """SentencePiece options. Defaults follow LLM-jp's scripts/howToCreateModel_ver2.md unless noted."""

    model_type: Literal["unigram", "bpe"] = "unigram"  # unigram: LLM-jp v2, and allows subword sampling
    vocab_size: int = 50000  # pieces, including specials and the 256 byte pieces
    # "identity": the model never rewrites text, so decode(encode(x)) == x byte for byte (NFKC would turn
    # full-width ＡＢＣ into ABC and lose the original); the corpus is normalised upstream if wanted.
    normalization: Literal["identity", "nmt_nfkc", "nfkc"] = "identity"
    byte_fallback: bool = True  # characters outside the vocabulary become <0xNN> pieces, never <unk>
    character_coverage: float = 0.9995  # SentencePiece's recommendation for CJK; rarer chars use bytes
    split_digits: bool = True  # one piece per digit: arithmetic sees every digit the same way
    newline_piece: bool = True  # "\n" is a user-defined piece, so line structure survives and costs one token
    allow_whitespace_only_pieces: bool = True  # runs of spaces (code indentation) become single pieces
    split_by_whitespace: bool = True  # no piece spans a space (English words stay whole units)
    # SentencePiece's own default. NOTE(jpcorpus, issue 6): inserts "▁" at the start of every encoded
    # string; off, so a document encodes the same whether alone or concatenated (LLM-jp v3 turns it off too).
    add_dummy_prefix: bool = False
    max_piece_length: int = 16  # characters; per-group values apply only with per_language.enabled
    # Fixed ids 0..3 in this order; pretraining relies on them not moving between vocab versions.
    unk_piece: str = "<unk>"
    bos_piece: str = "<s>"
    eos_piece: str = "</s>"
    pad_piece: str = "<pad>"
    # Extra special tokens (never produced from text), ids 4.. in this order, e.g. "<|endoftext|>" or chat
    # markers; then user-defined symbols (matched in text as whole pieces), after "\n" when newline_piece.
    control_symbols: tuple[str, ...] = ()
    user_defined_symbols: tuple[str, ...] = ()
    num_threads: int = 0  # 0 = all CPUs
    seed_sentencepiece_size: int = 1_000_000  # SentencePiece default; candidate pieces before pruning
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    preseg: PresegConfig = field(default_factory=PresegConfig)
    per_language: PerLanguageConfig = field(default_factory=PerLanguageConfig)

    def __post_init__(self) -> None:
        if self.vocab_size < 300:
            raise ValueError(f"vocab_size must be >= 300 (256 byte pieces + specials), got {self.vocab_size}")
        if not 0.9 <= self.character_coverage <= 1.0:
            raise ValueError(f"character_coverage must be in [0.9, 1.0], got {self.character_coverage}")
        if not 1 <= self.max_piece_length <= 64:
            raise ValueError(f"max_piece_length must be in [1, 64], got {self.max_piece_length}")
        specials = [self.unk_piece, self.bos_piece, self.eos_piece, self.pad_piece, *self.control_symbols]
        specials += list(self.user_defined_symbols)
        if len(set(specials)) != len(specials) or "" in specials:
            raise ValueError(f"special pieces must be distinct and non-empty, got {specials}")
        if self.per_language.enabled and self.model_type != "unigram":
            raise ValueError("per_language.enabled needs model_type = 'unigram' (scores are re-estimated)")
        if self.num_threads < 0:
            raise ValueError(f"num_threads must be >= 0, got {self.num_threads}")
