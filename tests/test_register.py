"""``s2p register`` and the Plex part of ``s2p check``, against the fake PMS
(which, like PMS, fetches a provider's URL before accepting it) and a real
s2p on loopback."""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys

import pytest

from helpers import make_settings
from fakeplex import TOKEN, FakePlex
from s2p.cli import check as check_command, register as register_command
from s2p.pms.connect import connect
from s2p.pms.register import ProviderCheck, loopback_problem, plex_shares_our_network, report_plex, run_register

IDENT = "tv.plex.agents.custom.s2p"
ELSEWHERE = "http://203.0.113.7:32400"  # TEST-NET-3: never an address of this machine


@pytest.fixture
def plex():
    fake = FakePlex()
    fake.add_section(1, "Scenes", ["/plex/library"], agent="tv.plex.agents.movie")
    fake.add_section(2, "Films", ["/films"], agent="tv.plex.agents.movie")
    fake.add_section(3, "Shows", ["/tv"], agent="tv.plex.agents.series", type="show")
    fake.start()
    yield fake
    fake.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_for(tmp_path, fake_stash, plex_url: str, token: str = TOKEN, **overrides):
    return make_settings(fake_stash.url, tmp_path / "state", plex={"url": plex_url, "token": token, "timeout": 5},
                         **overrides)


def register(settings, capsys, url: str | None = None, agent: str | None = None) -> tuple[int, str]:
    status = register_command.run(settings, argparse.Namespace(url=url, agent=agent))
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert TOKEN not in output and "plex-test-token" not in output
    return status, output


# ---------------------------------------------------------------- register


@pytest.mark.integration
def test_a_new_registration_adds_the_provider_and_an_agent(tmp_path, fake_stash, s2p, plex, capsys):
    status, out = register(settings_for(tmp_path, fake_stash, plex.url), capsys, url=s2p.url + "/")
    assert status == 0, out
    assert [(p["identifier"], p["uri"]) for p in plex.providers] == [(IDENT, s2p.url + "/")]
    assert [(g["title"], g["primaryIdentifier"]) for g in plex.groups] == [("Stash (s2p)", IDENT)]
    assert f"answers as {IDENT}" in out and "registered " + s2p.url in out
    assert 'created agent "Stash (s2p)"' in out
    assert "Left to do in Plex" in out and 'Agent: "Stash (s2p)"' in out and "Refresh All Metadata" in out
    assert "(on other agents now: Scenes, Films)" in out, "movie libraries only, by name"


@pytest.mark.integration
def test_the_tv_provider_registers_beside_the_movie_one(tmp_path, fake_stash, s2p, plex, capsys):
    settings = settings_for(tmp_path, fake_stash, plex.url)
    status = register_command.run(settings, argparse.Namespace(url=s2p.url + "/", agent=None, tv=False, all=True))
    out = capsys.readouterr().out
    assert status == 0, out
    assert [(p["identifier"], p["uri"]) for p in plex.providers] == [
        (IDENT, s2p.url + "/"), (IDENT + ".tv", s2p.url + "/tv")]  # Plex fetched each root and read its identifier
    assert [(g["title"], g["primaryIdentifier"]) for g in plex.groups] == [
        ("Stash (s2p)", IDENT), ("Stash (s2p, TV)", IDENT + ".tv")]
    assert "each TV Shows library (scanner \"Plex TV Series\")" in out
    assert "(on other agents now: Shows)" in out, "TV libraries only, by name"
    # Again, the TV one alone: already there, nothing added.
    status = register_command.run(settings, argparse.Namespace(url=s2p.url, agent=None, tv=True, all=False))
    assert status == 0 and "already registered at " + s2p.url + "/tv" in capsys.readouterr().out
    assert len(plex.providers) == 2 and len(plex.groups) == 2


@pytest.mark.integration
def test_registering_again_finds_it_already_there(tmp_path, fake_stash, s2p, plex, capsys):
    settings = settings_for(tmp_path, fake_stash, plex.url)
    assert register(settings, capsys, url=s2p.url + "/")[0] == 0
    plex.sections[1].agent = IDENT
    status, out = register(settings, capsys, url=s2p.url + "/", agent="Another name")
    assert status == 0, out
    assert "already registered at " + s2p.url in out
    assert 'using the existing agent "Stash (s2p)"' in out
    assert "libraries already on s2p's agent: Scenes" in out
    assert len(plex.providers) == 1 and len(plex.groups) == 1
    assert plex.requests["POST /media/providers/metadata/group"] == 1


@pytest.mark.integration
def test_a_provider_registered_at_an_old_url_is_moved(tmp_path, fake_stash, s2p, plex, capsys):
    plex.providers.append({"id": 1, "identifier": IDENT, "title": "Stash (s2p)", "uri": "http://10.9.9.9:8008/"})
    status, out = register(settings_for(tmp_path, fake_stash, plex.url), capsys, url=s2p.url + "/")
    assert status == 0, out
    assert f"moved from http://10.9.9.9:8008/ to {s2p.url}/" in out
    assert [p["uri"] for p in plex.providers] == [s2p.url + "/"]


def test_the_url_registered_under_another_identifier_is_explained(tmp_path, fake_stash, s2p, plex, capsys):
    plex.providers.append({"id": 1, "identifier": "tv.plex.agents.custom.old", "title": "Old", "uri": s2p.url + "/"})
    status, out = register(settings_for(tmp_path, fake_stash, plex.url), capsys, url=s2p.url + "/")
    assert status == 1
    assert "registered as provider tv.plex.agents.custom.old" in out and "[provider] identifier" in out
    assert plex.groups == []


def test_a_wrong_token_fails_without_showing_it(tmp_path, fake_stash, s2p, plex, capsys):
    settings = settings_for(tmp_path, fake_stash, plex.url, token="wrong-token-0123456789")
    status, out = register(settings, capsys, url=s2p.url + "/")
    assert status == 1
    assert "FAILED: Plex refused the token" in out and "wrong-token-0123456789" not in out
    assert next(line for line in out.splitlines() if line.startswith("FAILED")).count("Fix:") == 1
    assert plex.providers == []


def test_an_unreachable_plex_fails_clearly(tmp_path, fake_stash, s2p, capsys):
    settings = settings_for(tmp_path, fake_stash, f"http://127.0.0.1:{closed_port()}")
    status, out = register(settings, capsys, url=s2p.url + "/")
    assert status == 1
    assert "FAILED: cannot reach Plex at http://127.0.0.1:" in out
    failed = next(line for line in out.splitlines() if line.startswith("FAILED"))
    assert failed.count("Fix:") == 1 and "[plex] url" in failed


def test_plex_refusing_a_url_it_cannot_fetch_is_explained(tmp_path, fake_stash, plex, capsys):
    url = f"http://127.0.0.1:{closed_port()}/"
    status, out = register(settings_for(tmp_path, fake_stash, plex.url), capsys, url=url)
    assert status == 1
    assert "does not answer" in out and "Is s2p running?" in out
    assert f"FAILED: Plex refused {url} (HTTP 400)" in out and "Plex fetches the URL itself" in out
    assert plex.providers == [] and plex.groups == []


@pytest.mark.integration
def test_a_url_serving_another_provider_is_refused(tmp_path, fake_stash, start_s2p, plex, capsys):
    other = start_s2p(fake_stash.url, provider={"identifier": "tv.plex.agents.custom.someone.else"})
    status, out = register(settings_for(tmp_path, fake_stash, plex.url), capsys, url=other.url + "/")
    assert status == 2
    assert "answers as provider tv.plex.agents.custom.someone.else" in out
    assert plex.requests == {}, "nothing is sent to Plex"


def test_a_loopback_url_is_refused_when_plex_is_elsewhere(capsys):
    def connect():
        raise AssertionError("Plex must not be contacted")

    out = io.StringIO()
    status = run_register(connect, IDENT, "http://127.0.0.1:8008/", "Stash (s2p)", ELSEWHERE, "192.168.1.20", out)
    assert status == 2
    text = out.getvalue()
    assert "refusing" in text and "loopback" in text and "Plex's own machine or container" in text
    assert "http://192.168.1.20:8008/" in text, "it suggests this machine's LAN address"


def test_who_shares_our_network():
    assert plex_shares_our_network("http://127.0.0.1:32400")
    assert plex_shares_our_network("http://localhost:32400")
    assert plex_shares_our_network("http://[::1]:32400")
    assert plex_shares_our_network("http://plex.example:32400", resolve=lambda host: ["127.0.0.1"])
    assert not plex_shares_our_network(ELSEWHERE)
    assert not plex_shares_our_network("http://plex:32400", resolve=lambda host: [])
    own = socket.gethostbyname(socket.gethostname())
    assert plex_shares_our_network(f"http://{own}:32400"), "one of this machine's own addresses"
    assert loopback_problem("http://192.168.1.20:8008/", ELSEWHERE, None) is None
    assert loopback_problem("http://localhost:8008/", "http://127.0.0.1:32400", None) is None
    assert "<this machine's LAN address>" in loopback_problem("http://localhost:8008/", ELSEWHERE, None)


def test_too_old_a_plex_is_named(tmp_path, fake_stash, s2p, capsys):
    old = FakePlex(version="1.42.2.10156").start()
    try:
        status, out = register(settings_for(tmp_path, fake_stash, old.url), capsys, url=s2p.url + "/")
    finally:
        old.stop()
    assert status == 1 and "1.43.0 or newer" in out and old.providers == []


@pytest.mark.integration
def test_without_url_it_registers_the_address_s2p_announces(tmp_path, fake_stash, s2p, plex, capsys, monkeypatch):
    monkeypatch.setattr("s2p.app.announce.in_container", lambda: False)
    settings = settings_for(tmp_path, fake_stash, plex.url, server={"host": "127.0.0.1", "port": s2p.server.port})
    status, out = register(settings, capsys)
    assert status == 0, out
    assert [p["uri"] for p in plex.providers] == [f"http://127.0.0.1:{s2p.server.port}/"]


def test_in_a_container_the_url_must_be_given_when_plex_is_elsewhere(tmp_path, fake_stash, capsys, monkeypatch):
    monkeypatch.setattr("s2p.app.announce.in_container", lambda: True)
    status, out = register(settings_for(tmp_path, fake_stash, ELSEWHERE), capsys)
    assert status == 2
    assert "--url" in out and "service or container name" in out and "Which URL to register" in out
    assert "Fix:" in out


def test_in_a_container_sharing_plex_network_loopback_is_registered(tmp_path, fake_stash, s2p, plex, capsys,
                                                                    monkeypatch):
    # [plex] url on 127.0.0.1: Plex lives in s2p's network namespace, so 127.0.0.1 is where Plex finds s2p.
    monkeypatch.setattr("s2p.app.announce.in_container", lambda: True)
    monkeypatch.setattr("s2p.app.announce.lan_address", lambda: "172.18.0.3")
    settings = settings_for(tmp_path, fake_stash, plex.url, server={"host": "0.0.0.0", "port": s2p.server.port})
    status, out = register(settings, capsys)
    assert status == 0, out
    assert [p["uri"] for p in plex.providers] == [f"http://127.0.0.1:{s2p.server.port}/"]
    assert "172.18.0.3" not in out


@pytest.mark.parametrize("url", ["localhost:8008", "ftp://nas:8008/", "http://nas:8008/?x=1", "http://nas:99999/"])
def test_a_bad_url_is_refused(tmp_path, fake_stash, plex, capsys, url):
    status, out = register(settings_for(tmp_path, fake_stash, plex.url), capsys, url=url)
    assert status == 2 and "--url" in out and plex.requests == {}


def test_plex_must_be_configured(tmp_path, fake_stash, capsys):
    status, out = register(make_settings(fake_stash.url, tmp_path / "state"), capsys, url="http://nas:8008/")
    assert status == 2 and "[plex] url and [plex] token" in out


# ---------------------------------------------------------------- check


def check_plex(settings) -> tuple[bool, str]:
    out = io.StringIO()
    ok = check_command.check_plex(settings, out)
    assert TOKEN not in out.getvalue()
    return ok, out.getvalue()


@pytest.mark.integration
def test_check_reports_the_registration_and_what_is_proven(tmp_path, fake_stash, s2p, plex, capsys, monkeypatch):
    monkeypatch.setattr("s2p.app.announce.in_container", lambda: False)
    settings = settings_for(tmp_path, fake_stash, plex.url)
    ok, out = check_plex(settings)
    assert ok, out
    assert "reachable at " + plex.url in out and "1.43.5" in out
    assert "s2p is not registered" in out and "`s2p register` makes Plex fetch it" in out
    assert register(settings, capsys, url=s2p.url + "/")[0] == 0
    ok, out = check_plex(settings)
    assert ok, out
    assert f"s2p is registered at {s2p.url}/; Plex accepted that URL when it was registered" in out
    assert "'Stash (s2p)', s2p as primary" in out
    assert f"from here, {s2p.url}/ answers as {IDENT}" in out
    assert "proven only by Plex" in out


@pytest.mark.integration
def test_check_reports_the_tv_provider_beside_the_movie_one(tmp_path, fake_stash, s2p, plex, capsys, monkeypatch):
    monkeypatch.setattr("s2p.app.announce.in_container", lambda: False)
    settings = settings_for(tmp_path, fake_stash, plex.url)
    ok, out = check_plex(settings)
    assert ok, out  # a TV provider not registered is news, not a failure: not everyone has a TV library
    assert "the TV provider is not registered; `s2p register --tv` would register http://" in out
    assert register_command.run(settings, argparse.Namespace(url=s2p.url + "/", agent=None, tv=False,
                                                              all=True)) == 0
    capsys.readouterr()
    plex.sections[3].agent = IDENT + ".tv"
    ok, out = check_plex(settings)
    assert ok, out
    assert f"the TV provider is registered at {s2p.url}/tv;" in out
    assert "agent: 'Stash (s2p, TV)', the TV provider as primary; libraries on it: Shows" in out
    assert f"from here, {s2p.url}/tv answers as {IDENT}.tv" in out
    assert f"s2p is registered at {s2p.url}/;" in out  # the movie provider's lines are still there
    # Turned off, the TV provider is not reported at all.
    ok, out = check_plex(settings_for(tmp_path, fake_stash, plex.url, tv={"enabled": False}))
    assert ok and "TV provider" not in out, out


def test_check_fails_when_plex_cannot_reach_the_registered_url(tmp_path, fake_stash, plex):
    plex.providers.append({"id": 1, "identifier": IDENT, "title": "Stash (s2p)", "uri": "http://127.0.0.1:8008/"})
    settings = settings_for(tmp_path, fake_stash, plex.url)
    # Plex's URL is loopback here, so a loopback s2p URL is fine for it...
    assert check_plex(settings)[0]
    # ...but not when Plex is reached over the network (the same fake, said to be elsewhere).
    out = io.StringIO()
    ok = report_plex(lambda: connect(settings.plex, settings.state_dir),
                     [ProviderCheck(IDENT, "http://127.0.0.1:8008/")], ELSEWHERE, None, out)
    assert not ok and "Plex cannot reach s2p at that URL" in out.getvalue()


def test_check_fails_on_a_wrong_token_or_an_unreachable_plex(tmp_path, fake_stash, plex):
    ok, out = check_plex(settings_for(tmp_path, fake_stash, plex.url, token="wrong-token-0123456789"))
    assert not ok and "refused the token" in out and "wrong-token" not in out
    ok, out = check_plex(settings_for(tmp_path, fake_stash, f"http://127.0.0.1:{closed_port()}"))
    assert not ok and "cannot reach Plex" in out


# ---------------------------------------------------------------- the command line


@pytest.mark.integration
def test_register_and_check_from_the_command_line(tmp_path, fake_stash, s2p, plex):
    from helpers import write_config

    config = write_config(tmp_path, fake_stash.url, extra=f'\n[plex]\nurl = "{plex.url}"\ntoken = "{TOKEN}"\n')
    environ = {k: v for k, v in os.environ.items() if not k.startswith("S2P_")}
    command = [sys.executable, "-m", "s2p", "--config", str(config)]
    registered = subprocess.run(command + ["register", "--url", s2p.url + "/"], capture_output=True, text=True,
                                env=environ, timeout=60)
    assert registered.returncode == 0, registered.stdout + registered.stderr
    assert "Left to do in Plex" in registered.stdout and TOKEN not in registered.stdout + registered.stderr
    checked = subprocess.run(command + ["check"], capture_output=True, text=True, env=environ, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"s2p is registered at {s2p.url}/" in checked.stdout and checked.stdout.rstrip().endswith("OK")


@pytest.mark.integration
def test_check_fails_when_plex_fails(tmp_path, fake_stash, plex, capsys):
    plex.stop()
    status = check_command.run(settings_for(tmp_path, fake_stash, plex.url), None)
    out = capsys.readouterr().out
    assert status == 1 and "cannot reach Plex" in out and out.rstrip().endswith("FAILED: see the plex lines above")


def test_in_a_container_the_container_address_is_never_suggested(tmp_path, fake_stash, capsys, monkeypatch):
    monkeypatch.setattr("s2p.app.announce.in_container", lambda: True)
    monkeypatch.setattr("s2p.app.announce.lan_address", lambda: "172.18.0.3")
    status, out = register(settings_for(tmp_path, fake_stash, ELSEWHERE), capsys, url="http://127.0.0.1:8008/")
    assert status == 2 and "loopback" in out
    assert "<this machine's LAN address>" in out and "172.18.0.3" not in out


def test_check_in_a_container_asks_for_the_url_to_register(tmp_path, fake_stash, plex, monkeypatch):
    monkeypatch.setattr("s2p.app.announce.in_container", lambda: True)
    monkeypatch.setattr("s2p.app.announce.plex_on_our_loopback", lambda settings: False)  # Plex on another host
    ok, out = check_plex(settings_for(tmp_path, fake_stash, plex.url))
    assert ok and "run s2p register --url <the URL Plex can reach>" in out
