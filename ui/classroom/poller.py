"""One thread per web process tells this process's class sessions when their class changed.

Every `POLL_S` (0.25 s) it reads every class from the scheduler in one call (`store.snapshot`) and
compares each class's `poke_key` (its view's version, its pause, its end) with what each registered
session of this process last showed. A following session whose class changed is rerun server-side,
straight onto the teacher's page and address (`hooks.rerun_session`); an exploring one is rerun as
it is, for a pause or the end. Nothing else runs: an idle follower costs nothing (no timer, no
fragment), and the check is one scheduler read per process, however many students follow.

It also reports how many students of each class follow and explore on this replica
(`store.report`, on a change and every `REPORT_S`), which the teacher's sidebar adds up over every
replica. Sessions register on each of their runs (`register`); a session whose browser has been gone
for longer than Streamlit keeps it (`FORGET_S`) is forgotten.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field, replace

from explorer.classroom import store, views
from explorer.runtime import cluster
from ui.classroom import hooks
from ui.classroom.own import Own

log = logging.getLogger(__name__)

POLL_S = 0.25
REPORT_S = 10.0  # counts are re-reported this often even when unchanged (store.COUNTS_TTL_S is 30 s)
FORGET_S = 180.0  # Streamlit keeps a closed tab's session 120 s (server.disconnectedSessionTTL)
#: This process among the replicas (the host, the process id, and a random part against pid reuse).
REPLICA = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Seat:
    """A session of this process in a class, as its last run left it.

    Attributes:
        session_id: Streamlit's session id.
        code: the class.
        teacher: True for the presenting teacher's tab.
        following: False while the student explores on their own.
        pages: {page url path: page script hash} of the app's navigation.
        page_hash, query: the page and address the session shows.
        context: its browser context (`hooks.context_info`).
        own: what the student keeps while following.
        seen: the class's `poke_key` that its page shows.
    """

    session_id: str
    code: str
    teacher: bool
    following: bool
    pages: dict[str, str]
    page_hash: str
    query: str
    context: bytes
    own: Own
    seen: tuple
    poked: tuple | None = None
    gone_since: float | None = None


def target(state: store.ClassState, own: Own) -> tuple[str, views.Params]:
    """(page url path, address parameters) that a follower of `state` shows."""
    page = state.view.page
    return page, views.follower_params(state.view.params, own.keep(page), state.code)


def _concerns(key: tuple | None, following: bool) -> tuple | None:
    """The part of a class's `poke_key` that concerns a student: all of it when following, else the pause and end."""
    return key if following or key is None else key[1:]


@dataclass
class Poller:
    """The registry of this process's class sessions and the thread that watches their classes.

    Attributes:
        replica: this process's name in the class's counts.
        seats: {session id: Seat} of this process's class sessions.
        classes, read_at: every class as last read, and when (time.monotonic()).
    """

    replica: str = REPLICA
    seats: dict[str, Seat] = field(default_factory=dict)
    classes: dict[str, store.ClassState] = field(default_factory=dict)
    read_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _reported: dict[str, tuple[int, int]] = field(default_factory=dict)
    _reported_at: float = 0.0

    def register(self, seat: Seat) -> None:
        """Add or update a session (called by the router on each of its runs); starts the thread."""
        with self._lock:
            old = self.seats.get(seat.session_id)
            self.seats[seat.session_id] = replace(seat, poked=old.poked if old else None)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="class-poller", daemon=True)
                self._thread.start()

    def forget(self, session_id: str) -> None:
        """Drop a session that left its class."""
        with self._lock:
            self.seats.pop(session_id, None)

    def state(self, code: str, max_age: float = 2 * POLL_S) -> store.ClassState | None:
        """Class `code` as last read, or read now if that was over `max_age` seconds ago."""
        if time.monotonic() - self.read_at > max_age:
            self.refresh()
        return self.classes.get(code)

    def refresh(self) -> None:
        """Read every class from the scheduler (one call)."""
        classes = store.snapshot(cluster.engine().client)
        self.classes, self.read_at = classes, time.monotonic()

    def _loop(self) -> None:
        while True:
            time.sleep(POLL_S)
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a scheduler hiccup must not end the thread; the next tick retries
                log.warning("class poller: tick failed", exc_info=True)
                time.sleep(5 * POLL_S)

    def tick(self, now: float | None = None) -> None:
        """One round: read the classes, rerun the sessions whose class changed, report the counts."""
        with self._lock:
            seats = list(self.seats.values())
        if not seats:
            return
        self.refresh()
        now = now or time.time()
        counts: dict[str, list[int]] = {}
        for seat in seats:
            active = hooks.session_active(seat.session_id)
            if not active:
                self._mark_gone(seat, now)
                continue
            if seat.gone_since is not None:  # reconnected
                with self._lock:
                    if seat.session_id in self.seats:
                        self.seats[seat.session_id] = replace(self.seats[seat.session_id], gone_since=None)
            if not seat.teacher:
                counts.setdefault(seat.code, [0, 0])[0 if seat.following else 1] += 1
                self._poke(seat)
        for code in {s.code for s in seats}:
            counts.setdefault(code, [0, 0])
        self._report({c: (f, e) for c, (f, e) in counts.items()}, now)

    def _mark_gone(self, seat: Seat, now: float) -> None:
        with self._lock:
            if seat.gone_since is None:
                self.seats[seat.session_id] = replace(seat, gone_since=now)
            elif now - seat.gone_since > FORGET_S:
                self.seats.pop(seat.session_id, None)

    def _poke(self, seat: Seat) -> None:
        """Rerun a student's session if its class changed since its page was drawn (once per change)."""
        state = self.classes.get(seat.code)
        key = state.poke_key() if state is not None else None
        if _concerns(key, seat.following) in (_concerns(seat.seen, seat.following), _concerns(seat.poked, seat.following)):
            return
        if state is not None and seat.following and state.live():
            page, params = target(state, seat.own)
            page_hash, query, navigate = seat.pages.get(page, seat.page_hash), views.encode(params), True
        else:  # exploring (a pause, the end) or gone: the same view, rerun
            page_hash, query, navigate = seat.page_hash, seat.query, False
        if hooks.rerun_session(seat.session_id, page_hash, query, seat.context, navigate):
            with self._lock:
                if seat.session_id in self.seats:
                    self.seats[seat.session_id] = replace(self.seats[seat.session_id], poked=key)

    def _report(self, counts: dict[str, tuple[int, int]], now: float) -> None:
        due = now - self._reported_at > REPORT_S
        changed = {c: n for c, n in counts.items() if due or self._reported.get(c) != n}
        if changed:
            store.report(cluster.engine().client, self.replica, changed, now)
            self._reported.update(changed)
            if due:
                self._reported_at = now


#: The one poller of this process.
POLLER = Poller()
