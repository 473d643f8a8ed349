import pytest

from s2p.config import ConfigError, load_settings, mask

ENV = {"HOME": "/home/someone"}


def write(tmp_path, text):
    path = tmp_path / "s2p.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path, text, env=None):
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), {**ENV, **(env or {})})
    return caught.value.problems


def test_defaults_work_without_a_file():
    settings = load_settings(None, ENV)
    assert settings.server.port == 8008
    assert settings.stash.max_concurrency == 4 and settings.stash.timeout == 10
    assert settings.provider.identifier == "tv.plex.agents.custom.s2p"
    assert settings.provider.content_rating == "XXX"
    assert settings.state.dir == "/home/someone/.local/state/s2p"


def test_environment_overrides_the_file(tmp_path):
    path = write(tmp_path, '[stash]\nurl = "http://file:9999"\ntimeout = 4\n')
    settings = load_settings(path, {**ENV, "S2P_STASH_URL": "http://env:9999/", "S2P_SERVER_PORT": "9001",
                                    "S2P_STASH_API_KEY": "k" * 20, "S2P_SERVER_ALLOW": "10.0.0.0/8, 192.168.1.7"})
    assert settings.stash.url == "http://env:9999"
    assert settings.stash.timeout == 4
    assert settings.server.port == 9001
    assert settings.stash.api_key.get_secret_value() == "k" * 20
    assert settings.server.allow == ["10.0.0.0/8", "192.168.1.7/32"]


def test_durations_accept_units(tmp_path):
    settings = load_settings(write(tmp_path, '[gaps]\ninterval = "6h"\n[stash]\ntimeout = "1500ms"\n'), ENV)
    assert settings.gaps.interval == 21600 and settings.stash.timeout == 1.5


def test_state_dir_follows_systemd():
    assert load_settings(None, {**ENV, "STATE_DIRECTORY": "/var/lib/s2p:/x"}).state.dir == "/var/lib/s2p"


def test_errors_name_source_key_and_fix(tmp_path):
    found = problems(tmp_path, '[server]\nport = 70000\ntreads = 2\n[provider]\nidentifier = "tv.plex.agents.x"\n',
                     {"S2P_STASH_TIMEOUT": "soon"})
    text = "\n".join(found)
    assert "s2p.toml: [server] port" in text and "Fix:" in text and "65535" in text
    assert "[server] treads: unknown key" in text
    assert "[provider] identifier" in text and "tv.plex.agents.custom." in text
    assert "environment S2P_STASH_TIMEOUT: [stash] timeout" in text
    assert len(found) == 4


def test_secret_values_are_not_echoed(tmp_path):
    found = problems(tmp_path, '[stash]\napi_key = ["x"]\n')
    assert found and "[stash] api_key" in found[0] and "'x'" not in found[0]


def test_bad_toml_names_the_line(tmp_path):
    found = problems(tmp_path, "[server\nport = 1\n")
    assert "not valid TOML" in found[0] and "line 1" in found[0]


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", ENV)


def test_path_rules_are_compiled_and_round_tripped(tmp_path):
    good = '''
[[paths]]
name = "nas"
stash_to_plex = ["^/volume1/(.*)$", "/data/\\\\1"]
plex_to_stash = ["^/data/(.*)$", "/volume1/\\\\1"]
examples = ["/volume1/Studio/a b.mp4"]
'''
    settings = load_settings(write(tmp_path, good), ENV)
    assert settings.path_map().to_plex("/volume1/x.mp4").path == "/data/x.mp4"
    broken = good.replace('"/volume1/\\\\1"', '"/volume2/\\\\1"')
    found = problems(tmp_path, broken)
    assert '[[paths]] "nas"' in found[0] and "/volume2/Studio/a b.mp4" in found[0]


def test_dangerous_or_invalid_rule_patterns_stop_start_up(tmp_path):
    found = problems(tmp_path, '''
[[paths]]
name = "slow"
stash_to_plex = ["^(/[a-z]+)+$", "/x"]
plex_to_stash = ["^/x(.*$", "/y"]
''')
    text = "\n".join(found)
    assert '"slow": stash_to_plex' in text and "exponential" in text
    assert '"slow": plex_to_stash' in text and "not a valid regular expression" in text


def test_paths_from_the_environment_as_json():
    env = {**ENV, "S2P_PATHS": '[{"name": "n", "stash_to_plex": ["^/a/(.*)$", "/b/\\\\1"], '
                               '"plex_to_stash": ["^/b/(.*)$", "/a/\\\\1"], "examples": ["/a/x"]}]'}
    assert load_settings(None, env).path_map().to_stash("/b/x").path == "/a/x"
    with pytest.raises(ConfigError, match="S2P_PATHS"):
        load_settings(None, {**ENV, "S2P_PATHS": "[{"})


def test_unknown_environment_key_is_an_error():
    with pytest.raises(ConfigError, match="S2P_STASH_APIKEY.*unknown key"):
        load_settings(None, {**ENV, "S2P_STASH_APIKEY": "x"})


def test_reserved_variables_are_not_configuration():
    load_settings(None, {**ENV, "S2P_CACHE_DIR": "/tmp/x", "S2P_CONFIG": "", "S2P_FORCE_EXTRACT": "1"})


def test_mask_shows_only_the_end():
    assert mask("abcdefghijkl1234") == "***1234"
    assert mask("short") == "***"
    assert mask("") == "(not set)"


def test_the_example_file_loads_and_documents_every_key():
    import re
    from pathlib import Path

    from s2p.config import Settings

    example = Path(__file__).resolve().parent.parent / "s2p.toml.example"
    settings = load_settings(example, ENV)
    assert settings.server.port == 8008
    text = example.read_text(encoding="utf-8")
    for section, field in Settings.model_fields.items():
        model = field.annotation
        keys = getattr(model, "model_fields", None)
        if section == "paths":
            from s2p.config import PathRuleSettings
            keys = PathRuleSettings.model_fields
        for key in keys:
            assert re.search(rf"^#? ?{key} =", text, re.M), f"[{section}] {key} is not in s2p.toml.example"


def test_errors_name_the_place_and_suggest_the_near_miss(tmp_path):
    config = tmp_path / "s2p.toml"
    config.write_text('[serverr]\nport = 1\n[stash]\nurll = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {"S2P_SERVR_HOST": "x"})
    problems = caught.value.problems
    assert any(p.startswith(f"{config}: [serverr]: unknown section. Fix: did you mean [server]?") for p in problems)
    assert any(p.startswith(f"{config}: [stash] urll: unknown key. Fix: did you mean url?") for p in problems)
    assert any(p.startswith("environment S2P_SERVR_HOST: [servr]: unknown section") for p in problems)


def test_a_bad_path_rule_names_the_file_the_rule_and_a_fix(tmp_path):
    config = tmp_path / "s2p.toml"
    config.write_text('[[paths]]\nname = "nas"\nstash_to_plex = ["^/a/(.*", "/b/\\\\1"]\n'
                      'plex_to_stash = ["^/b/(.*)$", "/a/\\\\1"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {})
    [problem] = caught.value.problems
    assert problem.startswith(f'{config}: [[paths]] #1 "nas": stash_to_plex: pattern \'^/a/(.*\'')
    assert "replacement '/b/\\1'" in problem  # shown as written, not with doubled backslashes
    assert "Fix:" in problem and "s2p init" in problem


def test_a_missing_file_points_at_s2p_init(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "nope.toml", {})
    assert "s2p init" in caught.value.problems[0]


def test_a_key_in_the_wrong_place_is_never_echoed(tmp_path):
    key = "stash-key-0123456789abcdef"
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"S2P_STASH_URL": f"http://stash:9999/?apikey={key}", "S2P_STASH_API_KEY": key,
                             "S2P_STASH_TIMEOUT": key, "S2P_PLEX_TOKEN": "plex-token-abcdef123456",
                             "S2P_SERVER_PORT": "plex-token-abcdef123456"})
    text = str(caught.value)
    assert key not in text and "plex-token-abcdef123456" not in text
    assert "[stash] api_key" in text and "[stash] timeout" in text and "[server] port" in text
