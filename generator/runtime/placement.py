"""Where predict() runs: on the event loop, one call per turn of the loop, or in the thread pool.

A predict() that computes on its own thread (scikit-learn, most pure-Python models) holds the GIL
for most of its call. In a worker thread it then fights the event loop for the GIL on every
request the loop reads, and several worker threads fight each other: a 50-tree forest served 0.4x
to 0.6x the requests/s of the same predict() called on the loop (bench/peers.py). Such a predict()
runs on the loop, where nothing competes for the GIL, as long as it is short enough that blocking
the loop for it delays nobody (``INLINE_BUDGET_S``). ``LoopGate`` lets one such call run per turn
of the loop, so a probe or a /metrics scrape that arrives waits for at most two calls (the one in
progress and the next), never for a queue of them.

A predict() that waits (network or disk I/O, sleeps) gains from running several at once and would
stall the loop while it waits; one whose native code releases the GIL runs on several cores at once
in the pool. Both stay in the pool, as does one slower than the budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Literal

INLINE_BUDGET_S = 0.025
"""A predict() that averages under this (alone) may run on the loop."""
COMPUTE_SHARE = 0.4
"""...if its thread computes for at least this share of the call (below: it waits)..."""
PARALLEL_SHARE = 1.5
"""...and at most this: more CPU than the call's time means it computed on several cores at once
(native code without the GIL), which the pool allows and the loop does not."""
GATE_FROM_S = 0.001
"""Shorter calls on the loop skip ``LoopGate``: a burst of them delays a probe by a few milliseconds
at most, while taking turns costs each one a future and a turn of the loop (10% of the requests/s
of a 50 us model)."""
TRIAL_CALLS = 16
"""Calls measured one at a time in the pool before predict() may move to the loop."""
_WEIGHT = 0.1
"""Of the newest call in the averages: a call longer than the average by ten times the average's
headroom under the budget (214 ms for a 4 ms average) moves predict() off the loop on its own."""
HOLD_OFF_CALLS = 256
"""Pool calls before predict() is tried again after it was found unfit (in a trial or on the loop);
doubled each time (to ``MAX_HOLD_OFF_CALLS``), reset after ``SETTLED_CALLS`` on the loop."""
MAX_HOLD_OFF_CALLS = 1 << 16
SETTLED_CALLS = 10_000

Measured = Literal["trial", "loop", "pool"]

_RUSAGE_THREAD: int | None = getattr(resource, "RUSAGE_THREAD", None)  # Linux; not macOS


def thread_usage() -> tuple[float, int]:
    """This thread's CPU time and voluntary context switches so far (-1: not known on this system)."""
    if _RUSAGE_THREAD is None:
        return time.thread_time(), -1
    usage = resource.getrusage(_RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime, usage.ru_nvcsw


def busy_s(before: tuple[float, int], wall_s: float) -> float:
    """What a call that took ``wall_s`` spent computing, from ``thread_usage()`` before it.

    A thread that never gave up its core of its own (no voluntary context switch: it waited for no
    I/O, sleep or lock) computed for all of the call, even when it was preempted for part of it: by
    other processes, or by the container's CPU limit (CFS throttling). Its CPU time alone would make
    such a call look like one that waits, and move a computing predict() off the loop exactly when
    the machine is busiest.
    """
    cpu_s, switches = thread_usage()
    if switches >= 0 and switches == before[1]:
        return wall_s
    return cpu_s - before[0]


class Placement:
    """Where predict() runs, from what its calls do: first a trial in the pool, then the loop or the pool.

    Only calls that ran alone say what predict() does. Several calls at once in the pool share the
    GIL, which stretches a computing call's wall time (it then looks like one that waits), or, for
    calls shorter than the GIL's switch interval, not at all; either way their times are no measure.
    So a trial runs ``TRIAL_CALLS`` calls in the pool one at a time (``pool_call``); if they compute,
    briefly, on one core, predict() moves to the loop, where each call runs alone and keeps being
    measured. Found unfit (in the trial or on the loop), predict() runs in the pool, with every
    thread, for ``HOLD_OFF_CALLS`` calls, twice as many each time, and is then tried again.
    """

    __slots__ = ("_held", "_hold_off", "_lock", "_on_loop", "_samples", "_state", "_trial", "cpu_s", "wall_s")

    def __init__(self) -> None:
        self.wall_s = 1.0
        self.cpu_s = 0.0
        self._state: Measured = "trial"
        self._samples = 0
        self._held = 0
        self._hold_off = HOLD_OFF_CALLS
        self._on_loop = 0
        self._lock = threading.Lock()
        self._trial = threading.Lock()

    @property
    def inline(self) -> bool:
        return self._state == "loop"

    @contextlib.contextmanager
    def pool_call(self) -> Iterator[Measured]:
        """Around a call in the pool: during a trial, one at a time; says how the call is measured."""
        if self._state != "trial":
            yield "pool"
            return
        with self._trial:
            yield "trial" if self._state == "trial" else "pool"

    def record(self, wall_s: float, cpu_s: float, measured: Measured) -> None:
        with self._lock:
            if measured != self._state:
                return  # a call among others in the pool, or one begun before the last change
            if measured == "pool":  # held off: counting down to the next trial
                self._held -= 1
                if self._held <= 0:
                    self._state, self._samples = "trial", 0
                return
            if measured == "trial" and self._samples == 0:
                self.wall_s, self.cpu_s = wall_s, cpu_s
            else:
                self.wall_s += _WEIGHT * (wall_s - self.wall_s)
                self.cpu_s += _WEIGHT * (cpu_s - self.cpu_s)
            if measured == "trial":
                self._samples += 1
                if not self._fits() and (wall_s > INLINE_BUDGET_S or self._samples >= TRIAL_CALLS):
                    self._hold()
                elif self._samples >= TRIAL_CALLS:
                    self._state, self._on_loop = "loop", 0
            elif not self._fits():
                self._hold()
            else:
                self._on_loop += 1
                if self._on_loop >= SETTLED_CALLS:
                    self._hold_off, self._on_loop = HOLD_OFF_CALLS, 0

    def _hold(self) -> None:
        self._state, self._held = "pool", self._hold_off
        self._hold_off = min(2 * self._hold_off, MAX_HOLD_OFF_CALLS)

    def _fits(self) -> bool:
        share = self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0
        return self.wall_s <= INLINE_BUDGET_S and COMPUTE_SHARE <= share <= PARALLEL_SHARE


class LoopGate:
    """At most one inline predict() per turn of the event loop, in arrival order.

    ``enter`` returns at once when no call holds the gate, else when it is this task's turn; the
    caller runs its predict() synchronously and then calls ``leave``. The next waiter is let in on a
    later turn (``call_soon``), after the loop has polled its sockets: a probe read meanwhile runs
    after that next prediction at the latest, before the one after it.
    """

    __slots__ = ("_held", "_waiters")

    def __init__(self) -> None:
        self._held = False
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def enter(self) -> None:
        if not self._held:
            self._held = True
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._pass()  # handed the gate, then cancelled before using it: hand it on
            else:
                with contextlib.suppress(ValueError):  # already dropped by a hand-over that skipped it
                    self._waiters.remove(waiter)
            raise

    def leave(self) -> None:
        asyncio.get_running_loop().call_soon(self._pass)

    def _pass(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the gate stays held, now by that waiter
                return
        self._held = False
