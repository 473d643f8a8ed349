"""The image-signing key and URL versions (pure parts of the artwork code)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from s2p.artwork.links import RouteImageLinks, combine, seconds, version_of
from s2p.artwork.signing import KEY_FILE, SIGNATURE_LENGTH, ImageSigner
from s2p.common.statedir import StateDirError
from s2p.stash.models import PerformerRef, Scene


def test_the_key_is_made_once_private_and_reused(tmp_path):
    first = ImageSigner.from_state_dir(tmp_path / "state")
    key_file = tmp_path / "state" / KEY_FILE
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    content = key_file.read_bytes()
    second = ImageSigner.from_state_dir(tmp_path / "state")
    assert key_file.read_bytes() == content
    assert first.sign("scene", "1", "poster", "5") == second.sign("scene", "1", "poster", "5")


def test_processes_starting_together_agree_on_one_key(tmp_path):
    state = tmp_path / "state"
    script = ("import sys; from s2p.artwork.signing import ImageSigner; "
              "print(ImageSigner.from_state_dir(sys.argv[1]).sign('scene', '1', 'poster', '1'))")
    processes = [subprocess.Popen([sys.executable, "-c", script, str(state)], stdout=subprocess.PIPE, text=True)
                 for _ in range(6)]
    signatures = {p.communicate(timeout=60)[0].strip() for p in processes}
    assert len(signatures) == 1 and all(len(s) == SIGNATURE_LENGTH for s in signatures)
    assert not [p for p in state.iterdir() if p.name.endswith(".tmp")]


def test_threads_starting_together_agree_on_one_key(tmp_path):
    with ThreadPoolExecutor(8) as pool:
        signers = list(pool.map(lambda _: ImageSigner.from_state_dir(tmp_path), range(16)))
    assert len({s.sign("group", "2", "front", "9") for s in signers}) == 1


def test_a_damaged_key_stops_with_the_fix(tmp_path):
    (tmp_path / KEY_FILE).write_bytes(b"!!not base64!!")
    with pytest.raises(StateDirError) as caught:
        ImageSigner.from_state_dir(tmp_path)
    assert "delete the file" in str(caught.value)


def test_signatures_cover_every_part_of_the_url():
    signer = ImageSigner(b"0123456789abcdef0123456789abcdef")
    base = ("scene", "1", "poster", "1700000000")
    signature = signer.sign(*base)
    assert len(signature) == SIGNATURE_LENGTH and "=" not in signature and "/" not in signature
    assert signer.verify(*base, signature)
    for changed in (("scene", "2", "poster", "1700000000"), ("studio", "1", "poster", "1700000000"),
                    ("scene", "1", "background", "1700000000"), ("scene", "1", "poster", "1700000001"),
                    ("scene", "1/", "poster", "1700000000")):
        assert not signer.verify(*changed, signature)
    assert not signer.verify(*base, None) and not signer.verify(*base, signature[:-1])
    assert not ImageSigner(b"another key of at least 16").verify(*base, signature)


def test_versions_are_unix_seconds_of_stash_stamps():
    assert version_of("1700000000") == "1700000000"
    assert version_of("2024-01-01T12:00:00+00:00") == "1704110400"
    assert version_of("2024-01-01T12:00:00Z") == "1704110400"
    assert version_of("2024-01-01T13:00:00+01:00") == "1704110400"
    assert version_of(None) == "0" and seconds("0") is None
    odd = version_of("not a time")
    assert odd.startswith("x") and odd == version_of("not a time") and seconds(odd) is None
    assert combine(["5", "9", "7"]) == "9"
    assert combine(["5", odd]).startswith("x") and combine(["5", odd]) != combine(["6", odd])


def test_links_are_signed_and_carry_the_newest_version():
    signer = ImageSigner(b"k" * 32)
    links = RouteImageLinks("https://img.example.net/", signer, "poster-letterbox")
    scene = Scene.model_validate({
        "id": "4", "updated_at": "2024-01-01T12:00:00Z", "paths": {"screenshot": "http://stash/scene/4/screenshot"},
        "studio": {"id": "2", "name": "S", "image_path": "http://stash/studio/2/image?t=1800000000"},
    })
    poster = links.scene(scene, "poster")
    assert poster == ("https://img.example.net/images/scene/4/poster-letterbox/1800000000/"
                      + signer.sign("scene", "4", "poster-letterbox", "1800000000"))
    # The background does not depend on the studio: its version is the scene's.
    assert "/images/scene/4/background/1704110400/" in links.scene(scene, "background")
    assert links.scene(scene, "snapshot") == links.scene(scene, "background")
    assert links.performer(PerformerRef(id="3", name="P", image_path="http://stash/performer/3/image?t=7")) \
        == f"https://img.example.net/images/performer/3/image/7/{signer.sign('performer', '3', 'image', '7')}"
    assert links.performer(PerformerRef(id="3", name="P", image_path="http://s/performer/3/image?t=7&default=true")) \
        is None
