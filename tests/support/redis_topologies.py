"""Real Redis topologies on loopback for tests: a 3-master Cluster and a Sentinel-watched master."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.support.processes import LOOPBACK, free_port, stop, wait_until

CLUSTER_MASTERS = 3


def _redis_server(args: list[str], workdir: Path) -> subprocess.Popen:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run scripts/test, which installs it")
    return subprocess.Popen([binary, *args], cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextmanager
def redis_cluster() -> Iterator[list[int]]:
    """Start three cluster-mode servers, join them with ``redis-cli --cluster create``, yield ports."""
    workdir = Path(tempfile.mkdtemp(prefix="redis-cluster-"))
    ports = [free_port() for _ in range(CLUSTER_MASTERS)]
    processes = []
    try:
        for port in ports:
            node_dir = workdir / str(port)
            node_dir.mkdir()
            # The bus port is named, not left at port + 10000: that is past 65535 for any port above
            # 55535, which the kernel hands out (and redis-server then refuses to start).
            processes.append(_redis_server(
                ["--port", str(port), "--cluster-port", str(free_port()), "--bind", LOOPBACK,
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--save", "",
                 "--appendonly", "no", "--dir", str(node_dir)], node_dir))
        for port, process in zip(ports, processes, strict=True):
            wait_until(redis.Redis(host=LOOPBACK, port=port, socket_timeout=1).ping, f"cluster node {port}", process)
        subprocess.run(["redis-cli", "--cluster", "create", *(f"{LOOPBACK}:{p}" for p in ports),
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        probe = redis.Redis(host=LOOPBACK, port=ports[0], socket_timeout=1)
        wait_until(lambda: probe.cluster("info").get("cluster_state") == "ok", "cluster state ok")
        yield ports
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def redis_sentinel(master_name: str = "passport-bff") -> Iterator[tuple[int, int]]:
    """Start a master and one Sentinel watching it; yield (master port, sentinel port)."""
    workdir = Path(tempfile.mkdtemp(prefix="redis-sentinel-"))
    master_port, sentinel_port = free_port(), free_port()
    config = workdir / "sentinel.conf"
    config.write_text(
        f"port {sentinel_port}\nbind {LOOPBACK}\nsentinel monitor {master_name} {LOOPBACK} {master_port} 1\n"
        f"sentinel down-after-milliseconds {master_name} 5000\n"
    )
    master = _redis_server(["--port", str(master_port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no"],
                           workdir)
    sentinel = None
    try:
        wait_until(redis.Redis(host=LOOPBACK, port=master_port, socket_timeout=1).ping, "sentinel's master", master)
        sentinel = _redis_server([str(config), "--sentinel"], workdir)
        probe = redis.Redis(host=LOOPBACK, port=sentinel_port, socket_timeout=1)
        wait_until(lambda: probe.execute_command("SENTINEL", "get-master-addr-by-name", master_name),
                   "sentinel knows the master", sentinel)
        yield master_port, sentinel_port
    finally:
        for process in (sentinel, master):
            if process is not None:
                stop(process)
        shutil.rmtree(workdir, ignore_errors=True)
