"""/openapi.json names exactly the routes and methods the app serves."""

from __future__ import annotations

import re

import falcon.inspect

from s2p.app.webapp import create_app
from s2p.web.access import SecretRoot

SECRET = "openapi-secret-Rk2Lm9Qw"
OPERATIONS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def app_routes(app, root: SecretRoot) -> set[tuple[str, str]]:
    found = set()
    for route in falcon.inspect.inspect_routes(app):
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", root.route(route.path))
        for method in route.methods:
            if not method.internal:  # falcon's own 405 and OPTIONS responders
                found.add((path, method.method.lower()))
    return found


def described(document) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item if method in OPERATIONS}


def test_every_route_is_described_and_nothing_else(s2p):
    document = s2p.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    served = app_routes(create_app(s2p.services), SecretRoot(""))
    assert served == described(document)


def test_description_is_the_same_under_a_secret_root_and_never_carries_it(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, server={"secret": SECRET})
    response = s2p.get("/openapi.json")
    assert response.status_code == 200 and SECRET not in response.text
    served = app_routes(create_app(s2p.services), SecretRoot(SECRET))
    assert served == described(response.json())
    root = response.json()["paths"]["/library/metadata/matches"]["servers"][0]
    assert root["url"] == "{root}" and "[server] secret" in root["variables"]["root"]["description"]


def test_match_hints_schema_follows_the_model(s2p):
    document = s2p.get("/openapi.json").json()
    body = document["paths"]["/library/metadata/matches"]["post"]["requestBody"]["content"]["application/json"]
    properties = body["schema"]["properties"]
    assert {"type", "title", "year", "guid", "filename", "manual"} <= set(properties)
    assert properties["filename"]["anyOf"][0]["maxLength"] == 4096
