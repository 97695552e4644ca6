"""The whole experiment is checked before any stage runs: schema, names, plugins, data set, questions, and each
pipeline's stages against each other and against its measures (the dry check), with file:line errors."""
from __future__ import annotations

import json
import sys
import textwrap
import unicodedata

import pandas as pd
import pytest

from rag.cli import main
from rag.core.config import load_yaml
from rag.core.errors import ConfigError
from rag.core.stage import Pipeline, Stage
from rag.experiment.config import check_experiment, load_experiment
from rag.experiment.queries import sample_queries


def write(tmp_path, text, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def no_stage_runs(monkeypatch):
    """Every stage call (and every LLM load) is recorded: a check must leave the list empty."""
    calls = []
    for cls in (Stage, Pipeline):
        original = cls.__call__
        monkeypatch.setattr(cls, "__call__", lambda self, frame, _o=original: calls.append(self.name) or _o(self, frame))
    import rag.llm
    original_load = rag.llm.load_llm
    monkeypatch.setattr(rag.llm, "load_llm", lambda *a, **k: calls.append("load_llm") or original_load(*a, **k))
    return calls


MISCOMPOSED = {
    # a reader's answers have no ranking: add-text (line 7) needs docno
    "stage after a reader": ("""\
        dataset: demo
        measures: [EM]
        pipelines:
          fine: {reader: {template: closed_book}}
          odd:
            - reader: {template: closed_book}
            - add-text
        """, 7, "AddText needs column(s) ['docno']"),
    # EM needs an answer: no pipeline has a reader
    "no answer for EM": ("""\
        dataset: demo
        measures:
          - nDCG@10
          - EM
        pipelines:
          BM25: [{bm25: {k1: 0.9}}, {rank-cutoff: {k: 5}}]
        """, 4, "measure 'EM' needs column(s) ['answer', 'answers']"),
    # nDCG needs a ranking: every pipeline is closed-book
    "no ranking for nDCG": ("""\
        dataset: demo
        measures: [F1, nDCG@10]
        pipelines:
          closed-book: {reader: {template: closed_book}}
        """, 2, "measure 'nDCG@10' needs a ranking"),
    # the demo questions have no popularity or relation: the policy (line 7) cannot route them
    "dataset column a stage needs": ("""\
        dataset: demo
        measures: [RetrievalRate]
        pipelines:
          routed:
            adaptive-route:
              recall: {short-answerer: {}}
              policy: {popularity-threshold: {cuts: {occupation: 1.7}}}
              retrieve: [{bm25: {k: 1}}, add-text, {short-answerer: {passages: 1}}]
        """, 7, "PopularityThreshold needs column(s) ['s_pop', 'relation']"),
    # a reader that reads passages, fed the bare questions
    "reader without a retriever": ("""\
        dataset: demo
        measures: [F1]
        pipelines:
          reader-alone: [{reader: {passages: 3}}]
        """, 4, "put a retriever before the reader"),
}


@pytest.mark.parametrize("case", list(MISCOMPOSED))
def test_a_miscomposed_pipeline_fails_in_the_check_before_any_stage_runs(case, tmp_path, capsys, no_stage_runs):
    text, line, message = MISCOMPOSED[case]
    path = write(tmp_path, text)
    out = tmp_path / "results"
    assert main(["run", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line} " in err and message in err and "Traceback" not in err, err
    assert no_stage_runs == [] and not out.exists()        # nothing ran, nothing was written


def test_check_command_checks_everything_and_runs_nothing(tmp_path, capsys, no_stage_runs):
    assert main(["run", "--check"]) == 0                    # the main job: four systems, eight measures
    out = capsys.readouterr().out
    assert "ok, nothing ran: 4 pipeline(s), 8 measure(s), 14 question(s)" in out
    assert "nDCG@10: 3 of 4 system(s) (not closed-book)" in out
    assert no_stage_runs == []


def test_measure_needing_data_the_dataset_lacks(tmp_path):
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"id": "a", "question": "who?"}\n{"id": "b", "question": "what?"}\n')
    path = write(tmp_path, f"""\
        dataset: {{name: {questions}}}
        measures: [Recall]
        pipelines:
          closed-book: {{reader: {{template: closed_book}}}}
        """)
    with pytest.raises(ConfigError, match="no 'answers' column") as info:
        load_experiment(path)
    assert info.value.line == 2


def test_names_are_normalised_and_compared(tmp_path):
    base = "dataset: demo\nmeasures: [nDCG@10]\n"
    cases = {
        "pipelines:\n  1: bm25\n  '1': bm25\n": (5, "1 (a YAML int) (line 4) and '1' (line 5)"),
        f"pipelines:\n  {unicodedata.normalize('NFD', 'Café')}: bm25\n  Café: bm25\n": (5, "(not NFC)"),
        "pipelines:\n  yes: bm25\n": (4, "YAML boolean"),
        "baseline: B\npipelines:\n  a: bm25\n": (3, "baseline 'B' is not a pipeline name"),
    }
    for text, (line, message) in cases.items():
        with pytest.raises(ConfigError) as info:
            load_experiment(write(tmp_path, base + text))
        assert info.value.line == line and message in str(info.value), (text, str(info.value))
    # NFC spellings are one name: the baseline written decomposed finds the pipeline written composed
    experiment = load_experiment(write(tmp_path, base + f"baseline: {unicodedata.normalize('NFD', 'é')}\n"
                                       f"pipelines:\n  x: bm25\n  é: bm25\n"))
    assert experiment.baseline == "é" and list(experiment.pipelines) == ["x", "é"]


def test_formats_choose_the_reports(tmp_path, capsys):
    path = write(tmp_path, """\
        name: only-md
        dataset: demo
        measures: [nDCG@10]
        formats: [md, csv]
        pipelines:
          BM25: bm25
        """)
    out = tmp_path / "out"
    assert main(["run", str(path), "-o", str(out)]) == 0
    assert (out / "leaderboard.md").exists() and (out / "results.csv").exists()
    assert not (out / "leaderboard.html").exists() and not (out / "leaderboard.tex").exists()
    assert not list(out.glob("deltas-*"))
    with pytest.raises(ConfigError, match="unknown format 'pdf'") as info:
        load_experiment(write(tmp_path, path.read_text().replace("[md, csv]", "[md,\n  pdf]")))
    assert info.value.line == 5


def test_report_formats_are_those_the_writer_makes():
    from rag.experiment.spec import REPORT_FORMATS
    from rag.report.board import FORMATS
    assert tuple(REPORT_FORMATS) == tuple(FORMATS)


def test_top_level_llm_is_the_default_of_every_stage_that_takes_one(tmp_path):
    path = write(tmp_path, """\
        dataset: demo
        llm: {backend: openai, model: served-model, base_url: "http://127.0.0.1:9/v1"}
        measures: [F1]
        pipelines:
          default: {reader: {template: closed_book, max_tokens: 24}}
          own: {reader: {template: closed_book, llm: qwen-0.5b}}
          judged: [bm25, add-text, {utility-judge: {depth: 3}}, {reader: {passages: 2}}]
        """)
    pipelines = load_experiment(path).pipelines
    assert pipelines["default"].llm["model"] == "served-model"
    assert pipelines["own"].llm == "qwen-0.5b"
    judge, reader = pipelines["judged"].stages[2:]
    assert judge.llm["model"] == reader.llm["model"] == "served-model"
    assert "llm={'backend': 'openai', 'model': 'served-model'" in pipelines["default"].describe()
    assert "max_tokens=24" in pipelines["default"].describe()
    with pytest.raises(ConfigError, match="unknown LLM backend 'opnai'"):
        load_experiment(write(tmp_path, path.read_text().replace("backend: openai", "backend: opnai")))


def test_description_is_every_parameter_of_the_identity():
    from rag.core.build import component
    from rag.core.stage import RankCutoff
    from rag.datasets import load_dataset
    from retrievers.fusion import RRF
    from retrievers.lucene import LuceneBM25
    demo = load_dataset("demo")
    for stage in (component("reader", max_tokens=24, template="closed_book"),
                  RRF([LuceneBM25(demo.corpus), RankCutoff(3)], weights=[2.0, 1.0], per_run=50),
                  component("popularity-threshold", cuts={"occupation": 1.7})):
        text = stage.describe()
        for key in stage.config():
            if key not in ("corpus", "model_content"):
                assert f"{key}=" in text, (key, text)
    assert "max_tokens=24" in component("reader", max_tokens=24).describe()
    fused = RRF([LuceneBM25(demo.corpus, k1=0.9), RankCutoff(3)], weights=[2.0, 1.0], per_run=50).describe()
    assert "per_run=50" in fused and "rank_constant=60.0" in fused and "weights=[2.0, 1.0]" in fused and "LuceneBM25(k=1000" in fused and "k1=0.9" in fused


PLUGIN = '''\
"""A user's components: a measure and an LLM backend (registered when imported)."""
from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from rag.core.registry import register
from rag.llm import Generation


@register("plugin-echo", kind="llm")
class EchoBackend:
    """Answers every prompt with the same words."""

    def __init__(self, model, reply="forty two"):
        self.name, self.reply = f"plugin-echo:{model}", reply

    def generate(self, prompts, **params):
        return [Generation(self.reply, len(str(p).split()), len(self.reply.split()), 0.0) for p in prompts]

    def option_probs(self, prompts, options):
        return [{o: 1 / len(options) for o in options} for _ in prompts]


@register("AnswerWords", kind="measure")
@dataclass(frozen=True)
class AnswerWords:
    """Words per answer."""

    name: str = "AnswerWords"
    kind: ClassVar[str] = "custom"
    needs: ClassVar[tuple] = ("answer",)

    def per_query(self, results, qrels=None):
        return pd.Series([float(len(str(a).split())) for a in results["answer"]],
                         index=results["qid"].astype(str))
'''


@pytest.mark.parametrize("where", ["config", "command line"])
def test_a_plugin_named_in_a_config_registers_a_measure_used_by_ragif_run(where, tmp_path, capsys, monkeypatch,
                                                                         scratch_registry):
    module = f"my_plugin_{where.replace(' ', '_')}"
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / f"{module}.py").write_text(PLUGIN)
    monkeypatch.chdir(tmp_path)                   # the module is found in the config's folder, not the cwd
    monkeypatch.delitem(sys.modules, module, raising=False)
    path = write(folder, f"""\
        {"plugins: [" + module + "]" if where == "config" else ""}
        dataset: demo
        llm: {{backend: plugin-echo, model: m}}
        measures: [AnswerWords, EM]
        pipelines:
          closed-book: {{reader: {{template: closed_book}}}}
        """)
    args = ["run", str(path), "-o", str(tmp_path / "out")] + (["--plugin", module] if where != "config" else [])
    try:
        assert main(args) == 0, capsys.readouterr().err
    finally:
        sys.modules.pop(module, None)
    table = pd.read_csv(tmp_path / "out" / "results.csv")
    assert table.loc[0, "AnswerWords"] == 2.0 and table.loc[0, "EM"] == 0.0
    assert module in json.loads((tmp_path / "out" / "provenance.json").read_text())["config"]["plugins"][0]


def test_a_plugin_that_cannot_be_imported_names_the_line(tmp_path, scratch_registry):
    base = "dataset: demo\nmeasures: [nDCG@10]\npipelines: {a: bm25}\nplugins:\n  - json\n  - PLUGIN\n"
    with pytest.raises(ConfigError, match="no module of that name") as info:
        load_experiment(write(tmp_path, base.replace("PLUGIN", "no_such_plugin_xyz")))
    assert info.value.line == 6
    (tmp_path / "broken_plugin.py").write_text("x = 1\nraise RuntimeError('half-written')\n")
    with pytest.raises(ConfigError, match=r"broken_plugin.py:2: RuntimeError: half-written") as info:
        load_experiment(write(tmp_path, base.replace("PLUGIN", "broken_plugin")))
    sys.modules.pop("broken_plugin", None)
    with pytest.raises(ConfigError, match="a plugin is a module name"):
        load_experiment(write(tmp_path, base.replace("PLUGIN", "'os; rm -rf /'")))
    with pytest.raises(ConfigError, match="unknown measure|cannot read measure|not a known"):
        load_experiment(write(tmp_path, "dataset: demo\nmeasures: [AnswerWords]\npipelines: {a: bm25}\n"))


def test_sample_is_deterministic_and_stratified():
    qs = pd.DataFrame({"qid": [f"q{i}" for i in range(100)], "query": "?",
                       "rel": ["a"] * 70 + ["b"] * 20 + ["c"] * 9 + ["d"]})
    one, again = sample_queries(qs, 10, seed=3, by="rel"), sample_queries(qs, 10, seed=3, by="rel")
    assert one["qid"].tolist() == again["qid"].tolist()
    assert one["rel"].value_counts().to_dict() == {"a": 7, "b": 2, "c": 1}
    assert one["qid"].tolist() == sorted(one["qid"], key=lambda q: int(q[1:]))      # the dataset's order
    assert sample_queries(qs, 10, seed=4, by="rel")["qid"].tolist() != one["qid"].tolist()
    plain = sample_queries(qs, 10, seed=3)
    assert len(plain) == 10 and plain["qid"].is_unique
    assert len(sample_queries(qs, 500, seed=3)) == 100


def test_queries_sample_from_a_config(tmp_path):
    rows = [{"id": f"q{i}", "question": f"question {i}?", "answers": ["x"], "topic": "big" if i < 15 else "small"}
            for i in range(20)]
    questions = tmp_path / "qa.jsonl"
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = f"""\
        dataset: {{name: {questions}, fields: {{keep: [topic]}}}}
        queries: {{sample: {{n: 8, seed: 1, by: topic}}, limit: 6}}
        measures: [F1]
        pipelines:
          closed-book: {{reader: {{template: closed_book}}}}
        """
    queries = load_experiment(write(tmp_path, text)).queries()
    assert len(queries) == 6 and queries["qid"].tolist() == load_experiment(write(tmp_path, text)).queries()["qid"].tolist()
    with pytest.raises(ConfigError, match="has no column 'topik'") as info:
        load_experiment(write(tmp_path, text.replace("by: topic", "by: topik")))
    assert info.value.line == 2
    with pytest.raises(ConfigError, match="unknown queries.sample key 'size'"):
        load_experiment(write(tmp_path, text.replace("n: 8", "size: 8")))


def test_a_qa_file_with_a_separate_corpus_and_qrels(tmp_path, capsys, monkeypatch):
    """The documented config: questions with gold answers in one file, passages in another, qrels in a third."""
    (tmp_path / "questions.jsonl").write_text(
        '{"id": "q1", "question": "why does bread rise", "answers": ["yeast"]}\n'
        '{"id": "q2", "question": "what makes the sky blue", "answers": ["scattering"]}\n')
    (tmp_path / "passages.jsonl").write_text(
        '{"_id": "p1", "title": "Bread", "text": "Yeast makes carbon dioxide, so bread dough rises."}\n'
        '{"_id": "p2", "title": "Sky", "text": "Rayleigh scattering makes the sky look blue."}\n'
        '{"_id": "p3", "title": "Tea", "text": "Green tea is not oxidised."}\n')
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tp1\t1\nq2\tp2\t1\n")
    path = write(tmp_path, """\
        name: own-data
        dataset: {name: questions.jsonl, corpus: passages.jsonl, qrels: qrels.tsv}
        measures: [nDCG@10, F1]
        pipelines:
          BM25: [{bm25: {k: 2}}]
        """)
    monkeypatch.chdir(tmp_path)                  # relative paths in a config are taken from the working directory
    with pytest.raises(ConfigError, match="measure 'F1' needs column"):
        load_experiment(path)
    path.write_text(path.read_text().replace("F1", "R@1"))
    assert main(["run", str(path), "-o", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / "results.csv")
    assert table.loc[0, "nDCG@10"] == pytest.approx(1.0) and table.loc[0, "R@1"] == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="corpus file not found") as info:
        load_experiment(write(tmp_path, path.read_text().replace("passages.jsonl", str(tmp_path / "nope.jsonl"))))
    assert info.value.line == 2


def test_every_shipped_config_passes_the_check(no_stage_runs):
    from pathlib import Path

    from rag.datasets import data_root
    repo = Path(__file__).resolve().parents[1]
    configs = [repo / "rag" / "configs" / "default.yaml",
               *[p for p in sorted((repo / "experiments").glob("*.yaml")) if "\npipelines:" in p.read_text()]]
    checked = 0
    for config in configs:
        if data_root() is None and "demo" not in config.read_text():
            continue
        try:
            check_experiment(load_yaml(config), str(config))
        except ConfigError as exc:
            if "not found" in str(exc) or "needs a path" in str(exc):   # its data set is absent here
                continue
            raise
        checked += 1
    assert checked >= 2 and no_stage_runs == []


def test_a_stage_that_declares_nothing_is_trusted_not_refused():
    from rag.core.stage import ANY_COLUMN, FunctionStage
    from rag.experiment.check import flow
    from retrievers.text import AddText

    opaque = FunctionStage(lambda q: q, name="mine")
    after = flow(opaque >> AddText(corpus=None), ["qid", "query"])   # AddText needs docno: trusted after it
    assert ANY_COLUMN in after.columns and after.ranked
