"""Named filter presets: published Japanese rule sets reproduced as closely as their sources allow, and ours.

A preset is a Python value (STYLE.md §3): clean-up steps before scoring, the filters in decision order, and
clean-up steps applied after the decision to kept documents only (where the source modifies text after
filtering). Sources and thresholds: ../shared/docs/FILTER_RULES.md; deviations are noted per preset.
"""

from __future__ import annotations

from dataclasses import dataclass

from filters.base import Filter
from filters.cleanup import (
    BoilerplateLines,
    CleanupStep,
    FooterTruncate,
    InvalidChars,
    JaWidth,
    Kutoten,
    LlmjpJapaneseLines,
    SymbolLines,
    Whitespace,
)
from filters.composition import HiraganaRatio, JapaneseRatio, KanaInHead, KatakanaRatio, NumChars, NumJapaneseLetters
from filters.compression import ZlibRatio
from filters.ngwords import AdKeywords, NgCharRatio, NgWordHits
from filters.repetition import GopherRepetition, SwallowRepetition
from filters.sentences import (
    CharsPerKuten,
    EllipsisSentenceRatio,
    LinePunctRatio,
    MaxSentenceLength,
    MeanSentenceLength,
)
from filters.url import UrlBlocklist, UrlTld, UrlWords
from filters.words import FineWebQuality, GopherQualityWords


@dataclass(frozen=True, slots=True, kw_only=True)
class Preset:
    name: str
    description: str
    cleanup: tuple[CleanupStep, ...]
    filters: tuple[Filter, ...]
    post_cleanup: tuple[CleanupStep, ...] = ()


# Swallow Corpus v1 (Okazaki et al., COLM 2024; swallow-llm/swallow-corpus @ 2d03507; FILTER_RULES.md §D).
# Order: NG URL, quality.py apply_v1 in its order, NG words; then modify.py (kutoten, footer) on kept text.
# Deviations: Swallow's private NG-word list and UT1 category labels are not published (we block every UT1 .jp
# domain); its extraction (nanigo language detector, trafilatura settings) lives in the core stages.
SWALLOW_V1 = Preset(
    name="swallow_v1",
    description="Swallow Corpus v1 quality + NG word/URL rules, then kutoten and footer clean-up",
    cleanup=(InvalidChars(),),
    filters=(
        UrlBlocklist(block_host_suffixes=("5ch.net", "wikipedia.org")),
        NumChars(min_chars=400),
        SwallowRepetition(),
        HiraganaRatio(min_ratio=0.2),
        KatakanaRatio(max_ratio=0.5),
        JapaneseRatio(min_ratio=0.5),
        NumJapaneseLetters(min_letters=400),
        MeanSentenceLength(min_chars=20, max_chars=90),
        MaxSentenceLength(max_chars=200),
        EllipsisSentenceRatio(max_ratio=0.2),
        NgCharRatio(max_ratio=0.05),
    ),
    post_cleanup=(Kutoten(), FooterTruncate()),
)

# LLM-jp Corpus v1.0 ja_cc, normal mode (llm-jp/llm-jp-corpus @ 9815fc5 scripts/filter_data.py; FILTER_RULES.md
# §A), in its order; then extract_japanese_text on kept text (joined without newlines, as released) and the final
# non-empty check (the clean-up stage drops documents it empties). Deviation: NG words are matched
# leftmost-longest instead of first-listed (see NgWordHits).
LLMJP_V1 = Preset(
    name="llmjp_v1",
    description="LLM-jp Corpus v1 ja_cc filters (TLD allowlist, kana in head, ads, NG words, kuten, zlib)",
    cleanup=(InvalidChars(),),
    filters=(
        UrlTld(),
        UrlBlocklist(domain_lists=(), block_host_suffixes=("ja.wikipedia.org",)),
        NumChars(count_whitespace=False, min_chars=1),
        KanaInHead(lookup_chars=50, min_kana=1),
        AdKeywords(max_hits=10),
        NgWordHits(max_adult=3, max_discrimination=3, max_violence=3),
        CharsPerKuten(max_chars=250),
        ZlibRatio(min_ratio=0.30, max_ratio=0.70),
    ),
    post_cleanup=(LlmjpJapaneseLines(join_with=""),),
)

# FineWeb-2 jpn_Jpan (huggingface/fineweb-2 @ 7ee60b3 fineweb-2-pipeline.py + configs/jpn_Jpan.yml): URL filter,
# GopherRepetition on words (paragraph and line-character rules disabled as FineWeb-2 does), FineWebQuality,
# GopherQuality; then the final touches we have (SymbolLines "|"; PII is our pii stage).
# Deviations: UT1 .jp subset only; GlotLID language_score 0.886 is not applied here (langid is its own stage,
# fastText lid.176); FTFY is not run; datatrove's n-gram coverage scan is approximated (see GopherRepetition).
FINEWEB2_JPN = Preset(
    name="fineweb2_jpn",
    description="FineWeb-2 jpn_Jpan filters on SudachiPy words (Gopher repetition/quality, FineWeb quality)",
    cleanup=(InvalidChars(),),
    filters=(
        UrlBlocklist(),
        UrlWords(),
        GopherRepetition(
            unit="word",
            max_dup_para_frac=None,
            max_dup_para_char_frac=None,
            max_dup_line_char_frac=None,
            max_dup_line_frac=0.375,
            max_top_2gram_char_frac=0.121,
            max_top_3gram_char_frac=0.129,
            max_top_4gram_char_frac=0.145,
            max_dup_5gram_char_frac=0.307,
            max_dup_6gram_char_frac=0.283,
            max_dup_7gram_char_frac=0.264,
            max_dup_8gram_char_frac=0.248,
            max_dup_9gram_char_frac=0.234,
            max_dup_10gram_char_frac=0.223,
        ),
        FineWebQuality(),
        GopherQualityWords(),
    ),
    post_cleanup=(SymbolLines(),),
)

# Ours. Calibrated on Aozora Bunko, the jawiki sample and real Japanese web pages (bench/bench_filters.py prints
# the per-preset funnel): Swallow's composition rules with bounds loosened where they drop good encyclopedia
# text (jawiki: 10% below hiragana 0.2, 31% over a 200-character sentence, 23% over LLM-jp's 3 NG-word hits,
# mostly substrings such as いじめ in 薄暗いじめじめ), Gopher repetition on characters, LLM-jp's ad and zlib rules,
# Swallow's NG-character share. NG-word hit counts are stored (annotate) but do not decide.
DEFAULT = Preset(
    name="default",
    description="jpcorpus default: width/kutoten/boilerplate/table-residue/whitespace clean-up, then composition, "
    "sentence, repetition, compression, ad and NG rules",
    cleanup=(InvalidChars(), JaWidth(), Kutoten(), BoilerplateLines(), SymbolLines(), Whitespace()),
    filters=(
        UrlBlocklist(block_host_suffixes=("5ch.net",)),
        NumChars(min_chars=200),
        KanaInHead(lookup_chars=100, min_kana=1),
        HiraganaRatio(min_ratio=0.1),
        KatakanaRatio(max_ratio=0.6),
        JapaneseRatio(min_ratio=0.5),
        MeanSentenceLength(min_chars=10, max_chars=150),
        MaxSentenceLength(max_chars=1000),
        EllipsisSentenceRatio(max_ratio=0.2),
        LinePunctRatio(min_ratio=0.2),
        GopherRepetition(),
        ZlibRatio(min_ratio=0.25, max_ratio=0.75),
        AdKeywords(max_hits=10),
        NgCharRatio(max_ratio=0.05),
        NgWordHits(max_adult=None, max_discrimination=None, max_violence=None),
    ),
)

PRESETS: dict[str, Preset] = {p.name: p for p in (DEFAULT, SWALLOW_V1, LLMJP_V1, FINEWEB2_JPN)}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown filter preset {name!r}; known: {sorted(PRESETS)}") from None
