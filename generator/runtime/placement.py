"""Where predict() runs: on the event loop, one call per turn of the loop, or in the thread pool.

A predict() that computes on its own thread (scikit-learn, most pure-Python models) holds the GIL
for most of its call. In a worker thread it then fights the event loop for the GIL on every
request the loop reads, and several worker threads fight each other: a 50-tree forest served 0.4x
to 0.6x the requests/s of the same predict() called on the loop (bench/peers.py). Such a predict()
runs on the loop, where nothing competes for the GIL, as long as it is short enough that blocking
the loop for one call delays nobody (``INLINE_BUDGET_S``). ``LoopGate`` lets one such call run per
turn of the loop, so a probe or a /metrics scrape that arrives waits for the call in progress only,
never for a queue of them.

A predict() that waits (network or disk I/O, sleeps, native code on threads of its own) gains from
running several at once and would stall the loop while it waits: it runs in the pool, as does one
slower than the budget.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque

INLINE_BUDGET_S = 0.025
"""A predict() that averages under this may run on the loop: probes wait at most about one call."""
COMPUTE_SHARE = 0.5
"""...and only if its own thread computes for at least this share of the call (it does not wait)."""
_WEIGHT = 0.1
"""Of the newest call in the averages: one call ten times over the budget moves predict() off the loop."""


class Placement:
    """Running averages of predict()'s wall time and of the CPU time of the thread that ran it.

    Calls that run at once in the pool share the GIL: a computing call's wall time grows with the
    number of them, while its CPU time does not. Each call's wall time is divided by the calls in
    flight beside it (``begin`` counts them), so that a computing predict() measured under load in
    the pool is still seen computing (and moves to the loop), while a waiting one, whose CPU time is
    near nothing however many run, is not.
    """

    __slots__ = ("_lock", "_running", "cpu_s", "wall_s")

    def __init__(self) -> None:
        # Start as if predict() were slow and waiting: it runs in the pool until it has shown otherwise.
        self.wall_s = 1.0
        self.cpu_s = 0.0
        self._running = 0
        self._lock = threading.Lock()

    def begin(self) -> int:
        """A call starts: how many are running now, this one included."""
        with self._lock:
            self._running += 1
            return self._running

    def end(self, began_with: int, wall_s: float, cpu_s: float) -> None:
        with self._lock:
            sharing = (began_with + self._running) / 2
            self._running -= 1
        self.record(wall_s / sharing, cpu_s)

    def record(self, wall_s: float, cpu_s: float) -> None:
        self.wall_s += _WEIGHT * (wall_s - self.wall_s)
        self.cpu_s += _WEIGHT * (cpu_s - self.cpu_s)

    @property
    def inline(self) -> bool:
        return self.wall_s <= INLINE_BUDGET_S and self.cpu_s >= COMPUTE_SHARE * self.wall_s


class LoopGate:
    """At most one inline predict() per turn of the event loop, in arrival order.

    ``enter`` returns at once when no call holds the gate, else when it is this task's turn; the
    caller runs its predict() synchronously and then calls ``leave``. The next waiter is let in on a
    later turn (``call_soon``), after the loop has polled its sockets and run what was ready: a
    probe's handler runs between two predictions.
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
