"""One exception type per kind of mistake: a parameter value a stage cannot use is a ConfigError naming the
parameter (``field``), whichever base the stage has, in Python and in a config (then with file and line)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from rag.core.errors import ConfigError
from rag.datasets import Corpus

CORPUS = Corpus([{"docno": "d1", "text": "alpha"}, {"docno": "d2", "text": "beta"}])


class NoLLM:
    name = "no-llm"

    def generate(self, prompts, **params):  # pragma: no cover - never called: construction fails first
        raise AssertionError("not called")

    def option_probs(self, prompts, options):  # pragma: no cover
        raise AssertionError("not called")


def _stage(module: str, cls: str) -> Callable[..., Any]:
    def make(**params: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(module), cls)(**params)
    return make


lucene, fast = _stage("retrievers.lucene", "LuceneBM25"), _stage("retrievers.bm25.fast", "FastBM25")
pointwise, listwise = _stage("rerankers.llm", "LLMPointwiseReranker"), _stage("rerankers.llm", "LLMListwiseReranker")
judge, reader = _stage("rag.judges.stage", "UtilityJudge"), _stage("rag.readers.reader", "Reader")
cross, cutoff = _stage("rerankers.cross_encoder", "CrossEncoderReranker"), _stage("rag.core.stage", "RankCutoff")
rrf = _stage("retrievers.fusion", "RRF")


def _minilm() -> str:
    """A model folder that exists offline (the cross-encoder may look for its model before its parameters)."""
    from rerankers.training import start_model_path

    return start_model_path("all-MiniLM-L6-v2")

# (what, how to build it, the field named)
CASES = [
    ("retriever k 0", lambda: lucene(corpus=CORPUS, k=0), "k"),
    ("retriever k True", lambda: fast(corpus=CORPUS, k=True), "k"),
    ("retriever k1 -1", lambda: lucene(corpus=CORPUS, k1=-1.0), "k1"),
    ("retriever instruction mode", lambda: lucene(corpus=CORPUS, instruction="prepend"), "instruction"),
    ("reranker depth 0", lambda: pointwise(llm=NoLLM(), depth=0), "depth"),
    ("reranker depth 2.5", lambda: listwise(llm=NoLLM(), depth=2.5), "depth"),
    ("reranker keep_rest 'yes'", lambda: pointwise(llm=NoLLM(), keep_rest="yes"), "keep_rest"),
    ("listwise stride > window", lambda: listwise(llm=NoLLM(), window=3, stride=4), "stride"),
    ("cross-encoder interpolate 2", lambda: cross(model=_minilm(), interpolate=2.0), "interpolate"),
    ("cross-encoder batch_size 0", lambda: cross(model=_minilm(), batch_size=0), "batch_size"),
    ("judge method", lambda: judge(llm=NoLLM(), method="pointwize"), "method"),
    ("judge aggregate", lambda: judge(llm=NoLLM(), aggregate="most"), "aggregate"),
    ("judge depth 0", lambda: judge(llm=NoLLM(), depth=0), "depth"),
    ("reader passages -1", lambda: reader(llm=NoLLM(), passages=-1), "passages"),
    ("reader template", lambda: reader(llm=NoLLM(), template="qaa"), "template"),
    ("reader no_passage", lambda: reader(llm=NoLLM(), no_passage="skip"), "no_passage"),
    ("rank cut-off 0", lambda: cutoff(k=0), "k"),
    ("rrf rank_constant -1", lambda: rrf(pipelines=[cutoff(k=1), cutoff(k=2)], rank_constant=-1.0), "rank_constant"),
    ("rrf per_run 0", lambda: rrf(pipelines=[cutoff(k=1), cutoff(k=2)], per_run=0), "per_run"),
]


@pytest.mark.parametrize("make,field", [pytest.param(m, f, id=w) for w, m, f in CASES])
def test_a_bad_parameter_value_is_a_config_error_naming_it(make, field):
    with pytest.raises(ConfigError) as info:
        make()
    assert type(info.value) is ConfigError and info.value.field == field, str(info.value)
    assert "\n" not in str(info.value)


CONFIG = "name: x\ndataset: demo\nmeasures: [nDCG@10]\npipelines:\n  S:\n    - bm25: {k1: 0.9}\n    - {STAGE}\n"


@pytest.mark.parametrize("stage,field", [
    ("llm-pointwise: {depth: 0, llm: qwen-0.5b}", "llm-pointwise.depth"),
    ("utility-judge: {method: nope, llm: qwen-0.5b}", "utility-judge.method"),
    ("reader: {passages: -3, llm: qwen-0.5b}", "reader.passages"),
    ("rank-cutoff: {k: 0}", "rank-cutoff.k"),
])
def test_the_same_mistake_in_a_config_names_file_line_and_field(tmp_path: Path, stage, field):
    from rag.experiment.config import load_experiment

    path = tmp_path / "exp.yaml"
    path.write_text(CONFIG.replace("{STAGE}", stage))
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    err = info.value
    assert err.path and err.path.endswith("exp.yaml") and err.line == 7 and err.field == field, str(err)
