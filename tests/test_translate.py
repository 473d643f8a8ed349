from s2p.artwork.links import RouteImageLinks
from s2p.artwork.signing import ImageSigner
from s2p.plex.translate import TranslateOptions, guid_scheme, metadata
from s2p.stash.models import Scene, release, title_of

OPTIONS = TranslateOptions(identifier="tv.plex.agents.custom.s2p")
LINKS = RouteImageLinks("http://s2p.local:8008", ImageSigner(b"k" * 32))


def scene(**fields):
    base = {"id": "42", "title": "A Title", "updated_at": "2024-01-01T00:00:00Z",
            "files": [{"path": "/x/Studio/file name.mp4", "basename": "file name.mp4", "duration": 61.4}],
            "paths": {"screenshot": "http://stash/scene/42/screenshot?t=1"}}
    base.update(fields)
    return Scene.model_validate(base)


def test_release_dates_of_every_precision():
    assert release("2023-05-12") == ("2023-05-12", 2023)
    assert release("2023-05") == ("2023-05-01", 2023)
    assert release("2023") == ("2023-01-01", 2023)
    assert release("2023", "year_only") == (None, 2023)
    assert release("2023-05", "year_only") == (None, 2023)
    assert release("2023-02-30") == (None, None)
    assert release("") == (None, None)
    assert release("yesterday") == (None, None)


def test_title_falls_back_to_the_file_name():
    assert title_of(scene(title="  ")) == "file name"
    assert title_of(scene(title=None, files=[])) == "Scene 42"


def test_guid_schemes_for_stash_boxes():
    assert guid_scheme("https://stashdb.org/graphql") == "stashdb"
    assert guid_scheme("https://theporndb.net/graphql") == "tpdb"
    assert guid_scheme("https://fansdb.cc/graphql") == "fansdb"
    assert guid_scheme("https://box.example-site.org/graphql") == "box"
    assert guid_scheme("not a url") is None


def test_metadata_minimal_scene_has_required_fields_only():
    item = metadata(scene(files=[]), OPTIONS, LINKS)
    assert item["ratingKey"] == "42" and item["key"] == "/library/metadata/42"
    assert item["guid"] == "tv.plex.agents.custom.s2p://movie/42"
    assert item["type"] == "movie" and item["title"] == "A Title"
    for absent in ("Genre", "Role", "Studio", "Collection", "Guid", "duration", "studio", "summary"):
        assert absent not in item


def test_duration_is_milliseconds_of_the_primary_file():
    assert metadata(scene(), OPTIONS, LINKS)["duration"] == 61400


def test_excluded_tags_and_collections_from_studio():
    options = TranslateOptions(identifier="tv.plex.agents.custom.s2p", exclude_tags=frozenset({"todo"}),
                               collections=("studio", "parent_studio", "groups"))
    item = metadata(scene(
        tags=[{"id": "1", "name": "Outdoor"}, {"id": "2", "name": "TODO"}],
        studio={"id": "1", "name": "Child", "parent_studio": {"id": "2", "name": "Parent"}},
        groups=[{"group": {"id": "9", "name": "Series"}}],
    ), options, LINKS)
    assert item["Genre"] == [{"tag": "Outdoor"}]
    assert item["Collection"] == [{"tag": "Child"}, {"tag": "Parent"}, {"tag": "Series"}]


def test_placeholder_images_are_not_offered():
    item = metadata(scene(
        performers=[{"id": "1", "name": "P", "image_path": "http://stash/performer/1/image?t=1&default=true"}],
        studio={"id": "1", "name": "S", "image_path": "http://stash/studio/1/image?t=1&default=true"},
    ), OPTIONS, LINKS)
    assert "thumb" not in item["Role"][0]
    assert {i["type"] for i in item["Image"]} == {"coverPoster", "background", "snapshot"}


def test_no_screenshot_falls_back_to_the_studio_image_as_poster():
    item = metadata(scene(paths={"screenshot": None},
                          studio={"id": "5", "name": "S", "image_path": "http://stash/studio/5/image?t=2"}),
                    OPTIONS, LINKS)
    assert item["thumb"].startswith("http://s2p.local:8008/images/studio/5/image")
    assert "art" not in item
