"""CPython issue 106883 on this machine: does sampling every thread's frames deadlock the interpreter? (issue 17)

The measurement behind keeping CPython 3.11.7 with every frame sampler off (README, "Serving a class").
Each attempt is a subprocess with a hard timeout; one that does not finish counts as a hang. Measured on the
2-core machine (5 s per attempt, amplified: 12 driver threads each starting a thread per job, a 10 µs switch
interval, a sampler every 1 ms, a GC callback as Dask's): pure Python on 3.11.7 with the sampler 15/20 hung,
without it 0/20, on 3.12.1 with it 0/20; torch forward+backward threads on 3.11.7 with it 8/11 hung (and 2
segfaults), without it 0/10. With the app's real settings (Dask's 10 ms sampling) 0/20 in 5 s runs: rare per
second, but a class runs for an hour.

Mechanism (CPython 3.11.0-3.11.8):
  * sys._current_frames() -> _PyThread_CurrentFrames() takes HEAD_LOCK(runtime)
    (runtime->interpreters.mutex) and, while holding it, materialises a frame
    object for every thread (_PyFrame_GetFrameObject).  That is a GC allocation,
    and in 3.11 a GC allocation past the gen-0 threshold runs the collector
    *right there*, still under HEAD_LOCK.
  * The collector runs finalizers / tp_clear (Python __del__, weakref callbacks,
    THPVariable_clear ...).  Any Python bytecode they run can honour a
    gil_drop_request, so the sampler thread gives the GIL away while still
    holding HEAD_LOCK.
  * Another thread takes the GIL and then needs HEAD_LOCK: thread start
    (_PyThreadState_Prealloc/new_threadstate), thread exit
    (tstate_delete_common from _PyThreadState_DeleteCurrent, called *with* the GIL),
    PyGILState_Release of a C++ thread (pybind11 gil_scoped_acquire).  It blocks
    on HEAD_LOCK holding the GIL; the sampler blocks on the GIL holding HEAD_LOCK.
    Lock-order inversion -> the whole process freezes.
  3.11.9 (gh-117332) disables the GC around the HEAD_LOCK section; 3.12 only runs
  the GC from the eval breaker, never inside an allocation.

Usage (it is not part of `make bench`, which runs every script with no arguments: give it one):
  child mode (one attempt; prints "DONE ..." and exits 0 if it did not hang):
    python repro_current_frames.py run --workload py|torch [--no-sampler] ...
  bench mode (N attempts in subprocesses with a hard timeout):
    python repro_current_frames.py bench --python /path/to/python -n 20 --workload py ...

Nothing here needs anything but the standard library (torch only for --workload torch).
"""
import argparse
import gc
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path


RESULTS = Path(__file__).resolve().parent / "results"

# --------------------------------------------------------------------------- child

class Node:
    """Cyclic garbage with a Python-level finalizer (runs bytecode inside GC)."""
    __slots__ = ("other", "payload", "__weakref__")
    del_work = 30

    def __init__(self):
        self.other = self
        self.payload = [1, 2, 3]

    def __del__(self):
        s = 0
        for i in range(Node.del_work):  # bytecode -> eval breaker -> may drop the GIL
            s += i
        return s


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def py_job(args):
    """One 'script run': make cyclic garbage with __del__, some calls, then exit."""
    junk = []
    for _ in range(args.garbage):
        a, b = Node(), Node()
        a.other, b.other = b, a
        junk.append(a)
    del junk
    fib(args.fib)


def make_torch_job(args):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(args.torch_threads)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(1, 4, 3, padding=1)
            self.c2 = nn.Conv2d(4, 8, 3, padding=1)
            self.fc = nn.Linear(8 * 7 * 7, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.c1(x)), 2)
            x = F.max_pool2d(F.relu(self.c2(x)), 2)
            return self.fc(x.flatten(1))

    class Square(torch.autograd.Function):
        # Python autograd Function: backward runs Python code taken via GIL
        # acquisition from the autograd engine (PyNode).
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    class Holder:
        # tensor <-> python object cycle: freed only by the cyclic GC, which then
        # runs THPVariable_clear / tensor dealloc (and __del__ if enabled)
        def __init__(self, t):
            self.t = t
            self.me = self

    class HolderDel(Holder):
        def __del__(self):
            s = 0
            for i in range(Node.del_work):
                s += i
            return s

    holder_cls = HolderDel if args.torch_del else Holder
    shared_net = Net()

    def torch_job(_args):
        net = shared_net if args.shared_net else Net()
        x = torch.randn(args.batch, 1, 28, 28, requires_grad=True)
        out = net(Square.apply(x))
        loss = F.cross_entropy(out, torch.randint(0, 10, (args.batch,)))
        keep = []
        for t in (x, out, loss):
            h = holder_cls(t)
            t.holder = h  # cycle through the tensor's __dict__
            keep.append(h)
        loss.backward()
        # cycle involving grad tensors and a module too
        g = x.grad
        g.owner = keep
        keep.append(g)
        del keep, g, x, out, loss
        net.zero_grad(set_to_none=True)

    return torch_job


_in_cf = threading.local()
_corrupt = [0]  # frame walks that raised (stale frame objects)
_gc_in_cf = [0, 0]  # [collections started inside _current_frames, all collections]


def _gc_probe(phase, info):
    # Like distributed.utils_perf's GC diagnosis callback: Python code run by
    # the collector (it too is a place where the GIL can be dropped).
    if phase == "start":
        _gc_in_cf[1] += 1
        if getattr(_in_cf, "v", False):
            _gc_in_cf[0] += 1


def sampler(stop, interval, counter):
    cf = sys._current_frames
    n = 0
    loc = _in_cf
    while not stop.is_set():
        loc.v = True
        frames = cf()
        loc.v = False
        # Dask's profiler walks the frames a bit (f_back chain)
        try:
            for f in frames.values():
                d = 0
                while f is not None and d < 50:
                    f = f.f_back
                    d += 1
        except Exception:
            # seen on 3.11.7: a frame object materialised while the GC inside
            # _current_frames had dropped the GIL can point at a popped frame
            _corrupt[0] += 1
        del frames
        n += 1
        if interval:
            time.sleep(interval)
    counter.append(n)


def driver(stop, job, args, counter):
    """Like a Streamlit session: each rerun executes in a fresh short-lived thread."""
    n = 0
    while not stop.is_set():
        if args.spawn:
            th = threading.Thread(target=job, args=(args,))
            th.start()
            th.join()
        else:
            job(args)
        n += 1
    counter.append(n)


def child(args):
    if args.switch is not None:
        sys.setswitchinterval(args.switch)
    if args.gc_threshold is not None:
        gc.set_threshold(args.gc_threshold, 10, 10)
    Node.del_work = args.del_work
    job = py_job if args.workload == "py" else make_torch_job(args)
    if args.gc_callback:
        gc.callbacks.append(_gc_probe)
    if args.workload == "torch":
        job(args)  # warm-up (lazy init) before threads

    stop = threading.Event()
    runs, samples = [], []
    threads = [threading.Thread(target=driver, args=(stop, job, args, runs), daemon=True)
               for _ in range(args.drivers)]
    if args.sampler:
        threads.append(threading.Thread(target=sampler, args=(stop, args.interval, samples),
                                        daemon=True))
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(args.duration)
    stop.set()
    for t in threads:
        t.join()
    print("DONE %s runs=%d samples=%d corrupt_frames=%d gc_in_current_frames=%d/%d wall=%.1fs" % (
        sys.version.split()[0], sum(runs), sum(samples), _corrupt[0], _gc_in_cf[0], _gc_in_cf[1],
        time.monotonic() - t0), flush=True)
    os._exit(0)


# --------------------------------------------------------------------------- bench

def bench(args, extra):
    py = args.python
    cmd = [py, os.path.abspath(__file__), "run"] + extra
    res = {"python": py, "cmd": cmd[2:], "n": args.n, "hung": 0, "ok": 0, "failed": 0,
           "details": []}
    dumps = 0
    for i in range(args.n):
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = p.communicate(timeout=args.timeout)
            dt = time.monotonic() - t0
            if p.returncode == 0 and "DONE" in out:
                res["ok"] += 1
                res["details"].append(("ok", round(dt, 1), out.strip()))
            else:
                res["failed"] += 1
                res["details"].append(("fail", p.returncode, (out + err)[-500:]))
        except subprocess.TimeoutExpired:
            res["hung"] += 1
            info = "hang"
            if args.pyspy and dumps < args.max_dumps:
                dumps += 1
                path = "%s.hang%d.txt" % (args.tag, i)
                try:
                    d = subprocess.run([args.pyspy, "dump", "--native", "--pid", str(p.pid)],
                                       capture_output=True, text=True, timeout=60)
                    with open(path, "w") as fh:
                        fh.write(d.stdout + d.stderr)
                    info = "hang (py-spy dump: %s)" % path
                except Exception as e:  # noqa
                    info = "hang (py-spy failed: %r)" % (e,)
            p.kill()
            p.communicate()
            res["details"].append(("hang", round(time.monotonic() - t0, 1), info))
        print("[%s] attempt %d/%d: %s" % (args.tag, i + 1, args.n, res["details"][-1][:2]),
              flush=True)
    print("RESULT %s: %d/%d hung, %d ok, %d failed" % (args.tag, res["hung"], args.n,
                                                        res["ok"], res["failed"]), flush=True)
    with open(args.tag + ".json", "w") as fh:
        json.dump(res, fh, indent=1)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("run")
    r.add_argument("--workload", choices=["py", "torch"], default="py")
    r.add_argument("--no-sampler", dest="sampler", action="store_false")
    r.add_argument("--interval", type=float, default=0.0,
                   help="sleep between _current_frames calls (Dask: 0.01); 0 = tight loop")
    r.add_argument("--duration", type=float, default=8.0)
    r.add_argument("--drivers", type=int, default=4)
    r.add_argument("--no-spawn", dest="spawn", action="store_false",
                   help="run jobs in the driver threads instead of a new thread per job")
    r.add_argument("--garbage", type=int, default=200, help="py: Node pairs per job")
    r.add_argument("--fib", type=int, default=12)
    r.add_argument("--del-work", type=int, default=30)
    r.add_argument("--switch", type=float, default=None, help="sys.setswitchinterval")
    r.add_argument("--gc-threshold", type=int, default=None, help="gen0 threshold (default 700)")
    r.add_argument("--batch", type=int, default=8)
    r.add_argument("--torch-threads", type=int, default=1)
    r.add_argument("--torch-del", action="store_true", help="torch: holders have __del__")
    r.add_argument("--shared-net", action="store_true")
    r.add_argument("--gc-callback", action="store_true",
                   help="register a gc.callbacks probe (as Dask's GC diagnostics do); "
                        "counts collections started inside sys._current_frames")
    b = sub.add_parser("bench")
    b.add_argument("--python", default=sys.executable)
    b.add_argument("-n", type=int, default=20)
    b.add_argument("--timeout", type=float, default=25.0)
    b.add_argument("--tag", default="bench")
    b.add_argument("--pyspy", default=None)
    b.add_argument("--max-dumps", type=int, default=1)
    # With no arguments (`make bench`): the amplified pure-Python case on this interpreter, with and without
    # the sampler, 5 attempts each (the figures in the docstring come from 20 each, and the torch workload).
    argv = sys.argv[1:] or None
    if argv is None:
        amplified = ["--workload", "py", "--duration", "5", "--drivers", "12", "--del-work", "2", "--interval",
                     "0.001", "--switch", "0.00001", "--gc-callback"]
        for tag, sampler in (("with the sampler", []), ("without it", ["--no-sampler"])):
            print(f"{sys.version.split()[0]}, {tag}:")
            args, extra = ap.parse_known_args(["bench", "-n", "5", "--timeout", "15", "--tag",
                                               str(RESULTS / f"frames-{'no-' if sampler else ''}sampler"),
                                               *amplified, *sampler])
            bench(args, extra)
        return
    args, extra = ap.parse_known_args(argv)
    if args.mode == "run":
        args = r.parse_args(extra, namespace=args)
        child(args)
    else:
        bench(args, extra)


if __name__ == "__main__":
    main()
