"""`ragif plot deltas -o`: the plots go where -o says (a stem per measure, or a folder), not beside the results."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rag.cli import main
from rag.core.errors import InputError


@pytest.fixture()
def results_folder(tmp_path):
    rng = np.random.default_rng(1)
    rows = [{"system": s, "qid": f"q{i}", "measure": m, "value": float(v)}
            for s in ("BM25", "dense") for m in ("nDCG@10", "R@100") for i, v in enumerate(rng.uniform(0, 1, 20))]
    folder = tmp_path / "results"
    folder.mkdir()
    pd.DataFrame(rows).to_csv(folder / "per_query.csv", index=False)
    (folder / "provenance.json").write_text(json.dumps({"experiment": "toy", "baseline": "BM25",
                                                        "measures": ["nDCG@10", "R@100"]}))
    return folder


def pictures(folder):
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".png", ".svg"))


def test_deltas_output_stem(results_folder, tmp_path, capsys):
    assert main(["plot", "deltas", str(results_folder), "-o", str(tmp_path / "figs" / "toy")]) == 0
    assert pictures(tmp_path / "figs") == ["toy-R_100.png", "toy-R_100.svg", "toy-nDCG_10.png", "toy-nDCG_10.svg"]
    assert pictures(results_folder) == []                                # nothing beside the results
    assert f"wrote {tmp_path / 'figs' / 'toy-nDCG_10.png'}" in capsys.readouterr().out


def test_deltas_output_folder_and_one_measure(results_folder, tmp_path, capsys):
    assert main(["plot", "deltas", str(results_folder), "-o", str(tmp_path / "out") + "/", "--measures", "R@100"]) == 0
    assert pictures(tmp_path / "out") == ["deltas-R_100.png", "deltas-R_100.svg"]
    assert main(["plot", "deltas", str(results_folder), "-o", str(tmp_path / "x"), "--measures", "MAP"]) != 0
    assert "no per-query values for measure 'MAP'" in capsys.readouterr().err


def test_deltas_output_needs_a_results_folder(tmp_path):
    from rag.cli.plot import _deltas
    with pytest.raises(InputError, match="not a results folder"):
        _deltas(tmp_path, None, str(tmp_path / "x"))


def test_deltas_without_output_still_writes_beside_the_results(results_folder):
    assert main(["plot", "deltas", str(results_folder)]) == 0
    assert pictures(results_folder) == ["deltas-R_100.png", "deltas-R_100.svg", "deltas-nDCG_10.png",
                                        "deltas-nDCG_10.svg"]
