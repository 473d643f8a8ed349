"""The Stash API key, the Plex token and the server secret never leave s2p:
not in logs (checked for the whole session by conftest's SecretWatch), not
in answers, image URLs, /healthz, /metrics or `s2p check`."""

from __future__ import annotations

import json
import logging
import sys

import pytest
import requests

from helpers import API_KEY, PLEX_TOKEN, SECRET_WATCH
from s2p.config import ConfigError, load_settings, mask
from s2p.ops.logs import JsonFormatter, Redactor, TextFormatter
from secretwatch import SecretWatch
from helpers import run, write_config

SERVER_SECRET = "srv-secret-Hq3mV8nT2wX6"
SECRETS = (API_KEY, PLEX_TOKEN, SERVER_SECRET)


def assert_no_secret(text: str, where: str = "") -> None:
    for secret in SECRETS:
        assert secret not in text, f"a secret leaked {where}: {text[:300]!r}"


# ---------------------------------------------------------------- the watch itself

def test_secret_watch_finds_a_secret_anywhere_in_a_record():
    watch = SecretWatch()
    watch.watch("hunter2-but-longer")
    records = [
        logging.LogRecord("s2p.x", logging.DEBUG, __file__, 1, "plain %s", ("nothing here",), None),
        logging.LogRecord("s2p.x", logging.DEBUG, __file__, 1, "in the args: %s", ("k=hunter2-but-longer",), None),
        _record("in an extra field", route="/x/hunter2-but-longer"),
        # urllib3 below INFO never passes s2p's logging set-up: not looked at.
        logging.LogRecord("urllib3.connectionpool", logging.DEBUG, __file__, 1, "GET /hunter2-but-longer", None,
                          None),
        logging.LogRecord("urllib3.connectionpool", logging.WARNING, __file__, 1, "GET /hunter2-but-longer", None,
                          None),
    ]
    try:
        raise RuntimeError("boom hunter2-but-longer")
    except RuntimeError:
        records.append(_record("in the traceback", exc_info=sys.exc_info()))
    for record in records:
        watch.handle(record)
    assert watch.records_seen == 5
    assert len(watch.leaks) == 4


def test_the_session_watch_sees_s2p_debug_records(s2p):
    assert SECRET_WATCH in logging.getLogger().handlers
    before = SECRET_WATCH.records_seen
    assert s2p.get("/library/metadata/1").status_code == 200
    # At least the Stash query (DEBUG) and the request line (INFO).
    assert SECRET_WATCH.records_seen >= before + 2


# ---------------------------------------------------------------- answers

@pytest.fixture
def guarded(start_s2p, fake_stash):
    return start_s2p(fake_stash.url, server={"secret": SERVER_SECRET}, plex={"token": PLEX_TOKEN})


def _sweep(s2p, root: str) -> list[requests.Response]:
    """One request of every kind, good and bad."""
    calls = [
        ("GET", f"{root}/", {}), ("GET", f"{root}/library/metadata/1", {}), ("GET", f"{root}/library/metadata/7", {}),
        ("GET", f"{root}/library/metadata/1/images", {}), ("GET", f"{root}/library/metadata/1/extras", {}),
        ("GET", f"{root}/library/metadata/999", {}), ("GET", f"{root}/library/metadata/x", {}),
        ("POST", f"{root}/library/metadata/matches", {"json": {"type": 1, "filename": "日本の夏.mp4"}}),
        ("POST", f"{root}/library/metadata/matches", {"json": {"type": 1, "title": "office", "manual": 1}}),
        ("POST", f"{root}/library/metadata/matches", {"data": b"{broken"}),
        ("POST", f"{root}/library/metadata/matches", {"data": b"x" * 70000}),
        ("DELETE", f"{root}/library/metadata/1", {}), ("GET", "/library/metadata/1", {}),
        ("GET", "/images/scene/1/poster", {}), ("GET", "/images/scene/999/poster", {}),
        ("GET", "/healthz", {}), ("GET", "/metrics", {}), ("GET", "/openapi.json", {}),
    ]
    return [requests.request(method, s2p.url + path, timeout=15, **kw) for method, path, kw in calls]


def _image_urls(response: requests.Response) -> list[str]:
    item = response.json()["MediaContainer"]["Metadata"][0]
    return [item["thumb"], item["art"]] + [i["url"] for i in item["Image"]] + [r["thumb"] for r in item["Role"]]


@pytest.mark.integration
def test_no_secret_in_any_answer_or_image_url(guarded, fake_stash):
    root = f"/{SERVER_SECRET}"
    responses = _sweep(guarded, root)
    assert {r.status_code for r in responses} >= {200, 400, 404, 405, 413}
    for response in responses:
        assert_no_secret(response.text + str(response.headers), f"in {response.request.method} "
                         f"{response.request.path_url.replace(SERVER_SECRET, '<secret>')}")
    urls = _image_urls(guarded.get(f"{root}/library/metadata/1"))
    assert urls
    for url in urls:
        assert_no_secret(url, "in an image URL")
        assert "apikey" not in url.lower() and "token" not in url.lower()


@pytest.mark.integration
def test_no_secret_in_answers_when_stash_fails(guarded, fake_stash):
    fake_stash.standin.fail("error")
    responses = _sweep(guarded, f"/{SERVER_SECRET}")
    assert 503 in {r.status_code for r in responses}
    for response in responses:
        assert_no_secret(response.text + str(response.headers), "with Stash failing")
    fake_stash.standin.heal()
    fake_stash.stop()
    for response in _sweep(guarded, f"/{SERVER_SECRET}"):
        assert_no_secret(response.text, "with Stash down")


@pytest.mark.integration
@pytest.mark.parametrize("container", [False, True])
def test_start_up_log_shows_the_secret_root_masked(start_s2p, fake_stash, caplog, monkeypatch, container):
    from s2p.app.announce import announce

    monkeypatch.setattr("s2p.app.announce.in_container", lambda: container)
    caplog.set_level(logging.INFO)
    s2p = start_s2p(fake_stash.url, server={"secret": SERVER_SECRET})
    announce(s2p.settings, s2p.services, s2p.server.port)
    lines = [r.getMessage() for r in caplog.records if "register " in r.getMessage() and "in Plex" in r.getMessage()]
    assert len(lines) == 1
    assert f"/{mask(SERVER_SECRET)}/" in lines[0] and SERVER_SECRET not in lines[0]
    assert "[server] secret" in lines[0]


# ---------------------------------------------------------------- formatters

def _record(message: str, **extra) -> logging.LogRecord:
    record = logging.LogRecord("s2p.test", logging.ERROR, __file__, 1, message, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


@pytest.mark.parametrize("formatter_class", [TextFormatter, JsonFormatter])
def test_formatters_mask_secrets_in_the_final_text(formatter_class):
    formatter = formatter_class(Redactor(SECRETS))
    try:
        raise ValueError(f"failed with {API_KEY}")
    except ValueError:
        record = _record(f"token {PLEX_TOKEN} at /{SERVER_SECRET}/", route=f"/{SERVER_SECRET}/x")
        record.exc_info = sys.exc_info()
    text = formatter.format(record)
    assert_no_secret(text)
    assert mask(API_KEY) in text and mask(PLEX_TOKEN) in text
    if formatter_class is JsonFormatter:
        assert json.loads(text)["route"] == f"/{mask(SERVER_SECRET)}/x"


# ---------------------------------------------------------------- configuration and `s2p check`

def _secret_config(tmp_path, stash_url):
    return write_config(tmp_path, stash_url, extra=f'''
[server]
secret = "{SERVER_SECRET}"

[plex]
token = "{PLEX_TOKEN}"
''')


def _check(config, capsys) -> tuple[int, str]:
    from s2p.cli.check import run as check

    code = check(load_settings(config, {}), config)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.integration
def test_check_output_masks_every_secret(tmp_path, fake_stash, capsys):
    code, out = _check(_secret_config(tmp_path, fake_stash.url), capsys)
    assert code == 0, out
    assert_no_secret(out, "in `s2p check`")
    assert mask(API_KEY) in out
    assert f"provider root /{mask(SERVER_SECRET)}/" in out
    assert "([server] allow)" in out and "/images from anywhere" in out


def test_check_output_masks_every_secret_when_stash_is_down(tmp_path, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out = _check(_secret_config(tmp_path, f"http://127.0.0.1:{port}"), capsys)
    assert code == 1 and "NOT reachable" in out
    assert_no_secret(out, "in `s2p check`")


@pytest.mark.integration
def test_debug_json_logs_of_a_command_mask_every_secret(tmp_path, fake_stash):
    config = _secret_config(tmp_path, fake_stash.url)
    config.write_text(config.read_text() + '\n[log]\nlevel = "DEBUG"\nformat = "json"\n', encoding="utf-8")
    result = run("check", config=config)
    assert result.returncode == 0
    assert '"level": "DEBUG"' in result.stderr, "the DEBUG lines were written"
    assert_no_secret(result.stdout + result.stderr, "in DEBUG logs or `s2p check`")


@pytest.mark.integration
def test_plex_commands_mask_the_secret_root_of_the_urls_they_print(tmp_path, fake_stash):
    """`s2p check` and `s2p register` print the provider URLs, whose root is the server
    secret; their output is pasted into forum posts, so it shows the root masked."""
    from fakeplex import TOKEN, FakePlex

    plex = FakePlex()
    gone = f"http://127.0.0.1:9/{SERVER_SECRET}/"  # nothing serves it
    plex.providers.append({"id": 1, "identifier": "tv.plex.agents.custom.s2p", "title": "Stash (s2p)", "uri": gone})
    plex.start()
    try:
        config = write_config(tmp_path, fake_stash.url, extra=f'''
[server]
secret = "{SERVER_SECRET}"

[plex]
url = "{plex.url}"
token = "{TOKEN}"
''')
        checked = run("check", config=config)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert f"/{mask(SERVER_SECRET)}/ ([server] secret" in checked.stdout
        assert f"s2p is registered at http://127.0.0.1:9/{mask(SERVER_SECRET)}/;" in checked.stdout
        # Plex refuses a URL nothing serves, and says which: masked too.
        registered = run("register", "--tv", "--url", gone, config=config)
        assert registered.returncode == 1 and f"http://127.0.0.1:9/{mask(SERVER_SECRET)}/tv" in registered.stdout
        for result in (checked, registered):
            assert_no_secret(result.stdout + result.stderr, "in the output of a Plex command")
            assert TOKEN not in result.stdout + result.stderr
    finally:
        plex.stop()


@pytest.mark.parametrize("url", ["http://admin:hunter2secret@stash:9999", "ftp://admin:hunter2secret@stash"])
def test_urls_with_a_password_are_refused_without_echoing_it(url):
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"S2P_STASH_URL": url})
    assert "hunter2secret" not in str(caught.value)
    assert "[stash] url" in str(caught.value) and "api_key" in str(caught.value)


def test_bad_secret_value_is_not_echoed():
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"S2P_SERVER_SECRET": "short!key"})
    assert "short!key" not in str(caught.value) and "[server] secret" in str(caught.value)
