"""An in-memory TTL cache with LRU eviction and single-flight loading.

Single-flight: when N threads ask for the same missing key at once, one of
them loads it and the others wait for that result, so a burst of identical
Plex requests costs Stash one query.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")
_MISSING = object()


class _Flight:
    __slots__ = ("done", "value", "error", "abandoned")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.abandoned = False  # its holder gave up: waiters load for themselves


class Reservation:
    """A promise to load one key, made by ``TTLCache.reserve``: requests for
    the key wait for it instead of loading it again."""

    __slots__ = ("key", "_flight")

    def __init__(self, key: Hashable, flight: _Flight):
        self.key = key
        self._flight = flight


class CacheStats:
    __slots__ = ("hits", "misses", "loads", "coalesced", "evictions")

    def __init__(self) -> None:
        self.hits = self.misses = self.loads = self.coalesced = self.evictions = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class TTLCache(Generic[V]):
    """Entries expire after their TTL; the least recently used go first when
    the total weight (entries, or bytes with a ``weigh`` function) is over
    ``max_weight``.  ``max_weight=0`` stores nothing but still coalesces."""

    def __init__(
        self,
        max_weight: int,
        ttl: float,
        *,
        weigh: Callable[[V], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.max_weight = max_weight
        self.ttl = ttl
        self._weigh = weigh or (lambda _value: 1)
        self._clock = clock
        self._lock = threading.Lock()
        self._data: OrderedDict[Hashable, tuple[float, int, V]] = OrderedDict()
        self._weight = 0
        self._flights: dict[Hashable, _Flight] = {}
        self.stats = CacheStats()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    @property
    def weight(self) -> int:
        with self._lock:
            return self._weight

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            value = self._lookup(key)
            if value is _MISSING:
                self.stats.misses += 1
                return default
            self.stats.hits += 1
            return value

    def peek(self, key: Hashable, default: Any = None) -> Any:
        """The cached value without counting a hit or refreshing its LRU
        place: for observers that must not change what they observe."""
        with self._lock:
            entry = self._data.get(key)
            if entry is None or entry[0] <= self._clock():
                return default
            return entry[2]

    def put(self, key: Hashable, value: V, ttl: float | None = None) -> None:
        ttl = self.ttl if ttl is None else ttl
        if ttl <= 0 or self.max_weight <= 0:
            return
        weight = self._weigh(value)
        if weight > self.max_weight:
            return
        with self._lock:
            self._remove(key)
            self._data[key] = (self._clock() + ttl, weight, value)
            self._weight += weight
            while self._weight > self.max_weight and self._data:
                old_key = next(iter(self._data))
                self._remove(old_key)
                self.stats.evictions += 1

    def invalidate(self, key: Hashable) -> None:
        with self._lock:
            self._remove(key)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._weight = 0

    def get_or_load(
        self,
        key: Hashable,
        loader: Callable[[], V],
        *,
        ttl_for: Callable[[V], float | None] | None = None,
        wait: float | None = None,
    ) -> V:
        """The cached value, or the loader's result (loaded once per key at a
        time).  Waiting for another thread's load gives up after ``wait``
        seconds with ``TimeoutError``; a failed load is not cached and its
        exception reaches every waiter."""
        while True:
            with self._lock:
                value = self._lookup(key)
                if value is not _MISSING:
                    self.stats.hits += 1
                    return value
                self.stats.misses += 1
                flight = self._flights.get(key)
                leader = flight is None
                if leader:
                    flight = self._flights[key] = _Flight()
                else:
                    self.stats.coalesced += 1
            assert flight is not None
            if leader:
                break
            if not flight.done.wait(wait):
                raise TimeoutError("timed out waiting for another request's load of the same item")
            if flight.abandoned:
                continue  # the holder gave up; try again (and perhaps load it ourselves)
            if flight.error is not None:
                raise flight.error
            return flight.value
        try:
            self.stats.loads += 1
            value = loader()
            flight.value = value
            self.put(key, value, ttl_for(value) if ttl_for else None)
            return value
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()

    def reserve(self, key: Hashable) -> Reservation | None:
        """Promise to load ``key`` (later, e.g. in a batch): until ``fulfil``
        or ``abandon``, ``get_or_load`` callers wait for it.  ``None`` when
        the key is cached or already being loaded."""
        with self._lock:
            if self._lookup(key) is not _MISSING or key in self._flights:
                return None
            flight = self._flights[key] = _Flight()
            self.stats.loads += 1
            return Reservation(key, flight)

    def fulfil(self, reservation: Reservation, value: V, ttl: float | None = None) -> None:
        reservation._flight.value = value
        self.put(reservation.key, value, ttl)
        self._release(reservation)

    def abandon(self, reservation: Reservation) -> None:
        """Give up a promise: waiters load the key for themselves."""
        reservation._flight.abandoned = True
        self._release(reservation)

    def _release(self, reservation: Reservation) -> None:
        with self._lock:
            if self._flights.get(reservation.key) is reservation._flight:
                del self._flights[reservation.key]
        reservation._flight.done.set()

    # -- under the lock
    def _lookup(self, key: Hashable) -> Any:
        entry = self._data.get(key)
        if entry is None:
            return _MISSING
        expires, _weight, value = entry
        if expires <= self._clock():
            self._remove(key)
            return _MISSING
        self._data.move_to_end(key)
        return value

    def _remove(self, key: Hashable) -> None:
        entry = self._data.pop(key, None)
        if entry is not None:
            self._weight -= entry[1]
