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
