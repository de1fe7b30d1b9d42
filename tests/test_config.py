from dataclasses import dataclass, field

import pytest

from jpcorpus.config import from_dict, replace_dotted, to_dict
from jpcorpus.errors import ConfigError
from pipeline.config import PipelineConfig, load_pipeline_config
from tests.conftest import REPO


def test_default_toml_matches_built_in_defaults():
    assert load_pipeline_config(REPO / "configs" / "build_default.toml") == PipelineConfig()


def test_unknown_key_names_the_table(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[langid]\nmin_scor = 0.9\n")
    with pytest.raises(ConfigError, match=r"langid: unknown key\(s\) \['min_scor'\]"):
        load_pipeline_config(path)


def test_bad_values_name_field_and_value(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[langid]\nmin_score = 1.5\n")
    with pytest.raises(ConfigError, match="langid.min_score must be in \\[0,1\\], got 1.5"):
        load_pipeline_config(path)
    path.write_text('[output]\nmax_rows_per_shard = "many"\n')
    with pytest.raises(ConfigError, match="output.max_rows_per_shard: expected an integer"):
        load_pipeline_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_pipeline_config(tmp_path / "missing.toml")


def test_overrides_and_round_trip():
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Inner:
        lr: float = 1e-3

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Outer:
        name: str
        inner: Inner = field(default_factory=Inner)

    cfg = from_dict(Outer, {"name": "x", "inner": {"lr": 3}})
    assert cfg.inner.lr == 3.0
    assert replace_dotted(cfg, {"inner.lr": 0.5}).inner.lr == 0.5
    with pytest.raises(ConfigError, match="unknown key 'lrr'"):
        replace_dotted(cfg, {"inner.lrr": 0.5})
    assert from_dict(Outer, to_dict(cfg)) == cfg
