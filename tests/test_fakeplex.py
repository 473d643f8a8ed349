"""The fake PMS answers plexapi the way PMS does (so tests built on it hold)."""

import io

import pytest
from fakeplex import TOKEN, FakePlex
from plexapi.exceptions import Unauthorized
from plexapi.server import PlexServer


@pytest.fixture
def plex():
    fake = FakePlex()
    fake.add_section(1, "Scenes", ["/plex/library"])
    fake.add_section(2, "Other", ["/other"], agent="tv.plex.agents.movie")
    for i in range(7):
        fake.add_item(1, f"Item {i}", [f"/plex/library/Studio/file {i}.mp4"],
                      guid=f"tv.plex.agents.custom.s2p://movie/{i + 1}", guids=["stashdb://abc"])
    fake.start()
    yield fake
    fake.stop()


def test_plexapi_lists_sections_and_pages_items(plex):
    server = PlexServer(plex.url, TOKEN, timeout=5)
    assert server.machineIdentifier == "fake-pms-0001"
    sections = {s.title: s for s in server.library.sections()}
    assert sections["Scenes"].locations == ["/plex/library"]
    assert sections["Scenes"].agent == "tv.plex.agents.custom.s2p"
    items = sections["Scenes"].search(libtype="movie", container_start=0, container_size=3, maxresults=3)
    assert [i.title for i in items] == ["Item 0", "Item 1", "Item 2"]
    everything = sections["Scenes"].search(libtype="movie", container_size=3)
    assert len(everything) == 7 and set(plex.page_sizes) <= {3, 1}
    movie = everything[0]
    assert movie.guid == "tv.plex.agents.custom.s2p://movie/1"
    assert [p.file for p in movie.iterParts()] == ["/plex/library/Studio/file 0.mp4"]
    assert [g.id for g in movie.guids] == ["stashdb://abc"]


def test_refresh_and_uploads_are_recorded(plex):
    server = PlexServer(plex.url, TOKEN, timeout=5)
    movie = server.library.sectionByID(1).search(libtype="movie")[0]
    movie.refresh()
    movie.uploadPoster(filepath=io.BytesIO(b"poster-bytes"))
    assert plex.refreshed == [movie.ratingKey]
    assert plex.uploads == [(movie.ratingKey, "posters", b"poster-bytes")]


def test_wrong_token_is_refused(plex):
    with pytest.raises(Unauthorized):
        PlexServer(plex.url, "wrong", timeout=5)


def test_s2p_connects_with_a_stable_client_identifier(plex, tmp_path):
    from s2p.config import PlexSettings
    from s2p.pms.connect import PlexAuthError, PlexNotConfigured, PlexUnavailable, connect

    settings = PlexSettings(url=plex.url, token=TOKEN, timeout=5)
    first = connect(settings, tmp_path)
    second = connect(settings, tmp_path)
    assert first.machineIdentifier == "fake-pms-0001"
    import plexapi
    assert plexapi.X_PLEX_IDENTIFIER == (tmp_path / "plex-client-id").read_text()
    assert second is not first
    with pytest.raises(PlexAuthError) as caught:
        connect(PlexSettings(url=plex.url, token="wrong-token-value", timeout=5), tmp_path)
    assert "wrong-token-value" not in str(caught.value)
    with pytest.raises(PlexNotConfigured):
        connect(PlexSettings(), tmp_path)
    plex.stop()
    with pytest.raises(PlexUnavailable):
        connect(PlexSettings(url=plex.url, token=TOKEN, timeout=2), tmp_path)
