"""/healthz and /metrics on a running s2p, and the metrics format read back
with Prometheus's own parser."""

from __future__ import annotations

import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from s2p.ops.health import DEGRADED, OK, Fact, HealthRegistry
from s2p.ops.metrics import Counter, Histogram, MetricsRegistry, counter, gauge, render


def scrape(s2p) -> dict[str, list]:
    """{family name: [samples]} from /metrics, parsed as Prometheus does."""
    response = s2p.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {}
    for family in text_string_to_metric_families(response.text):
        families[family.name] = family.samples
    return families


def value(families, name: str, sample_name: str | None = None, **labels) -> float:
    family = name.removesuffix("_total") if name.endswith("_total") else name
    found = [s.value for s in families.get(family, [])
             if s.name == (sample_name or name) and all(s.labels.get(k) == v for k, v in labels.items())]
    return sum(found)


def config_strings(settings) -> set[str]:
    """Every configured string long enough to be recognisable."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for item in node.values():
                walk(item)
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item)
        elif isinstance(node, str) and len(node) >= 6:
            found.add(node)

    walk(settings.model_dump(mode="json"))
    found.add(settings.stash.api_key.get_secret_value())
    found.add(settings.stash.url.split("//", 1)[1])  # host:port
    return found


# ---------------------------------------------------------------- /healthz

@pytest.mark.integration
def test_healthz_ok(s2p):
    response = s2p.get("/healthz")
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "ok"
    assert report["version"] and report["uptime_seconds"] >= 0
    assert report["stash"]["status"] == "ok" and report["stash"]["reachable"] is True
    assert report["stash"]["version"] == "v0.30.1"
    assert report["http"]["threads"] == 8 and report["http"]["busy"] >= 1  # this very request
    assert report["http"]["queued"] >= 0
    assert set(report["cache"]) >= {"status", "scenes", "image_paths", "image_bytes"}
    assert response.headers["Cache-Control"] == "no-store"
    assert s2p.head("/healthz", timeout=10).status_code == 200
    for text in config_strings(s2p.settings):
        assert text not in response.text, f"a configuration value in /healthz: {text!r}"


def test_healthz_is_503_down_when_stash_is_down_and_says_why_without_the_url(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url)
    fake_stash.stop()
    started = time.monotonic()
    response = s2p.get("/healthz")
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    report = response.json()
    assert report["status"] == "down" and report["stash"]["reachable"] is False
    assert "connection refused" in report["stash"]["error"] and "[stash] url" in report["stash"]["error"]
    for text in config_strings(s2p.settings):
        assert text not in response.text, f"a configuration value in /healthz: {text!r}"


def test_healthz_is_down_when_stash_refuses_the_key(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, stash={"api_key": "wrong-key-0123456789"})
    response = s2p.get("/healthz")
    assert response.status_code == 503
    assert "api_key" in response.json()["stash"]["error"]
    assert "wrong-key-0123456789" not in response.text


@pytest.mark.integration
def test_healthz_answers_quickly_when_stash_hangs(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, stash={"timeout": 0.5})
    fake_stash.standin.fail("hang")
    started = time.monotonic()
    response = s2p.get("/healthz")
    assert time.monotonic() - started < 3
    assert response.status_code == 503


def test_a_failed_job_makes_s2p_degraded_not_down(s2p):
    def broken():
        raise RuntimeError("the job broke at http://somewhere.example/secret-path")

    s2p.services.scheduler.add("broken-job", 3600, broken, first_delay=0)
    deadline = time.monotonic() + 10
    while s2p.services.scheduler.status()["broken-job"]["runs"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    response = s2p.get("/healthz")
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "degraded" and report["jobs"]["status"] == "degraded"
    assert report["jobs"]["jobs"]["broken-job"]["failed"] is True
    assert "somewhere.example" not in response.text, "error texts stay in the log"
    families = scrape(s2p)
    assert value(families, "s2p_job_last_run_failed", job="broken-job") == 1
    assert value(families, "s2p_job_runs_total", job="broken-job") == 1


def test_components_plug_into_healthz(s2p):
    s2p.services.health_checks.register("index", lambda: Fact(OK, {"scenes": 12345, "age_seconds": 42.0}))
    report = s2p.get("/healthz").json()
    assert report["index"] == {"status": "ok", "scenes": 12345, "age_seconds": 42.0}

    def broken():
        raise KeyError("boom")

    s2p.services.health_checks.register("circuit", broken)
    response = s2p.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded" and response.json()["circuit"]["status"] == "degraded"


def test_health_registry_rules():
    registry = HealthRegistry()
    assert registry.report() == ("ok", {})
    registry.register("a", lambda: Fact(OK))
    registry.register("b", lambda: Fact(DEGRADED, {"why": 1}))
    assert registry.report()[0] == "degraded"
    registry.register("c", lambda: Fact("down"))
    assert registry.report()[0] == "down"
    with pytest.raises(ValueError):
        registry.register("status", lambda: Fact(OK))
    with pytest.raises(ValueError):
        Fact("fine")


# ---------------------------------------------------------------- /metrics

@pytest.mark.integration
def test_metrics_count_requests_by_route_and_outcome(s2p):
    before = scrape(s2p)
    for _ in range(3):
        assert s2p.get("/library/metadata/1").status_code == 200
    assert s2p.get("/library/metadata/999").status_code == 404
    assert s2p.match(type=1, filename="日本の夏.mp4").status_code == 200
    assert s2p.match(type=1, filename="scene.mp4").status_code == 200  # two scenes: ambiguous
    assert s2p.match(type=1, title="office", manual=1).status_code == 200
    after = scrape(s2p)
    route = "/library/metadata/{rating_key}"

    def delta(name, sample_name=None, **labels):
        return value(after, name, sample_name, **labels) - value(before, name, sample_name, **labels)

    assert delta("s2p_http_requests_total", route=route, method="GET", status="200", outcome="ok") == 3
    assert delta("s2p_http_requests_total", route=route, status="404", outcome="client_error") == 1
    assert delta("s2p_http_request_duration_seconds", "s2p_http_request_duration_seconds_count", route=route) == 4
    assert delta("s2p_matches_total", result="matched", step="basename") == 1
    assert delta("s2p_matches_total", result="ambiguous") == 1
    assert delta("s2p_matches_total", result="manual") == 1
    # Two of the three metadata reads came from the cache.
    assert delta("s2p_cache_hits_total", cache="scenes") >= 2
    assert value(after, "s2p_cache_entries", cache="scenes") >= 1
    # Metadata loads go out batched (findScenes(ids:)).
    assert value(after, "s2p_stash_queries_total", operation="S2PFindScenes") >= 1
    assert value(after, "s2p_stash_up") == 1
    assert value(after, "s2p_http_threads") == 8
    assert value(after, "process_resident_memory_bytes") > 1_000_000
    assert value(after, "s2p_build_info", version=__import__("s2p").__version__) == 1


def test_latency_histogram_is_cumulative(s2p):
    for _ in range(5):
        s2p.get("/")
    families = scrape(s2p)
    buckets = [(s.labels["le"], s.value) for s in families["s2p_http_request_duration_seconds"]
               if s.name.endswith("_bucket") and s.labels["route"] == "/"]
    values = [v for _, v in buckets]
    assert values == sorted(values) and buckets[-1][0] == "+Inf"
    count = value(families, "s2p_http_request_duration_seconds", "s2p_http_request_duration_seconds_count", route="/")
    assert buckets[-1][1] == count == 5


@pytest.mark.integration
def test_labels_stay_few_whatever_scanners_send(s2p):
    for i in range(30):
        requests.request("GET", f"{s2p.url}/wp-admin/{i}.php", timeout=10)
        requests.request(f"BREW{i}", f"{s2p.url}/", timeout=10)
    families = scrape(s2p)
    routes = {s.labels["route"] for s in families["s2p_http_requests"]}
    methods = {s.labels["method"] for s in families["s2p_http_requests"]}
    assert not any("wp-admin" in r for r in routes) and "unmatched" in routes
    assert not any(m.startswith("BREW") for m in methods) and "other" in methods


def test_denied_requests_are_counted(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, server={"allow": ["10.0.0.0/8"]})
    for _ in range(4):
        assert s2p.get("/library/metadata/1").status_code == 403
    assert value(scrape(s2p), "s2p_http_requests_total", outcome="denied", status="403") == 4


def test_stash_errors_show_in_metrics(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url)
    fake_stash.stop()
    assert s2p.get("/library/metadata/1").status_code == 503
    families = scrape(s2p)
    assert value(families, "s2p_stash_errors_total", error="StashUnavailable") >= 1
    assert value(families, "s2p_stash_up") == 0
    assert value(families, "s2p_http_requests_total", outcome="unavailable") == 1


# ---------------------------------------------------------------- the format itself

def test_rendered_text_survives_prometheus_parser_with_awkward_labels():
    registry = MetricsRegistry()
    hits = Counter("t_hits_total", "Hits with a \\ backslash\nand a newline in the help", ("path",))
    awkward = 'a "quoted" \\ back\nslash 日本'
    hits.inc(awkward)
    hits.inc(awkward)
    hits.inc("plain", amount=0.5)
    latency = Histogram("t_seconds", "Latency", ("route",), buckets=(0.1, 1.0))
    for seconds in (0.1, 0.5, 2.0):
        latency.observe(seconds, "/x")
    registry.register(hits.collect)
    registry.register(latency.collect)
    registry.register(lambda: [gauge("t_index_scenes", "Scenes in an index", 12345),
                               counter("t_gaps_total", "Gaps", {(("kind", "missing"),): 3})])

    def broken():
        raise RuntimeError("a collector that fails")

    registry.register(broken)
    parsed = {f.name: f for f in text_string_to_metric_families(registry.render())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in parsed.values() for s in f.samples}
    assert samples[("t_hits_total", (("path", awkward),))] == 2
    assert samples[("t_hits_total", (("path", "plain"),))] == 0.5
    # A value equal to a bound falls in that bucket; buckets are cumulative.
    assert samples[("t_seconds_bucket", (("le", "0.1"), ("route", "/x")))] == 1
    assert samples[("t_seconds_bucket", (("le", "1"), ("route", "/x")))] == 2
    assert samples[("t_seconds_bucket", (("le", "+Inf"), ("route", "/x")))] == 3
    assert samples[("t_seconds_sum", (("route", "/x"),))] == pytest.approx(2.6)
    assert samples[("t_index_scenes", ())] == 12345
    assert samples[("t_gaps_total", (("kind", "missing"),))] == 3
    assert parsed["t_hits"].documentation.startswith("Hits with a \\ backslash\nand a newline")


def test_metric_and_label_names_are_checked():
    with pytest.raises(ValueError):
        gauge("bad name", "x", 1)
    with pytest.raises(ValueError):
        gauge("ok_name", "x", 1, {"bad-label": "v"})
    assert render([]) == "\n"


def test_gap_records_show_in_health_and_metrics(s2p):
    # A file no scene owns is observed during the "scan" and counted.
    assert s2p.match(type=1, filename="Nowhere/unknown file.mp4").json()["MediaContainer"]["size"] == 0
    s2p.services.gaps.store.flush()
    gaps = s2p.get("/healthz").json()["gaps"]
    assert gaps["status"] == "ok" and gaps["recording"] is True
    assert gaps["open"]["no_match"] == 1
    assert 's2p_gaps_open{kind="no_match"} 1' in s2p.get("/metrics").text


def test_healthz_says_up_as_soon_as_a_request_reached_stash_again(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, index={"enabled": False}, cache={"enabled": False})
    fake_stash.standin.fail("error")
    assert s2p.get("/healthz").json()["stash"]["reachable"] is False
    fake_stash.standin.heal()
    assert s2p.get("/library/metadata/1").status_code == 200  # a request reached Stash
    assert s2p.get("/healthz").json()["stash"]["reachable"] is True  # not 15 s later
