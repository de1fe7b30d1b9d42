"""``jpcorpus tokenizer train``: a SentencePiece vocabulary from pipeline shards and text files.

Flow: discover inputs -> count bytes per group (pass 1) -> sample documents per group to the byte budget with a
seeded hash (pass 2) -> lines cut to SentencePiece's sentence limit -> Japanese pre-segmented by Sudachi with a
delimiter SentencePiece drops (training only) -> SentencePiece (joint, or per group then merged and re-estimated)
-> PREFIX.model, PREFIX.vocab, PREFIX.tokenizer.json, PREFIX.card.json.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sentencepiece as spm

from jpcorpus.config import to_dict
from jpcorpus.errors import UsageError
from tokenizer.config import GROUPS, TokenizerTrainConfig
from tokenizer.corpus import ReadStats, TextInput, expand_inputs, keep_fraction, read_documents, split_sentences
from tokenizer.hf_export import tokenizer_json
from tokenizer.model_proto import BYTE, CONTROL, NORMAL, UNKNOWN, USER_DEFINED, parse_model_proto

logger = logging.getLogger(__name__)

# Training-only morpheme delimiter handed to SentencePiece (pretokenization_delimiter): a private-use code
# point, so it never collides with real text; SentencePiece removes it before counting pieces.
PRESEG_DELIMITER = "\ue000"
SUDACHI_MAX_BYTES = 49149  # SudachiPy refuses longer inputs; our sentences are <= 4192 bytes anyway


@dataclass(slots=True)
class GroupCorpusStats:
    """Per group: num_docs = num_sampled + num_not_drawn + num_over_budget (empty docs are counted per input)."""

    target_bytes: int = 0
    num_available_bytes: int = 0
    num_docs: int = 0
    num_sampled: int = 0
    num_not_drawn: int = 0
    num_over_budget: int = 0
    num_sampled_bytes: int = 0
    num_sentences: int = 0
    num_preseg_failed: int = 0


@dataclass(slots=True)
class Corpus:
    """The sampled training sentences per group, and how they were obtained."""

    sentences: dict[str, list[str]]
    groups: dict[str, GroupCorpusStats]
    inputs: list[dict[str, Any]] = field(default_factory=list)
    num_docs_other_group: int = 0  # documents whose group has no sampling ratio

    def reconcile(self) -> None:
        for name, g in self.groups.items():
            assert g.num_docs == g.num_sampled + g.num_not_drawn + g.num_over_budget, (name, g)


def _is_function_morpheme(pos: tuple[str, ...], surface: str) -> bool:
    """Auxiliary verb, conjunctive て/で, or a bound (非自立可能) verb/adjective: the links of an inflection chain."""
    if pos[0] == "助動詞":
        return True
    if pos[0] == "助詞":
        return pos[1] == "接続助詞" and surface in ("て", "で")
    return pos[0] in ("動詞", "形容詞") and pos[1] == "非自立可能"


def _joined(rules: frozenset[str], left: tuple[tuple[str, ...], str], right: tuple[tuple[str, ...], str]) -> bool:
    """True when the boundary between two (part of speech, surface) morphemes stays open under ``rules``."""
    left_fn, right_fn = _is_function_morpheme(*left), _is_function_morpheme(*right)
    if "aux" in rules and left_fn and right_fn:
        return True
    if "stem" in rules and right_fn and left[0][0] in ("動詞", "形容詞", "助動詞"):
        return True
    if "particles" in rules and left[0][0] == "助詞" and right[0][0] == "助詞":
        return True
    if "pronoun" in rules and left[0][0] == "代名詞" and right[0][:2] in _PRONOUN_PARTICLES:
        return True
    if "nominal" in rules and left[0][:2] == ("助詞", "準体助詞") and right[0][0] == "助動詞":
        return True
    if "final" in rules and right[0][:2] == ("助詞", "終助詞") and left[0][0] in _PREDICATE_OR_PARTICLE:
        return True
    return "symbols" in rules and left[0][0] == "補助記号" and right[0][0] == "補助記号"


_PREDICATE_OR_PARTICLE = ("動詞", "形容詞", "助動詞", "助詞")
_PRONOUN_PARTICLES = {("助詞", "係助詞"), ("助詞", "格助詞"), ("助詞", "副助詞")}


class SudachiSegmenter:
    """Joins Sudachi morphemes of a sentence with PRESEG_DELIMITER (the surfaces concatenate to the input).

    Boundaries that a ``join`` rule (config.JOIN_RULES) opens get no delimiter, so pieces may span them.
    """

    def __init__(self, mode: str, join: Iterable[str] = ()) -> None:
        from sudachipy import Dictionary, SplitMode

        self._tokenizer = Dictionary(dict="core").tokenizer()
        self._mode = getattr(SplitMode, mode)
        self._join = frozenset(join)

    def __call__(self, sentence: str) -> str:
        morphemes = self._tokenizer.tokenize(sentence, self._mode)
        if not self._join:
            return PRESEG_DELIMITER.join(m.surface() for m in morphemes)
        parts: list[str] = []
        prev = None
        for m in morphemes:
            cur = (m.part_of_speech(), m.surface())
            if prev is not None and not _joined(self._join, prev, cur):
                parts.append(PRESEG_DELIMITER)
            parts.append(cur[1])
            prev = cur
        return "".join(parts)


def collect_corpus(inputs: list[TextInput], config: TokenizerTrainConfig) -> Corpus:
    """Sample training sentences per group to the byte budget; deterministic for a given seed."""
    files = expand_inputs(inputs)
    sampling = config.sampling
    ratio_sum = sum(sampling.group_ratios.values())

    # Pass 1: bytes available per group, so each group can be drawn at the rate that meets its budget.
    available: Counter[str] = Counter()
    input_rows = []
    for item in files:
        stats = ReadStats()
        for _ in read_documents(item, stats=stats):
            pass
        available.update({g: n * item.repeat for g, n in stats.num_bytes_by_group.items()})
        input_rows.append({"path": str(item.path), "group": item.group, "repeat": item.repeat, **asdict(stats)})
    groups = {
        g: GroupCorpusStats(
            target_bytes=int(sampling.max_bytes * r / ratio_sum), num_available_bytes=available.get(g, 0)
        )
        for g, r in sampling.group_ratios.items()
    }
    for g, stats in groups.items():
        if stats.num_available_bytes < stats.target_bytes:
            logger.warning(
                "group %s: only %d bytes available for a budget of %d; using all of it",
                g,
                stats.num_available_bytes,
                stats.target_bytes,
            )
    if sum(s.num_available_bytes for s in groups.values()) == 0:
        names = ", ".join(str(f.path) for f in files)
        raise UsageError(
            f"empty corpus: no text for groups {sorted(groups)} in {names} "
            f"(bytes found per group: {dict(available) or 'none'})"
        )

    segmenter = None
    if config.preseg.analyzer == "sudachi" and set(config.preseg.groups) & set(groups):
        segmenter = SudachiSegmenter(config.preseg.sudachi_mode, config.preseg.join)

    # Pass 2: draw documents and cut them into sentences.
    sentences: dict[str, list[str]] = {g: [] for g in groups}
    num_other = 0
    for item in files:
        for doc, copy in ((d, k) for d in read_documents(item) for k in range(item.repeat)):
            stats = groups.get(doc.group)
            if stats is None:
                num_other += 1
                continue
            stats.num_docs += 1  # a document offered `repeat` times counts as `repeat` documents
            fraction = stats.target_bytes / stats.num_available_bytes
            # Each copy draws on its own, so a repeated source below its budget is repeated, not just kept.
            source = doc.source if copy == 0 else f"{doc.source}#copy{copy}"
            if not keep_fraction(sampling.seed, source, fraction):
                stats.num_not_drawn += 1
                continue
            if stats.num_sampled_bytes >= stats.target_bytes:
                stats.num_over_budget += 1
                continue
            stats.num_sampled += 1
            stats.num_sampled_bytes += len(doc.text.encode("utf-8"))
            preseg = segmenter is not None and doc.group in config.preseg.groups
            for sentence in split_sentences(doc.text.replace(PRESEG_DELIMITER, ""), sampling.max_sentence_bytes):
                if preseg:
                    assert segmenter is not None
                    try:
                        sentence = segmenter(sentence)
                    except Exception as exc:  # sudachipy raises SudachiError (an Exception) on odd input
                        stats.num_preseg_failed += 1
                        logger.debug("Sudachi failed on a sentence of %s: %s", doc.source, exc)
                sentences[doc.group].append(sentence)
                stats.num_sentences += 1
    corpus = Corpus(sentences=sentences, groups=groups, inputs=input_rows, num_docs_other_group=num_other)
    corpus.reconcile()
    for g, s in groups.items():
        logger.info(
            "group %s: %d/%d docs, %.1f MB of %.1f MB available, %d sentences",
            g,
            s.num_sampled,
            s.num_docs,
            s.num_sampled_bytes / 1e6,
            s.num_available_bytes / 1e6,
            s.num_sentences,
        )
    if num_other:
        logger.warning("%d documents belong to groups without a sampling ratio and were not used", num_other)
    return corpus


def sentencepiece_options(config: TokenizerTrainConfig, *, vocab_size: int, max_piece_length: int) -> dict:
    """Keyword arguments for ``SentencePieceTrainer.train``: the recipe, spelled out."""
    user_defined = (["\n"] if config.newline_piece else []) + list(config.user_defined_symbols)
    options: dict[str, Any] = dict(
        model_type=config.model_type,
        vocab_size=vocab_size,
        normalization_rule_name=config.normalization,
        byte_fallback=config.byte_fallback,
        character_coverage=config.character_coverage,
        split_digits=config.split_digits,
        allow_whitespace_only_pieces=config.allow_whitespace_only_pieces,
        split_by_whitespace=config.split_by_whitespace,
        add_dummy_prefix=config.add_dummy_prefix,
        remove_extra_whitespaces=False,  # indentation and double spaces are content (code, aligned text)
        max_sentencepiece_length=max_piece_length,
        max_sentence_length=4192,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=3,
        unk_piece=config.unk_piece,
        bos_piece=config.bos_piece,
        eos_piece=config.eos_piece,
        pad_piece=config.pad_piece,
        control_symbols=list(config.control_symbols),
        user_defined_symbols=user_defined,
        num_threads=config.num_threads or os.cpu_count() or 1,
        seed_sentencepiece_size=config.seed_sentencepiece_size,
        input_sentence_size=0,  # we already sampled; SentencePiece's own sampler would reshuffle
        shuffle_input_sentence=False,
        hard_vocab_limit=True,
        minloglevel=2,
    )
    if config.preseg.analyzer != "none":
        options["pretokenization_delimiter"] = PRESEG_DELIMITER
    return options


def _run_sentencepiece(sentences: Iterable[str], options: dict, *, what: str) -> bytes:
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_writer=model, **options)
    except RuntimeError as exc:
        # SentencePiece's own messages are precise ("Vocabulary size too high (4000). Please set it to a value
        # <= 2448."); add which corpus it was about.
        message = str(exc).split("] ", 1)[-1]
        raise UsageError(f"SentencePiece could not train on {what}: {message}") from exc
    return model.getvalue()


def _merge_and_reestimate(
    group_models: dict[str, bytes],
    sentences: list[str],
    config: TokenizerTrainConfig,
    chunk_counts: Counter[str] | None = None,
) -> bytes:
    """Union of the per-group vocabularies (fixed meta pieces first), cut to vocab_size, scores re-estimated.

    Re-estimation is Viterbi EM on the mixed corpus: encode, count pieces, score = log(count / total). A piece
    never used keeps a score below every used one instead of being removed, so the size stays what was asked.
    With ``chunk_counts`` (pre-segmented chunks within the group's piece length cap, and their counts) the room left
    after the union is filled with the most frequent chunks the vocabulary lacks; after the first
    re-estimation, multi-character pieces it never used are swapped for further chunks and scores re-estimated
    once more.
    """
    protos = {g: parse_model_proto(m, source=f"{g} model") for g, m in group_models.items()}
    first = next(iter(protos.values()))
    meta = [p for p in first.pieces if p.type in (UNKNOWN, CONTROL, USER_DEFINED)]
    byte_pieces = [p for p in first.pieces if p.type == BYTE]
    budget = config.vocab_size - len(meta) - len(byte_pieces)
    # Round-robin over the groups in proportion to their configured sizes, best pieces first.
    ranked = {g: [p for p in proto.pieces if p.type == NORMAL] for g, proto in protos.items()}
    weights = {g: config.per_language.vocab_sizes[g] for g in protos}
    chosen: dict[str, float] = {}
    cursor = dict.fromkeys(protos, 0)
    credit = dict.fromkeys(protos, 0.0)
    while len(chosen) < budget and any(cursor[g] < len(ranked[g]) for g in protos):
        for g in protos:
            credit[g] += weights[g] / sum(weights.values())
            while credit[g] >= 1 and cursor[g] < len(ranked[g]) and len(chosen) < budget:
                piece = ranked[g][cursor[g]]
                cursor[g] += 1
                if piece.piece not in chosen:
                    chosen[piece.piece] = piece.score
                    credit[g] -= 1
            if cursor[g] >= len(ranked[g]):
                credit[g] = 0.0
    num_from_groups = len(chosen)

    candidates: list[str] = []
    num_chunk_tokens = 1
    if chunk_counts:
        num_chunk_tokens = sum(chunk_counts.values())
        candidates = [
            w for w, n in chunk_counts.most_common() if n >= config.per_language.min_chunk_count and _seed_candidate(w)
        ]
        if config.per_language.fill_rank == "saved_tokens":
            # Tokens a chunk saves on the training text if added: its count x (pieces spelling it now - 1); every
            # token saved inside a word is also one false word boundary less.
            first_model, _ = _build_and_reestimate(group_models, meta, byte_pieces, chosen, [], config, 0)
            first_sp = spm.SentencePieceProcessor(model_proto=first_model.SerializeToString())
            missing = [w for w in candidates if w not in chosen]
            spellings = first_sp.encode(missing, num_threads=config.num_threads or os.cpu_count() or 1)
            saved = {w: chunk_counts[w] * (len(ids) - 1) for w, ids in zip(missing, spellings, strict=True)}
            candidates = sorted((w for w in missing if saved[w] > 0), key=lambda w: (-saved[w], -chunk_counts[w], w))
    next_candidate = 0
    removed: set[str] = set()
    num_added = num_swapped = 0
    merged = None
    for round_index in range(2 if chunk_counts else 1):
        current = None
        while len(chosen) < budget and next_candidate < len(candidates):
            w = candidates[next_candidate]
            next_candidate += 1
            if w not in chosen and w not in removed:
                if current is None:
                    current, _ = _build_and_reestimate(group_models, meta, byte_pieces, chosen, [], config, 0)
                    current_sp = spm.SentencePieceProcessor(model_proto=current.SerializeToString())
                # Hard-count EM only counts pieces on a Viterbi path, so an added chunk must start above the
                # path that spells it now, or it never gets a count (measured: もの lost to も+の, whose
                # Japanese-model scores sum higher than もの's frequency score). The EM passes then set it.
                spelled = sum(current.pieces[i].score for i in current_sp.encode(w))
                freq_score = math.log(chunk_counts[w] / num_chunk_tokens)  # type: ignore[index]
                chosen[w] = max(freq_score, spelled + config.per_language.chunk_start_margin)
                num_added += 1
        merged, unused = _build_and_reestimate(group_models, meta, byte_pieces, chosen, sentences, config)
        if chunk_counts and round_index == 0:
            for piece in unused:
                if len(piece) > 1:  # single characters stay: they keep text coverable without byte fallback
                    del chosen[piece]
                    removed.add(piece)
                    num_swapped += 1
    assert merged is not None
    if chunk_counts:
        logger.info(
            "merged vocabulary: %d pieces from the groups, %d whole chunks added (%d unused pieces swapped)",
            num_from_groups,
            num_added,
            num_swapped,
        )
    if len(chosen) < budget:
        logger.warning("merged vocabulary has %d pieces, %d short of vocab_size", len(chosen), budget - len(chosen))
    return merged.SerializeToString()


def _build_and_reestimate(
    group_models: dict[str, bytes],
    meta: list[Any],
    byte_pieces: list[Any],
    chosen: dict[str, float],
    sentences: list[str],
    config: TokenizerTrainConfig,
    num_iterations: int | None = None,
) -> tuple[Any, list[str]]:
    """The merged ModelProto with re-estimated scores, and the normal pieces the last pass never used."""
    merged = parse_model_proto(group_models[next(iter(group_models))], source="merged")
    del merged.pieces[:]
    for p in meta:
        merged.pieces.add(piece=p.piece, score=0.0, type=p.type)
    for piece, score in chosen.items():
        merged.pieces.add(piece=piece, score=score, type=NORMAL)
    for p in byte_pieces:
        merged.pieces.add(piece=p.piece, score=0.0, type=BYTE)
    merged.trainer_spec.vocab_size = len(merged.pieces)
    merged.trainer_spec.max_sentencepiece_length = max(config.per_language.max_piece_lengths.values())

    normal_ids = [i for i, p in enumerate(merged.pieces) if p.type == NORMAL]
    unused: list[str] = []
    if num_iterations is None:
        num_iterations = config.per_language.num_reestimate_iterations
    for iteration in range(num_iterations):
        sp = spm.SentencePieceProcessor(model_proto=merged.SerializeToString())
        counts: Counter[int] = Counter()
        for ids in sp.encode(sentences, num_threads=config.num_threads or os.cpu_count() or 1):
            counts.update(ids)
        total = sum(counts[i] for i in normal_ids) or 1
        floor = math.log(0.5 / total)  # below any piece seen once
        for i in normal_ids:
            merged.pieces[i].score = math.log(counts[i] / total) if counts[i] else floor - 1.0
        unused = [merged.pieces[i].piece for i in normal_ids if not counts[i]]
        logger.info(
            "re-estimation pass %d: %d tokens, %d of %d pieces unused",
            iteration + 1,
            total,
            len(unused),
            len(normal_ids),
        )
    for i in normal_ids:
        chosen[merged.pieces[i].piece] = merged.pieces[i].score
    return merged, unused


def chunk_seed_pieces(sentences: Iterable[str], *, max_piece_length: int, max_pieces: int) -> list[tuple[str, int]]:
    """Seed candidates for the unigram trainer: substrings of the pre-segmented chunks with their frequency.

    Chunks are the text between PRESEG_DELIMITERs (and whitespace); a substring's frequency is the sum of the
    frequencies of the chunks holding it. Only substrings SentencePiece itself could propose are kept: no
    whitespace, digits alone (split_digits), and no mix of ASCII with other characters (split_by_unicode_script).
    Ranked like SentencePiece ranks its seeds (frequency x length), best ``max_pieces`` kept.
    """
    chunks: Counter[str] = Counter()
    for sentence in sentences:
        chunks.update(w for w in _WHITESPACE_OR_DELIMITER.split(sentence) if w)
    substrings: Counter[str] = Counter()
    for chunk, freq in chunks.items():
        n = len(chunk)
        for i in range(n):
            for j in range(i + 1, min(n, i + max_piece_length) + 1):
                substrings[chunk[i:j]] += freq
    valid = [(piece, freq) for piece, freq in substrings.items() if _seed_candidate(piece)]
    valid.sort(key=lambda pf: (-pf[1] * len(pf[0]), pf[0]))
    return valid[:max_pieces]


def _seed_candidate(piece: str) -> bool:
    if len(piece) == 1:
        return True
    return not any(c.isdigit() for c in piece) and (piece.isascii() or not _HAS_ASCII.search(piece))


_WHITESPACE_OR_DELIMITER = re.compile(rf"[\s{PRESEG_DELIMITER}]+")
_HAS_ASCII = re.compile(r"[\x00-\x7f]")


def _strip_delimiter(sentences: Iterable[str]) -> Iterator[str]:
    for s in sentences:
        yield s.replace(PRESEG_DELIMITER, "")


def write_vocab(proto: Any, path: Path) -> None:
    """PREFIX.vocab as SentencePiece writes it: piece TAB score per line."""
    with path.open("w", encoding="utf-8") as f:
        for p in proto.pieces:
            f.write(f"{p.piece}\t{p.score:g}\n")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def train_tokenizer(inputs: list[TextInput], output_prefix: str | Path, config: TokenizerTrainConfig) -> dict:
    """Train, write PREFIX.{model,vocab,tokenizer.json,card.json}; returns the card."""
    prefix = Path(output_prefix)
    if prefix.parent and not prefix.parent.exists():
        prefix.parent.mkdir(parents=True)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    corpus = collect_corpus(inputs, config)
    timings["corpus_s"] = time.perf_counter() - t0
    what = f"{sum(len(v) for v in corpus.sentences.values())} sentences sampled from " + ", ".join(
        str(i.path) for i in inputs
    )

    t0 = time.perf_counter()
    if config.per_language.enabled:
        group_models = {}
        for g in GROUPS:
            if g not in corpus.sentences or not corpus.sentences[g] or g not in config.per_language.vocab_sizes:
                continue
            options = sentencepiece_options(
                config,
                vocab_size=config.per_language.vocab_sizes[g],
                max_piece_length=config.per_language.max_piece_lengths.get(g, config.max_piece_length),
            )
            # Pre-segmented Japanese may have fewer candidate pieces than asked for; take what there is and let
            # the merge fill the rest from the other groups instead of failing.
            options["hard_vocab_limit"] = False
            logger.info("training the %s vocabulary (%d pieces)", g, options["vocab_size"])
            with tempfile.TemporaryDirectory(prefix="jpcorpus-seed-") as tmp:
                if config.preseg.seed_from_chunks and config.preseg.analyzer != "none" and g in config.preseg.groups:
                    seeds = chunk_seed_pieces(
                        corpus.sentences[g],
                        max_piece_length=options["max_sentencepiece_length"],
                        max_pieces=config.seed_sentencepiece_size,
                    )
                    seed_path = Path(tmp) / "seed.tsv"
                    seed_path.write_text("".join(f"{p}\t{f}\n" for p, f in seeds), encoding="utf-8")
                    options["seed_sentencepieces_file"] = str(seed_path)
                    logger.info("group %s: %d seed pieces from pre-segmented chunks", g, len(seeds))
                group_models[g] = _run_sentencepiece(corpus.sentences[g], options, what=f"group {g} of {what}")
        timings["train_groups_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        mixed = [s for g in corpus.sentences for s in corpus.sentences[g]]
        chunk_counts: Counter[str] | None = None
        if config.per_language.fill_from_chunks and config.preseg.analyzer != "none":
            chunk_counts = Counter()
            for g in config.preseg.groups:
                max_len = config.per_language.max_piece_lengths.get(g, config.max_piece_length)
                for sentence in corpus.sentences.get(g, ()):
                    chunk_counts.update(w for w in _WHITESPACE_OR_DELIMITER.split(sentence) if 0 < len(w) <= max_len)
        model_bytes = _merge_and_reestimate(group_models, list(_strip_delimiter(mixed)), config, chunk_counts)
        timings["merge_reestimate_s"] = time.perf_counter() - t1
    else:
        options = sentencepiece_options(config, vocab_size=config.vocab_size, max_piece_length=config.max_piece_length)
        mixed = (s for g in corpus.sentences for s in corpus.sentences[g])
        model_bytes = _run_sentencepiece(mixed, options, what=what)
    timings["train_s"] = time.perf_counter() - t0

    proto = parse_model_proto(model_bytes, source="trained model")
    t0 = time.perf_counter()
    Path(f"{prefix}.model").write_bytes(model_bytes)
    write_vocab(proto, Path(f"{prefix}.vocab"))
    Path(f"{prefix}.tokenizer.json").write_text(tokenizer_json(proto), encoding="utf-8")
    timings["export_s"] = time.perf_counter() - t0

    type_counts = Counter(p.type for p in proto.pieces)
    card = {
        "model": f"{prefix}.model",
        "tokenizer_json": f"{prefix}.tokenizer.json",
        "vocab_size": len(proto.pieces),
        "num_pieces_by_type": {
            "normal": type_counts[NORMAL],
            "byte": type_counts[BYTE],
            "control": type_counts[CONTROL],
            "user_defined": type_counts[USER_DEFINED],
            "unknown": type_counts[UNKNOWN],
        },
        "special_ids": {p.piece: i for i, p in enumerate(proto.pieces) if p.type in (UNKNOWN, CONTROL, USER_DEFINED)},
        "corpus": {
            "inputs": corpus.inputs,
            "groups": {g: asdict(s) for g, s in corpus.groups.items()},
            "num_docs_other_group": corpus.num_docs_other_group,
        },
        "options": to_dict(config),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    Path(f"{prefix}.card.json").write_text(json.dumps(card, ensure_ascii=False, indent=1), encoding="utf-8")
    logger.info("wrote %s.model (%d pieces) in %.1f s", prefix, len(proto.pieces), timings["train_s"])
    return card
