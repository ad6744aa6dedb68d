"""Where the Dask workers of `make run REPLICAS=N` run (issue 17): two placements, measured. Prints; asserts nothing.

    .venv/bin/python bench/replica_workers.py [--repeats 2]

(a) one `dask worker --no-nanny --preload explorer.training.jobs` process beside the web replicas, as
    `ui/replicas/` starts it (`worker_command`; a nanny would hold a second copy of the preloaded modules);
(b) a worker inside a web process, joined to the shared scheduler: a stand-in process that has
    imported the app's heavy modules as the server has (`ui.warm.imports`), then starts a
    `distributed.Worker` on its own event loop.

For each: seconds until the worker is registered with the scheduler, the memory it adds (RSS and
USS, after the runs), and the latency of a first and of later runs submitted from another process (as
a student's replica does): a one-epoch LeNet-5 on 1,437 digits, and a one-epoch EfficientNet-Lite0
linear probe on 32 shapes at 224 px (its first run also loads Lite0's weights on the worker).
Every figure depends on what else runs on the machine: the load average is printed with each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CNN_EXPLORER_OFFLINE", "1")

import psutil  # noqa: E402

from ui.replicas.launcher import dask_env, scheduler_command, worker_command  # noqa: E402
from ui.replicas.processes import free_port  # noqa: E402

CORES = os.cpu_count() or 1


def load() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def memory(pids: list[int]) -> tuple[float, float]:
    """(RSS, USS) in MB of the processes `pids` together."""
    infos = [psutil.Process(pid).memory_full_info() for pid in pids]
    return sum(i.rss for i in infos) / 2**20, sum(i.uss for i in infos) / 2**20


def web_process(address: str) -> None:
    """The stand-in of option (b): heavy imports as the server does, then a worker on the shared scheduler."""
    from ui import warm

    warm.imports()
    print("imported", flush=True)
    sys.stdin.readline()  # the parent has measured the process without a worker
    from distributed import Worker

    async def serve() -> None:
        async with Worker(address, nthreads=2 * CORES, resources={"train": CORES}, memory_limit=0, host="127.0.0.1",
                          dashboard=False, name="in-web-process") as worker:  # the threads and units of (a)
            print("worker", flush=True)
            await worker.finished()

    asyncio.run(serve())


def runs(address: str, repeats: int) -> dict[str, tuple[float, float]]:
    """{run kind: (first run s, median of later runs s)}, submitted from this process."""
    from explorer.runtime import cluster, worker
    from explorer.training import datasets, jobs
    from explorer.training.config import TrainConfig

    digits = datasets.digits()
    shapes = datasets.demo_shapes(16, classes=("circle", "square"), size=224, seed=1)
    kinds = {"LeNet-5, 1 epoch": (TrainConfig("lenet5", "scratch", epochs=1, batch_size=32), digits),
             "Lite0 linear probe, 1 epoch": (TrainConfig("efficientnet_lite0", "linear_probe", epochs=1,
                                                         batch_size=8), shapes)}
    engine = cluster.remote(address, timeout=30)
    out = {}
    try:
        for label, (config, data) in kinds.items():
            train, val = datasets.split(data, 0.2, seed=0)
            times = []
            for _ in range(1 + repeats):
                t0 = time.perf_counter()
                run = jobs.start(config, train, val, data.classes, engine=engine)
                run.wait(900)
                assert run.status == worker.DONE, run.error
                times.append(time.perf_counter() - t0)
            out[label] = (times[0], statistics.median(times[1:]))
    finally:
        engine.close()
    return out


def wait_for_worker(address: str, timeout: float = 300) -> None:
    from distributed import Client

    with Client(address, timeout=30, set_as_default=False) as client:
        client.wait_for_workers(1, timeout=timeout)


def measure(option: str, repeats: int) -> None:
    tmp = tempfile.mkdtemp(prefix="cnn-explorer-bench-")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dask_env()
    procs = [subprocess.Popen(scheduler_command(port), cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        if option == "a":
            label = "(a) a `dask worker --no-nanny --preload explorer.training.jobs` process"
            t0 = time.perf_counter()
            worker = subprocess.Popen(worker_command(address, Path(tmp)), cwd=ROOT,
                                      env={**env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            procs.append(worker)
            wait_for_worker(address)
            up = time.perf_counter() - t0
            pids = [worker.pid, *(c.pid for c in psutil.Process(worker.pid).children(recursive=True))]
            before = (0.0, 0.0)
        else:
            label = "(b) a worker inside a web process (heavy modules already imported)"
            web = subprocess.Popen([sys.executable, __file__, "--web-process", address], cwd=ROOT, env=env,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            procs.append(web)
            assert web.stdout.readline().strip() == "imported"
            pids = [web.pid]
            before = memory(pids)
            t0 = time.perf_counter()
            web.stdin.write("go\n")
            web.stdin.flush()
            wait_for_worker(address)
            up = time.perf_counter() - t0
        started = memory(pids)
        figures = runs(address, repeats)
        after = memory(pids)
        print(f"{label} ({load()}):")
        print(f"   registered {up:.1f} s after its start; memory added: {started[0] - before[0]:.0f} MB RSS "
              f"({started[1] - before[1]:.0f} MB USS) once registered, {after[0] - before[0]:.0f} MB RSS "
              f"({after[1] - before[1]:.0f} MB USS) after the runs")
        for kind, (first, later) in figures.items():
            print(f"   {kind}: first run {first:.2f} s, later runs median {later:.2f} s")
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="later runs of each kind")
    parser.add_argument("--web-process", metavar="ADDRESS", help=argparse.SUPPRESS)  # option (b)'s stand-in
    args = parser.parse_args()
    if args.web_process:
        return web_process(args.web_process)
    print(f"CPU cores: {CORES}; {load()}")
    for option in ("a", "b"):
        measure(option, args.repeats)
    return None


if __name__ == "__main__":
    main()
