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
import threading
from collections import deque

INLINE_BUDGET_S = 0.025
"""A predict() that averages under this (alone) may run on the loop."""
COMPUTE_SHARE = 0.4
"""...if its thread computes for at least this share of the call (below: it waits)..."""
PARALLEL_SHARE = 1.5
"""...and at most this: more CPU than one thread's worth of the call's time means the calls in flight
computed on several cores at once (native code without the GIL), which the pool does and the loop
cannot."""
_WEIGHT = 0.1
"""Of the newest call in the averages: a call longer than the average by ten times the average's
headroom under the budget (214 ms for a 4 ms average) moves predict() off the loop on its own."""
HOLD_OFF_CALLS = 256
"""Pool calls during which predict() may not return to the loop after it was found unfit there;
doubled at each such return (to ``MAX_HOLD_OFF_CALLS``), reset after ``SETTLED_CALLS`` on the loop."""
MAX_HOLD_OFF_CALLS = 1 << 16
SETTLED_CALLS = 10_000


class Placement:
    """Running averages of predict()'s wall time and of the CPU time of the thread that ran it.

    Calls that run at once in the pool share the GIL: a computing call's wall time grows with the
    number of them, while its CPU time does not. Each call's wall time is divided by the calls in
    flight beside it (``begin`` counts them), so that a computing predict() measured under load in
    the pool is still seen computing, while a waiting one, whose CPU time is near nothing however
    many run, is not. What that estimate cannot tell apart (a call that waits for most of its time
    but computes for some of it, under load) is settled on the loop, where a call runs alone: found
    unfit there, predict() goes back to the pool and stays there for ``HOLD_OFF_CALLS`` calls, twice
    as many each time, so that it cannot flap.
    """

    __slots__ = ("_held", "_hold_off", "_lock", "_on_loop", "_running", "cpu_s", "wall_s")

    def __init__(self) -> None:
        # Start as if predict() were slow and waiting: it runs in the pool until it has shown otherwise.
        self.wall_s = 1.0
        self.cpu_s = 0.0
        self._running = 0
        self._held = 0
        """Pool calls left before predict() may return to the loop."""
        self._hold_off = HOLD_OFF_CALLS
        self._on_loop = 0
        self._lock = threading.Lock()

    def begin(self) -> int:
        """A call starts: how many are running now, this one included."""
        with self._lock:
            self._running += 1
            return self._running

    def end(self, began_with: int, wall_s: float, cpu_s: float, *, on_loop: bool = False) -> None:
        with self._lock:
            sharing = (began_with + self._running) / 2
            self._running -= 1
            self._record(wall_s / sharing, cpu_s)
            if not on_loop:
                self._held = max(0, self._held - 1)
            elif not self._fits():  # measured alone on the loop and unfit: back to the pool, held off
                self._held, self._on_loop = self._hold_off, 0
                self._hold_off = min(2 * self._hold_off, MAX_HOLD_OFF_CALLS)
            else:
                self._on_loop += 1
                if self._on_loop >= SETTLED_CALLS:
                    self._hold_off, self._on_loop = HOLD_OFF_CALLS, 0

    def skip(self) -> None:
        """A call that ended before predict() ran (a refused request, a model not ready): not measured."""
        with self._lock:
            self._running -= 1

    def record(self, wall_s: float, cpu_s: float) -> None:
        with self._lock:
            self._record(wall_s, cpu_s)

    def _record(self, wall_s: float, cpu_s: float) -> None:
        self.wall_s += _WEIGHT * (wall_s - self.wall_s)
        self.cpu_s += _WEIGHT * (cpu_s - self.cpu_s)

    def _fits(self) -> bool:
        share = self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0
        return self.wall_s <= INLINE_BUDGET_S and COMPUTE_SHARE <= share <= PARALLEL_SHARE

    @property
    def inline(self) -> bool:
        return not self._held and self._fits()


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
