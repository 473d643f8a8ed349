"""GET /debug/match: the explanation as JSON, served only when asked for."""

from helpers import API_KEY, PLEX_ROOT, STASH_ROOT


def test_off_unless_enabled(s2p):
    response = s2p.get("/debug/match", params={"filename": "extras/scene.mp4"})
    assert response.status_code == 404
    assert response.json()["status"] == 404


def test_explains_like_the_match_route_decides(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, debug={"enabled": True})
    recorded = []
    s2p.services.observers.match.append(recorded.append)
    filename = f"{PLEX_ROOT}/Harbour Films/extras/scene.mp4"
    explained = s2p.get("/debug/match", params={"filename": filename, "title": "Beach Day", "year": "2020"}).json()
    assert explained["translated"] == f"{STASH_ROOT}/Harbour Films/extras/scene.mp4"
    assert explained["decision"] == {"scene": "5", "score": 100, "step": "path"}
    assert {c["scene"]: (c["score"], c["step"]) for c in explained["candidates"]} == {
        "5": (100, "path"), "6": (95, "suffix")}
    assert all(c["reason"] for c in explained["candidates"])
    assert [s["step"] for s in explained["steps"]] == ["path", "name"]
    assert explained["steps"][0]["result"].endswith("(rule 'library')")
    matched = s2p.match(type=1, filename=filename).json()["MediaContainer"]["Metadata"]
    assert [m["ratingKey"] for m in matched] == ["5"]
    assert len(recorded) == 1  # the explanation itself is not recorded as a match
    assert API_KEY not in str(explained)


def test_ambiguity_and_title_steps_are_explained(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, debug={"enabled": True})
    explained = s2p.get("/debug/match", params={"filename": "extras/scene.mp4", "title": "Beach Day"}).json()
    assert explained["decision"] is None and explained["ambiguous"] is True
    assert "both score 95" in explained["reason"]
    assert [s["step"] for s in explained["steps"]] == ["path", "name"]  # the file spoke: no title search
    by_title = s2p.get("/debug/match", params={"title": "Beach Day", "manual": "1"}).json()
    assert by_title["steps"][-1]["step"] == "title"
    assert {c["scene"] for c in by_title["candidates"]} == {"5", "6"}


def test_odd_hints_are_left_out_and_named(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, debug={"enabled": True})
    response = s2p.get("/debug/match", params={"filename": "x.mp4", "year": "last year"})
    assert response.status_code == 200
    assert response.json()["dropped"] == [{"field": "year", "problem": "is not a number"}]
    assert s2p.get("/debug/match").status_code == 400  # nothing to match on
    assert s2p.get("/debug/match", params={"ohash": "xyz"}).json()["problems"][1]["field"] == "ohash"
    refused = s2p.get("/debug/match", params={"filename": "../../etc/passwd"}).json()
    assert refused["steps"][0] == {"step": "filename", "result": "refused: the filename hint contains '..'"}
    assert refused["candidates"] == []


def test_each_match_is_logged_with_the_step_that_decided_it(s2p, caplog):
    caplog.set_level("INFO", logger="s2p.web.middleware")
    s2p.match(type=1, filename="Harbour Films/extras/scene.mp4")
    s2p.match(type=1, filename="extras/scene.mp4")
    lines = [r.getMessage() for r in caplog.records if r.name == "s2p.web.middleware"]
    assert any("-> scene 5 score 96 by suffix" in line for line in lines), lines
    assert any("no match (ambiguous: scene 5 and scene 6 both score 95)" in line for line in lines), lines
