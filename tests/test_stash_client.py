"""The client layer against mocked HTTP (``responses``)."""

import json

import pytest
import requests
import responses

from s2p.common.deadline import Deadline
from s2p.config import StashSettings
from s2p.stash import queries
from s2p.stash.api import StashAPI, re2_escape
from s2p.stash.client import StashClient
from s2p.stash.errors import StashAuthError, StashQueryError, StashUnavailable

URL = "http://stash.test:9999"
KEY = "secret-api-key-1234567890"


def client(**overrides):
    return StashClient(StashSettings(url=URL, api_key=KEY, **overrides))


@responses.activate
def test_query_sends_operation_variables_and_header():
    responses.post(f"{URL}/graphql", json={"data": {"findScene": None}})
    assert StashAPI(client()).scene("12") is None
    sent = responses.calls[0].request
    body = json.loads(sent.body)
    assert body["operationName"] == "S2PFindScene" and body["variables"] == {"id": "12"}
    assert sent.headers["ApiKey"] == KEY
    assert KEY not in sent.url


@responses.activate
def test_no_api_key_header_when_none_is_configured():
    responses.post(f"{URL}/graphql", json={"data": {"findScene": None}})
    StashAPI(StashClient(StashSettings(url=URL))).scene("1")
    assert "ApiKey" not in responses.calls[0].request.headers


@responses.activate
@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials(status):
    responses.post(f"{URL}/graphql", status=status)
    with pytest.raises(StashAuthError, match="api_key") as caught:
        client().query(queries.VERSION)
    assert KEY not in str(caught.value)


@responses.activate
def test_login_redirect_is_an_auth_error():
    responses.post(f"{URL}/graphql", status=302, headers={"Location": "/login?returnURL=/graphql"})
    with pytest.raises(StashAuthError, match="login"):
        client().query(queries.VERSION)


@responses.activate
def test_server_errors_and_bad_bodies_are_unavailable():
    responses.post(f"{URL}/graphql", status=502)
    with pytest.raises(StashUnavailable, match="502"):
        client().query(queries.VERSION)
    responses.replace(responses.POST, f"{URL}/graphql", body="<html>", status=200)
    with pytest.raises(StashUnavailable, match="JSON"):
        client().query(queries.VERSION)


@responses.activate
def test_connection_failures_and_timeouts_become_unavailable():
    responses.post(f"{URL}/graphql", body=requests.ConnectionError("Connection refused"))
    with pytest.raises(StashUnavailable, match="connection refused"):
        client().query(queries.VERSION)
    responses.replace(responses.POST, f"{URL}/graphql", body=requests.ReadTimeout("slow"))
    with pytest.raises(StashUnavailable, match="did not answer"):
        client().query(queries.VERSION)


@responses.activate
def test_graphql_errors_are_query_errors():
    responses.post(f"{URL}/graphql", json={"errors": [{"message": "boom"}], "data": None})
    with pytest.raises(StashQueryError, match="boom"):
        client().query(queries.VERSION)


@responses.activate
def test_missing_ids_are_dropped_and_the_rest_asked_again():
    def reply(request):
        ids = json.loads(request.body)["variables"]["ids"]
        missing = [i for i in ids if i in ("3", "5")]
        if missing:
            return 200, {}, json.dumps({"errors": [{"message": f"scene with id {missing[0]} not found"}]})
        return 200, {}, json.dumps({"data": {"findScenes": {"scenes": [
            {"id": i, "updated_at": "2024-01-01T00:00:00Z"} for i in ids]}}})

    responses.add_callback(responses.POST, f"{URL}/graphql", callback=reply)
    found = StashAPI(client()).scenes(["1", "2", "3", "4", "5"])
    assert sorted(found) == ["1", "2", "4"]
    assert len(responses.calls) == 3


def test_expired_budget_sends_nothing():
    deadline = Deadline(0)
    with pytest.raises(StashUnavailable, match="budget"):
        client().query(queries.VERSION, deadline=deadline)


@responses.activate
def test_images_are_fetched_from_the_configured_host_only():
    responses.get(f"{URL}/performer/7/image", body=b"\x89PNG", content_type="image/png")
    image = client().fetch_image("http://evil.example/performer/7/image?t=1")
    assert image.content == b"\x89PNG" and image.content_type == "image/png"
    request = responses.calls[0].request
    assert request.url.startswith(URL + "/performer/7/image?t=1") and request.headers["ApiKey"] == KEY


@responses.activate
def test_non_image_answers_to_image_requests_are_refused():
    responses.get(f"{URL}/scene/1/screenshot", body="<html>login</html>", content_type="text/html")
    with pytest.raises(StashUnavailable, match="text/html"):
        client().fetch_image("/scene/1/screenshot")


def test_re2_escape_keeps_unicode_and_escapes_specials():
    assert re2_escape("Don't [1080p] (x).mp4") == r"Don't \[1080p\] \(x\)\.mp4"
    assert re2_escape("日本.mp4") == r"日本\.mp4"


@responses.activate
def test_transient_failures_are_retried_then_succeed():
    responses.post(f"{URL}/graphql", status=503)
    responses.post(f"{URL}/graphql", json={"errors": [{"message": "database is locked"}]})
    responses.post(f"{URL}/graphql", json={"data": {"version": {"version": "v1"}, "systemStatus": None}})
    assert StashAPI(client(retries=2)).version().version == "v1"
    assert len(responses.calls) == 3


@responses.activate
def test_retries_stop_at_the_configured_count_and_timeouts_are_not_retried():
    responses.post(f"{URL}/graphql", status=500)
    with pytest.raises(StashUnavailable, match="500"):
        client(retries=1).query(queries.VERSION)
    assert len(responses.calls) == 2
    responses.replace(responses.POST, f"{URL}/graphql", body=requests.ReadTimeout("slow"))
    with pytest.raises(StashUnavailable, match="did not answer"):
        client(retries=3).query(queries.VERSION)
    assert len(responses.calls) == 3


@responses.activate
def test_no_retry_when_the_budget_is_nearly_spent():
    responses.post(f"{URL}/graphql", status=502)
    with pytest.raises(StashUnavailable):
        client(retries=5).query(queries.VERSION, deadline=Deadline(0.3))
    assert len(responses.calls) == 1


@responses.activate
def test_query_errors_are_not_retried():
    responses.post(f"{URL}/graphql", json={"errors": [{"message": "unknown field"}]})
    with pytest.raises(StashQueryError):
        client(retries=3).query(queries.VERSION)
    assert len(responses.calls) == 1


@responses.activate
def test_circuit_opens_after_repeated_failures_and_answers_at_once():
    responses.post(f"{URL}/graphql", body=requests.ConnectionError("Connection refused"))
    stash = client(retries=0, breaker_failures=3, breaker_cooldown=60)
    for _ in range(3):
        with pytest.raises(StashUnavailable, match="connection refused"):
            stash.query(queries.VERSION)
    with pytest.raises(StashUnavailable, match="3 times in a row"):
        stash.query(queries.VERSION)
    assert len(responses.calls) == 3 and stash.breaker.state == "open"


@responses.activate
def test_scenes_share_their_performers_studios_tags_and_groups():
    parent = {"id": "9", "name": "Network", "image_path": None}
    studio = {"id": "3", "name": "Harbour Films", "image_path": None, "parent_studio": parent}
    jane = {"id": "7", "name": "Jane Doe", "disambiguation": None, "gender": "FEMALE", "image_path": None}
    group = {"id": "5", "name": "Volume 1", "front_image_path": None}

    def scene(scene_id, **changes):
        return {"id": scene_id, "studio": studio, "performers": [jane], "tags": [{"id": "1", "name": "Office"}],
                "groups": [{"scene_index": int(scene_id), "group": group}], **changes}

    responses.post(f"{URL}/graphql", json={"data": {"findScenes": {"scenes": [
        scene("1"), scene("2"),
        scene("3", performers=[{**jane, "name": "Jane Doe (renamed)"}]),
        scene("4", performers=[{"id": "8"}]),  # no name: this scene cannot be read
    ]}}})
    api = StashAPI(client())
    found = api.scenes(["1", "2", "3", "4"])

    one, two, three = found["1"], found["2"], found["3"]
    assert one.performers[0] is two.performers[0] and one.tags[0] is two.tags[0]
    assert one.studio is two.studio and one.studio.parent_studio.name == "Network"
    assert one.groups[0].group is two.groups[0].group
    assert (one.groups[0].scene_index, two.groups[0].scene_index) == (1, 2)
    # a changed performer is its own object; the studio is still shared
    assert three.performers[0].name == "Jane Doe (renamed)" and three.performers[0] is not one.performers[0]
    assert three.studio is one.studio
    assert "4" not in found


def test_slots_serve_urgent_waiters_before_a_title_search():
    import threading
    import time as _time

    from s2p.stash.client import Slots

    slots = Slots(1)
    assert slots.acquire(1)
    order = []
    search = threading.Thread(target=lambda: slots.acquire(5, urgent=False) and order.append("search"))
    search.start()
    _time.sleep(0.05)
    urgent = threading.Thread(target=lambda: slots.acquire(5) and order.append("metadata"))
    urgent.start()
    _time.sleep(0.05)
    slots.release()  # the search waited first, yet the urgent request takes the slot
    urgent.join(2)
    assert order == ["metadata"]
    slots.release()
    search.join(2)
    assert order == ["metadata", "search"]
    assert not Slots(0).acquire(0.05) and not Slots(0).acquire(0.05, urgent=False)
