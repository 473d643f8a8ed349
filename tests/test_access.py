"""Who may call: address allow-lists, trusted proxies, the secret root and
Plex server identifiers, checked against a running s2p."""

from __future__ import annotations

import ipaddress
import logging

import pytest
import requests

from s2p.web.access import Networks, SecretRoot, client_address, parse_address, route_class

SECRET = "root-secret-Zq7xW2pL9vK4"
LAN_ONLY = ["10.0.0.0/8"]


# ---------------------------------------------------------------- pure parts

@pytest.mark.parametrize("text, expected", [
    ("192.168.1.5", "192.168.1.5"),
    (" 192.168.1.5 ", "192.168.1.5"),
    ("192.168.1.5:51234", "192.168.1.5"),
    ("::1", "::1"),
    ("[2001:db8::7]:443", "2001:db8::7"),
    ("::ffff:192.168.1.9", "192.168.1.9"),
    ('"10.1.2.3"', "10.1.2.3"),
    ("unknown", None),
    ("", None),
    ("999.1.1.1", None),
    ("_hidden", None),
])
def test_parse_address(text, expected):
    parsed = parse_address(text)
    assert (str(parsed) if parsed else None) == expected


def test_networks_match_by_version():
    nets = Networks(["10.0.0.0/8", "fd00::/8"])
    assert ipaddress.ip_address("10.9.8.7") in nets
    assert ipaddress.ip_address("fd12::1") in nets
    assert ipaddress.ip_address("11.0.0.1") not in nets
    assert ipaddress.ip_address("::1") not in nets


PROXIES = Networks(["127.0.0.1/32", "172.18.0.0/16"])


@pytest.mark.parametrize("peer, xff, expected", [
    # Not from a proxy: the header is whatever the caller wrote, ignored.
    ("203.0.113.9", "192.168.1.5", "203.0.113.9"),
    ("127.0.0.1", None, "127.0.0.1"),
    ("127.0.0.1", "192.168.1.5", "192.168.1.5"),
    # Two trusted proxies in a row: walk past both.
    ("127.0.0.1", "192.168.1.5, 172.18.0.4", "192.168.1.5"),
    # A client that forges a LAN address on the left is still seen as itself.
    ("127.0.0.1", "192.168.1.5, 203.0.113.9", "203.0.113.9"),
    ("127.0.0.1", "192.168.1.5,203.0.113.9, 172.18.0.4", "203.0.113.9"),
    # Garbage written by a trusted proxy lets nobody in.
    ("127.0.0.1", "192.168.1.5, garbage", None),
    # Only proxies: the leftmost is the best guess.
    ("127.0.0.1", "172.18.0.9", "172.18.0.9"),
    ("127.0.0.1", " , ", "127.0.0.1"),
    (None, "192.168.1.5", None),
])
def test_client_address_walks_the_chain_from_the_right(peer, xff, expected):
    found = client_address(peer, xff, PROXIES)
    assert (str(found) if found else None) == expected


@pytest.mark.parametrize("path, kind", [
    ("/healthz", "ops"), ("/metrics", "ops"), ("/openapi.json", "ops"), ("/gaps", "ops"),
    ("/gaps.json", "ops"), ("/debug/match", "ops"), ("/images/scene/1/poster", "public"),
    ("/", "provider"), ("/library/metadata/1", "provider"), ("/healthzz", "provider"),
    (f"/{SECRET}/library/metadata/1", "provider"), ("/imagesx/1", "provider"),
])
def test_route_classes(path, kind):
    assert route_class(path) == kind


def test_secret_root_hides_the_secret():
    root = SecretRoot(SECRET)
    assert root.shown(f"/{SECRET}/library/metadata/1") == f"/***{SECRET[-4:]}/library/metadata/1"
    assert SECRET not in root.shown(f"/{SECRET}")
    assert root.shown("/library/metadata/1") == "/library/metadata/1"
    # A near miss of the secret, or the secret in another case, is not shown at all.
    for near in (SECRET[:-1], SECRET.upper(), SECRET[1:] + "x", "x" + SECRET):
        assert root.shown(f"/{near}/library/metadata/1") == "/***/library/metadata/1", near
    assert root.shown("/healthz") == "/healthz" and root.shown("/images/scene/1/poster") == "/images/scene/1/poster"
    assert root.route(f"/{SECRET}/library/metadata/{{rating_key}}") == "/library/metadata/{rating_key}"
    assert root.route(f"/{SECRET}") == "/"
    assert root.is_registration(f"/{SECRET}/") and not root.is_registration("/")


# ---------------------------------------------------------------- running server

@pytest.mark.integration
def test_defaults_let_the_lan_in_and_keep_images_open(s2p):
    for path in ("/", "/library/metadata/1", "/healthz", s2p.poster_path()):
        assert s2p.get(path).status_code == 200, path


@pytest.mark.integration
def test_address_outside_allow_gets_403_json_on_plex_routes(start_s2p, fake_stash, caplog):
    s2p = start_s2p(fake_stash.url, server={"allow": LAN_ONLY})
    fake_stash.standin.reset_counts()  # the index's first load is not a caller's doing
    caplog.set_level(logging.INFO)
    for _ in range(3):
        for method, path in (("GET", "/"), ("GET", "/library/metadata/1"), ("POST", "/library/metadata/matches"),
                             ("GET", "/library/metadata/1/images"), ("GET", "/no/such/route")):
            response = requests.request(method, s2p.url + path, json={"type": 1, "filename": "x.mp4"}, timeout=10)
            assert response.status_code == 403, (method, path)
            body = response.json()
            assert body["status"] == 403 and body["error"] == "forbidden"
            assert "10.0.0.0" not in response.text  # no configuration values in the answer
    # Nothing was asked of Stash for a refused caller.
    assert fake_stash.standin.graphql_requests == 0
    warnings = [r for r in caplog.records if r.name == "s2p.web.access" and r.levelno == logging.WARNING]
    assert len(warnings) == 1, "a repeated denial is logged once a minute"
    assert "127.0.0.1" in warnings[0].getMessage() and "[server] allow" in warnings[0].getMessage()
    lines = [r for r in caplog.records if r.name == "s2p.web.middleware" and getattr(r, "status", None) == 403]
    assert len(lines) == 15
    assert all(r.outcome == "denied: not in [server] allow" and r.client == "127.0.0.1" for r in lines)


@pytest.mark.integration
def test_images_stay_reachable_from_outside_allow(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, server={"allow": LAN_ONLY, "ops_allow": LAN_ONLY})
    response = s2p.get(s2p.poster_path())
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    # Through a proxy from a public address too (Plex fetches via images.plex.tv).
    s2p = start_s2p(fake_stash.url, server={"allow": LAN_ONLY, "trusted_proxies": ["127.0.0.1/32"]})
    response = s2p.get(s2p.poster_path(), headers={"X-Forwarded-For": "34.120.0.5"})
    assert response.status_code == 200


def test_ops_routes_have_their_own_allow_list(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, server={"ops_allow": LAN_ONLY})
    assert s2p.get("/library/metadata/1").status_code == 200
    for path in ("/healthz", "/metrics", "/openapi.json", "/gaps", "/gaps.json", "/debug/match"):
        response = s2p.get(path)
        assert response.status_code == 403, path
        assert response.json()["status"] == 403
    s2p = start_s2p(fake_stash.url, server={"allow": LAN_ONLY})
    assert s2p.get("/library/metadata/1").status_code == 403
    assert s2p.get("/healthz").status_code == 200


def test_forwarded_for_is_believed_only_from_trusted_proxies(start_s2p, fake_stash):
    lan = {"allow": ["192.168.0.0/16"], "ops_allow": ["192.168.0.0/16"]}
    direct = start_s2p(fake_stash.url, server=lan)
    # Loopback is not a trusted proxy here: a forged header changes nothing.
    assert direct.get("/library/metadata/1", headers={"X-Forwarded-For": "192.168.1.5"}).status_code == 403
    proxied = start_s2p(fake_stash.url, server={**lan, "trusted_proxies": ["127.0.0.1/32"]})
    assert proxied.get("/library/metadata/1", headers={"X-Forwarded-For": "192.168.1.5"}).status_code == 200
    assert proxied.get("/healthz", headers={"X-Forwarded-For": "192.168.1.5"}).status_code == 200
    assert proxied.get("/library/metadata/1", headers={"X-Forwarded-For": "8.8.8.8"}).status_code == 403
    # A caller who puts a LAN address on the left of the chain is still itself.
    forged = proxied.get("/library/metadata/1", headers={"X-Forwarded-For": "192.168.1.5, 8.8.8.8"})
    assert forged.status_code == 403
    # The proxy itself, with no header, is loopback: not in allow.
    assert proxied.get("/library/metadata/1").status_code == 403


@pytest.mark.integration
def test_secret_root(start_s2p, fake_stash, caplog):
    caplog.set_level(logging.DEBUG)
    s2p = start_s2p(fake_stash.url, server={"secret": SECRET})
    for method, path in (("GET", "/"), ("GET", "/library/metadata/1"), ("POST", "/library/metadata/matches"),
                         ("GET", "/library/metadata/1/images"), ("GET", "/library/metadata/1/extras"),
                         ("GET", "/wrong-secret-0123456789/library/metadata/1"),
                         ("GET", f"/{SECRET[:-1]}/library/metadata/1"), ("GET", f"/{SECRET}x/")):
        response = requests.request(method, s2p.url + path, json={"type": 1, "filename": "日本の夏.mp4"},
                                    timeout=10)
        assert response.status_code == 404, (method, path)
        assert response.json()["status"] == 404
    registration = s2p.get(f"/{SECRET}/")
    assert registration.status_code == 200
    assert registration.json()["MediaProvider"]["identifier"] == "tv.plex.agents.custom.s2p"
    assert s2p.get(f"/{SECRET}").status_code == 200
    item = s2p.get(f"/{SECRET}/library/metadata/1")
    assert item.status_code == 200
    match = s2p.post(f"/{SECRET}/library/metadata/matches", json={"type": 1, "filename": "日本の夏.mp4"})
    assert [m["ratingKey"] for m in match.json()["MediaContainer"]["Metadata"]] == ["8"]
    # Image URLs sit outside the secret root and never carry it.
    metadata = item.json()["MediaContainer"]["Metadata"][0]
    assert SECRET not in item.text and metadata["thumb"].startswith(s2p.url + "/images/")
    assert s2p.get(metadata["thumb"], timeout=10).status_code == 200
    # The health and metrics routes do not move and do not tell the secret.
    for path in ("/healthz", "/metrics"):
        response = s2p.get(path)
        assert response.status_code == 200 and SECRET not in response.text
    # Request logs show the root masked.
    request_lines = [r for r in caplog.records if r.name == "s2p.web.middleware"]
    assert request_lines
    for record in request_lines:
        assert SECRET not in record.getMessage() and SECRET not in record.path and SECRET not in record.route
    assert any(r.route == "/library/metadata/{rating_key}" and r.status == 200 for r in request_lines)


@pytest.mark.integration
def test_plex_clients_allow_list(start_s2p, fake_stash):
    pms = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    s2p = start_s2p(fake_stash.url, server={"plex_clients": [pms, "another-server"]})
    # Registration: PMS sends no identifier when the provider is added.
    assert s2p.get("/").status_code == 200
    assert s2p.get("/library/metadata/1").status_code == 403
    assert s2p.get("/library/metadata/1", headers={"X-Plex-Client-Identifier": "someone-else"}).status_code == 403
    assert s2p.get("/library/metadata/1", headers={"X-Plex-Client-Identifier": pms}).status_code == 200
    assert s2p.get("/library/metadata/1", headers={"X-Plex-Client-Identifier": pms.upper()}).status_code == 200
    assert s2p.get("/library/metadata/1", params={"X-Plex-Client-Identifier": pms}).status_code == 200
    denied = s2p.match(type=1, filename="日本の夏.mp4")
    assert denied.status_code == 403 and denied.json()["error"] == "forbidden"
    allowed = s2p.post("/library/metadata/matches", json={"type": 1, "filename": "日本の夏.mp4"},
                       headers={"X-Plex-Client-Identifier": pms})
    assert allowed.status_code == 200 and allowed.json()["MediaContainer"]["size"] == 1
    # Images and operator routes are not Plex-server routes.
    assert s2p.get(s2p.poster_path()).status_code == 200
    assert s2p.get("/healthz").status_code == 200


def test_plex_clients_with_secret_root(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, server={"plex_clients": ["pms-1"], "secret": SECRET})
    assert s2p.get(f"/{SECRET}/").status_code == 200
    assert s2p.get(f"/{SECRET}/library/metadata/1").status_code == 403
    assert s2p.get(f"/{SECRET}/library/metadata/1", headers={"X-Plex-Client-Identifier": "pms-1"}).status_code == 200


def test_the_public_image_route_tells_nothing_about_the_lan(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, server={"allow": LAN_ONLY})
    poster = s2p.poster_path()
    fake_stash.stop()
    response = s2p.get(poster)
    assert response.status_code == 503 and response.json()["status"] == 503
    stash_address = fake_stash.url.split("//", 1)[1]
    assert stash_address not in response.text and "connect" not in response.text


# ---------------------------------------------------------------- DNS rebinding

@pytest.mark.integration
def test_a_foreign_host_name_is_refused_before_any_route(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, server={"hosts": ["s2p.example.net"]},
                    provider={"public_url": "https://img.example.org/s2p"})
    rebinding = {"Host": "attacker.example.com", "Origin": "http://attacker.example.com"}
    for method, path in (("GET", "/gaps.json"), ("POST", "/gaps/run"), ("POST", "/gaps/1/dismiss"),
                         ("GET", "/library/metadata/1"), ("GET", "/"), ("GET", "/healthz")):
        response = requests.request(method, s2p.url + path, headers=rebinding, timeout=10)
        assert response.status_code == 421, (method, path)
        assert response.json()["status"] == 421 and "[server] hosts" in response.json()["detail"]
    # What Plex and people send in each documented topology keeps working.
    port = s2p.url.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"192.168.1.20:{port}", f"[::1]:{port}", f"s2p:{port}",
                 f"nas.local:{port}", f"plex-host.lan:{port}", "s2p.example.net", "img.example.org",
                 f"S2P.EXAMPLE.NET.:{port}"):
        response = s2p.get("/", headers={"Host": host}, timeout=10)
        assert response.status_code == 200, host
