"""Gathering concurrent single-item loads into one batched load.

During a library scan Plex asks for many different scenes at nearly the same
moment.  The first request of a window waits a few milliseconds, collects the
ids other threads asked for meanwhile, and loads them all with one query;
each caller then gets its own item.  (A DataLoader, for threads.)

Only ``max_inflight`` batches are loaded at once.  A batch whose turn has not
come stays open and keeps gathering ids, so the slower Stash answers, the
larger the batches grow and the fewer queries it is sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from s2p.common.deadline import Deadline

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Batch(Generic[K, V]):
    def __init__(self) -> None:
        self.keys: list[K] = []
        self.results: dict[K, V] = {}
        self.error: BaseException | None = None
        self.closed = False
        self.full = threading.Event()
        self.done = threading.Event()


class BatchLoader(Generic[K, V]):
    def __init__(self, load_many: Callable[[list[K], Deadline], dict[K, V]], *, window: float, max_size: int,
                 max_inflight: int = 2):
        self._load_many = load_many
        self._window = window
        self._max_size = max_size
        self._inflight = threading.BoundedSemaphore(max_inflight)
        self._lock = threading.Lock()
        self._open: _Batch[K, V] | None = None
        self.batches = 0
        self.keys_loaded = 0

    def load(self, key: K, deadline: Deadline) -> V | None:
        """The item for ``key`` (``None`` when the batch load had none)."""
        with self._lock:
            batch = self._open
            leader = batch is None
            if leader:
                batch = self._open = _Batch()
            assert batch is not None
            if key not in batch.keys:
                batch.keys.append(key)
            if len(batch.keys) >= self._max_size:
                self._close(batch)
        if leader:
            self._lead(batch, deadline)
        elif not batch.done.wait(deadline.remaining()):
            raise TimeoutError("timed out waiting for a batched load")
        if batch.error is not None:
            raise batch.error
        return batch.results.get(key)

    def _lead(self, batch: _Batch[K, V], deadline: Deadline) -> None:
        batch.full.wait(min(self._window, deadline.remaining()))
        turn = self._inflight.acquire(timeout=deadline.remaining())
        with self._lock:
            self._close(batch)
        try:
            if not turn:
                raise TimeoutError("timed out waiting for a turn to load a batch")
            batch.results = self._load_many(list(batch.keys), deadline)
            self.batches += 1
            self.keys_loaded += len(batch.keys)
        except BaseException as exc:
            batch.error = exc
        finally:
            if turn:
                self._inflight.release()
            batch.done.set()

    def _close(self, batch: _Batch[K, V]) -> None:
        # Under the lock: later keys start a new batch.
        if not batch.closed:
            batch.closed = True
            if self._open is batch:
                self._open = None
            batch.full.set()

