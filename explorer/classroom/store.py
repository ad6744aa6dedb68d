"""Every class lives in the Dask scheduler's metadata, where every web replica reads it.

The scheduler the app already uses (`explorer.runtime.cluster`: embedded in the web process, or the
cluster named by `CNN_EXPLORER_DASK_SCHEDULER` that several replicas share) keeps one metadata tree:

    ["cnn-explorer-classes"] = {
        "classes":   {CODE: {"name", "secret" (SHA-256), "created", "seat", "active", "paused", "ended",
                             "view": {"page", "q", "v", "t"}}},
        "followers": {CODE: {replica: {"f": following, "e": exploring, "t": reported at}}},
    }

Each writer sets only its own leaf (`Client.set_metadata` with a key path is one atomic assignment
on the scheduler), so a teacher's change, a pause and a replica's counts never overwrite one another
and need no lock; creating a class takes a `distributed.Lock` so that two new classes never share a
code. A reader takes the whole tree in one call (`snapshot`): one scheduler round trip for every
class, however many students follow. Values are plain data (msgpack): the scheduler unpickles nothing.

A class is live until its teacher ends it or for `IDLE_S` (3 h) after the teacher's last activity;
`sweep` turns classes over a day past their end into tombstones (the scheduler's metadata has no
delete). Every value read back is checked: a malformed entry reads as no class.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from distributed import Lock

from explorer.classroom import codes, views

ROOT = "cnn-explorer-classes"
IDLE_S = 3 * 3600.0  # a class with no teacher activity for this long has ended by itself
KEEP_ENDED_S = 24 * 3600.0  # an ended class still answers "this class has ended" for this long
CALL_S = 5.0  # longest wait for one scheduler read or write (a scheduler that hangs must not hang a page)
COUNTS_TTL_S = 30.0  # a replica's counts older than this are not counted (the replica went away)


@dataclass(frozen=True)
class ClassState:
    """One class as every replica reads it.

    Attributes:
        code: the join code ("K7MQ2P").
        name: the teacher's display name (as typed, to be escaped where shown).
        secret_hash: SHA-256 of the teacher secret.
        seat: a random token naming the teacher's tab that presents now (a teacher link takes it over).
        created, active: times (s since the epoch) of creation and of the teacher's last activity.
        paused: True while the teacher asks for eyes on the projector.
        ended: when the teacher ended it, or None.
        view: the teacher's published view.
        followers: {replica: (following, exploring, reported at)}.
    """

    code: str
    name: str
    secret_hash: str
    seat: str
    created: float
    active: float
    paused: bool = False
    ended: float | None = None
    view: views.View = field(default_factory=views.View)
    followers: dict[str, tuple[int, int, float]] = field(default_factory=dict)

    def ended_at(self) -> float:
        """When the class ended or will end by itself (`IDLE_S` after the teacher's last activity)."""
        idle_end = max(self.active, self.view.published) + IDLE_S
        return min(self.ended, idle_end) if self.ended is not None else idle_end

    def live(self, now: float | None = None) -> bool:
        """True while students can join and follow."""
        return (now or time.time()) < self.ended_at()

    def counts(self, now: float | None = None) -> tuple[int, int]:
        """(students following, students exploring) over every replica that reported in the last `COUNTS_TTL_S`."""
        now = now or time.time()
        fresh = [(f, e) for f, e, t in self.followers.values() if t >= now - COUNTS_TTL_S]
        return sum(f for f, _ in fresh), sum(e for _, e in fresh)

    def poke_key(self) -> tuple[int, bool, bool]:
        """What a follower's page must be rerun for when it changes: the view, the pause, the end."""
        return self.view.version, self.paused, not self.live()


def _num(value: Any, default: float = 0.0) -> float:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else default


def _parse(code: str, raw: Any, followers: Any) -> ClassState | None:
    """A ClassState from the metadata's plain values, or None if they are not a well-formed class."""
    if codes.normalize_code(code) != code or not isinstance(raw, dict):
        return None
    name, secret, seat = raw.get("name"), raw.get("secret"), raw.get("seat")
    if not (isinstance(name, str) and isinstance(secret, str) and isinstance(seat, str)):
        return None
    view_raw = raw.get("view") if isinstance(raw.get("view"), dict) else {}
    page = views.valid_page(view_raw.get("page", ""))
    q = view_raw.get("q", {})
    view = views.View(page or "", views.shared(q) if isinstance(q, dict) else {}, int(_num(view_raw.get("v"))),
                      _num(view_raw.get("t")))
    counted = {}
    for replica, entry in (followers.items() if isinstance(followers, dict) else []):
        if isinstance(entry, dict):
            counted[str(replica)] = (int(_num(entry.get("f"))), int(_num(entry.get("e"))), _num(entry.get("t")))
    ended = raw.get("ended")
    return ClassState(code, codes.clean_name(name), secret, seat, _num(raw.get("created")), _num(raw.get("active")),
                      raw.get("paused") is True, _num(ended) if ended is not None else None, view, counted)


def snapshot(client) -> dict[str, ClassState]:
    """Every class kept in the scheduler, read in one call: {code: ClassState}."""
    tree = _get(client, [ROOT])
    if not isinstance(tree, dict):
        return {}
    classes = tree.get("classes") if isinstance(tree.get("classes"), dict) else {}
    followers = tree.get("followers") if isinstance(tree.get("followers"), dict) else {}
    out = {}
    for code, raw in classes.items():
        state = _parse(code, raw, followers.get(code))
        if state is not None:
            out[code] = state
    return out


def get(client, code: str) -> ClassState | None:
    """The class with join code `code` (normalized), or None."""
    return snapshot(client).get(code)


def _get(client, keys: list) -> Any:
    """The scheduler's metadata at `keys` (None if absent); TimeoutError after CALL_S (nothing waits for ever)."""
    return client.sync(client.scheduler.get_metadata, keys=keys, default=None, callback_timeout=CALL_S)


def _set(client, keys: list, value: Any) -> None:
    """Write the scheduler's metadata at `keys`; TimeoutError after CALL_S."""
    client.sync(client.scheduler.set_metadata, keys=keys, value=value, callback_timeout=CALL_S)


def _lock(client) -> Lock:
    return Lock(f"{ROOT}/create", scheduler_rpc=client.scheduler, loop=client.loop)


def create(client, name: str, seat: str, now: float | None = None) -> tuple[ClassState, str]:
    """Make a class with a fresh code for the teacher `name` presenting from tab `seat`.

    Returns:
        (the class, its teacher secret): the secret is returned once and kept only as a hash.
    """
    now = now or time.time()
    secret = codes.new_secret()
    lock = _lock(client)
    if not lock.acquire(timeout=CALL_S):
        raise TimeoutError("The Dask scheduler did not answer: try again.")
    try:
        existing = snapshot(client)
        code = codes.new_code()
        while code in existing:
            code = codes.new_code()
        raw = {"name": codes.clean_name(name), "secret": codes.secret_hash(secret), "seat": seat, "created": now,
               "active": now, "paused": False, "ended": None, "view": {"page": "", "q": {}, "v": 0, "t": now}}
        _set(client, [ROOT, "classes", code], raw)
    finally:
        lock.release()
    sweep(client, now, existing)
    state = _parse(code, raw, {})
    assert state is not None
    return state, secret


def publish(client, code: str, view: views.View, now: float | None = None) -> None:
    """Publish the teacher's view (one scheduler write; it also counts as the teacher's activity)."""
    page = views.valid_page(view.page) or ""
    client.set_metadata([ROOT, "classes", code, "view"],
                        {"page": page, "q": views.shared(view.params), "v": int(view.version), "t": now or time.time()})


def touch(client, code: str, now: float | None = None) -> None:
    """Record teacher activity without a change of view (the class stays live for `IDLE_S` more)."""
    _set(client, [ROOT, "classes", code, "active"], now or time.time())


def set_paused(client, code: str, paused: bool, now: float | None = None) -> None:
    """Pause ("eyes on the projector") or resume the class."""
    _set(client, [ROOT, "classes", code, "paused"], bool(paused))
    touch(client, code, now)


def take_seat(client, code: str, seat: str, now: float | None = None) -> None:
    """Make tab `seat` the presenter (a teacher link opened again); the previous tab stops presenting."""
    _set(client, [ROOT, "classes", code, "seat"], seat)
    touch(client, code, now)


def end(client, code: str, now: float | None = None) -> None:
    """End the class: students get one sentence and the ordinary app."""
    _set(client, [ROOT, "classes", code, "ended"], now or time.time())


def report(client, replica: str, counts: dict[str, tuple[int, int]], now: float | None = None) -> None:
    """This replica's (following, exploring) students per class code, one write per class."""
    now = now or time.time()
    for code, (following, exploring) in counts.items():
        _set(client, [ROOT, "followers", code, replica], {"f": int(following), "e": int(exploring), "t": now})


def sweep(client, now: float | None = None, classes: dict[str, ClassState] | None = None) -> list[str]:
    """Turn classes that ended over `KEEP_ENDED_S` ago into tombstones; return their codes."""
    now = now or time.time()
    classes = snapshot(client) if classes is None else classes
    gone = [code for code, state in classes.items() if state.ended_at() < now - KEEP_ENDED_S]
    for code in gone:
        _set(client, [ROOT, "classes", code], None)
        _set(client, [ROOT, "followers", code], None)
    return gone
