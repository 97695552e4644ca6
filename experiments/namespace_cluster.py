"""A real multi-node Ray cluster on one machine, for the Ray tests and ``experiments/bench_scaling.py``.

Each node (one or two) lives in a network namespace of its own, joined by a veth pair on a private subnet
(10.213.0.1, 10.213.0.2), so the cluster binds and talks only to addresses this module made. Needs root
and ``ip`` (iproute2). Every process it starts runs in a session of its own and is stopped by pid;
every namespace and link it made is deleted on :meth:`NamespaceCluster.close` (also after a failure).

    with NamespaceCluster(tmp_path, nodes=2) as cluster:
        done = cluster.driver([sys.executable, "script.py"])      # runs in node 0's namespace

Test scaffolding, not part of the installed package: the tests import it as ``experiments.namespace_cluster``,
``experiments/bench_scaling.py`` as ``namespace_cluster`` (its own folder is first on the path).
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]  # the checkout: its nodes import ragif (and the tests' stages) from it
SUBNET = "10.213.0"
PORT = 6391


def namespaces_unavailable() -> str | None:
    """Why a namespace cluster cannot be made here (a reason to skip), or None when it can."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "making network namespaces needs root (run the tests as root)"
    if shutil.which("ip") is None:
        return "the ip command is not installed (apt-get install iproute2)"
    try:
        import ray  # noqa: F401
    except ImportError:
        return "ray is not installed (pip install 'ragif[ray]')"
    probe = f"ragif-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str, netns: str | None = None) -> None:
    cmd = ["ip", "netns", "exec", netns, "ip", *args] if netns else ["ip", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip()}")


class NamespaceCluster:
    """Ray nodes of ``cpus`` CPUs each, node 0 the head, each in a network namespace of its own."""

    def __init__(self, workdir: Path, nodes: int = 2, cpus: int = 1, env: dict[str, str] | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tag = f"rg{os.getpid() % 100000}{secrets.token_hex(2)}"  # link names must be <= 15 characters
        self.cpus = cpus
        self.namespaces: list[str] = []
        self.nodes: dict[int, subprocess.Popen] = {}
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                    "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
                    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1",          # several nodes: bind the veth address
                    "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
                    "RAY_health_check_period_ms": "1000", "RAY_health_check_timeout_ms": "1000",
                    "RAY_health_check_failure_threshold": "3",           # a dead node is noticed in seconds
                    "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
                    **(env or {})}
        self.env.pop("RAY_ADDRESS", None)
        self._want = nodes
        self._drivers = 0
        self.temp = Path(tempfile.mkdtemp(prefix="rg", dir="/tmp"))

    # ----------------------------------------------------------------- lifecycle
    def __enter__(self) -> "NamespaceCluster":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def address(self, node: int) -> str:
        return f"{SUBNET}.{node + 1}"

    @property
    def head(self) -> str:
        return f"{self.address(0)}:{PORT}"

    def start(self) -> None:
        for node in range(self._want):
            self.add_node()

    def add_node(self) -> int:
        """Make the next namespace and start a Ray node in it (at most two); returns its index.

        The head's address sits on its loopback (so a one-node cluster works too); node 1 is joined to the
        head's namespace by a veth pair, with a host route to it on the head's side."""
        node = len(self.namespaces)
        if node >= 2:
            raise ValueError("a NamespaceCluster has at most two nodes")
        netns = f"ragif-{self.tag}-{node}"
        _ip("netns", "add", netns)
        self.namespaces.append(netns)
        _ip("link", "set", "lo", "up", netns=netns)
        if node == 0:
            _ip("addr", "add", f"{self.address(0)}/32", "dev", "lo", netns=netns)
        else:
            head_end, node_end = f"{self.tag}h", f"{self.tag}n"
            _ip("link", "add", head_end, "type", "veth", "peer", "name", node_end)
            _ip("link", "set", head_end, "netns", self.namespaces[0])
            _ip("link", "set", node_end, "netns", netns)
            _ip("link", "set", head_end, "up", netns=self.namespaces[0])
            _ip("route", "add", f"{self.address(node)}/32", "dev", head_end, netns=self.namespaces[0])
            _ip("addr", "add", f"{self.address(node)}/24", "dev", node_end, netns=netns)
            _ip("link", "set", node_end, "up", netns=netns)
        temp = self.temp / f"n{node}"  # short: Ray's socket paths below it must fit in 107 bytes
        temp.mkdir(parents=True, exist_ok=True)
        role = ["--head", f"--port={PORT}", "--include-dashboard=false"] if node == 0 else [f"--address={self.head}"]
        cmd = ["ip", "netns", "exec", netns, sys.executable, "-m", "ray.scripts.scripts", "start", "--block",
               *role, f"--node-ip-address={self.address(node)}", f"--num-cpus={self.cpus}", "--num-gpus=0",
               "--object-store-memory=200000000", f"--temp-dir={temp}", "--disable-usage-stats"]
        log = open(self.workdir / f"node{node}.log", "wb")
        self.nodes[node] = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.wait_for_nodes(node + 1)
        return node

    def wait_for_nodes(self, count: int, timeout: float = 180) -> None:
        """Wait until the head counts ``count`` alive nodes."""
        probe = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
                 "print(sum(n['Alive'] for n in ray.nodes()))")
        deadline = time.time() + timeout
        while time.time() < deadline:
            for node, proc in self.nodes.items():
                if proc.poll() is not None:
                    log = (self.workdir / f"node{node}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"Ray node {node} exited ({proc.returncode}):\n{log}")
            done = self.driver([sys.executable, "-c", probe, self.head], timeout=120)
            if done.returncode == 0 and done.stdout.strip().splitlines()[-1:] == [str(count)]:
                return
            time.sleep(1)
        raise RuntimeError(f"the Ray cluster did not reach {count} nodes in {timeout:.0f} s")

    def driver(self, argv: list[str], timeout: float = 600, env: dict[str, str] | None = None,
               wait: bool = True) -> subprocess.CompletedProcess | subprocess.Popen:
        """Run ``argv`` as a Ray driver in the head's namespace (``RAY_ADDRESS`` set). ``wait``: until it ends,
        output captured; else return at once, its output going to the file named by ``.log`` of the result."""
        cmd = ["ip", "netns", "exec", self.namespaces[0], *argv]
        full_env = {**self.env, "RAY_ADDRESS": self.head, **(env or {})}
        if wait:
            return subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=timeout)
        self._drivers += 1
        log_path = self.workdir / f"driver{self._drivers}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        proc.log = log_path  # type: ignore[attr-defined]
        return proc

    # ----------------------------------------------------------------- stopping
    def node_pids(self, node: int) -> list[int]:
        """Every live process of node ``node``: its session (Ray's workers make process groups of their own,
        but stay in the session of the ``ray start`` that this cluster started as a session leader)."""
        proc = self.nodes.get(node)
        if proc is None:
            return []
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.getsid(int(entry)) == proc.pid:
                        pids.append(int(entry))
                except ProcessLookupError:
                    pass
        return pids

    def kill_node(self, node: int) -> None:
        """Stop node ``node`` at once, as if its machine died: SIGKILL to each of its processes."""
        for pid in self.node_pids(node):
            _kill(pid, signal.SIGKILL)
        proc = self.nodes.pop(node, None)
        if proc is not None:
            proc.wait(timeout=30)

    def stop_node(self, node: int) -> None:
        """Stop node ``node`` the orderly way (SIGTERM to its ``ray start``), then SIGKILL what is left."""
        proc = self.nodes.get(node)
        if proc is None:
            return
        if proc.poll() is None:
            _kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.time() + 10
        while self.node_pids(node) and time.time() < deadline:
            time.sleep(0.2)
        for pid in self.node_pids(node):  # what did not stop in time
            _kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.wait(timeout=10)
        del self.nodes[node]

    def remove_node(self) -> None:
        """Stop the last node and delete its namespace (and with it the link to the head)."""
        node = len(self.namespaces) - 1
        self.stop_node(node)
        subprocess.run(["ip", "netns", "del", self.namespaces.pop()], capture_output=True)

    def close(self) -> None:
        """Stop every node this cluster started (by pid) and delete its namespaces and links."""
        for node in sorted(self.nodes, reverse=True):
            self.stop_node(node)
        for netns in reversed(self.namespaces):  # deleting a namespace deletes the links in it
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)
        self.namespaces.clear()
        shutil.rmtree(self.temp, ignore_errors=True)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
