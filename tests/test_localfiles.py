"""Stash's oshash, computed from files under [match] media_roots, and the
rules that keep a hint from reading anything outside them."""

import io
import os
import time

import pytest

from s2p.config import MatchSettings
from s2p.common.deadline import Deadline
from s2p.paths.forms import parse_hint
from s2p.match.localfiles import LocalFiles, oshash_file, oshash_of
from s2p.match.cascade import Matcher
from s2p.paths.pathmap import PathMap
from s2p.match.query import MatchQuery
from s2p.stash.models import SceneSummary

from helpers import MemorySource


def of(data: bytes) -> str | None:
    return oshash_of(io.BytesIO(data), len(data))


def padded_tail(text: bytes) -> bytes:
    tail = bytearray(64 * 1024)
    tail[len(tail) - len(text):] = text
    return bytes(64 * 1024) + bytes(tail)


# Expected values are the ones Stash's own tests give for its oshash
# (pkg/hash/oshash), so s2p hashes exactly as Stash does.
@pytest.mark.parametrize("data, expected", [
    (b"this is a test" * 2 ** 15, "6a0eba04654d0b9b"),  # 448 KiB
    (b"hello world", "d3e392dee38cd4df"),               # below 64 KiB: the largest multiple of 8
    (padded_tail(b"this is dumb"), "d5d6ddd820756920"),  # oshash only sums: these two collide
    (padded_tail(b"dumb is this"), "d5d6ddd820756920"),
    (b"hello", None),                                   # 8 bytes or less: Stash has no oshash
    (b"12345678", None),
    (b"", None),
])
def test_oshash_as_stash_computes_it(data, expected):
    assert of(data) == expected


def test_files_between_64_and_128_kib_overlap_head_and_tail(tmp_path):
    data = bytes(range(256)) * 384  # 96 KiB
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    assert oshash_file(str(path)) == of(data)

    def words(chunk: bytes) -> int:
        return sum(int.from_bytes(chunk[i:i + 8], "little") for i in range(0, len(chunk), 8))

    assert int(of(data), 16) == (words(data[:65536]) + words(data[-65536:]) + len(data)) % 2 ** 64


@pytest.fixture
def library(tmp_path):
    root = tmp_path / "media"
    (root / "Studio" / "Renamed").mkdir(parents=True)
    (root / "Studio" / "Renamed" / "new name.mp4").write_bytes(b"scene one bytes." * 10000)
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"not for s2p" * 1000)
    os.symlink(outside / "secret.mp4", root / "Studio" / "link.mp4")
    return root


def test_relative_hints_are_found_under_a_root_with_or_without_their_first_folder(library):
    files = LocalFiles([str(library)])
    found = files.find_and_hash(parse_hint("Studio/Renamed/new name.mp4"), None)
    assert found.path == str(library / "Studio" / "Renamed" / "new name.mp4")
    assert found.oshash == oshash_file(found.path)
    # Plex's path may start with the library folder's own name.
    assert files.find_and_hash(parse_hint("Library/Studio/Renamed/new name.mp4"), None).path == found.path


def test_nothing_outside_the_roots_is_read(library, tmp_path):
    files = LocalFiles([str(library)])
    assert files.find_and_hash(parse_hint("Studio/link.mp4"), None) is None  # a symlink leading out
    assert files.find_and_hash(parse_hint(str(tmp_path / "private" / "secret.mp4")), None) is None
    assert files.find_and_hash(parse_hint("secret.mp4"), str(tmp_path / "private" / "secret.mp4")) is None
    assert files.inside_roots(str(library / ".." / "private" / "secret.mp4")) is None
    with pytest.raises(ValueError):
        parse_hint("Studio/../../private/secret.mp4")  # refused before any path is built


def test_a_stalled_read_costs_the_hash_not_the_answer(library):
    class Stalled(LocalFiles):
        def find_and_hash(self, hint, translated):
            time.sleep(1.5)

    files = Stalled([str(library)])
    started = time.monotonic()
    found = files.lookup(parse_hint("Studio/Renamed/new name.mp4"), None, Deadline(0.3))
    assert time.monotonic() - started < 1.4  # the stall is 1.5 s; the deadline 0.3 s
    assert found.oshash is None and "took over" in found.problem
    files.close()


def test_a_renamed_file_matches_by_its_hash(library):
    path = library / "Studio" / "Renamed" / "new name.mp4"
    value = oshash_file(str(path))
    # Stash still knows the file by its old name.
    scene = SceneSummary.model_validate({"id": "9", "title": "Scene One", "files": [
        {"path": "/stash/Studio/old name.mp4", "fingerprints": [{"type": "oshash", "value": value}]}]})
    matcher = Matcher(MemorySource([scene]), PathMap(), MatchSettings(media_roots=[str(library)]),
                      LocalFiles([str(library)]))
    outcome = matcher.match(MatchQuery(kind=1, filename="Studio/Renamed/new name.mp4"), Deadline(5))
    assert outcome.decision.scene.id == "9" and outcome.decision.step == "file-oshash"
    assert str(path) in outcome.decision.reason
    # Without the roots the same hint finds nothing.
    plain = Matcher(MemorySource([scene]), PathMap(), MatchSettings())
    assert plain.match(MatchQuery(kind=1, filename="Studio/Renamed/new name.mp4"), Deadline(5)).candidates == []


def test_media_roots_must_be_absolute():
    with pytest.raises(ValueError, match="not an absolute directory"):
        MatchSettings(media_roots=["relative/dir"])
