"""Push mode against a fake PMS over real HTTP: s2p fetches from the fake
Stash and uploads into the fake Plex through plexapi."""

from __future__ import annotations

import logging
import time

import pytest

from helpers import API_KEY
from fakeplex import TOKEN, FakePlex
from s2p.pms.items import PAGE
from s2p.artwork.push import ArtworkPusher
from s2p.common.backoff import Backoff
from s2p.artwork.pushqueue import PushQueue
from s2p.config import ConfigError, PlexSettings, load_settings
from s2p.pms.connect import connect

IDENT = "tv.plex.agents.custom.s2p"


def guid(scene_id: str) -> str:
    return f"{IDENT}://movie/{scene_id}"


@pytest.fixture
def plex():
    fake = FakePlex()
    fake.add_section(1, "Scenes", ["/plex/library"])
    fake.add_section(2, "Elsewhere", ["/elsewhere"], agent="tv.plex.agents.movie")
    fake.add_item(1, "Office Affair", ["/plex/library/a.mp4"], guid=guid("1"))
    fake.add_item(1, "Don't Stop", ["/plex/library/b.mkv"], guid=guid("2"))
    fake.add_item(1, "Beach Day", ["/plex/library/c.mp4"], guid=guid("5"))
    fake.add_item(1, "Unmatched", ["/plex/library/d.mp4"])
    fake.add_item(2, "Same scene, other agent", ["/elsewhere/a.mp4"], guid=guid("1"))
    fake.start()
    yield fake
    fake.stop()


def rating_key(plex: FakePlex, scene_id: str, section: int = 1) -> int:
    return next(i.rating_key for i in plex.sections[section].items if i.guid == guid(scene_id))


def wait_for(predicate, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def push_settings(plex: FakePlex, **artwork):
    return {"artwork": {"push": True, "push_delay": 0, **artwork},
            "plex": {"url": plex.url, "token": TOKEN, "timeout": 5}}


def runs(s2p) -> int:
    return s2p.services.scheduler.status()["artwork-push"]["runs"]


def settle(s2p) -> None:
    """Wait until the queue is empty and one more run of the job has finished."""
    wait_for(lambda: s2p.services.pusher.queue.pending() == 0)
    seen = runs(s2p)
    wait_for(lambda: runs(s2p) >= seen + 2)


def pusher(s2p, plex: FakePlex, state_dir, **options) -> ArtworkPusher:
    """A pusher of its own (own queue, fast backoff) on the running s2p's images."""
    options.setdefault("backoff", Backoff(base=0.01, cap=0.02, attempts=4))
    return ArtworkPusher(identifier=IDENT, images=s2p.services.images, scenes=s2p.services.scenes,
                         queue=PushQueue(state_dir),
                         connect=lambda: connect(PlexSettings(url=plex.url, token=TOKEN, timeout=5), state_dir),
                         push_delay=options.pop("push_delay", 0), **options)


# ---------------------------------------------------------------- through the whole service

def test_metadata_fetch_uploads_poster_and_background_once(start_s2p, fake_stash, plex):
    s2p = start_s2p(fake_stash.url, **push_settings(plex))
    assert s2p.get("/library/metadata/1").status_code == 200
    wait_for(lambda: len(plex.uploads) == 2)
    item = rating_key(plex, "1")
    screenshot = fake_stash.library.image("scene", "1")
    assert sorted(plex.uploads) == [(item, "arts", screenshot), (item, "posters", screenshot)]
    assert PAGE not in plex.page_sizes  # found through the guid filter, no listing of the section
    settle(s2p)
    images_read = s2p.services.images.cache_stats
    # Plex asks again (a refresh, a second scan): nothing new to upload, and
    # since Stash's stamps are unchanged the pictures are not even read.
    for _ in range(3):
        assert s2p.get("/library/metadata/1").status_code == 200
    settle(s2p)
    assert len(plex.uploads) == 2
    assert s2p.services.images.cache_stats == images_read
    # The item in a section on another agent is left alone.
    assert rating_key(plex, "1", section=2) not in {u[0] for u in plex.uploads}
    # Neither the Stash API key nor anything of it travels to Plex.
    assert plex.headers_seen and all(API_KEY not in str(h) for h in plex.headers_seen)
    assert all(API_KEY.encode() not in body for _, _, body in plex.uploads)


def test_with_plex_known_and_no_public_url_pictures_are_uploaded_without_being_asked(start_s2p, fake_stash, plex):
    # The quick start's configuration: Stash and Plex, nothing about artwork.
    s2p = start_s2p(fake_stash.url, plex={"url": plex.url, "token": TOKEN, "timeout": 5},
                    artwork={"push_delay": 0})  # only the wait is changed; push itself is left unset
    assert s2p.services.pusher is not None
    assert s2p.get("/library/metadata/2").status_code == 200
    wait_for(lambda: len(plex.uploads) == 2)
    assert {kind for _, kind, _ in plex.uploads} == {"posters", "arts"}
    # Saying no is heard, and so is a public URL (Plex then fetches the pictures itself).
    assert start_s2p(fake_stash.url, plex={"url": plex.url, "token": TOKEN},
                     artwork={"push": False}).services.pusher is None
    assert start_s2p(fake_stash.url, plex={"url": plex.url, "token": TOKEN},
                     provider={"public_url": "https://img.example.net"}).services.pusher is None


def test_a_scene_without_cover_uploads_its_studio_image_as_poster_and_no_background(start_s2p, fake_stash, plex):
    s2p = start_s2p(fake_stash.url, **push_settings(plex))
    s2p.get("/library/metadata/5")
    wait_for(lambda: len(plex.uploads) >= 1)
    settle(s2p)
    assert plex.uploads == [(rating_key(plex, "5"), "posters", fake_stash.library.image("studio", "1"))]


def test_queued_work_survives_a_restart(start_s2p, fake_stash, plex, tmp_path):
    state = {"dir": str(tmp_path / "push-state")}
    first = start_s2p(fake_stash.url, state=state, **push_settings(plex, push_delay=1.0))
    first.get("/library/metadata/1")
    first.get("/library/metadata/2")
    assert first.services.pusher.queue.pending() == 2
    first.services.stop()  # the process ends before the uploads were due
    assert plex.uploads == []
    second = start_s2p(fake_stash.url, state=state, **push_settings(plex, push_delay=1.0))
    wait_for(lambda: len(plex.uploads) == 4)
    assert {(key, kind) for key, kind, _ in plex.uploads} == {
        (rating_key(plex, s), k) for s in ("1", "2") for k in ("posters", "arts")}
    settle(second)
    # And the record of uploads survives too: a third start uploads nothing again.
    second.services.stop()
    third = start_s2p(fake_stash.url, state=state, **push_settings(plex))
    third.get("/library/metadata/1")
    settle(third)
    assert len(plex.uploads) == 4


# ---------------------------------------------------------------- the worker on its own

def test_plex_5xx_is_retried_with_backoff_and_each_image_lands_once(s2p, fake_stash, plex, tmp_path):
    worker = pusher(s2p, plex, tmp_path)
    worker.enqueue("1")
    plex.fail_matching = [(r"POST /library/metadata/\d+/posters", 500), (r"POST /library/metadata/\d+/arts", 503)]
    assert worker.run_due() == 1  # the poster upload fails
    [entry] = worker.queue.entries()
    assert entry.attempts == 1 and "500" in entry.last_error
    time.sleep(0.05)
    worker.run_due()  # the poster lands, the background fails
    [entry] = worker.queue.entries()
    assert entry.attempts == 2 and "503" in entry.last_error
    time.sleep(0.05)
    worker.run_due()
    assert worker.queue.pending() == 0
    item = rating_key(plex, "1")
    assert sorted((key, kind) for key, kind, _ in plex.uploads) == [(item, "arts"), (item, "posters")]
    worker.close()


def test_retries_wait_for_the_backoff(s2p, fake_stash, plex, tmp_path):
    clock = [1000.0]
    worker = pusher(s2p, plex, tmp_path, backoff=Backoff(base=30, cap=60, attempts=5), clock=lambda: clock[0])
    worker.enqueue("2")
    plex.fail_next = [502]
    worker.run_due()
    [entry] = worker.queue.entries()
    assert 1015 <= entry.due <= 1030  # 50-100% of 30 s
    assert worker.run_due() == 0 and plex.uploads == []
    clock[0] = 1031
    assert worker.run_due() == 1 and len(plex.uploads) == 2
    worker.close()


def test_a_plex_that_keeps_failing_is_given_up_on(s2p, fake_stash, plex, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="s2p")
    worker = pusher(s2p, plex, tmp_path, backoff=Backoff(base=0.001, cap=0.001, attempts=3))
    worker.enqueue("1")
    plex.fail_matching = [(r"POST ", 500)] * 10
    for _ in range(3):
        worker.run_due()
        time.sleep(0.01)
    assert worker.queue.pending() == 0 and plex.uploads == []
    assert "giving up after 3 attempts" in caplog.text
    assert TOKEN not in caplog.text
    worker.close()


def test_an_item_plex_does_not_have_yet_is_looked_for_again(s2p, fake_stash, plex, tmp_path):
    worker = pusher(s2p, plex, tmp_path)
    worker.enqueue("3")  # no Plex item carries scene 3's guid (yet)
    worker.run_due()
    [entry] = worker.queue.entries()
    assert "no Plex item" in entry.last_error
    plex.add_item(1, "Café Crème", ["/plex/library/e.mp4"], guid=guid("3"))
    time.sleep(0.05)
    worker.run_due()
    assert worker.queue.pending() == 0
    assert {kind for key, kind, _ in plex.uploads if key == rating_key(plex, "3")} == {"posters", "arts"}
    worker.close()


def test_stash_trouble_is_retried_later(s2p, fake_stash, plex, tmp_path):
    worker = pusher(s2p, plex, tmp_path)
    worker.enqueue("2")
    fake_stash.standin.fail("error")
    worker.run_due()
    [entry] = worker.queue.entries()
    assert entry.attempts == 1 and entry.last_error.startswith("Stash")
    fake_stash.standin.heal()
    time.sleep(0.05)
    worker.run_due()
    assert worker.queue.pending() == 0 and len(plex.uploads) == 2
    worker.close()


def test_a_scene_gone_from_stash_is_dropped_without_retries(s2p, fake_stash, plex, tmp_path):
    worker = pusher(s2p, plex, tmp_path)
    worker.enqueue("999")
    worker.run_due()
    assert worker.queue.pending() == 0 and plex.uploads == []
    worker.close()


def test_a_changed_picture_is_uploaded_again_an_unchanged_one_never(s2p, fake_stash, plex, tmp_path, monkeypatch):
    worker = pusher(s2p, plex, tmp_path)
    worker.enqueue("1")
    worker.run_due()
    assert len(plex.uploads) == 2
    # Stash's stamp changes but the picture is the same: recorded, not uploaded.
    fake_stash.library.update_scene("1", updated_at="2024-03-01T00:00:00+00:00")
    s2p.services.scenes.forget("1")
    worker.enqueue("1")
    worker.run_due()
    assert len(plex.uploads) == 2
    # A really new picture: one new poster, one new background.
    original = fake_stash.library.image
    monkeypatch.setattr(fake_stash.library, "image",
                        lambda kind, entity_id: original("performer", "2") if kind == "scene" else original(kind,
                                                                                                              entity_id))
    fake_stash.library.update_scene("1", updated_at="2024-04-01T00:00:00+00:00")
    s2p.services.scenes.forget("1")
    worker.enqueue("1")
    worker.run_due()
    assert len(plex.uploads) == 4
    assert plex.uploads[-1][2] == original("performer", "2")
    worker.close()


def test_a_plex_that_ignores_the_guid_filter_is_handled_by_listing(s2p, fake_stash, plex, tmp_path):
    plex.guid_filter = False
    for i in range(30):
        plex.add_item(1, f"Filler {i}", [f"/plex/library/f{i}.mp4"], guid=f"{IDENT}://movie/{100 + i}")
    worker = pusher(s2p, plex, tmp_path)
    worker.enqueue("2")
    worker.enqueue("1")
    worker.run_due()
    assert {(key, kind) for key, kind, _ in plex.uploads} == {
        (rating_key(plex, s), k) for s in ("1", "2") for k in ("posters", "arts")}
    # One listing of the section served both scenes.
    assert plex.page_sizes.count(PAGE) == 1
    worker.close()


def test_configured_sections_choose_where_to_look(s2p, fake_stash, plex, tmp_path):
    worker = pusher(s2p, plex, tmp_path, sections=["Elsewhere"])
    worker.enqueue("1")
    worker.run_due()
    assert {key for key, _, _ in plex.uploads} == {rating_key(plex, "1", section=2)}
    worker.close()


def test_a_full_queue_turns_new_scenes_away_and_says_so(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="s2p")
    queue = PushQueue(tmp_path, limit=2)
    worker = ArtworkPusher(identifier=IDENT, images=None, scenes=None, queue=queue, connect=lambda: None)
    for scene_id in ("1", "2", "2", "3", "4"):
        worker.enqueue(scene_id)
    assert [e.scene_id for e in queue.entries()] == ["1", "2"]
    assert caplog.text.count("queue is full") == 1
    queue.close()


def test_push_without_plex_is_a_configuration_error(tmp_path):
    config = tmp_path / "s2p.toml"
    config.write_text('[artwork]\npush = true\n[stash]\nurl = "http://127.0.0.1:9"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {"HOME": str(tmp_path)})
    [problem] = caught.value.problems
    assert "[artwork] push" in problem and "[plex] url" in problem and "Fix:" in problem
    config.write_text(config.read_text() + f'[plex]\nurl = "http://127.0.0.1:9"\ntoken = "{TOKEN}"\n')
    assert load_settings(config, {"HOME": str(tmp_path)}).artwork.push


def test_only_one_process_works_the_queue_at_a_time(s2p, fake_stash, plex, tmp_path):
    worker = pusher(s2p, plex, tmp_path)
    worker.enqueue("1")
    other = PushQueue(tmp_path)  # another s2p on the same state directory
    with other.exclusive() as ours:
        assert ours
        assert worker.run_due() == 0 and plex.uploads == []
    assert worker.run_due() == 1 and len(plex.uploads) == 2
    other.close()
    worker.close()


def test_health_reports_the_queue_and_one_off_commands_never_upload(start_s2p, fake_stash, plex):
    from s2p.app.runtime import build as build_services

    s2p = start_s2p(fake_stash.url, **push_settings(plex, push_delay=3600))
    s2p.get("/library/metadata/1")
    health = s2p.get("/healthz").json()
    assert health["artwork_push"] == {"status": "ok", "queued": 1, "uploaded": 0}
    one_off = build_services(s2p.settings, uploads=False)
    assert one_off.pusher is None
    one_off.stop()


@pytest.mark.integration
def test_a_library_switched_to_s2p_after_start_gets_its_pictures(s2p, fake_stash, plex, tmp_path):
    from helpers import FakeClock
    from s2p.pms.libraries import REDISCOVER_EVERY

    clock = FakeClock(1000.0)
    other = plex.add_item(2, "Café Crème", ["/elsewhere/c.mp4"], guid=guid("3"))  # scene 3's only item
    worker = pusher(s2p, plex, tmp_path, clock=clock, backoff=Backoff(base=1, cap=2, attempts=5))
    worker.enqueue("3")
    worker.run_due()
    [entry] = worker.queue.entries()
    assert "no Plex item" in entry.last_error and plex.uploads == []
    plex.sections[2].agent = IDENT  # the library is switched to s2p's agent while s2p runs
    clock.now += REDISCOVER_EVERY  # Plex's libraries are listed again on a schedule
    worker.run_due()
    assert worker.queue.pending() == 0
    assert {kind for key, kind, _ in plex.uploads if key == other.rating_key} == {"posters", "arts"}
    worker.close()
