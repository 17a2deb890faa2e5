"""An asyncio event loop that polls briefly before it sleeps, while a client keeps replying fast.

A server that answers one client step by step sleeps between a reply and the next message. On a
VM whose idle vCPUs halt at once (this project's bench host: a Firecracker guest, cpuidle haltpoll
with `guest_halt_poll_ns=0`), a halted vCPU comes back with cold caches and branch predictors, and
the next step runs 1.7-2.8x slower than warm (bench/cold_bench.py). Linux's haltpoll governor
exists for this reason; where the host turns it off, the server can do the same in user space:
before blocking in epoll, poll without blocking for up to `spin_s`. If the client's next message
arrives in that window, the step starts warm. In four same-run A/Bs of the sequential bench,
Ghostexec's median step fell from 0.25-0.33 ms to 0.22-0.29 ms (docs/openenv.md).

The cost is CPU: while it polls, the server's thread keeps one core busy. So it polls only while
the *previous* wait was itself shorter than the window, that is, while a client is replying fast
(a training loop over a socket on the same host). Slow clients (an LLM thinking for seconds), an
idle server and uvicorn's 0.1 s housekeeping ticks never trigger it, and a machine with one usable
CPU, where polling would take the core from the client, gets no polling by default
(`default_spin_us`). With many sessions the loop always has work ready and never polls.
`Settings.spin_us = 0` (`--spin-us 0`, `GHOSTEXEC_SPIN_US=0`) turns it off.

It also polls only while the process's other threads have used no CPU for OTHERS_COOLDOWN_S.
Between two polls the loop holds the GIL, and a thread waiting for it is woken too late to win
it, so it waits out the 5 ms switch interval. An app that steps on worker threads (OpenEnv's
default for a synchronous `step`, as in bench/ws_bench.py's floor) got slower when its loop
polled anyway: ~8,600 -> 5,500-6,700 steps/s at 64 sessions, and a slower sequential median when
it polled between handing a step to its worker and the worker starting. Its workers run on every
step, so its loop never polls; Ghostexec steps on the loop itself, so its sessions do.
"""

from __future__ import annotations

import asyncio
import math
import os
import selectors
import sys
import time
from collections.abc import Callable
from typing import Any

DEFAULT_SPIN_US = 250  # a fast client's turnaround on loopback is ~0.1 ms (bench/ws_bench.py's client)
OTHERS_BUSY_S = 5e-6  # other threads' CPU time since the last wait above this: they are working ...
OTHERS_COOLDOWN_S = 0.02  # ... and no polling until they have been quiet this long (a step is < 1 ms)
OTHERS_SAMPLE_S = 0.001  # read their CPU time at most this often: Linux sums it over every thread (a
# server with 64 sessions has 64 OpenEnv executor threads), ~2% of its time when read on every wait


def others_cpu() -> float:
    """CPU seconds used by the process's threads other than the calling one (to clock precision)."""
    return time.process_time() - time.thread_time()


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_spin_us() -> int:
    """DEFAULT_SPIN_US where polling cannot take the only CPU from the client; 0 on one CPU and on
    Windows (uvicorn runs a proactor loop there, which has no selector to wrap)."""
    if sys.platform == "win32" or usable_cpus() < 2:
        return 0
    return DEFAULT_SPIN_US


class SpinThenBlockSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """The platform's default selector, which first polls without blocking for up to `spin_s`
    whenever the loop would block, its previous wait ended within `spin_s` and the process's
    other threads used no CPU since then (module docstring)."""

    def __init__(
        self,
        spin_s: float,
        clock: Callable[[], float] = time.perf_counter,
        others: Callable[[], float] = others_cpu,
    ) -> None:
        super().__init__()
        if spin_s < 0:
            raise ValueError(f"spin_s must be >= 0, got {spin_s}")
        self.spin_s = spin_s
        self.clock = clock
        self.others = others
        self.others_seen = others()
        self.others_read_at = -math.inf  # when `others_seen` was read (clock() time)
        self.others_busy_until = -math.inf  # no polling before this clock() time
        self.last_wait = math.inf  # how long the previous blocking select took (inf: none yet)
        self.polls = 0  # non-blocking polls made while spinning (tests and diagnostics read it)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout <= 0:
            return super().select(timeout)  # the loop has work ready: never wait, never spin
        clock = self.clock
        start = clock()
        if start - self.others_read_at >= OTHERS_SAMPLE_S:
            others = self.others()
            if others - self.others_seen >= OTHERS_BUSY_S:
                self.others_busy_until = start + OTHERS_COOLDOWN_S
            self.others_seen, self.others_read_at = others, start
        if self.last_wait <= self.spin_s and start >= self.others_busy_until:
            window = self.spin_s if timeout is None else min(self.spin_s, timeout)
            deadline = start + window
            while True:
                self.polls += 1
                ready = super().select(0)
                now = clock()
                if ready:
                    self.last_wait = now - start
                    return ready
                if now >= deadline:
                    break
            if timeout is not None:
                timeout = max(0.0, timeout - (now - start))
        ready = super().select(timeout)
        self.last_wait = clock() - start
        return ready


def loop_factory(spin_us: int) -> Callable[[], asyncio.AbstractEventLoop] | str:
    """What uvicorn's `Config(loop=...)` takes: uvicorn's own choice ("auto") for 0, else a factory
    of selector loops over SpinThenBlockSelector."""
    if spin_us <= 0:
        return "auto"
    spin_s = spin_us / 1e6

    def new_loop() -> Any:
        return asyncio.SelectorEventLoop(SpinThenBlockSelector(spin_s))

    return new_loop
