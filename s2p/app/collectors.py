"""What s2p's own components report to /healthz and /metrics.

``install`` registers them (``app.runtime.build`` calls it); each function here reads one
component's statistics and turns them into health facts or metric families.
Components built elsewhere plug in the same way, e.g. a scene index::

    services.metrics.register(lambda: [gauge("s2p_index_scenes", "Scenes in the index",
                                              index.stats()["scenes"])])
    services.health_checks.register("index", lambda: Fact(OK, {"scenes": ..., "age_seconds": ...}))
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from waitress.channel import HTTPChannel

from s2p import __version__
from s2p.common.cache import TTLCache
from s2p.ops.health import DEGRADED, DOWN, OK, Fact, HealthRegistry
from s2p.ops.metrics import Counter, Family, LabelPairs, MetricsRegistry, RequestMetrics, counter, gauge

if TYPE_CHECKING:
    from s2p.gaps.service import GapService
    from s2p.ops.scheduler import Scheduler
    from s2p.scenes.index import SceneIndex
    from s2p.scenes.store import SceneStore
    from s2p.stash.breaker import CircuitBreaker
    from s2p.stash.client import StashClient, StashStats

# ---------------------------------------------------------------- Stash


def stash_families(stats: StashStats) -> list[Family]:
    snap = stats.snapshot()
    queries, errors = snap["queries"], snap["errors"]
    images, in_flight, last_success = snap["images"], snap["in_flight"], snap["last_success"]
    families = [
        counter("s2p_stash_queries_total", "GraphQL queries sent to Stash, by operation",
                {(("operation", name),): n for name, n in sorted(queries.items())}),
        counter("s2p_stash_errors_total", "Failed Stash requests, by error type",
                {(("error", name),): n for name, n in sorted(errors.items())}),
        counter("s2p_stash_image_requests_total", "Image requests sent to Stash", images),
        gauge("s2p_stash_requests_in_flight", "Stash requests running now", in_flight),
    ]
    if last_success is not None:
        families.append(gauge("s2p_stash_last_success_timestamp_seconds",
                              "When Stash last answered a request (Unix time)", last_success))
    return families


def stash_up_family(reachable: Callable[[], tuple[bool, str]]) -> list[Family]:
    up, _detail = reachable()
    return [gauge("s2p_stash_up", "1 when Stash answered the last health probe (probed at most every 15 s)",
                  1 if up else 0)]


def stash_fact(reachable: Callable[[], tuple[bool, str]], stats: StashStats) -> Fact:
    up, detail = reachable()
    details: dict[str, Any] = {"reachable": up, ("version" if up else "error"): detail,
                               "requests_in_flight": stats.in_flight}
    if stats.last_success is not None:
        details["last_success_seconds_ago"] = round(time.time() - stats.last_success, 1)
    return Fact(OK if up else DOWN, details)


def circuit_fact(breaker: CircuitBreaker) -> Fact:
    snap = breaker.snapshot()
    return Fact(OK if snap["state"] == "closed" else DEGRADED, snap)


def load_families(breaker: CircuitBreaker, scenes: SceneStore) -> list[Family]:
    """The circuit breaker and the batching of scene loads."""
    snap = breaker.snapshot()
    families = [
        gauge("s2p_stash_circuit_open", "1 while the circuit breaker keeps requests from Stash (open or probing)",
              0 if snap["state"] == "closed" else 1),
        counter("s2p_stash_circuit_opened_total", "Times the circuit breaker opened", snap["times_opened"]),
        gauge("s2p_scene_prefetches_pending", "Scene loads queued ahead of Plex's metadata request",
              scenes.pending_prefetches),
    ]
    if scenes.batcher is not None:
        families += [
            counter("s2p_scene_batches_total", "Batched findScenes(ids:) loads", scenes.batcher.batches),
            counter("s2p_scene_batched_ids_total", "Scene ids loaded in batches", scenes.batcher.keys_loaded),
        ]
    return families


def gap_fact(gaps: GapService) -> Fact:
    summary = gaps.summary()
    # Gaps themselves are the library's state, not s2p's: only a store that
    # cannot record makes s2p degraded.
    return Fact(OK if summary["recording"] else DEGRADED, summary)


def gap_families(gaps: GapService) -> list[Family]:
    summary = gaps.summary()
    if not summary["recording"]:
        return []
    return [
        gauge("s2p_gaps_open", "Open gaps, by kind", {(("kind", k),): n for k, n in summary["open"].items()}),
        gauge("s2p_gap_store_queue_depth", "Gap observations waiting to be written", summary["queue_depth"]),
        counter("s2p_gap_observations_dropped_total", "Gap observations dropped because the store was busy",
                summary["observations_dropped"]),
    ]


def index_fact(index: SceneIndex | None) -> Fact:
    if index is None:
        return Fact(OK, {"enabled": False})
    stats = index.stats()
    # A first load still running is normal (matching asks Stash meanwhile);
    # a load that keeps failing is not.
    status = DEGRADED if stats["last_error"] and not stats["ready"] else OK
    return Fact(status, {"enabled": True, **stats})


def index_families(index: SceneIndex | None) -> list[Family]:
    if index is None:
        return []
    stats = index.stats()
    families = [
        gauge("s2p_index_ready", "1 once the scene index is loaded", 1 if stats["ready"] else 0),
        gauge("s2p_index_scenes", "Scenes in the index", stats["scenes"]),
        gauge("s2p_index_files", "Files in the index", stats["files"]),
        counter("s2p_index_stash_fallbacks_total", "Lookups the index passed to Stash", stats["stash_fallbacks"]),
    ]
    if stats["age_seconds"] is not None:
        families.append(gauge("s2p_index_age_seconds", "Seconds since the index last caught up with Stash",
                              stats["age_seconds"]))
    return families


# ---------------------------------------------------------------- caches


def cache_families(caches: Mapping[str, TTLCache]) -> list[Family]:
    names = ("hits", "misses", "loads", "coalesced", "evictions")
    totals: dict[str, dict[LabelPairs, float]] = {name: {} for name in names}
    entries: dict[LabelPairs, float] = {}
    weights: dict[LabelPairs, float] = {}
    for cache_name, cache in sorted(caches.items()):
        label: LabelPairs = (("cache", cache_name),)
        stats = cache.stats.as_dict()
        for name in names:
            totals[name][label] = stats[name]
        entries[label] = len(cache)
        weights[label] = cache.weight
    helps = {
        "hits": "Cache lookups answered from memory",
        "misses": "Cache lookups that had to load",
        "loads": "Loads run by caches (one per burst of identical misses)",
        "coalesced": "Misses that waited for another request's load instead of asking Stash again",
        "evictions": "Entries dropped to stay within the cache's size",
    }
    families = [counter(f"s2p_cache_{name}_total", helps[name], totals[name]) for name in names]
    families.append(gauge("s2p_cache_entries", "Entries held by each cache", entries))
    families.append(gauge("s2p_cache_weight", "Size of each cache in its own unit (entries, or bytes for images)",
                          weights))
    return families


def cache_fact(caches: Mapping[str, TTLCache]) -> Fact:
    return Fact(OK, {name: {"entries": len(cache), "hits": cache.stats.hits, "misses": cache.stats.misses}
                     for name, cache in sorted(caches.items())})


# ---------------------------------------------------------------- scheduled jobs


def job_families(scheduler: Scheduler) -> list[Family]:
    status = scheduler.status()
    runs: dict[LabelPairs, float] = {}
    failed: dict[LabelPairs, float] = {}
    running: dict[LabelPairs, float] = {}
    last_run: dict[LabelPairs, float] = {}
    duration: dict[LabelPairs, float] = {}
    for name, job in sorted(status.items()):
        label: LabelPairs = (("job", name),)
        runs[label] = job["runs"]
        failed[label] = 1 if job["last_error"] else 0
        running[label] = 1 if job["running"] else 0
        if job["last_started"] is not None:
            last_run[label] = job["last_started"]
        if job["last_duration"] is not None:
            duration[label] = job["last_duration"]
    return [
        counter("s2p_job_runs_total", "Runs of each periodic job", runs),
        gauge("s2p_job_last_run_failed", "1 when the job's last run failed", failed),
        gauge("s2p_job_running", "1 while the job runs", running),
        gauge("s2p_job_last_run_timestamp_seconds", "When the job last started (Unix time)", last_run),
        gauge("s2p_job_last_duration_seconds", "How long the job's last run took", duration),
    ]


def job_fact(scheduler: Scheduler) -> Fact:
    now = time.time()
    jobs = {}
    for name, job in sorted(scheduler.status().items()):
        jobs[name] = {"runs": job["runs"], "running": job["running"], "failed": bool(job["last_error"])}
        if job["last_started"] is not None:
            jobs[name]["last_run_seconds_ago"] = round(now - job["last_started"], 1)
    # The error text stays in the log: it may name hosts and paths.
    status = DEGRADED if any(j["failed"] for j in jobs.values()) else OK
    return Fact(status, {"jobs": jobs} if jobs else {})


# ---------------------------------------------------------------- the process


def process_families(started_at: float) -> list[Family]:
    families = [
        gauge("s2p_build_info", "s2p's version, as a label", 1, {"version": __version__}),
        gauge("process_start_time_seconds", "When s2p started (Unix time)", started_at),
        counter("process_cpu_seconds_total", "CPU time s2p has used", time.process_time()),
        gauge("s2p_threads", "Python threads running", threading.active_count()),
    ]
    rss = _resident_bytes()
    if rss is not None:
        families.append(gauge("process_resident_memory_bytes", "Resident memory", rss))
    fds = _open_fds()
    if fds is not None:
        families.append(gauge("process_open_fds", "Open file descriptors", fds))
    return families


def _resident_bytes() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _open_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


# ---------------------------------------------------------------- the HTTP server


def waitress_families(server: Any) -> list[Family]:
    found = _waitress_numbers(server)
    if found is None:
        return []
    threads, busy, queued, connections = found
    return [
        gauge("s2p_http_threads", "Request threads", threads),
        gauge("s2p_http_threads_busy", "Request threads answering a request now", busy),
        gauge("s2p_http_queue_depth", "Requests waiting for a free request thread", queued),
        gauge("s2p_http_connections", "Open client connections", connections),
    ]


def waitress_fact(server: Any) -> Fact:
    found = _waitress_numbers(server)
    if found is None:
        return Fact(OK)
    threads, busy, queued, connections = found
    return Fact(OK, {"threads": threads, "busy": busy, "queued": queued, "connections": connections})


def _waitress_numbers(server: Any) -> tuple[int, int, int, int] | None:
    # waitress keeps these as plain attributes of its task dispatcher; read
    # them defensively so a waitress upgrade loses the numbers, not /healthz.
    dispatcher = getattr(server, "task_dispatcher", None)
    if dispatcher is None:
        return None
    try:
        threads = len(dispatcher.threads)
        busy = int(dispatcher.active_count)
        queued = len(dispatcher.queue)
        # Client connections: waitress's channels, the guard's subclass of them included.
        connections = sum(1 for channel in list(getattr(server, "_map", {}).values())
                          if isinstance(channel, HTTPChannel))
    except (AttributeError, TypeError):
        return None
    return threads, busy, queued, connections


# ---------------------------------------------------------------- wiring


def match_families(services: Iterable[Any]) -> list[Family]:
    """What match requests decided, as each match service counted it."""
    totals: dict[LabelPairs, float] = {}
    for service in services:
        for (result, step), n in service.results().items():
            key: LabelPairs = (("result", result), ("step", step))
            totals[key] = totals.get(key, 0) + n
    return [counter("s2p_matches_total", "Match requests by result (matched, ambiguous, none, manual, "
                    "stash_unavailable) and, for matches, the step that decided", totals)]


def install(metrics: MetricsRegistry, health: HealthRegistry, observers: Any, *, client: StashClient,
            scenes: SceneStore, index: SceneIndex | None, gaps: GapService, scheduler: Scheduler,
            caches: Callable[[], Mapping[str, TTLCache]], stash_reachable: Callable[[], tuple[bool, str]],
            started_at: float, match_services: Callable[[], Iterable[Any]]) -> None:
    """Register what s2p's own components report; ``observers`` (``Observers``)
    get the request counters."""
    requests = RequestMetrics()
    observers.request.append(requests.observe)
    dropped = Counter("s2p_plex_values_dropped_total", "Values in Plex's requests that s2p could not use and "
                      "left out (by field), so the request went on without them", ("field",))
    observers.dropped.append(lambda field, reason: dropped.inc(field))
    metrics.register(dropped.collect, "dropped")
    metrics.register(requests.collect, "requests")
    metrics.register(lambda: match_families(match_services()), "matches")
    metrics.register(lambda: stash_families(client.stats), "stash")
    metrics.register(lambda: stash_up_family(stash_reachable), "stash_up")
    metrics.register(lambda: cache_families(caches()), "caches")
    metrics.register(lambda: load_families(client.breaker, scenes), "load")
    metrics.register(lambda: job_families(scheduler), "jobs")
    metrics.register(lambda: process_families(started_at), "process")
    health.register("stash", lambda: stash_fact(stash_reachable, client.stats))
    health.register("circuit", lambda: circuit_fact(client.breaker))
    health.register("gaps", lambda: gap_fact(gaps))
    health.register("index", lambda: index_fact(index))
    metrics.register(lambda: index_families(index), "index")
    metrics.register(lambda: gap_families(gaps), "gaps")
    health.register("cache", lambda: cache_fact(caches()))
    health.register("jobs", lambda: job_fact(scheduler))


def set_aside(report: dict[str, Any] | None) -> dict[str, Any]:
    """A damaged store set aside in this process, for /healthz (nothing when none was)."""
    return {"store_set_aside": report} if report else {}


def sync_fact(sync: Any) -> Fact:
    return Fact(OK, {"cycles": sync.cycles, "queued": sync.store.pending(),
                     "last": sync.last.as_dict() if sync.last else None, **set_aside(sync.store.lost())})


def sync_families(sync: Any) -> list[Family]:
    return [
        counter("s2p_sync_cycles_total", "Live sync cycles run", sync.cycles),
        counter("s2p_sync_refreshes_total", "Plex items asked to refresh because their scene changed in Stash",
                sync.refreshed_total),
        counter("s2p_sync_failures_total", "Refreshes that failed and were retried later", sync.failures_total),
        counter("s2p_sync_scans_total", "Folders Plex was asked to scan for a new Stash file", sync.scans_total),
        gauge("s2p_sync_queued", "Scenes waiting for their Plex refresh", sync.store.pending()),
        gauge("s2p_sync_last_changed", "Scenes the last cycle found changed", sync.last.changed if sync.last else 0),
    ]


def watch_http_server(metrics: MetricsRegistry, health: HealthRegistry, server: Any) -> None:
    """Add the waitress server's thread and queue numbers (called where the server is made)."""
    metrics.register(lambda: waitress_families(server), "http")
    health.register("http", lambda: waitress_fact(server))
    guard = getattr(server, "guard", None)
    if guard is not None:
        metrics.register(lambda: [
            counter("s2p_connections_refused_total", "Connections closed at accept, by reason",
                    {(("reason", reason),): n for reason, n in guard.refused.items()}),
            counter("s2p_connections_cut_total", "Connections closed for not sending a whole request within "
                    "[server] receive_timeout", guard.cut),
        ], "guard")
