"""YAML experiment configs: validated with file, line and key; nothing in them is executed."""
from __future__ import annotations

import pytest

from rag.core.config import load_yaml
from rag.core.errors import ConfigError
from rag.experiment.config import load_experiment

GOOD = """\
name: tiny
dataset: demo
measures: [nDCG@10, RR@10]
baseline: BM25
pipelines:
  BM25: {bm25: {k1: 0.9, b: 0.4}}
  BM25-top5: [{bm25: {}}, {rank-cutoff: {k: 5}}]
"""


def config(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def _error(path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    return info.value


def test_a_good_config_builds(tmp_path):
    experiment = load_experiment(config(tmp_path, GOOD))
    assert list(experiment.pipelines) == ["BM25", "BM25-top5"]
    assert "RankCutoff" in experiment.pipelines["BM25-top5"].describe()


def test_unknown_top_level_key_names_line_and_suggests(tmp_path):
    err = _error(config(tmp_path, GOOD + "mesures: [P@1]\n"))
    assert err.line == 8 and "measures" in str(err)


def test_unknown_component_suggests_a_name(tmp_path):
    err = _error(config(tmp_path, GOOD.replace("{bm25: {k1", "{bm52: {k1")))
    assert "bm25" in str(err) and err.line == 6


def test_unknown_parameter_and_wrong_type(tmp_path):
    err = _error(config(tmp_path, GOOD.replace("k1: 0.9", "kl: 0.9")))
    assert "k1" in str(err)
    err = _error(config(tmp_path, GOOD.replace("k1: 0.9", "k1: high")))
    assert "k1" in str(err)


def test_duplicate_keys_are_an_error(tmp_path):
    err = _error(config(tmp_path, GOOD + "baseline: BM25-top5\n"))
    assert "twice" in str(err) and err.line == 8


def test_invalid_yaml_names_the_line(tmp_path):
    err = _error(config(tmp_path, "name: x\npipelines: {a: [1, 2\n"))
    assert err.line is not None and "YAML" in str(err)


def test_bad_measure_and_baseline(tmp_path):
    err = _error(config(tmp_path, GOOD.replace("RR@10", "RR@ten")))
    assert err.field == "measures"
    err = _error(config(tmp_path, GOOD.replace("baseline: BM25", "baseline: BM52")))
    assert err.field == "baseline"


def test_configs_never_execute_code(tmp_path):
    path = config(tmp_path, "name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError):
        load_yaml(path)
    path = config(tmp_path, GOOD.replace("{bm25: {k1: 0.9, b: 0.4}}", "{'os:system': {}}"))
    with pytest.raises(ConfigError, match="unknown component"):
        load_experiment(path)
