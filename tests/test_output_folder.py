"""Writing results where the file system says no (issue 30 classes 1, 2, 7): the folder is checked before any
work, a write error is one line naming the file and the reason, no temporary file is left, what was computed
stays cached; hostile system names stay inside ``runs/``; spreadsheet-safe copies; checkpoints without pickle.

Real read-only and full file systems are small tmpfs mounts (root only: skipped otherwise); the same errors
are also simulated by patching the one function that creates files, so every machine runs those cases."""
from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rag.core.errors import InputError, OutputError
from rag.experiment.results import ExperimentResults
from rag.report.board import Board

REPO = Path(__file__).resolve().parents[1]
HOSTILE = ["..", ".", "/etc/passwd", "../../../tmp/evil", "a\nb", "nul\x00byte", "CON", "x" * 300, "BM25",
           "bm25", "=HYPERLINK(\"http://x\")", "+1+2", "-2+3", "@SUM(A1)", "\tTab", "Ünïcödé", "名字"]


def _results(systems: list[str]) -> ExperimentResults:
    table = pd.DataFrame({"nDCG@10": [0.5] * len(systems)}, index=pd.Index(systems, name="system"))
    per_query = pd.DataFrame({"system": systems, "qid": ["=cmd|' /C calc'!A0"] * len(systems), "measure": "nDCG@10",
                              "value": [0.5] * len(systems)})
    runs = {s: pd.DataFrame({"qid": ["q1", "q1"], "docno": ["d1", f"d{i + 2}"], "score": [2.0, 1.0],
                             "rank": [0, 1]}) for i, s in enumerate(systems)}
    sig = pd.DataFrame(columns=["system", "measure", "p_adjusted", "significant"])
    return ExperimentResults("hostile", table, per_query, sig, runs, {"experiment": "hostile"}, systems[0])


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def _temporary(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".") and p.name.endswith((".tmp", ".build", ".owner"))
            or ".ragif-probe" in p.name]


def test_hostile_system_names_stay_in_runs_and_read_back(tmp_path):
    out = tmp_path / "deep" / "out"
    before = _files(tmp_path)
    _results(HOSTILE).save(out, formats=("csv", "md"), plots=False)
    written = _files(tmp_path) - before
    assert all(p == out.parent or out in (p, *p.parents) for p in written), sorted(map(str, written))
    runs = sorted((out / "runs").iterdir())
    assert len(runs) == len(HOSTILE) and all(len(p.name.encode()) <= 105 and p.name.isascii() for p in runs)
    mapping = json.loads((out / "provenance.json").read_text("utf-8"))["run_files"]
    assert set(mapping) == set(HOSTILE) and len(set(mapping.values())) == len(HOSTILE)
    from rag.datasets import read_run
    for i, system in enumerate(HOSTILE):      # each file holds its own system's run
        assert read_run(out / mapping[system])["docno"].tolist() == ["d1", f"d{i + 2}"], system
    assert Board.load(out).table.index.tolist() == HOSTILE          # results.csv keeps the real names


def test_spreadsheet_copies_escape_formulas_and_the_csvs_stay_exact(tmp_path):
    _results(HOSTILE).save(tmp_path, formats=("csv",), save_runs=False, plots=False)
    exact = pd.read_csv(tmp_path / "results.csv", dtype={"system": str}, keep_default_na=False)
    assert exact["system"].tolist() == HOSTILE
    safe = pd.read_csv(tmp_path / "results.xlsx-safe.csv", dtype={"system": str}, keep_default_na=False)
    for name, shown in zip(HOSTILE, safe["system"]):
        assert shown == ("'" + name if name[:1] in "=+-@\t\r\n" else name), (name, shown)
    assert safe["nDCG@10"].tolist() == [0.5] * len(HOSTILE)          # numbers stay numbers
    per_query = pd.read_csv(tmp_path / "per_query.xlsx-safe.csv", keep_default_na=False)
    assert set(per_query["qid"]) == {"'=cmd|' /C calc'!A0"}


def test_escape_leaves_negative_numbers_alone():
    from rag.experiment.spreadsheet import escape_cell

    assert [escape_cell(v) for v in ("-0.5", "+3", "1e-5", "-inf", "-1-1", "@x", "=1", -2.0)] == \
        ["-0.5", "+3", "1e-5", "-inf", "'-1-1", "'@x", "'=1", -2.0]


@pytest.mark.parametrize("code, which", [(errno.ENOSPC, "per_query.csv"), (errno.EROFS, "results.csv"),
                                         (errno.ENOSPC, "BM25.trec"), (errno.EDQUOT, "leaderboard.md")])
def test_a_write_error_is_one_line_naming_the_file_and_leaves_no_temporary_file(tmp_path, monkeypatch, code,
                                                                                  which):
    from rag.core import atomic

    real = atomic.write_new_file

    def failing(path, data):
        if which in str(path):
            with open(path, "wb") as handle:          # half-written, as a full disk leaves it
                handle.write(data[: len(data) // 2])
            os.unlink(path)
            raise OSError(code, os.strerror(code))
        return real(path, data)

    monkeypatch.setattr(atomic, "write_new_file", failing)
    with pytest.raises(OutputError) as info:
        _results(["BM25", "RM3"]).save(tmp_path / "out", formats=("csv", "md"), plots=False)
    message = str(info.value)
    assert which in message and os.strerror(code) in message and errno.errorcode[code] in message
    assert "\n" not in message
    assert not _temporary(tmp_path / "out")


def test_a_failed_copy_of_a_cached_run_leaves_no_temporary_file(tmp_path, monkeypatch):
    from rag.core.cache import Cache
    from rag.experiment import results as module

    results = _results(["BM25"])
    results.cache, results.run_keys = Cache(tmp_path / "cache"), {"BM25": "k1"}

    def full(src, dst, **kw):
        Path(dst).write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(module.shutil, "copyfile", full)
    with pytest.raises(OutputError, match=r"BM25.*No space left on device \(ENOSPC\)"):
        results.save(tmp_path / "out", formats=("csv",), plots=False)
    assert not _temporary(tmp_path / "out")


def _computed(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []


def _root_tmpfs(tmp_path: Path, options: str) -> Path:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "fs"
    mount.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    return mount


@pytest.fixture
def mounts():
    made: list[Path] = []
    yield made
    for mount in made:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _ragif(*argv: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAGIF_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "rag.cli", *argv], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)


CONFIG = "name: x\ndataset: demo\nmeasures: [nDCG@10]\npipelines:\n  BM25: {bm25: {}}\n  RM: {bm25: {k1: 1.5}}\n"


def test_a_real_read_only_and_a_real_full_file_system(tmp_path, mounts):
    """Before any work: a read-only folder and a full disk are one line and nothing runs; a disk that fills
    while the results are written: one line naming the file, no temporary file, and the re-run after space
    is freed computes nothing again."""
    config = tmp_path / "exp.yaml"
    config.write_text(CONFIG, "utf-8")
    cache = tmp_path / "cache"
    readonly = _root_tmpfs(tmp_path / "a", "ro,size=1m")
    mounts.append(readonly)
    done = _ragif("run", str(config), "-o", str(readonly / "out"), cwd=tmp_path, cache=cache)
    assert done.returncode == 2 and "Read-only file system (EROFS)" in done.stderr and "Traceback" not in done.stderr
    assert not _computed(cache)                                            # checked before any work
    small = _root_tmpfs(tmp_path / "b", "size=64k")
    mounts.append(small)
    done = _ragif("run", str(config), "-o", str(small / "out"), cwd=tmp_path, cache=cache)
    assert done.returncode == 2, done.stderr[-2000:]
    error = [line for line in done.stderr.splitlines() if line.startswith("ragif: error:")]
    assert len(error) == 1 and "No space left on device (ENOSPC)" in error[0] and str(small / "out") in error[0]
    assert "Traceback" not in done.stderr and not _temporary(small)
    subprocess.run(["mount", "-o", "remount,size=4m", str(small)], check=True)
    again = _ragif("run", str(config), "-o", str(small / "out"), cwd=tmp_path, cache=cache)
    assert again.returncode == 0 and "cache:" in again.stdout, again.stdout[-500:] + again.stderr[-2000:]
    made = re.findall(r"(\d+) (?:computed|new)\b", again.stdout.split("cache:")[-1])   # nothing recomputed
    assert made and not any(int(n) for n in made), again.stdout[-500:]
    with open(small / "filler", "wb") as handle:      # now fill it completely: refused before any work
        try:
            handle.write(b"\0" * (8 << 20))
        except OSError:
            pass
    done = _ragif("run", str(config), "-o", str(small / "other"), cwd=tmp_path, cache=tmp_path / "cache2")
    assert done.returncode == 2 and "(ENOSPC)" in done.stderr and not _computed(tmp_path / "cache2")


def test_an_experiment_name_never_leads_outside_results(tmp_path):
    config = tmp_path / "exp.yaml"
    config.write_text(CONFIG.replace("name: x", "name: ../../escaped"), "utf-8")
    (tmp_path / "work").mkdir()
    before = _files(tmp_path)
    done = _ragif("run", str(config), cwd=tmp_path / "work", cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr[-2000:]
    new = {p for p in _files(tmp_path) - before if tmp_path / "cache" not in p.parents and p != tmp_path / "cache"}
    assert new and all(tmp_path / "work" / "results" in (p, *p.parents) or p == tmp_path / "work" / "results"
                       for p in new), sorted(map(str, new))


def test_a_checkpoint_with_a_pickled_payload_is_refused_and_runs_nothing(tmp_path):
    torch = pytest.importorskip("torch")
    import numpy as np

    from rerankers.training.checkpoint import load_checkpoint, save_checkpoint

    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 1))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.1)
    net(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    rng = np.random.default_rng(3)
    save_checkpoint(tmp_path, net, optimizer, rng.bit_generator.state)
    twin = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 1))
    twin_optimizer = torch.optim.Adam(twin.parameters(), lr=0.1)
    assert load_checkpoint(tmp_path, twin, twin_optimizer) == rng.bit_generator.state
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), twin.state_dict().values()))
    assert torch.equal(twin_optimizer.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])

    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"optimizer": Payload(), "torch_rng": torch.get_rng_state()}, tmp_path / "state.pt")
    with pytest.raises(InputError) as info:
        load_checkpoint(tmp_path, twin, twin_optimizer)
    assert "refused" in str(info.value) and "state.pt" in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


def test_every_torch_load_in_the_code_loads_weights_only():
    import re

    calls = [(p, call) for root in ("rag", "retrievers", "rerankers") for p in (REPO / root).rglob("*.py")
             for call in re.findall(r"torch\.load\([^)]*\)", p.read_text("utf-8"))]
    assert calls and all("weights_only=True" in call for _, call in calls), calls
