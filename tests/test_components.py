"""The component reference: generated from the registry and the classes, complete, and in sync with the docs."""
from __future__ import annotations

from pathlib import Path

from rag.cli import main
from rag.cli.components import document, parameters
from rag.core.registry import KINDS, lookup, names

REPO = Path(__file__).resolve().parents[1]


def test_docs_components_md_is_the_generated_reference():
    expected = document()
    actual = (REPO / "docs" / "components.md").read_text("utf-8")
    assert actual == expected, "docs/components.md is stale: run `ragif components --markdown > docs/components.md`"


def test_every_key_is_documented_with_every_parameter():
    text = document()
    for kind in KINDS:
        for name in names(kind):
            assert f"### `{name}`" in text
            for p in parameters(lookup(name, kind), kind, name):
                assert p["meaning"], f"{kind} {name}: parameter {p['name']} has no one-line meaning"
                assert f"| `{p['name']}` |" in text


def test_reader_parameters_are_those_a_config_accepts(capsys):
    from rag.core.build import component

    params = {p["name"]: p for p in parameters(lookup("reader"))}
    assert {"llm", "template", "passages", "max_tokens", "no_passage"} <= set(params)
    assert params["passages"]["default"] == "8" and params["corpus"]["default"] == "from the dataset"
    reader = component("reader", **{n: v for n, v in {"passages": 2, "template": "short"}.items()})
    assert reader.passages == 2
    assert main(["components", "reader"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("reader (stage, rag.readers.reader:Reader)") and "  no_passage ('closed-book' | 'abstain')" in out
    assert "&#124;" not in out and "``" not in out and "stop (list[str] | None), default None" in out   # plain text
    assert main(["components", "reader", "--markdown"]) == 0
    assert "| `no_passage` |" in capsys.readouterr().out


def test_allowed_values_and_backend_parameters_come_from_the_code():
    from rag.readers.prompts import TEMPLATES

    template = {p["name"]: p for p in parameters(lookup("reader"), "stage", "reader")}["template"]
    assert set(TEMPLATES) <= set(template["allowed"])
    openai = {p["name"]: p for p in parameters(lookup("openai", "llm"), "llm", "openai")}
    assert [openai[n]["default"] for n in ("concurrency", "timeout", "retries")] == ["None", "600.0", "4"]
    assert "server" in openai["concurrency"]["meaning"]   # None: what the server says it serves at once
    assert openai["model"]["default"] == "required" and all(p["meaning"] for p in openai.values())
    llamacpp = {p["name"]: p for p in parameters(lookup("llamacpp", "llm"), "llm", "llamacpp")}
    assert "qwen-0.5b" in llamacpp["model"]["allowed"] and llamacpp["threads"]["default"] == "1"
    text = document()
    assert "| `concurrency` | int &#124; None | `None` |" in text and "`short_closed_book`" in text
    assert "| `queries` | dict |" in text and "`sample:` takes `n`, `seed`, `by`" in text


def test_a_registered_class_whose_annotations_do_not_resolve_is_still_documented(monkeypatch, scratch_registry):
    # as a class defined in a notebook or a doc snippet under `from __future__ import annotations` has them
    import dataclasses
    import sys
    import types

    module = types.ModuleType("snippet")
    monkeypatch.setitem(sys.modules, "snippet", module)
    namespace = module.__dict__
    namespace["dataclasses"] = dataclasses
    exec("from __future__ import annotations\n"
         "@dataclasses.dataclass\n"
         "class Odd:\n"
         "    corpus: Corpus\n"
         "    k: int = 5\n"
         "    helper: NotImportedAnywhere | None = None  # a type the module never imports\n", namespace)
    scratch_registry.register("odd-stage")(namespace["Odd"])
    rows = {p["name"]: p for p in parameters(namespace["Odd"])}
    assert rows["corpus"]["default"] == "from the dataset"
    assert rows["k"]["type"] == "int" and rows["k"]["default"] == "5"
    assert "NotImportedAnywhere" in rows["helper"]["type"]
    assert "### `odd-stage`" in document()


def test_one_vocabulary_documented_at_the_top_and_used_by_every_stage():
    import dataclasses

    from rag.cli.vocabulary import CONCEPTS, SHARED_PARAMETERS, users
    from rag.core.registry import names
    from rag.readers.reader import Reader
    from rerankers.base import Reranker
    from retrievers.base import Retriever
    from retrievers.fusion import RRF, ScoreFusion

    doc = document()
    assert doc.index("## Vocabulary") < doc.index("## Experiment config keys") < doc.index("## Stages")
    assert all(f"| `{name}` |" in doc for name in SHARED_PARAMETERS) and all(f"| {c} |" in doc for c in CONCEPTS)
    for key in names("stage"):
        cls = lookup(key)
        if not dataclasses.is_dataclass(cls):
            continue
        fields = {f.name for f in dataclasses.fields(cls) if f.init}
        assert "client" not in fields, key                                  # the LLM is `llm`
        assert "backend" not in fields, key                                 # backend: an LLM provider only
        if issubclass(cls, Retriever):
            assert "k" in fields, key                                       # k: the retrieval depth
        if issubclass(cls, Reranker):
            assert "depth" in fields and "k" not in fields, key             # depth: the reranking depth
        if issubclass(cls, Reader):
            assert "passages" in fields and "k" not in fields, key          # the passages in the prompt
        if cls in (RRF, ScoreFusion):
            assert "per_run" in fields and not fields & {"k", "depth"}, key
    assert "rank_constant" in {f.name for f in dataclasses.fields(RRF)}
    assert users("runtime") == ["dense"] and "| runtime | only in the dense stage" in doc      # the encoder runtime
    assert "| backend | only in an `llm:` mapping" in doc
    dense = {p["name"]: p for p in parameters(lookup("dense"), "stage", "dense")}
    assert set(names("encoder")) <= set(dense["runtime"]["allowed"])
