"""`make run REPLICAS=N` (ui/replicas/) without starting it: Caddy's configuration as Caddy reads it, the Dask
processes' settings as Dask reads them, and the Makefile's choice of command. The running launcher is tested in
tests/e2e/test_replicas.py."""

import json
import os
import subprocess
import sys

import pytest

from tests.support import ROOT
from ui.replicas import launcher, proxy


def _adapted(tmp_path, config: str) -> dict:
    """The JSON that Caddy makes of a Caddyfile (`caddy adapt`, which also validates it)."""
    path = tmp_path / "Caddyfile"
    path.write_text(config)
    done = subprocess.run([proxy.caddy_binary(), "adapt", "--config", str(path), "--adapter", "caddyfile"],
                          capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, XDG_DATA_HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path)))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_caddy_sticks_by_cookie_and_moves_students_only_off_a_replica_that_stopped_answering(tmp_path):
    upstreams = ["127.0.0.1:8601", "127.0.0.1:8602"]
    config = _adapted(tmp_path, proxy.caddyfile(8501, upstreams, "127.0.0.1", "s3cret"))
    assert config["admin"]["disabled"] is True
    server = config["apps"]["http"]["servers"]["srv0"]
    assert server["listen"] == ["127.0.0.1:8501"] and server["automatic_https"]["disable"] is True
    handlers = {h["handler"]: h for route in server["routes"] for h in route["handle"]}
    caddy = handlers["reverse_proxy"]
    assert [u["dial"] for u in caddy["upstreams"]] == upstreams
    policy = caddy["load_balancing"]["selection_policy"]
    assert policy == {"policy": "cookie", "name": proxy.COOKIE, "secret": "s3cret",
                      "fallback": {"policy": "least_conn"}}  # by cookie, never by client address
    active, passive = caddy["health_checks"]["active"], caddy["health_checks"]["passive"]
    assert active["uri"] == "/_stcore/health" and active["fails"] == 3
    assert passive["max_fails"] == 3 and "unhealthy_latency" not in passive  # slow is not dead
    header = handlers["headers"]
    assert header["response"]["deferred"] is True  # applied to the websocket's upgrade too
    assert proxy.REPLICA_HEADER in header["response"]["set"]


def test_every_dask_process_it_starts_has_the_worker_profiler_off():
    """DASK_* variables reach Dask's configuration in a new process (explorer.runtime.cluster.QUIET: the profiler
    samples every thread's frames, which can deadlock on CPython 3.11 before 3.11.9)."""
    code = ("import dask, distributed; print(dask.config.get('distributed.worker.profile.enabled'), "
            "dask.config.get('distributed.admin.tick.interval'))")
    done = subprocess.run([sys.executable, "-c", code], env=launcher.dask_env(), capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.stdout.split() == ["False", "500ms"], done.stderr
    worker = launcher.worker_command("tcp://127.0.0.1:1", ROOT)
    assert worker[0].endswith("dask") and "--no-nanny" in worker
    assert worker[worker.index("--preload") + 1] == launcher.WORKER_PRELOAD


def test_the_dask_processes_listen_on_localhost_only():
    """Anyone who reaches a Dask scheduler or worker can run code on it; their HTTP servers (health, metrics)
    listen on every interface unless told otherwise."""
    for command in (launcher.scheduler_command(8786), launcher.worker_command("tcp://127.0.0.1:8786", ROOT)):
        assert command[command.index("--host") + 1] == "127.0.0.1"
        assert command[command.index("--dashboard-address") + 1] == "127.0.0.1:0"


@pytest.mark.parametrize(("options", "command"), [
    ([], "-m ui.server --server.port 8999"),
    (["REPLICAS=1"], "-m ui.server --server.port 8999"),
    (["REPLICAS=3"], "-m ui.replicas --replicas 3 --port 8999"),
])
def test_make_run_starts_replicas_only_when_asked(options, command):
    done = subprocess.run(["make", "--no-print-directory", "-n", "run", "PORT=8999", *options], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert done.stdout.strip().splitlines()[-1].endswith(command)
