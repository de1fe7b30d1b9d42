"""Configuration of exact and MinHash near-duplicate removal (issue 4); no Beam import, so tools can read it.

TOML layout (a ``[dedup]`` table; every key optional)::

    [dedup]
    method = "minhash"            # none | exact | minhash (minhash runs the exact stage first)
    keep_score_field = ""         # numeric document column: the highest value is kept (empty: not used)
    [dedup.normalize]             # applied before hashing (exact) and shingling (MinHash)
    nfkc = true
    [dedup.exact]
    by_url = true
    [dedup.minhash]
    banding = "threshold"         # threshold | swallow | fineweb | nemo | "<bands>x<rows>"
    threshold = 0.8

See docs/dedup.md for the presets' S-curves and the keep rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from jpcorpus.errors import ConfigError

# name -> (num_bands, rows_per_band). Hash counts: swallow 800 (Swallow corpus, Okazaki et al. 2024),
# fineweb 112 (datatrove's MinhashConfig default used for FineWeb), nemo 260 (NeMo Curator's default).
BANDING_PRESETS: dict[str, tuple[int, int]] = {
    "swallow": (20, 40),
    "fineweb": (14, 8),
    "nemo": (20, 13),
}
_EXPLICIT_BANDING = re.compile(r"^(\d+)x(\d+)$")


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


@dataclass(frozen=True, slots=True, kw_only=True)
class NormalizeConfig:
    """Text normalisation shared by the exact hash and the shingles, so both see the same 'same text'."""

    nfkc: bool = True  # full-width/half-width forms compare equal (ＡＢＣ == ABC, ｶﾅ == カナ)
    lowercase: bool = True
    digits_to_zero: bool = True  # prices, dates and counters differ between otherwise identical template pages
    remove_whitespace: bool = True  # Japanese has no word spaces; copies differ mainly in line breaks/indentation


@dataclass(frozen=True, slots=True, kw_only=True)
class ExactDedupConfig:
    """Stage ``dedup_exact``: identical normalised text; stage ``dedup_url``: the same normalised URL."""

    by_url: bool = True  # drop a crawl record whose normalised URL was already kept (records without URL pass)


@dataclass(frozen=True, slots=True, kw_only=True)
class MinHashConfig:
    """Stage ``dedup_minhash``: MinHash LSH candidates, optional exact-Jaccard check, connected components."""

    ngram_chars: int = 5  # characters per shingle (Unicode code points of the normalised text)
    num_perm: int = 128  # hash functions per signature; banding uses the first bands*rows of them
    seed: int = 1  # seed of the permutations (datasketch's default seed is 1)
    backend: Literal["rensa", "datasketch"] = "rensa"  # see pipeline/minhash.py: both are vectorised per batch
    banding: str = "threshold"  # threshold | swallow | fineweb | nemo | "<bands>x<rows>", e.g. "9x13"
    threshold: float = 0.8  # Jaccard; derives bands x rows for banding="threshold" and is the verify cut-off
    false_positive_weight: float = 0.05  # datasketch optimal-parameter weights (banding="threshold" only):
    false_negative_weight: float = 0.95  # misses weigh 19x: verify removes the extra candidates
    verify: bool = True  # keep a candidate edge only if the exact shingle Jaccard is >= threshold
    max_pairwise_bucket: int = 16  # documents; with verify, smaller buckets emit all pairs, larger ones a star
    max_cc_rounds: int = 12  # large-star/small-star rounds of the connected-components step
    batch_docs: int = 256  # documents per vectorised signature batch

    def __post_init__(self) -> None:
        _require(self.ngram_chars >= 1, f"minhash.ngram_chars must be >= 1, got {self.ngram_chars}")
        _require(self.num_perm >= 1, f"minhash.num_perm must be >= 1, got {self.num_perm}")
        _require(0.0 < self.threshold <= 1.0, f"minhash.threshold must be in (0, 1], got {self.threshold}")
        _require(
            self.false_positive_weight >= 0 and self.false_negative_weight >= 0,
            "minhash.false_positive_weight and false_negative_weight must be >= 0, got "
            f"{self.false_positive_weight}, {self.false_negative_weight}",
        )
        _require(
            self.max_pairwise_bucket >= 2, f"minhash.max_pairwise_bucket must be >= 2, got {self.max_pairwise_bucket}"
        )
        _require(self.max_cc_rounds >= 1, f"minhash.max_cc_rounds must be >= 1, got {self.max_cc_rounds}")
        _require(self.batch_docs >= 1, f"minhash.batch_docs must be >= 1, got {self.batch_docs}")
        if self.banding != "threshold":
            num_bands, rows = explicit_banding(self.banding)
            _require(
                num_bands * rows <= self.num_perm,
                f"minhash.banding {self.banding!r} needs {num_bands}x{rows}={num_bands * rows} hashes but "
                f"minhash.num_perm is {self.num_perm}; set minhash.num_perm = {num_bands * rows}",
            )


def explicit_banding(banding: str) -> tuple[int, int]:
    """(bands, rows) of a preset name or a ``"<bands>x<rows>"`` string; ``ConfigError`` otherwise."""
    if banding in BANDING_PRESETS:
        return BANDING_PRESETS[banding]
    m = _EXPLICIT_BANDING.match(banding)
    if m is None or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise ConfigError(
            f"minhash.banding: {banding!r} is not one of {['threshold', *BANDING_PRESETS]} nor '<bands>x<rows>'"
        )
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True, slots=True, kw_only=True)
class DedupConfig:
    method: Literal["none", "exact", "minhash"] = "minhash"
    keep_score_field: str = ""  # numeric column; within a cluster the highest value is kept (empty: not used)
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    exact: ExactDedupConfig = field(default_factory=ExactDedupConfig)
    minhash: MinHashConfig = field(default_factory=MinHashConfig)
