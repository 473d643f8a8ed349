"""``s2p init`` against a fake Stash and a fake Plex that see one library
under different roots: the configuration it writes passes ``s2p check`` and
its rules match Plex's files to their scenes."""

from __future__ import annotations

import os
import stat
import tomllib

import pytest

from fakeplex import TOKEN, FakePlex
from helpers import API_KEY, run
from s2p.app.runtime import build_core
from s2p.common.deadline import Deadline
from s2p.config import load_settings
from s2p.demo.library import sample
from s2p.paths.propose import pairs_found, path_map_of, propose
from s2p.match.query import MatchQuery

STASH_MOUNT = "/volume1/adult"


def plex_with(library, plex_root: str, *, windows: bool = False) -> FakePlex:
    """A Plex whose one Movies library holds every Stash file under ``plex_root``."""
    plex = FakePlex()
    plex.add_section(1, "Scenes", [plex_root])
    plex.add_section(2, "Films", ["/films"], agent="tv.plex.agents.movie")
    plex.add_item(2, "A film", ["/films/A Film (2001).mkv"])
    plex.files = {}
    for scene_id, record in sorted(library.scenes.items()):
        for file in record["files"]:
            rest = file["path"][len(STASH_MOUNT):]
            path = plex_root + (rest.replace("/", "\\") if windows else rest)
            plex.add_item(1, record["title"] or scene_id, [path])
            plex.files[path] = scene_id
    return plex.start()


@pytest.fixture
def library():
    return sample(STASH_MOUNT)


def init(tmp_path, fake_stash, *extra: str, output="s2p.toml"):
    target = tmp_path / output
    result = run("init", "--yes", "--stash-url", fake_stash.url, "--stash-api-key", API_KEY,
                 "--output", str(target), *extra)
    return result, target


@pytest.mark.integration
@pytest.mark.parametrize("plex_root,windows", [("/data/adult", False), ("D:\\Media\\adult", True)])
def test_init_proposes_rules_that_match_plex_files_to_their_scenes(tmp_path, fake_stash, library, plex_root,
                                                                     windows):
    plex = plex_with(library, plex_root, windows=windows)
    try:
        result, config = init(tmp_path, fake_stash, "--plex-url", plex.url, "--plex-token", TOKEN)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Stash v0.30.1 answers" in result.stdout and f"Stash scans: {STASH_MOUNT}" in result.stdout
        assert "Library 'Scenes': the rules find the Stash file of 9 of 9 sampled file(s)" in result.stdout
        assert "Library 'Films': none of its 1 sampled file(s) is in Stash's sample" in result.stdout
        assert "s2p check --config" in result.stdout  # the next command
        # Secrets stay out of what is printed, and the file is the owner's alone.
        assert API_KEY not in result.stdout + result.stderr and TOKEN not in result.stdout + result.stderr
        assert stat.S_IMODE(os.stat(config).st_mode) == 0o600

        data = tomllib.loads(config.read_text(encoding="utf-8"))
        assert [r["name"] for r in data["paths"]] == ["adult"]
        examples = data["paths"][0]["examples"]
        assert examples and all(e.startswith(STASH_MOUNT + "/") for e in examples)
        assert data["plex"]["url"] == plex.url

        checked = run("check", "--config", str(config))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.rstrip().endswith("OK")

        # Every Plex file of the Movies library matches its own scene through the written rules.
        settings = load_settings(config, {})
        core = build_core(settings, with_index=False)
        try:
            for path, scene_id in plex.files.items():
                outcome = core.matcher.match(MatchQuery(kind=1, filename=path), Deadline(10))
                assert outcome.decision and outcome.decision.scene.id == scene_id, (path, outcome.reason)
                assert outcome.decision.step == "path", (path, outcome.decision.step)
        finally:
            core.stop()
    finally:
        plex.stop()


@pytest.mark.integration
def test_init_proposes_rules_from_a_tv_shows_library_too(tmp_path, fake_stash, library):
    """A user with only a TV Shows library (a folder per studio) gets the same rules: its
    episodes' files are sampled as a Movies library's are."""
    plex = FakePlex()
    plex.add_section(1, "Studios", ["/tv"], type="show", agent="tv.plex.agents.custom.s2p.tv")
    show = plex.add_item(1, "A studio", [], type="show")
    files = {}
    for scene_id, record in sorted(library.scenes.items()):
        for file in record["files"]:
            path = "/tv" + file["path"][len(STASH_MOUNT):]
            plex.add_item(1, record["title"] or scene_id, [path], type="episode", parent_rating_key=show.rating_key)
            files[path] = scene_id
    plex.start()
    try:
        result, config = init(tmp_path, fake_stash, "--plex-url", plex.url, "--plex-token", TOKEN)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Plex library 'Studios' (TV shows): /tv; 9 file(s) sampled" in result.stdout
        assert "Library 'Studios': the rules find the Stash file of 9 of 9 sampled file(s)" in result.stdout
        core = build_core(load_settings(config, {}), with_index=False)
        try:
            for path, scene_id in files.items():
                outcome = core.matcher.match(MatchQuery(kind=4, filename=path), Deadline(10))
                assert outcome.decision and outcome.decision.scene.id == scene_id, (path, outcome.reason)
        finally:
            core.stop()
    finally:
        plex.stop()


@pytest.mark.integration
def test_init_without_plex_writes_a_working_identity_configuration(tmp_path, fake_stash):
    result, config = init(tmp_path, fake_stash)
    assert result.returncode == 0, result.stderr
    assert "Plex: skipped" in result.stdout
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    assert "paths" not in data and "plex" not in data
    assert "# [[paths]]" in config.read_text(encoding="utf-8")  # says how to add a rule
    assert run("check", "--config", str(config)).returncode == 0


@pytest.mark.integration
def test_init_never_overwrites_without_being_told(tmp_path, fake_stash):
    existing = tmp_path / "s2p.toml"
    existing.write_text("# mine\n", encoding="utf-8")
    result, _ = init(tmp_path, fake_stash)
    assert result.returncode == 1 and "--force" in result.stderr
    assert existing.read_text(encoding="utf-8") == "# mine\n"
    forced, _ = init(tmp_path, fake_stash, "--force")
    assert forced.returncode == 0 and "[stash]" in existing.read_text(encoding="utf-8")


def test_init_stops_clearly_when_stash_refuses_the_key(tmp_path, fake_stash):
    target = tmp_path / "s2p.toml"
    result = run("init", "--yes", "--stash-url", fake_stash.url, "--stash-api-key", "wrong-key-0123456789",
                 "--output", str(target))
    assert result.returncode == 1 and not target.exists()
    assert result.stderr.count("Fix:") == 1 and "wrong-key-0123456789" not in result.stdout + result.stderr


def test_init_takes_an_address_without_a_scheme_as_http(tmp_path, fake_stash):
    target = tmp_path / "s2p.toml"
    bare = fake_stash.url.removeprefix("http://")
    result = run("init", "--yes", "--stash-url", bare, "--stash-api-key", API_KEY, "--output", str(target))
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(target.read_text(encoding="utf-8"))["stash"]["url"] == fake_stash.url


def test_init_example_prints_the_example_configuration():
    result = run("init", "--example")
    assert result.returncode == 0
    assert "[stash]" in result.stdout and "[[paths]]" in result.stdout
    data = tomllib.loads(result.stdout)
    assert data["server"]["port"] == 8008


def test_proposals_name_the_library_folders_and_pair_only_what_fits():
    stash = ["/volume1/adult/A/x.mp4", "/volume1/adult/B/y.mkv", "/volume1/vr/A/z.mp4", "/volume1/adult/B/dup.mp4"]
    plex = ["/data/adult/A/x.mp4", "/data/adult/B/y.mkv", "/data/vr/A/z.mp4", "/data/adult/unknown.mp4"]
    loose = propose(stash, plex)
    assert [(p.stash_root, p.plex_root, p.paired) for p in loose.proposals] == [("/volume1", "/data", 3)]
    rooted = propose(stash, plex, stash_roots=["/volume1/adult", "/volume1/vr"], plex_roots=["/data/adult", "/data/vr"])
    assert [(p.stash_root, p.plex_root) for p in rooted.proposals] == [("/volume1/adult", "/data/adult"),
                                                                        ("/volume1/vr", "/data/vr")]
    assert rooted.unpaired == ["/data/adult/unknown.mp4"]
    path_map = path_map_of(rooted.proposals)
    assert path_map.round_trip_problems() == []
    assert pairs_found(path_map, stash, plex) == 3


def test_a_file_that_fits_two_roots_does_not_vote():
    stash = ["/a/one/x.mp4", "/b/one/x.mp4", "/a/two/y.mp4"]
    plex = ["/p/one/x.mp4", "/p/two/y.mp4"]
    found = propose(stash, plex)
    assert found.ambiguous == 1
    assert [(p.stash_root, p.plex_root, p.paired) for p in found.proposals] == [("/a", "/p", 1)]


def test_identity_needs_no_rule():
    found = propose(["/m/a/x.mp4"], ["/m/a/x.mp4"])
    assert [p.identity for p in found.proposals] == [True] and not found.needs_rules


@pytest.mark.integration
def test_init_asks_on_a_terminal_and_asks_again_after_a_wrong_address(tmp_path, fake_stash, capsys):
    import argparse

    from s2p.cli.init import Asker
    from s2p.cli.init import run as init_run

    answers = iter(["http://127.0.0.1:9", fake_stash.url, "", "y"])  # a dead address first, then Stash; no Plex
    secrets = iter([API_KEY, API_KEY])
    asker = Asker(True, read=lambda prompt: next(answers), read_secret=lambda prompt: next(secrets))
    target = tmp_path / "s2p.toml"
    args = argparse.Namespace(example=False, output=str(target), force=False, yes=False, stash_url=None,
                              stash_api_key=None, plex_url=None, plex_token=None)
    assert init_run(args, environ={}, asker=asker) == 0
    out = capsys.readouterr().out
    assert "cannot connect to Stash" in out and "Stash v0.30.1 answers" in out
    assert tomllib.loads(target.read_text(encoding="utf-8"))["stash"]["url"] == fake_stash.url
    assert next(answers) == "y"  # nothing more was asked than the questions above


def test_init_yes_with_a_wrong_plex_token_fails_with_the_fix(tmp_path, fake_stash, library):
    plex = plex_with(library, "/data/adult")
    try:
        result, config = init(tmp_path, fake_stash, "--plex-url", plex.url, "--plex-token", "wrong-token-0123456789")
    finally:
        plex.stop()
    assert result.returncode == 1 and not config.exists()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "refused the token" in lines[0] and lines[0].count("Fix:") == 1, result.stderr
    assert "wrong-token-0123456789" not in result.stdout + result.stderr


def test_init_yes_with_plex_down_fails_with_the_fix(tmp_path, fake_stash):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result, config = init(tmp_path, fake_stash, "--plex-url", f"http://127.0.0.1:{port}", "--plex-token", TOKEN)
    assert result.returncode == 1 and not config.exists()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot reach Plex" in lines[0] and lines[0].count("Fix:") == 1, result.stderr


def test_init_asks_plex_again_keeping_what_was_typed(tmp_path, fake_stash, library, capsys):
    import argparse

    from s2p.cli.init import Asker
    from s2p.cli.init import run as init_run

    plex = plex_with(library, "/data/adult")
    prompts: list[str] = []
    answers = iter([fake_stash.url, plex.url, ""])  # Stash; Plex; then Enter keeps the URL typed
    secrets = iter([API_KEY, "wrong-token-0123456789", TOKEN])

    def read(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    asker = Asker(True, read=read, read_secret=lambda prompt: next(secrets))
    target = tmp_path / "s2p.toml"
    args = argparse.Namespace(example=False, output=str(target), force=False, yes=False, stash_url=None,
                              stash_api_key=None, plex_url=None, plex_token=None)
    try:
        assert init_run(args, environ={}, asker=asker) == 0
    finally:
        plex.stop()
    out = capsys.readouterr().out
    assert "Plex refused the token" in out
    assert prompts[-1].endswith(f"[{plex.url}]: "), prompts  # asked again with what was typed
    data = tomllib.loads(target.read_text(encoding="utf-8"))
    assert data["plex"]["url"] == plex.url and [r["name"] for r in data["paths"]] == ["adult"]
