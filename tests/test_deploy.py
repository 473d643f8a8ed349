"""The deployment files: what can be checked without Docker or systemd.

No Docker engine runs here, so the image is never built.  Instead the
Dockerfile is parsed and its final stage is played out against s2p.pyz:
its environment, its prepare step, its entrypoint and its health check run
as the image would run them.  The compose file is parsed and its settings are
loaded by s2p.  The systemd unit goes through ``systemd-analyze verify`` when
systemd is installed, and its environment is played out the same way.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from helpers import API_KEY, PATH_RULES
from pyzrun import REPO, PyzServer, bootstrap, builder, clean_env
from s2p.config import ConfigError, config_path, load_settings

DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "deploy" / "docker-compose.yml"
UNIT = REPO / "deploy" / "s2p.service"


# ---------------------------------------------------------------- Dockerfile


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for instruction, args in self.instructions if instruction == keyword]

    def one(self, keyword: str) -> str:
        found = self.all(keyword)
        assert len(found) == 1, f"{keyword}: {found}"
        return found[0]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                values[key] = value
        return values


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """(global ARGs, stages): enough of Dockerfile syntax for the checks below."""
    logical, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if pending and line.lstrip().startswith("#"):
            continue  # comments inside a continued instruction are dropped
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.strip().partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = rest.split()
            stages.append(Stage(words[0], words[2] if len(words) == 3 and words[1].upper() == "AS" else None))
        elif keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        else:
            assert stages, f"{keyword} before FROM"
            stages[-1].instructions.append((keyword, rest))
    return args, stages


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def dockerignore_allows(path: str) -> bool:
    allowed = False
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        if pattern == "*" or path == pattern or path.startswith(pattern + "/"):
            allowed = negate
    return allowed


@pytest.fixture(scope="module")
def dockerfile():
    return parse_dockerfile(DOCKERFILE.read_text())


def test_dockerfile_builds_the_pyz_then_runs_it_on_a_slim_python_as_non_root(dockerfile):
    args, stages = dockerfile
    assert len(stages) == 2
    build, final = stages
    assert build.name == "build"
    assert args["PYTHON_MINOR"] in builder().PYTHONS
    assert build.base == final.base == "python:${PYTHON_MINOR}-slim-bookworm"
    for copy in build.all("COPY"):
        for source in copy.split()[:-1]:
            assert (REPO / source).exists(), source
            assert dockerignore_allows(source.rstrip("/")), f"{source} is excluded by .dockerignore"
    assert not dockerignore_allows("tests") and not dockerignore_allows(".venv") and not dockerignore_allows("dist")
    assert 'build_zipapp.py --python "${PYTHON_MINOR}" --output /out/s2p.pyz' in build.one("RUN")
    assert final.one("COPY") == "--from=build --chmod=0644 /out/s2p.pyz /opt/s2p/s2p.pyz"
    assert final.one("USER") not in ("root", "0")
    assert final.one("EXPOSE") == "8008" and final.env()["S2P_SERVER_PORT"] == "8008"
    assert final.one("VOLUME") == final.env()["S2P_STATE_DIR"]
    entrypoint = exec_form(final.one("ENTRYPOINT"))
    assert entrypoint == ["python3", "-I", "/opt/s2p/s2p.pyz"] and exec_form(final.one("CMD")) == ["serve"]
    healthcheck = final.one("HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")
    assert "--interval=" in options and "--timeout=" in options
    assert exec_form(command)[:2] == ["python3", "-I"] and "curl" not in command and "wget" not in command


def test_dockerfile_instructions_carry_no_trailing_comments():
    for number, line in enumerate(DOCKERFILE.read_text().splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            assert " #" not in line.split("CMD [")[0], f"Dockerfile line {number}: a comment after an instruction"


def test_the_image_environment_is_valid_configuration(dockerfile):
    _, stages = dockerfile
    environ = stages[-1].env()
    assert environ["S2P_CACHE_DIR"].startswith("/opt/s2p/")
    load_settings(None, environ)  # raises ConfigError naming any bad key


def run_like_the_image(final: Stage, pyz: Path, root: Path, extra: dict[str, str]):
    """The final stage's environment, prepare step, entrypoint and health check, with
    the image's paths moved under ``root`` and python3 being this interpreter."""

    def here(value: str) -> str:
        for image_path in ("/opt/s2p", final.env()["S2P_STATE_DIR"]):
            value = value.replace(image_path, str(root / image_path.strip("/")))
        return value

    (root / "opt" / "s2p").mkdir(parents=True)
    shutil.copy(pyz, root / "opt" / "s2p" / "s2p.pyz")
    environ = {key: here(value) for key, value in final.env().items()} | extra
    runs = [args for args in final.all("RUN") if "s2p.pyz prepare" in args]
    assert len(runs) == 1
    keywords = [instruction for instruction, _ in final.instructions]
    at = final.instructions.index(("RUN", runs[0]))
    assert keywords.index("ENV") < at < keywords.index("USER"), "prepare sees S2P_CACHE_DIR and runs as root"
    prepare = shlex.split(runs[0])
    assert prepare[0] == "python3"
    result = subprocess.run([sys.executable] + [here(word) for word in prepare[1:]], capture_output=True,
                            text=True, env=clean_env(**environ), timeout=120)
    assert result.returncode == 0, result.stderr
    entrypoint = [here(word) for word in exec_form(final.one("ENTRYPOINT")) + exec_form(final.one("CMD"))]
    assert entrypoint[0] == "python3" and entrypoint[-1] == "serve"
    health = exec_form(final.one("HEALTHCHECK").partition(" CMD ")[2])
    return environ, entrypoint, [sys.executable] + health[1:]


@pytest.mark.integration
@pytest.mark.slow
def test_the_image_entrypoint_and_health_check_run_against_the_pyz(dockerfile, pyz, tmp_path, fake_stash):
    _, stages = dockerfile
    environ, entrypoint, health = run_like_the_image(stages[-1], pyz, tmp_path, {
        "S2P_STASH_URL": fake_stash.url, "S2P_STASH_API_KEY": API_KEY})
    cache = Path(environ["S2P_CACHE_DIR"])
    prepared = {str(p.relative_to(cache)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in cache.rglob("*")}
    assert any(name.endswith(".pyc") for name in prepared), "prepare byte-compiles at image build time"
    # The image runs as another user than the one that prepared it.
    assert all(p.stat().st_mode & 0o444 == 0o444 for p in cache.rglob("*"))
    assert all(p.stat().st_mode & 0o111 == 0o111 for p in [cache, *cache.rglob("*")] if p.is_dir())
    # Listening on every address as in the image; only the port is moved to a free one.
    server = PyzServer(None, environ, None, command=[sys.executable] + entrypoint[1:], host=environ["S2P_SERVER_HOST"])
    health_env = clean_env(S2P_SERVER_PORT=str(server.port))
    server.start()
    try:
        assert server.get("/").json()["MediaProvider"]["identifier"] == "tv.plex.agents.custom.s2p"
        healthy = subprocess.run(health, capture_output=True, text=True, env=health_env, timeout=30)
        assert healthy.returncode == 0, healthy.stderr
    finally:
        log = server.stop()
    served = {str(p.relative_to(cache)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in cache.rglob("*")}
    assert served == prepared, "nothing is written to the prepared cache (the image's may be read-only)"
    assert "listening on" in log and "in Plex" in log and "cannot use the cache directory" not in log
    unhealthy = subprocess.run(health, capture_output=True, text=True, env=health_env, timeout=30)
    assert unhealthy.returncode != 0, "the health check must fail when s2p is not answering"


# ---------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text())


def interpolate(value: str) -> str:
    """Compose's ${NAME:-default} with nothing set; a bare $ would be a compose error."""
    value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
    assert "$" not in value.replace("$$", ""), f"unescaped $ in {value!r}: compose would interpolate it"
    return value.replace("$$", "$")


def test_compose_runs_s2p_beside_plex_on_a_shared_network(compose, dockerfile):
    _, stages = dockerfile
    services = compose["services"]
    s2p, plex = services["s2p"], services["plex"]
    assert "host.docker.internal:host-gateway" in s2p["extra_hosts"]
    assert (COMPOSE.parent / s2p["build"] / "Dockerfile").resolve() == DOCKERFILE
    assert "8008:8008" in s2p["ports"]
    assert f"s2p-state:{stages[-1].env()['S2P_STATE_DIR']}" in s2p["volumes"]
    assert set(s2p["networks"]) & set(plex["networks"]), "Plex must reach s2p as http://s2p:8008/"
    assert s2p["read_only"] is True and "ALL" in s2p["cap_drop"]
    assert "s2p-state" in compose["volumes"]


def test_compose_environment_is_valid_configuration(compose):
    environ = {key: interpolate(value) for key, value in compose["services"]["s2p"]["environment"].items()}
    settings = load_settings(None, environ)
    assert settings.stash.url == "http://host.docker.internal:9999"
    assert settings.plex.url == "http://plex:32400"
    plex_path = settings.path_map().to_plex("/data/Studio/a.mp4")
    assert plex_path is not None and plex_path.path == "/media/Studio/a.mp4"


def test_a_bad_compose_value_would_be_refused_with_its_variable():
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {"S2P_STASH_URL": "host.docker.internal:9999"})
    assert "S2P_STASH_URL" in str(refused.value)


# ---------------------------------------------------------------- systemd


def unit_settings() -> list[tuple[str, str, str]]:
    """(section, key, value) for every setting line of the unit."""
    section, found = "", []
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.append((section, key, value))
    return found


def test_the_unit_has_no_comment_after_a_setting():
    # systemd reads "StateDirectory=s2p  # note" as more directories.
    for section, key, value in unit_settings():
        assert "#" not in value, f"[{section}] {key}={value}"


def test_the_unit_runs_the_pyz_hardened():
    service = {key: value for section, key, value in unit_settings() if section == "Service"}
    assert service["ExecStart"] == "/usr/bin/python3 -I /opt/s2p/s2p.pyz serve"
    for key, value in {"DynamicUser": "yes", "StateDirectory": "s2p", "CacheDirectory": "s2p",
                       "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
                       "NoNewPrivileges": "yes", "MemoryDenyWriteExecute": "yes", "CapabilityBoundingSet": ""}.items():
        assert service.get(key) == value, key
    # No restart loop on a bad configuration (exit 2) or an archive that cannot run here.
    assert set(service["RestartPreventExitStatus"].split()) == {"2", str(bootstrap().EXIT_REFUSED)}


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_is_clean():
    result = subprocess.run(["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), result.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=true", str(UNIT)], capture_output=True,
                              text=True, timeout=60)
    if security.returncode == 0:  # --offline needs systemd 250+
        level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout)
        assert level and float(level.group(1)) <= 2.0, security.stdout[-300:]


@pytest.mark.integration
@pytest.mark.slow
def test_the_pyz_runs_in_the_environment_the_unit_gives_it(pyz, tmp_path, fake_stash):
    """systemd sets STATE_DIRECTORY, CACHE_DIRECTORY and (for LoadCredential=)
    CREDENTIALS_DIRECTORY, and the dynamic user has no home."""
    config = tmp_path / "credentials" / "s2p.toml"
    config.parent.mkdir()
    rules = "\n".join(f'[[paths]]\nname = "{r["name"]}"\nstash_to_plex = {json.dumps(r["stash_to_plex"])}\n'
                      f'plex_to_stash = {json.dumps(r["plex_to_stash"])}\n' for r in PATH_RULES)
    config.write_text(f'[stash]\nurl = "{fake_stash.url}"\napi_key = "{API_KEY}"\n{rules}')
    settings = {key: value for section, key, value in unit_settings() if section == "Service"}
    assert settings["LoadCredential"] == f"{config.name}:/etc/s2p/s2p.toml" and "Environment" not in settings
    environ = {"CREDENTIALS_DIRECTORY": str(config.parent), "STATE_DIRECTORY": str(tmp_path / "state"),
               "CACHE_DIRECTORY": str(tmp_path / "cache"), "HOME": "/nonexistent"}
    (tmp_path / "state").mkdir()
    command = shlex.split(settings["ExecStart"])
    assert command[:2] == ["/usr/bin/python3", "-I"] and command[-1] == "serve"
    assert config_path(None, environ) == config
    assert load_settings(config, environ).state.dir == environ["STATE_DIRECTORY"]
    server = PyzServer(pyz, environ, None, args=("serve",))
    server.start()
    try:
        match = server.match(type=1, filename="Harbour Films/2023-05-12 - Jane Doe - Office Affair.mp4").json()
        assert match["MediaContainer"]["Metadata"][0]["ratingKey"] == "1"
    finally:
        log = server.stop()
    assert len(list((tmp_path / "cache").iterdir())) == 1, "unpacked into CACHE_DIRECTORY"
    assert "cannot use the cache directory" not in log and f"configuration: {config}" in log


def test_a_credential_is_read_only_when_systemd_hands_one_over(tmp_path):
    (tmp_path / "s2p.toml").write_text("")
    assert config_path(None, {"CREDENTIALS_DIRECTORY": str(tmp_path)}) == tmp_path / "s2p.toml"
    assert config_path(None, {"CREDENTIALS_DIRECTORY": str(tmp_path), "S2P_CONFIG": "/x.toml"}) == Path("/x.toml")
    assert config_path("/y.toml", {"CREDENTIALS_DIRECTORY": str(tmp_path)}) == Path("/y.toml")
    assert config_path(None, {"CREDENTIALS_DIRECTORY": str(tmp_path / "other")}) is None
