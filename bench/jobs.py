"""Figures of the Dask job engine (issue 13). Prints; asserts nothing.

    .venv/bin/python bench/jobs.py [--repeats 3] [--skip-server]

1. Start-up of the embedded cluster in a process that has imported the app's heavy modules
   (as the server has): what `cluster.start()` costs the first page, and when jobs can start.
2. Embedded worker as threads of the web process vs a local worker process: start-up, memory
   added, and the latency of a first and a later one-epoch job.
3. Latency of a one-epoch job (LeNet-5 on scikit-learn's 1,797 digits, submit -> result seen by
   the page's poller) on the embedded cluster and through a scheduler and two worker processes.
4. Torch threads inside a training task: images/s of EfficientNet-Lite0 fine-tuning with 1 and
   2 intra-op threads, one job alone and two at once (the embedded cluster, 2 train slots).
5. RSS of the web process (`streamlit run`) with the embedded cluster started.

Every figure depends on what else runs on the machine: the load average is printed with each section.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CNN_EXPLORER_OFFLINE", "1")

import psutil  # noqa: E402
from explorer.runtime import worker


def load() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def rss_mb(with_children: bool = False) -> float:
    me = psutil.Process()
    procs = [me, *me.children(recursive=True)] if with_children else [me]
    return sum(p.memory_info().rss for p in procs) / 2**20


def one_epoch_job(engine, digits) -> float:
    """Seconds from `jobs.start` to the finished run, as the page sees it."""
    from explorer.training import jobs
    from explorer.training.config import TrainConfig

    data, train, val = digits
    t0 = time.perf_counter()
    run = jobs.start(TrainConfig("lenet5", "scratch", epochs=1, batch_size=32), train, val, data.classes, engine=engine)
    run.wait(600)
    assert run.status == worker.DONE, run.error
    return time.perf_counter() - t0


def startup() -> None:
    import pandas  # noqa: F401 - the server's heavy imports, before the cluster starts
    import plotly  # noqa: F401
    import streamlit  # noqa: F401
    import torch  # noqa: F401
    import torchvision  # noqa: F401

    from explorer.runtime import cluster  # noqa: F401
    from explorer.training import trainer  # noqa: F401

    print(f"1. Embedded cluster start-up ({load()}):")
    t0 = time.perf_counter()
    cluster.start()
    returned = time.perf_counter() - t0
    cluster.engine()
    ready = time.perf_counter() - t0
    print(f"   cluster.start() returns in {returned * 1000:.1f} ms (what the first page pays); jobs can start "
          f"{ready:.2f} s later (import distributed + cluster {cluster.engine().started_s:.2f} s); target <= 2 s")


def threads_vs_processes(digits, repeats: int) -> None:
    from distributed import Client, LocalCluster

    from explorer.runtime import cluster

    print(f"2. Embedded worker: threads of the web process vs a local worker process ({load()}):")
    cores = os.cpu_count() or 1
    for processes in (False, True):
        before = rss_mb(with_children=True)
        t0 = time.perf_counter()
        if processes:
            local = LocalCluster(processes=True, n_workers=1, threads_per_worker=2 * cores, resources={"train": cores},
                                 dashboard_address=None, worker_dashboard_address="127.0.0.1:0",
                                 scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"})
            engine = cluster.Engine(Client(local, set_as_default=False), "local processes", local.scheduler_address,
                                    cluster=local)
        else:
            engine = cluster.embedded()
        started = time.perf_counter() - t0
        first = one_epoch_job(engine, digits)
        later = statistics.median(one_epoch_job(engine, digits) for _ in range(repeats))
        added = rss_mb(with_children=True) - before
        label = "worker process " if processes else "in-process threads"
        print(f"   {label}: start {started:5.2f} s, memory added {added:6.0f} MB (RSS incl. children), "
              f"first one-epoch job {first:5.2f} s, later jobs median {later:5.2f} s")
        engine.close()


def local_vs_cluster(digits, repeats: int) -> None:
    from explorer.runtime import cluster
    from tests.dask_cluster import local_dask

    print(f"3. One-epoch job, LeNet-5 on 1,437 digits ({load()}):")
    engine = cluster.engine()
    one_epoch_job(engine, digits)
    times = [one_epoch_job(engine, digits) for _ in range(repeats)]
    print(f"   embedded cluster: median {statistics.median(times):.2f} s (min {min(times):.2f})")
    t0 = time.perf_counter()
    with local_dask(workers=2, train=1) as running:
        up = time.perf_counter() - t0
        remote = cluster.remote(running.address)
        first = one_epoch_job(remote, digits)
        times = [one_epoch_job(remote, digits) for _ in range(repeats)]
        print(f"   scheduler + 2 worker processes (up in {up:.0f} s, workers preload explorer.training.jobs): first job "
              f"{first:.2f} s, then median {statistics.median(times):.2f} s (min {min(times):.2f}) ({load()})")
        remote.close()


def task_threads(repeats: int) -> None:
    from explorer.runtime import cluster
    from explorer.training import datasets, jobs
    from explorer.training.config import TrainConfig

    print(f"4. Torch threads in a training task: Lite0 fine-tune everything, 224 px, 32 images, batch 8 ({load()}):")
    data = datasets.demo_shapes(20, classes=("circle", "square"), size=224, seed=1)
    train, val = datasets.split(data, 0.2, seed=0)
    config = TrainConfig("efficientnet_lite0", "finetune_all", epochs=1, batch_size=8)
    engine = cluster.engine()
    for threads in (1, 2):
        os.environ["CNN_EXPLORER_TASK_THREADS"] = str(threads)  # read by the in-process worker at each task
        for parallel in (1, 2):
            speeds = []
            for _ in range(repeats):
                runs = [jobs.start(config, train, val, data.classes, engine=engine) for _ in range(parallel)]
                for run in runs:
                    run.wait(900)
                    assert run.status == worker.DONE, run.error
                speeds.append(sum(r.epochs[0]["images_per_s"] for r in runs))
            print(f"   {threads} thread(s) per task, {parallel} job(s) at once: {statistics.median(speeds):6.1f} "
                  f"training images/s in total (median of {repeats})")
    del os.environ["CNN_EXPLORER_TASK_THREADS"]


def server_rss() -> None:
    from playwright.sync_api import sync_playwright

    from tests.support import free_port, wait_healthy

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=dict(os.environ, CNN_EXPLORER_OFFLINE="1"))
    try:
        wait_healthy(url, 120, proc)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
            page = browser.new_page()
            page.goto(f"{url}/transfer?tl_src=Demo%3A+digits&tl_bb=lenet5&tl_strat=From+scratch&tl_ep=2")
            page.get_by_role("button", name="Start training").click()
            page.get_by_text("Finished after 2 epochs").wait_for(timeout=300_000)
            browser.close()
        mem = psutil.Process(proc.pid).memory_full_info()
        threads = psutil.Process(proc.pid).num_threads()
        print(f"5. Web process after a training run on the embedded cluster ({load()}): RSS {mem.rss / 2**20:.0f} MB, "
              f"USS {mem.uss / 2**20:.0f} MB, {threads} threads")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-server", action="store_true", help="skip section 5 (needs Chromium)")
    args = parser.parse_args()
    from explorer.training import datasets

    print(f"CPU cores: {os.cpu_count()}; {load()}")
    startup()
    data = datasets.digits()
    digits = (data, *datasets.split(data, 0.2, seed=0))
    threads_vs_processes(digits, args.repeats)
    local_vs_cluster(digits, args.repeats)
    task_threads(args.repeats)
    if not args.skip_server:
        server_rss()


if __name__ == "__main__":
    main()
