"""What s2p logs at start-up: the URL to register, the network it thinks it
is in, the path rules with their round trips, and whether Stash answers."""

from __future__ import annotations

import pytest

import logging

from helpers import STASH_ROOT, make_settings
from s2p.app import announce as server
from s2p.paths.pathmap import PathMap, PathRule, Rewrite
from s2p.app.runtime import build as build_services


def announced(settings, caplog, monkeypatch, *, container: bool, lan: str = "192.168.1.20") -> str:
    monkeypatch.setattr(server, "in_container", lambda: container)
    monkeypatch.setattr(server, "lan_address", lambda: lan)
    services = build_services(settings)
    try:
        with caplog.at_level(logging.INFO, logger="s2p"):
            server.announce(settings, services, 8123)
    finally:
        services.stop()
    return "\n".join(f"{r.levelname} {r.getMessage()}" for r in caplog.records)


@pytest.mark.integration
def test_on_the_host_the_lan_url_is_announced_with_paths_and_stash(tmp_path, fake_stash, caplog, monkeypatch):
    settings = make_settings(fake_stash.url, tmp_path, server={"host": "0.0.0.0"})
    text = announced(settings, caplog, monkeypatch, container=False)
    assert "register this URL in Plex (Settings > Metadata Agents > Add Provider, or s2p register): " \
           "http://192.168.1.20:8123/" in text
    assert "network: on the host, not in a container; LAN address 192.168.1.20" in text
    assert "on localhost" not in text
    assert 'paths: rule "library"' in text
    example = f"{STASH_ROOT}/Harbour Films/extras/scene.mp4"
    assert (f'round trip via "library": {example} -> /plex/library/Harbour Films/extras/scene.mp4 -> '
            f"{example}: ok") in text
    assert f"Stash v0.30.1 reachable at {fake_stash.url}" in text


def test_in_a_container_it_says_which_urls_plex_can_use(tmp_path, fake_stash, caplog, monkeypatch):
    settings = make_settings(fake_stash.url, tmp_path, server={"host": "0.0.0.0"})
    text = announced(settings, caplog, monkeypatch, container=True, lan="172.18.0.3")
    assert "network: in a container (its own address: 172.18.0.3)" in text
    assert "http://<s2p's service or container name>:8123/" in text
    assert "<the host's LAN address>:<published port>" in text
    assert "http://172.18.0.3:8123/" not in text, "the container's own address is never offered"


def test_in_a_container_sharing_plex_network_loopback_is_the_url(tmp_path, fake_stash, caplog, monkeypatch):
    settings = make_settings(fake_stash.url, tmp_path, server={"host": "0.0.0.0"},
                             plex={"url": "http://127.0.0.1:32400", "token": "plex-token-123456"})
    text = announced(settings, caplog, monkeypatch, container=True, lan="172.18.0.3")
    assert "s2p register): http://127.0.0.1:8123/" in text
    assert "shares its network with Plex" in text
    assert "172.18.0.3" not in text and "on localhost" not in text


def test_loopback_missing_examples_and_stash_down_are_warned(tmp_path, fake_stash, caplog, monkeypatch):
    rules = [{"name": "bare", "stash_to_plex": ["^/a/(.*)$", "/b/\\1"], "plex_to_stash": ["^/b/(.*)$", "/a/\\1"]}]
    settings = make_settings(fake_stash.url, tmp_path, paths=rules)
    fake_stash.stop()
    text = announced(settings, caplog, monkeypatch, container=False)
    assert "WARNING that URL is on localhost" in text  # [server] host is 127.0.0.1 in the tests
    assert 'WARNING paths: rule "bare" has no examples' in text
    assert "WARNING Stash is not reachable" in text


def test_many_examples_are_summarised(tmp_path, fake_stash):
    rules = [{"name": "nas", "stash_to_plex": ["^/a/(.*)$", "/b/\\1"], "plex_to_stash": ["^/b/(.*)$", "/a/\\1"],
              "examples": [f"/a/{i}.mp4" for i in range(5)]}]
    lines = server.round_trips(make_settings(fake_stash.url, tmp_path, paths=rules).path_map())
    assert lines[:3] == [f'round trip via "nas": /a/{i}.mp4 -> /b/{i}.mp4 -> /a/{i}.mp4: ok' for i in range(3)]
    assert lines[3:] == ['round trip via "nas": 2 more example(s), 0 failed in all']


def test_a_lossy_rule_is_shown_failing():
    lossy = PathRule("lossy", Rewrite.compile("^/a/(.*)$", "/b/\\1"), Rewrite.compile("^/b/(.*)$", "/c/\\1"),
                     ("/a/x.mp4",))
    assert server.round_trips(PathMap([lossy])) == ['round trip via "lossy": /a/x.mp4 -> /b/x.mp4 -> /c/x.mp4: FAILED']


def first_warning(text: str, about: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("WARNING") and about in line)


def test_stash_down_is_warned_with_the_cause_and_the_fix(tmp_path, fake_stash, caplog, monkeypatch):
    settings = make_settings(fake_stash.url, tmp_path)
    fake_stash.server.stop()
    line = first_warning(announced(settings, caplog, monkeypatch, container=False), "Stash")
    assert "connection refused" in line and line.count("Fix:") == 1 and "[stash] url" in line


def test_plex_is_checked_at_start_up_with_the_cause_and_the_fix(tmp_path, fake_stash, caplog, monkeypatch):
    from fakeplex import TOKEN, FakePlex

    plex = FakePlex().start()
    try:
        wrong = make_settings(fake_stash.url, tmp_path, plex={"url": plex.url, "token": "wrong-token-0123456789"})
        text = announced(wrong, caplog, monkeypatch, container=False)
        line = first_warning(text, "Plex")
        assert "refused the token" in line and line.count("Fix:") == 1 and "wrong-token" not in text
        assert "pictures: uploaded into Plex" not in text  # not claimed while Plex refuses
        assert "WARNING pictures: to be uploaded into Plex by s2p once Plex answers" in text
        caplog.clear()
        right = make_settings(fake_stash.url, tmp_path, plex={"url": plex.url, "token": TOKEN})
        text = announced(right, caplog, monkeypatch, container=False)
        assert f"reachable at {plex.url}" in text and "WARNING Plex" not in text
        assert "pictures: uploaded into Plex by s2p" in text
    finally:
        plex.stop()
    caplog.clear()
    text = announced(right, caplog, monkeypatch, container=False)
    line = first_warning(text, "Plex")
    assert "cannot reach Plex" in line and line.count("Fix:") == 1


def test_an_open_circuit_says_what_failed_and_the_fix(caplog):
    from s2p.stash.breaker import CircuitBreaker

    breaker = CircuitBreaker(2, 30, clock=lambda: 0.0)
    with caplog.at_level(logging.WARNING, logger="s2p"):
        breaker.record_failure("cannot connect to Stash at http://stash:9999 (connection refused)")
        breaker.record_failure("cannot connect to Stash at http://stash:9999 (connection refused)")
    [record] = caplog.records
    assert "connection refused" in record.getMessage() and "Fix: start Stash" in record.getMessage()


def test_the_stash_plugin_source_is_announced_with_the_secret_masked(tmp_path, fake_stash, caplog, monkeypatch):
    secret = "announce-secret-0123456789"
    settings = make_settings(fake_stash.url, tmp_path, server={"host": "0.0.0.0", "secret": secret})
    text = announced(settings, caplog, monkeypatch, container=False)
    assert ("Stash plugin: add http://192.168.1.20:8123/***6789/stash-plugin/index.yml (with your [server] secret "
            "in place of ***6789) in Stash > Settings > Plugins > Available Plugins > Add Source") in text
    assert secret not in text
