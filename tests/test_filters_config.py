"""Registry, presets and the [filters] config: names are unique, errors are clear, presets are what they claim."""

from __future__ import annotations

import dataclasses

import pytest

import filters
from filters.config import FiltersConfig, build_plan, plan_summary
from filters.presets import PRESETS
from jpcorpus.config import from_dict
from jpcorpus.errors import ConfigError


def test_registry_names_are_unique_versioned_and_duplicates_raise():
    for cls in (*filters.FILTERS, *filters.CLEANUP_STEPS):
        assert cls.name.rsplit("_", 1)[-1].startswith("v"), cls.name
    with pytest.raises(ValueError, match="duplicate filter name 'hiragana_ratio_v1'"):
        filters._index((filters.FILTERS[2], filters.FILTERS[2]), "filter")
    with pytest.raises(ValueError, match="known: .*hiragana_ratio_v1"):
        filters.get_filter("hiragana_ratio")


def test_all_presets_resolve_with_known_names_and_unique_columns():
    assert set(PRESETS) == {"default", "swallow_v1", "llmjp_v1", "fineweb2_jpn"}
    for name in PRESETS:
        plan = build_plan(FiltersConfig(preset=name))
        cols = [c for f in plan.scored for c in f.column_names()]
        assert len(cols) == len(set(cols)), name
        for f in plan.filters:
            assert f.name in filters.FILTERS_BY_NAME
        plan_summary(plan)


def test_swallow_preset_reproduces_apply_v1_thresholds():
    plan = build_plan(FiltersConfig(preset="swallow_v1"))
    by = {f.name: f for f in plan.filters}
    assert by["num_chars_v1"].min_chars == 400 and by["num_japanese_letters_v1"].min_letters == 400
    assert by["hiragana_ratio_v1"].min_ratio == 0.2 and by["katakana_ratio_v1"].max_ratio == 0.5
    assert (by["mean_sentence_length_v1"].min_chars, by["mean_sentence_length_v1"].max_chars) == (20, 90)
    rep = by["swallow_repetition_v1"]
    assert (rep.max_top_2gram_frac, rep.max_dup_10gram_frac) == (0.20, 0.10)
    assert [s.name for s in plan.post_cleanup] == ["kutoten_v1", "footer_truncate_v1"]


def test_llmjp_preset_order_and_thresholds():
    plan = build_plan(FiltersConfig(preset="llmjp_v1"))
    assert [f.name for f in plan.filters][:4] == ["url_tld_v1", "url_blocklist_v1", "num_chars_v1", "kana_in_head_v1"]
    by = {f.name: f for f in plan.filters}
    assert by["ad_keywords_v1"].max_hits == 10 and by["chars_per_kuten_v1"].max_chars == 250
    assert (by["zlib_ratio_v1"].min_ratio, by["zlib_ratio_v1"].max_ratio) == (0.30, 0.70)
    assert by["ng_word_hits_v1"].max_adult == 3


def test_fineweb2_preset_uses_jpn_config_values():
    plan = build_plan(FiltersConfig(preset="fineweb2_jpn"))
    rep = {f.name: f for f in plan.filters}["gopher_repetition_v1"]
    assert rep.unit == "word" and rep.max_dup_line_frac == 0.375 and rep.max_top_2gram_char_frac == 0.121
    assert rep.max_dup_para_frac is None  # disabled in FineWeb-2


@pytest.mark.parametrize(
    "table, needle",
    [
        ({"preset": "swalow_v1"}, "unknown filter preset 'swalow_v1'"),
        ({"presett": "default"}, "unknown key(s) ['presett']"),
        ({"disable": ["hiragana_ratio"]}, "filters.disable: ['hiragana_ratio'] not in preset"),
        ({"overrides": {"hiragana_ratio_v1": {"min_ration": 0.1}}}, "unknown key 'min_ration'"),
        ({"overrides": {"hiragana_ratio_v1": {"min_ratio": "0.1"}}}, "expected a number"),
        ({"overrides": {"zlib_ratio": {"min_ratio": 0.1}}}, "filters.overrides.zlib_ratio: no such filter"),
        ({"overrides": {"ad_keywords_v1": {"lists": ["nope.txt"]}}}, "no word list 'nope.txt'"),
        ({"annotate": ["llmjp"]}, "neither a filter nor a preset"),
        ({"pii_kinds": ["email", "ssn"]}, "['ssn'] unknown"),
    ],
)
def test_config_errors_name_the_culprit(table, needle):
    with pytest.raises(ConfigError) as exc:
        from_dict(FiltersConfig, table, prefix="filters")
    assert needle in str(exc.value)


def test_overrides_disable_and_annotate_apply():
    cfg = from_dict(
        FiltersConfig,
        {
            "preset": "default",
            "disable": ["ng_char_ratio_v1", "whitespace_v1"],
            "annotate": ["chars_per_kuten_v1", "llmjp_v1"],
            "overrides": {"hiragana_ratio_v1": {"min_ratio": 0.15}, "chars_per_kuten_v1": {"max_chars": 100}},
        },
        prefix="filters",
    )
    plan = build_plan(cfg)
    names = [f.name for f in plan.filters]
    assert "ng_char_ratio_v1" not in names and "whitespace_v1" not in [s.name for s in plan.cleanup]
    assert {f.name: f for f in plan.filters}["hiragana_ratio_v1"].min_ratio == 0.15
    annotate = {f.name: f for f in plan.annotate_only}
    assert annotate["chars_per_kuten_v1"].max_chars == 100 and "url_tld_v1" in annotate
    assert "chars_per_kuten_v1" not in plan.rule_names()  # annotate-only filters never decide
    assert dataclasses.replace(cfg, drop=False).drop is False


def test_shipped_filter_configs_load():
    from pathlib import Path

    from jpcorpus.config import load_toml

    repo = Path(__file__).resolve().parents[1]
    annotate = from_dict(FiltersConfig, load_toml(repo / "configs" / "filters_annotate.toml")["filters"])
    assert annotate.drop is False and "swallow_repetition_v1" in {f.name for f in build_plan(annotate).annotate_only}
    swallow = from_dict(FiltersConfig, load_toml(repo / "configs" / "filters_select_swallow.toml")["filters"])
    assert "url_blocklist_v1" not in build_plan(swallow).rule_names()
