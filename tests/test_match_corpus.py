"""A generated library of 5,000+ scenes with hard paths, served by the fake
Stash: every file matches its own scene by the path Plex sends (relative to
the library folder), none matches a wrong scene, and once the index is
loaded path and fingerprint matches cost Stash no request at all.

The bulk runs through the server's own matcher in-process (the same object
the match route calls); a sample goes over HTTP through the real route.
"""

from __future__ import annotations

import time
import unicodedata

import pytest

from helpers import PLEX_ROOT, STASH_ROOT
from s2p.common.deadline import Deadline
from s2p.demo.library import generate
from s2p.match.query import MatchQuery

CORPUS = 5000
CLAIMED_TWICE = f"{STASH_ROOT}/Shared/claimed twice.mp4"


@pytest.fixture
def library():
    lib = generate(CORPUS, root=STASH_ROOT)
    # Cases the generator does not make on its own.
    lib.add_scene("9001", title="Crème Brûlée",
                  files=[unicodedata.normalize("NFD", f"{STASH_ROOT}/Mac Share/Crème Brûlée.mp4")])
    lib.add_scene("9002", title="Upper", files=[f"{STASH_ROOT}/Case/Scene.MP4"])
    lib.add_scene("9003", title="Lower", files=[f"{STASH_ROOT}/Case/scene.mp4"])
    lib.add_scene("9004", title="Claimed A", files=[CLAIMED_TWICE])
    lib.add_scene("9005", title="Claimed B", files=[CLAIMED_TWICE])
    lib.add_scene("9006", title="Three Files",
                  files=[f"{STASH_ROOT}/Multi/{d}/part.mp4" for d in "abc"])
    lib.add_scene("9007", title="Trailing", files=[f"{STASH_ROOT}/Spaces/folder /file.mp4"])
    return lib


def relative(path: str) -> str:
    return path[len(STASH_ROOT) + 1:]


@pytest.mark.slow
def test_every_file_matches_its_own_scene_and_asks_stash_nothing(start_s2p, fake_stash, record_property):
    library = fake_stash.library
    s2p = start_s2p(fake_stash.url)
    started = time.monotonic()
    assert s2p.services.index.wait_ready(120)
    load_seconds = time.monotonic() - started
    files = [(scene_id, f["path"], f["oshash"]) for scene_id, record in library.scenes.items()
             for f in record["files"]]
    assert len(files) >= CORPUS

    matcher = s2p.services.matcher
    fake_stash.standin.reset_counts()
    started = time.monotonic()
    wrong, unmatched, ambiguous = [], [], []
    for scene_id, path, _ in files:
        outcome = matcher.match(MatchQuery(kind=1, filename=relative(path)), Deadline(10))
        if outcome.decision is None:
            (ambiguous if outcome.ambiguous else unmatched).append((scene_id, path))
            assert scene_id in {c.scene.id for c in outcome.candidates}, outcome.as_dict()
        elif outcome.decision.scene.id != scene_id:
            wrong.append((scene_id, path, outcome.decision.scene.id))
    match_seconds = time.monotonic() - started
    requests = fake_stash.standin.graphql_requests
    print(f"\ncorpus: {len(library.scenes)} scenes, {len(files)} files; index loaded over HTTP in "
          f"{load_seconds:.1f}s; {len(files)} matches in {match_seconds:.2f}s "
          f"({len(files) / match_seconds:.0f}/s); Stash requests during the matches: {requests}")
    record_property("stash_requests_during_matches", requests)

    assert wrong == []
    assert unmatched == []
    # Only the file two scenes claim is left to Fix Match.
    assert sorted(ambiguous) == [("9004", CLAIMED_TWICE), ("9005", CLAIMED_TWICE)]
    assert requests == 0

    # A sample through the real route: relative and absolute Plex paths, and
    # Plex's oshash alone.
    sample = [(scene_id, record["files"][0]) for scene_id, record in sorted(library.scenes.items())
              if scene_id not in ("9004", "9005")][::50]
    fake_stash.standin.reset_counts()
    for scene_id, file in sample:
        for hints in ({"filename": relative(file["path"])},
                      {"filename": PLEX_ROOT + "/" + relative(file["path"])},
                      {"ohash": file["oshash"]}):
            found = s2p.match(type=1, **hints).json()["MediaContainer"]["Metadata"]
            assert [m["ratingKey"] for m in found] == [scene_id], hints
    counts = fake_stash.standin.counts
    # Over HTTP a decided match also warms the metadata cache (Plex asks for
    # the metadata next): those loads are findScenes(ids:), never a lookup.
    lookups = fake_stash.standin.graphql_requests - counts["op:S2PFindScenes"]
    print(f"over HTTP: {3 * len(sample)} matches, Stash lookups: {lookups}, "
          f"metadata prefetches: {counts['op:S2PFindScenes']}")
    assert lookups == 0
    assert counts["op:S2PFindScenes"] <= len(sample)
