"""Where the samples of a py-spy profile go: raw collapsed stacks aggregated by function and by library.

    .venv/bin/py-spy record --gil -r 200 -f raw -o stacks.txt -p <server pid> -d 60
    .venv/bin/python bench/collapsed.py stacks.txt [more.txt ...] [--top 15]

For each file it prints the share of samples (%) under each function (inclusive) and in it (self),
the shares of the libraries that usually matter in a script run (Plotly's validation, protobuf and
Streamlit's serialization, st.cache hashing, pandas, torch, PIL, Dask, the event loop), and for the
repository's own functions (explorer/, ui/, app_pages/) what their samples spend their time in.
`bench/click_cost.py --profile` records one file per page and prints this summary. With --gil the
samples are those of the thread holding the GIL; without it, every thread py-spy finds running, which
includes torch kernels that run without the GIL but also some blocked threads: --active leaves those out.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Frame = tuple[str, str]  # (function, file relative to site-packages or to the repository)
REPO_DIRS = ("explorer/", "ui/", "app_pages/")
LAUNCHER = "ui/server.py"  # the root of the main thread's stacks, not where a click's time goes
#: Frames at the root of every stack of a thread (thread start, command line, event loop): left out of the
#: inclusive ranking, where they would fill the top with ~100%.
ROOTS = ("threading.py", "click/", "asyncio/runners.py", "asyncio/base_events.py", "<frozen runpy>", "runpy.py",
         "streamlit/web/cli.py", "streamlit/web/bootstrap.py", "streamlit_app.py", LAUNCHER,
         "streamlit/runtime/scriptrunner/exec_code.py", "streamlit/navigation/page.py")
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _short(path: str) -> str:
    """A file path relative to site-packages, the standard library or the repository."""
    for marker in ("site-packages/", "/lib/python3.11/", "/wt-cost/", "/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def is_repo(frame: Frame) -> bool:
    return frame[1].startswith(REPO_DIRS) and frame[1] != LAUNCHER


def library(frame: Frame) -> str:
    """The top-level package a frame belongs to ("plotly", "torch", "streamlit", ...; "repo" for ours)."""
    if is_repo(frame):
        return "repo"
    top = frame[1].split("/", 1)[0].removesuffix(".py")
    return {"_plotly_utils": "plotly", "google": "protobuf"}.get(top, top)


def _under(*prefixes: str, funcs: tuple[str, ...] = ()) -> Callable[[Frame], bool]:
    return lambda f: f[1].startswith(prefixes) and (not funcs or f[0].split(".")[-1] in funcs)


#: Named groups of frames: a sample counts for a group when any of its frames matches.
CATEGORIES: list[tuple[str, Callable[[Frame], bool]]] = [
    ("plotly figure building (graph_objs, validators)",
     lambda f: f[1].startswith(("plotly/", "_plotly_utils/")) and not f[1].startswith("plotly/io/")),
    ("  plotly update_layout/update_traces/update_*axes/add_*",
     _under("plotly/basedatatypes.py", funcs=("update_layout", "update_traces", "update_xaxes", "update_yaxes",
                                              "add_annotation", "add_shape", "add_trace", "add_traces",
                                              "add_layout_image", "update"))),
    ("  plotly _str_to_dict_path", _under("plotly/basedatatypes.py", funcs=("_str_to_dict_path",
                                                                            "_str_to_dict_path_full"))),
    ("  plotly validators (_plotly_utils/basevalidators.py)", _under("_plotly_utils/basevalidators.py")),
    ("plotly to_json (plotly/io)", _under("plotly/io/")),
    ("st.plotly_chart marshall", _under("streamlit/elements/plotly_chart.py")),
    ("protobuf / ForwardMsg serialization",
     lambda f: f[1].startswith(("google/protobuf", "streamlit/proto")) or "forward_msg" in f[1]
     or f[0].split(".")[-1] in ("SerializeToString", "serialize_forward_msg", "ByteSize", "CopyFrom", "MergeFrom")),
    ("Streamlit websocket write", lambda f: "websocket" in f[1] and f[1].startswith(("streamlit/", "tornado/"))),
    ("st.cache_* hashing", _under("streamlit/runtime/caching/hashing.py")),
    ("st.cache_* (all)", _under("streamlit/runtime/caching/")),
    ("Streamlit widgets and session state", _under("streamlit/elements/widgets/", "streamlit/runtime/state/")),
    ("Streamlit elements (markdown, columns, ...)", _under("streamlit/elements/", "streamlit/delta_generator")),
    ("dataframe -> Arrow", lambda f: f[1].startswith(("pyarrow/", "streamlit/dataframe_util.py",
                                                      "streamlit/elements/lib/column_config_utils.py"))),
    ("pandas", _under("pandas/")),
    ("  pandas Styler", _under("pandas/io/formats/style")),
    ("torch nn forward (Module._call_impl)", _under("torch/nn/modules/module.py", funcs=("_call_impl",))),
    ("torch (all)", _under("torch/", "torchvision/")),
    ("captum", _under("captum/")),
    ("PIL", _under("PIL/")),
    ("  PIL encode (Image.save)", _under("PIL/", funcs=("save", "_save", "_encode_tile"))),
    ("numpy", _under("numpy/")),
    ("Dask / distributed", _under("distributed/", "dask/")),
    ("tornado / asyncio event loop", _under("tornado/", "asyncio/")),
    ("script thread (ScriptRunner._run_script)", _under("streamlit/runtime/scriptrunner/",
                                                        funcs=("_run_script",))),
    ("repository code (explorer/, ui/, app_pages/)", is_repo),
]


#: Leaf frames of threads that are blocked, not running: py-spy counts some of them as active without --gil
#: (a selector's select, a condition or queue wait, the thread pool's idle worker, Streamlit's polling sleep).
WAITS = {("EpollSelector.select", "selectors.py"), ("_PollLikeSelector.select", "selectors.py"),
         ("Condition.wait", "threading.py"), ("Event.wait", "threading.py"),
         ("Thread._wait_for_tstate_lock", "threading.py"), ("_worker", "concurrent/futures/thread.py"),
         ("PollingPathWatcher._schedule.<locals>.task", "streamlit/watcher/polling_path_watcher.py"),
         ("wait", "multiprocessing/connection.py"), ("Queue._feed", "multiprocessing/queues.py"),
         ("Queue.get", "queue.py"), ("sleep", "asyncio/tasks.py")}


def thread_of(frames: tuple[Frame, ...]) -> str:
    """Which thread a stack belongs to, from its frames."""
    if any(f[0].endswith("_run_script_thread") for f in frames):
        return "script runs (ScriptRunner threads)"
    if any(f[1].startswith(("distributed/", "dask/")) for f in frames):
        return "Dask (scheduler, worker threads)"
    if any(f[1] in ("asyncio/base_events.py", LAUNCHER) for f in frames):
        return "event loop (main thread: websocket, media, Tornado/Starlette)"
    return "other threads"


@dataclass
class Profile:
    """Collapsed stacks (root first) with their sample counts."""

    stacks: list[tuple[tuple[Frame, ...], int]]

    @classmethod
    def read(cls, *paths: Path) -> Profile:
        stacks = []
        for path in paths:
            for line in Path(path).read_text(errors="replace").splitlines():
                text, _, count = line.rpartition(" ")
                if not text or not count.isdigit():
                    continue
                frames = []
                for raw in text.split(";"):
                    m = _FRAME.match(raw)
                    frames.append((m["func"], _short(m["file"])) if m else (raw, ""))
                stacks.append((tuple(frames), int(count)))
        return cls(stacks)

    @property
    def total(self) -> int:
        return sum(n for _, n in self.stacks)

    def inclusive(self, key: Callable[[Frame], str] = lambda f: f"{f[0]} ({f[1]})") -> Counter:
        """Samples whose stack contains each key at least once."""
        counts: Counter = Counter()
        for frames, n in self.stacks:
            for k in {key(f) for f in frames}:
                counts[k] += n
        return counts

    def self_time(self) -> Counter:
        counts: Counter = Counter()
        for frames, n in self.stacks:
            counts[f"{frames[-1][0]} ({frames[-1][1]})"] += n
        return counts

    def categories(self) -> list[tuple[str, int]]:
        return [(name, sum(n for frames, n in self.stacks if any(match(f) for f in frames)))
                for name, match in CATEGORIES]

    def repo_breakdown(self, top: int) -> list[tuple[str, int, Counter]]:
        """The repository's functions by inclusive samples, each with the libraries its samples spend time in
        (the first frame below its deepest call that is not the repository's; "own code" when none)."""
        rows: dict[str, tuple[int, Counter]] = {}
        for frames, n in self.stacks:
            seen = set()
            for i, f in enumerate(frames):
                if not is_repo(f):
                    continue
                name = f"{f[1]}:{f[0]}"
                if name in seen:
                    continue
                seen.add(name)
                below = next((library(g) for g in frames[i + 1:] if not is_repo(g)), "own code")
                total, libs = rows.setdefault(name, (0, Counter()))
                libs[below] += n
                rows[name] = (total + n, libs)
        ordered = sorted(rows.items(), key=lambda kv: -kv[1][0])[:top]
        return [(name, total, libs) for name, (total, libs) in ordered]

    def active(self) -> Profile:
        """The samples of running threads: those blocked in a wait (`WAITS`) left out."""
        return Profile([(frames, n) for frames, n in self.stacks if frames[-1] not in WAITS])

    def only(self, thread: str) -> Profile:
        """The stacks of the threads whose name (`thread_of`) contains `thread`."""
        return Profile([(frames, n) for frames, n in self.stacks if thread in thread_of(frames)])

    def threads(self) -> Counter:
        counts: Counter = Counter()
        for frames, n in self.stacks:
            counts[thread_of(frames)] += n
        return counts

    def print_summary(self, title: str, top: int = 15, rate: float = 0.0) -> None:
        """Print the shares of samples; `rate` (samples per second per thread) also gives seconds."""
        total = self.total
        print(f"\n=== profile {title}: {total} samples" + (f" ({total / rate:.1f} s)" if rate else ""))
        if not total:
            return

        def share(n: int) -> str:
            return f"{100 * n / total:5.1f}%"

        print("  by thread:")
        for name, n in self.threads().most_common():
            print(f"    {share(n)}  {name}")

        print("  by library group (inclusive):")
        for name, n in self.categories():
            if n:
                print(f"    {share(n)}  {name}")
        print("  top functions, inclusive:")
        ranked = self.inclusive(lambda f: "" if f[1].startswith(ROOTS) else f"{f[0]} ({f[1]})")
        for name, n in [(k, v) for k, v in ranked.most_common(top + 1) if k][:top]:
            print(f"    {share(n)}  {name}")
        print("  top functions, self:")
        for name, n in self.self_time().most_common(top):
            print(f"    {share(n)}  {name}")
        print("  the repository's functions (inclusive) and what they spend it in:")
        for name, n, libs in self.repo_breakdown(top):
            parts = ", ".join(f"{lib} {100 * k / total:.1f}%" for lib, k in libs.most_common(4))
            print(f"    {share(n)}  {name}  [{parts}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="py-spy raw files (-f raw); none: print this help")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--rate", type=float, default=0.0, help="py-spy's -r, to print seconds as well")
    parser.add_argument("--thread", default="", help="only the threads whose name contains this (e.g. 'event loop')")
    parser.add_argument("--active", action="store_true",
                        help="leave out samples of blocked threads (for profiles recorded without --gil)")
    args = parser.parse_args()
    if not args.files:
        parser.print_help()
        return
    for path in args.files:
        profile = Profile.read(path).only(args.thread)
        profile = profile.active() if args.active else profile
        profile.print_summary(f"{path} {args.thread}".strip(), args.top, args.rate)


if __name__ == "__main__":
    main()
