"""The periodic-jobs thread: index refreshes, gap comparisons, uploads.

One thread keeps the timetable; each due job runs on a worker thread of its
own so that a long job (a full gap comparison) never delays a short one (an
index refresh).  A job never overlaps itself: if it is still running when it
falls due again, that run is skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    interval: float  # seconds; 0: runs only when triggered
    run: Callable[[], object]
    next_run: float = 0.0
    running: bool = False
    runs: int = 0
    last_started: float | None = None  # wall-clock time
    last_duration: float | None = None
    last_error: str | None = None
    thread: threading.Thread | None = field(default=None, repr=False)


class Scheduler:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, name: str, interval: float, run: Callable[[], object], *, first_delay: float | None = None) -> None:
        """Run ``run`` every ``interval`` seconds, the first time after
        ``first_delay`` (default: one interval; 0: at once)."""
        delay = interval if first_delay is None else first_delay
        with self._lock:
            next_run = self._clock() + delay if (interval > 0 or first_delay is not None) else float("inf")
            self._jobs[name] = Job(name, interval, run, next_run=next_run)
        self._wake.set()

    def trigger(self, name: str) -> None:
        """Run a job as soon as possible (ignored if it is running)."""
        with self._lock:
            self._jobs[name].next_run = self._clock()
        self._wake.set()

    def status(self) -> dict[str, dict[str, object]]:
        with self._lock:
            return {
                job.name: {"interval": job.interval, "running": job.running, "runs": job.runs,
                           "last_started": job.last_started, "last_duration": job.last_duration,
                           "last_error": job.last_error}
                for job in self._jobs.values()
            }

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="s2p-scheduler", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            workers = [job.thread for job in self._jobs.values() if job.thread is not None]
        for worker in workers:
            worker.join(timeout)

    @property
    def stopping(self) -> bool:
        """Long jobs check this to stop early when s2p shuts down."""
        return self._stopping.is_set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            now = self._clock()
            threads = []
            with self._lock:
                due = [job for job in self._jobs.values() if job.next_run <= now and not job.running]
                for job in due:
                    job.running = True
                    job.next_run = now + job.interval if job.interval > 0 else float("inf")
                    job.thread = threading.Thread(target=self._run, args=(job,), name=f"s2p-{job.name}",
                                                  daemon=True)
                    threads.append(job.thread)
                soonest = min((job.next_run for job in self._jobs.values()), default=float("inf"))
            for thread in threads:
                thread.start()
            self._wake.wait(timeout=min(max(soonest - self._clock(), 0.05), 60.0))
            self._wake.clear()

    def _run(self, job: Job) -> None:
        started = time.monotonic()
        job.last_started = time.time()
        error = None
        try:
            job.run()
        except Exception as exc:  # a failing job must not stop the others
            error = f"{type(exc).__name__}: {exc}"
            log.exception("job %s failed", job.name)
        finally:
            with self._lock:
                job.running = False
                job.runs += 1
                job.last_duration = time.monotonic() - started
                job.last_error = error
            self._wake.set()
