"""Settings: one validated object built at start-up and passed down.

Sources, later ones winning: built-in defaults, the TOML file (``--config``
or ``S2P_CONFIG``), then ``S2P_<SECTION>_<KEY>`` environment variables.
Every problem is reported with where the value came from, the key, and what
to put there instead; the process then exits without starting.

To add an option: add a field to the section's model below with a default
and a ``description`` that says what a valid value looks like (the
description is the "fix" shown when the value is wrong), then document it in
``s2p.toml.example``.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import json
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Sequence
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from s2p.paths.pathmap import DEFAULT_PATH_LIMIT, PathMap, PathRule, Rewrite, RuleError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ENV_PREFIX = "S2P_"
# S2P_* variables that are not configuration keys.
RESERVED_ENV = {"S2P_CONFIG", "S2P_CACHE_DIR", "S2P_FORCE_EXTRACT", "S2P_PREPARE"}

DEFAULT_IDENTIFIER = "tv.plex.agents.custom.s2p"
PRIVATE_NETWORKS = [
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
]


class ConfigError(Exception):
    """A configuration that cannot be used.  ``str()`` is the full report."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


# ---------------------------------------------------------------- value types

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def _parse_duration(value: Any) -> Any:
    """Seconds as a number, or a string like "500ms", "30s", "5m", "6h", "1d"."""
    if isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            return value  # left for pydantic to reject as "not a number"
        return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    return value


Duration = Annotated[float, BeforeValidator(_parse_duration)]


def _check_cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP network") from None


def _check_http_url(value: str, *, allow_path: bool = True) -> str:
    value = value.strip()
    if not value:
        return value
    parts = urlsplit(value)
    if "@" in parts.netloc:
        # Checked first, and the value is not echoed: a password here would be
        # shown wherever the URL is (logs, error messages, `s2p check`).
        raise ValueError("the URL must not carry a user name or password; s2p authenticates with "
                         "[stash] api_key or [plex] token")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        # Not echoed: Stash accepts ?apikey=..., so the query may be a key.
        raise ValueError("the URL must not carry a query string or fragment (an API key goes in [stash] api_key, "
                         "a token in [plex] token)")
    if not allow_path and parts.path not in ("", "/"):
        raise ValueError(f"{value!r} must not carry a path")
    try:
        _ = parts.port  # reading it checks it
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port") from None
    return value.rstrip("/")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- sections


class ServerSettings(_Section):
    host: str = Field("0.0.0.0", description="an address to listen on, e.g. 0.0.0.0 or 127.0.0.1")
    port: int = Field(8008, ge=1, le=65535, description="a TCP port between 1 and 65535")
    threads: int = Field(16, ge=1, le=256, description="the number of request threads, 1-256")
    connection_limit: int = Field(
        512, ge=8, le=10000, description="the most open connections waitress accepts, 8-10000"
    )
    max_connections_per_address: int = Field(
        32, ge=1, le=10000, description="the most open connections from one address once half of "
                                        "connection_limit is open (trusted proxies excepted), 1-10000")
    receive_timeout: Duration = Field(
        5.0, gt=0, le=300, description="seconds a request may take to arrive whole once it has begun, "
                                        "above 0 and at most 300")
    max_body: int = Field(
        65536, ge=1024, le=16 * 1024 * 1024, description="a request body limit in bytes, 1024-16777216"
    )
    request_budget: Duration = Field(
        30.0,
        gt=0,
        le=85,
        description="seconds a Plex request may spend waiting on Stash, above 0 and at most 85 "
        "(Plex gives up after about 90 s)",
    )
    allow: list[str] = Field(
        default_factory=lambda: list(PRIVATE_NETWORKS),
        description="a list of IP networks allowed to call the Plex routes, e.g. [\"192.168.1.0/24\"]",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="a list of IP networks of reverse proxies whose X-Forwarded-For is believed",
    )
    secret: str = Field(
        "",
        description="empty, or at least 16 letters, digits, '-' or '_' (the provider root becomes /<secret>/)",
    )
    plex_clients: list[str] = Field(
        default_factory=list,
        description="a list of Plex server machine identifiers (X-Plex-Client-Identifier) allowed to call",
    )
    hosts: list[str] = Field(
        default_factory=list,
        description="a list of host names s2p is called by besides addresses, one-label and local names "
                    "(e.g. [\"s2p.example.net\"] behind a reverse proxy)",
    )
    ops_allow: list[str] = Field(
        default_factory=lambda: list(PRIVATE_NETWORKS),
        description="a list of IP networks allowed to read /healthz, /metrics, /openapi.json, /gaps and /debug",
    )

    @field_validator("allow", "trusted_proxies", "ops_allow")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        return [_check_cidr(x) for x in v]

    @field_validator("secret")
    @classmethod
    def _secret(cls, v: str) -> str:
        if v and not re.fullmatch(r"[A-Za-z0-9_-]{16,128}", v):
            raise ValueError("the secret must be 16-128 letters, digits, '-' or '_'")
        return v


class StashSettings(_Section):
    url: str = Field(
        "http://localhost:9999",
        description="Stash's base URL, e.g. http://192.168.1.10:9999 (no /graphql, no query string)",
    )
    api_key: SecretStr = Field(
        SecretStr(""), description="the API key from Stash's Settings > Security, or empty when Stash has no login"
    )
    timeout: Duration = Field(10.0, gt=0, le=60, description="seconds per Stash request, above 0 and at most 60")
    connect_timeout: Duration = Field(3.0, gt=0, le=30,
                                      description="seconds to connect to Stash, above 0 and at most 30")
    max_concurrency: int = Field(4, ge=1, le=64, description="the most Stash requests at once, 1-64")
    slot_wait: Duration = Field(
        5.0, ge=0, le=60, description="seconds a title search waits for a free Stash slot (other requests wait "
                                      "as long as their budget allows), 0-60"
    )
    retries: int = Field(2, ge=0, le=5, description="retries of a failed read, 0-5")
    breaker_failures: int = Field(
        5, ge=1, le=100, description="consecutive failures that open the circuit breaker, 1-100"
    )
    breaker_cooldown: Duration = Field(
        30.0, gt=0, le=3600, description="seconds the circuit breaker stays open, above 0 and at most 3600"
    )
    verify_tls: bool = Field(True, description="true or false")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        v = _check_http_url(v)
        if not v:
            raise ValueError("Stash's URL is required")
        if v.endswith("/graphql"):
            raise ValueError("give Stash's base URL without /graphql")
        return v


def _default_collections() -> list[Literal["groups", "studio", "parent_studio"]]:
    return ["groups"]


class ProviderSettings(_Section):
    identifier: str = Field(
        DEFAULT_IDENTIFIER,
        description="tv.plex.agents.custom. followed by letters, digits and dots; never change it once "
        "Plex has matched items",
    )
    title: str = Field("Stash (s2p)", min_length=1, max_length=100,
                       description="a name shown in Plex, 1-100 characters")
    public_url: str = Field(
        "",
        description="empty, or the absolute http(s) URL Plex uses to reach s2p's images, e.g. https://s2p.example.net",
    )
    content_rating: str = Field("XXX", max_length=20, description="a content rating such as XXX, or empty")
    partial_dates: Literal["first_day", "year_only"] = Field(
        "first_day",
        description='"first_day" (2023 -> 2023-01-01) or "year_only" (send only the year)',
    )
    collections: list[Literal["groups", "studio", "parent_studio"]] = Field(
        default_factory=_default_collections,
        description='a list drawn from "groups", "studio", "parent_studio"',
    )
    exclude_tags: list[str] = Field(
        default_factory=list, description="a list of Stash tag names that are not sent to Plex as genres"
    )

    @field_validator("identifier")
    @classmethod
    def _identifier(cls, v: str) -> str:
        if not re.fullmatch(r"tv\.plex\.agents\.custom\.[a-zA-Z0-9.]+", v):
            raise ValueError(f"{v!r} does not look like tv.plex.agents.custom.<letters, digits, dots>")
        return v

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str) -> str:
        return _check_http_url(v)


class PathRuleSettings(_Section):
    name: str = Field(min_length=1, max_length=100, description="a short name for the rule")
    stash_to_plex: tuple[str, str] = Field(
        description='a [PATTERN, REPLACEMENT] pair, e.g. ["^/data/(.*)$", "/media/\\\\1"]')
    plex_to_stash: tuple[str, str] = Field(
        description='a [PATTERN, REPLACEMENT] pair, e.g. ["^/media/(.*)$", "/data/\\\\1"]')
    examples: list[str] = Field(default_factory=list, description="a list of Stash paths this rule must round-trip")


class MatchSettings(_Section):
    min_score: int = Field(85, ge=0, le=100, description="the lowest score matched automatically, 0-100")
    margin: int = Field(
        1, ge=1, le=100, description="how far the best candidate must stand above the next one, 1-100"
    )
    manual_limit: int = Field(10, ge=1, le=50, description="how many candidates Fix Match lists, 1-50")
    rule_path_limit: int = Field(
        1024, ge=256, le=4096,
        description="the longest path, in characters, that path rules translate, 256-4096; a longer one is "
                    "matched by the other steps. It bounds what one rule may cost per request")
    title_search: bool = Field(True, description="true or false: search Stash by title when paths say nothing")
    media_roots: list[str] = Field(
        default_factory=list,
        description="a list of absolute directories where s2p can read the library's files to hash them",
    )

    @field_validator("media_roots")
    @classmethod
    def _roots(cls, v: list[str]) -> list[str]:
        for root in v:
            if not root.strip() or not os.path.isabs(root):
                raise ValueError(f"{root!r} is not an absolute directory path")
        return v


class IndexSettings(_Section):
    enabled: bool = Field(True, description="true or false")
    page_size: int = Field(1000, ge=10, le=5000, description="scenes per Stash page while indexing, 10-5000")
    refresh_interval: Duration = Field(
        300.0, ge=0, description="seconds between incremental refreshes (0 turns them off)"
    )
    full_interval: Duration = Field(
        21600.0, ge=0, description="seconds between full reloads that drop deleted scenes (0 turns them off)"
    )
    overlap: Duration = Field(
        3600.0, ge=0, le=86400, description="seconds of overlap for incremental refreshes, 0-86400"
    )


class CacheSettings(_Section):
    enabled: bool = Field(True, description="true or false")
    ttl: Duration = Field(600.0, ge=0, description="seconds a scene's metadata is kept")
    miss_ttl: Duration = Field(30.0, ge=0, description="seconds an unknown scene id is remembered")
    max_entries: int = Field(5000, ge=0, le=10_000_000, description="metadata entries kept, 0-10000000")
    image_ttl: Duration = Field(3600.0, ge=0, description="seconds image bytes are kept in memory")
    image_max_bytes: int = Field(
        32 * 1024 * 1024, ge=0, description="bytes of images kept in memory (0 keeps none)"
    )
    batch_window_ms: float = Field(
        5.0, ge=0, le=200, description="milliseconds to gather metadata requests into one Stash query, 0-200"
    )
    batch_size: int = Field(100, ge=1, le=500, description="scenes per batched Stash query, 1-500")


class ArtworkSettings(_Section):
    poster: Literal["original", "letterbox", "crop"] = Field(
        "original", description='"original", "letterbox" or "crop"'
    )
    crop_anchor: Literal["center", "left", "right", "top", "bottom"] = Field(
        "center", description='"center", "left", "right", "top" or "bottom"'
    )
    push: bool | None = Field(
        None, description="true or false: upload posters into Plex ([plex] url and token needed); unset: on when "
                          "[plex] url and token are set and [provider] public_url is not")
    push_delay: Duration = Field(
        30.0, ge=0, le=3600, description="seconds after Plex fetched an item before its artwork is uploaded"
    )


class PlexSettings(_Section):
    url: str = Field("", description="empty, or Plex's URL, e.g. http://192.168.1.10:32400")
    token: SecretStr = Field(SecretStr(""), description="a Plex token (X-Plex-Token) of the server's owner")
    sections: list[str] = Field(
        default_factory=list, description="a list of library section names or ids (empty: every section on s2p's agent)"
    )
    timeout: Duration = Field(30.0, gt=0, le=300, description="seconds per Plex request, above 0 and at most 300")
    verify_tls: bool = Field(True, description="true or false")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_http_url(v)


class SyncSettings(_Section):
    interval: Duration = Field(
        60.0, ge=0, le=86400, description="seconds between looks at Stash for changes to send to Plex (0 turns live "
                                          "sync off; it runs only with [plex] url and token), 0-86400")
    max_refresh_per_minute: int = Field(
        30, ge=1, le=6000, description="the most Plex items asked to refresh a minute, 1-6000")


class GapsSettings(_Section):
    interval: Duration = Field(21600.0, ge=0, description="seconds between gap comparisons (0 turns them off)")
    sync_timestamps: str = Field("", description="empty, or the path of a Stash2Plex sync_timestamps.json")
    refresh_stale: bool = Field(False, description="true or false: ask Plex to refresh stale items")
    refresh_per_minute: int = Field(30, ge=1, le=600, description="the most Plex refreshes per minute, 1-600")


class StateSettings(_Section):
    dir: str = Field("", description="a writable directory for s2p's state (empty: a per-user default)")


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description='"DEBUG", "INFO", "WARNING" or "ERROR"'
    )
    format: Literal["text", "json"] = Field("text", description='"text" or "json"')

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v


class TvSettings(_Section):
    enabled: bool = Field(True, description="true or false: serve the TV provider at /tv")
    title: str = Field("Stash (s2p, TV)", min_length=1, max_length=100,
                       description="the TV provider's name shown in Plex, 1-100 characters")
    show: Literal["studio", "top_parent"] = Field(
        "studio", description='"studio" (a show per studio) or "top_parent" (a show per top parent studio, '
                              'holding its sub-studios\' scenes)')
    no_studio: str = Field("No studio", min_length=1, max_length=100,
                           description="the name of the show that holds scenes without a studio, 1-100 characters")


class DebugSettings(_Section):
    enabled: bool = Field(False, description="true or false: serve /debug/match")
    capture: int = Field(0, ge=0, le=10000, description="how many of Plex's latest requests to keep for "
                                                         "s2p debug requests and /debug/requests, 0-10000 (0: none)")


class Settings(_Section):
    server: ServerSettings = ServerSettings()
    stash: StashSettings = StashSettings()
    provider: ProviderSettings = ProviderSettings()
    paths: list[PathRuleSettings] = Field(default_factory=list, description="an array of [[paths]] tables")
    match: MatchSettings = MatchSettings()
    index: IndexSettings = IndexSettings()
    cache: CacheSettings = CacheSettings()
    artwork: ArtworkSettings = ArtworkSettings()
    plex: PlexSettings = PlexSettings()
    gaps: GapsSettings = GapsSettings()
    sync: SyncSettings = SyncSettings()
    state: StateSettings = StateSettings()
    log: LogSettings = LogSettings()
    debug: DebugSettings = DebugSettings()
    tv: TvSettings = TvSettings()

    def path_map(self) -> PathMap:
        """The compiled path rules (validated when the settings were loaded)."""
        return build_path_map(self.paths, max_length=self.match.rule_path_limit)

    @property
    def tv_identifier(self) -> str:
        """The TV provider's identifier: the movie provider's, with ``.tv``."""
        return f"{self.provider.identifier}.tv"

    @property
    def state_dir(self) -> Path:
        return Path(self.state.dir)

    @property
    def pushes_artwork(self) -> bool:
        """Whether artwork is uploaded into Plex.  Unless [artwork] push says,
        it is whenever s2p knows Plex and has no public image URL: Plex
        1.43.5+ refuses image URLs on LAN addresses, so without a public URL
        uploading is the only way pictures appear."""
        if self.artwork.push is not None:
            return self.artwork.push
        return bool(self.plex.url and self.plex.token.get_secret_value() and not self.provider.public_url)

    def secrets(self) -> list[str]:
        """Secret values that must never appear in logs or responses."""
        values = [self.stash.api_key.get_secret_value(), self.plex.token.get_secret_value(), self.server.secret]
        return [v for v in values if v]


RULE_FIX = ("Fix: write a Python regular expression; inside TOML \"...\" strings double each backslash, "
            "or use '...' strings (docs/configuration.md has examples; s2p init proposes rules from your files).")


def build_path_map(rules: list[PathRuleSettings], source: str | None = None,
                   max_length: int = DEFAULT_PATH_LIMIT) -> PathMap:
    compiled = []
    problems = []
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        where = f'{source + ": " if source else ""}[[paths]] #{index + 1} "{rule.name}"'
        if rule.name in seen:
            problems.append(f"{where}: name: another rule has this name. Fix: give every rule its own name.")
        seen.add(rule.name)
        directions = {}
        for key in ("stash_to_plex", "plex_to_stash"):
            pattern, replacement = getattr(rule, key)
            try:
                directions[key] = Rewrite.compile(pattern, replacement)
            except RuleError as exc:
                fix = f"Fix: {exc.fix}." if exc.fix else RULE_FIX
                problems.append(f"{where}: {key}: pattern '{pattern}', replacement '{replacement}': {exc}. {fix}")
        if len(directions) == 2:
            compiled.append(PathRule(rule.name, directions["stash_to_plex"], directions["plex_to_stash"],
                                     tuple(rule.examples)))
    if problems:
        raise ConfigError(problems)
    return PathMap(compiled, max_length)


# ---------------------------------------------------------------- loading


def mask(secret: str) -> str:
    """How a secret is shown to people: only its last four characters."""
    if not secret:
        return "(not set)"
    return "***" + secret[-4:] if len(secret) > 8 else "***"


CONFIG_NAME = "s2p.toml"


def user_config_path(environ: Mapping[str, str]) -> Path:
    """$XDG_CONFIG_HOME/s2p/s2p.toml (~/.config/s2p/s2p.toml when unset)."""
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".config")
    return Path(base) / "s2p" / CONFIG_NAME


def config_search(environ: Mapping[str, str], cwd: Path | None = None) -> list[Path]:
    """Where s2p looks for its configuration when none is named, in order."""
    return [(cwd or Path.cwd()) / CONFIG_NAME, user_config_path(environ)]


def config_path(explicit: str | None, environ: Mapping[str, str], cwd: Path | None = None) -> Path | None:
    """The configuration file to load: --config, $S2P_CONFIG, systemd's
    credential, ./s2p.toml, then the user's; None when there is none."""
    value = explicit or environ.get("S2P_CONFIG") or None
    if value:
        return Path(value)
    if environ.get("CREDENTIALS_DIRECTORY"):
        # systemd's LoadCredential=s2p.toml:/etc/s2p/s2p.toml hands a root-only
        # file to the service here (see deploy/s2p.service).
        candidate = Path(environ["CREDENTIALS_DIRECTORY"]) / CONFIG_NAME
        return candidate if candidate.is_file() else None
    # Where `s2p init` writes: a file there is what the user means, not the defaults.
    return next((candidate for candidate in config_search(environ, cwd) if candidate.is_file()), None)


def load_settings(path: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from a TOML file (optional) and the environment."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    sources: dict[tuple[str, str], str] = {}
    file_label = None
    if path is not None:
        file_label = str(path)
        data = _read_toml(Path(path))
        for section, values in data.items():
            if isinstance(values, dict):
                for key in values:
                    sources[(section, key)] = file_label
            else:
                sources[(section, "")] = file_label
    _apply_environment(data, sources, environ)
    _default_state_dir(data, environ, Path(path) if path is not None else None)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        secrets = _given_secrets(data)
        raise ConfigError([_describe(err, sources, file_label, secrets) for err in exc.errors()]) from None
    paths_source = sources.get(("paths", "")) or file_label or "defaults"
    path_map = build_path_map(settings.paths, paths_source)
    problems = path_map.round_trip_problems()
    if problems:
        raise ConfigError(
            [f"{paths_source}: {p}. Fix: correct the rule's patterns or the example so the example comes back "
             "unchanged (s2p init proposes rules that do)." for p in problems]
        )
    if settings.artwork.push and not (settings.plex.url and settings.plex.token.get_secret_value()):
        source = sources.get(("artwork", "push")) or file_label or "defaults"
        raise ConfigError([f"{source}: [artwork] push: uploading artwork needs Plex. Fix: set [plex] url and "
                           "[plex] token (S2P_PLEX_URL, S2P_PLEX_TOKEN), or set [artwork] push = false."])
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (FileNotFoundError, NotADirectoryError):
        raise ConfigError([f"{path}: the configuration file does not exist. Fix: check --config / S2P_CONFIG, "
                           "or write one with s2p init."]) from None
    except PermissionError:
        raise ConfigError([f"{path}: the configuration file cannot be read (permission denied)."]) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a directory, not a configuration file. Fix: name the .toml file."]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: the configuration file cannot be read ({exc.strerror})."]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}. Fix: compare with the example "
                           "(s2p init --example)."]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text. Fix: save the file as UTF-8."]) from None


def _list_fields() -> set[tuple[str, str]]:
    found = set()
    for section, field in Settings.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            for key, sub in model.model_fields.items():
                if getattr(sub.annotation, "__origin__", None) is list:
                    found.add((section, key))
    return found


def _apply_environment(data: dict[str, Any], sources: dict[tuple[str, str], str], environ: Mapping[str, str]) -> None:
    list_fields = _list_fields()
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in RESERVED_ENV:
            continue
        value = environ[name]
        rest = name[len(ENV_PREFIX):].lower()
        if rest == "paths":
            try:
                data["paths"] = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ConfigError([f"environment {name}: not valid JSON ({exc}). Fix: give a JSON array of "
                                   'rules, e.g. [{"name": "nas", "stash_to_plex": ["^/data/(.*)$", "/media/\\\\1"], '
                                   '"plex_to_stash": ["^/media/(.*)$", "/data/\\\\1"]}]']) from None
            sources[("paths", "")] = f"environment {name}"
            continue
        section, _, key = rest.partition("_")
        if not key:
            raise ConfigError([f"environment {name}: not a configuration key. Fix: use S2P_<SECTION>_<KEY>, "
                               "e.g. S2P_STASH_URL."])
        section_data = data.setdefault(section, {})
        if not isinstance(section_data, dict):
            raise ConfigError([f"environment {name}: [{section}] is not a section of keys."])
        if (section, key) in list_fields:
            section_data[key] = _parse_env_list(name, value)
        else:
            section_data[key] = value
        sources[(section, key)] = f"environment {name}"


def _parse_env_list(name: str, value: str) -> list[Any]:
    value = value.strip()
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError([f"environment {name}: not a valid JSON list ({exc}). Fix: use a JSON list "
                               'like ["a", "b"] or a comma-separated list like a,b.']) from None
        if isinstance(parsed, list):
            return parsed
    return [part.strip() for part in value.split(",") if part.strip()]


def _default_state_dir(data: dict[str, Any], environ: Mapping[str, str], config_file: Path | None = None) -> None:
    state = data.setdefault("state", {})
    if not isinstance(state, dict) or state.get("dir"):
        return
    if environ.get("STATE_DIRECTORY"):  # systemd StateDirectory=: one service, one configuration
        state["dir"] = environ["STATE_DIRECTORY"].split(":")[0]
        return
    base = shared_state_dir(environ)
    if config_file is None:
        state["dir"] = str(base)
    elif earlier_owner(base) == os.path.abspath(config_file):
        state["dir"] = str(base)  # this file's state from before each file had its own folder
    else:
        state["dir"] = str(base / instance_name(config_file))


# In the shared default directory: the one configuration file that keeps using it (the state it
# gathered before each configuration got a folder of its own).
EARLIER_OWNER = "configuration"


def shared_state_dir(environ: Mapping[str, str]) -> Path:
    """$XDG_STATE_HOME/s2p, else ~/.local/state/s2p: the default without a file, and the parent of each file's."""
    if environ.get("XDG_STATE_HOME"):
        return Path(environ["XDG_STATE_HOME"]) / "s2p"
    return Path(environ.get("HOME") or os.path.expanduser("~")) / ".local" / "state" / "s2p"


def earlier_owner(base: Path) -> str | None:
    try:
        return (base / EARLIER_OWNER).read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def earlier_state(state_dir: Path, config_file: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The shared directory, when this file's server should keep the state found there: it holds an
    image-signing key (the image URLs stored in Plex depend on it), no configuration has kept it yet,
    and this file's own folder (its default) has no key of its own."""
    if config_file is None:
        return None
    base = shared_state_dir(environ)
    if Path(state_dir) != base / instance_name(config_file) or earlier_owner(base) is not None:
        return None
    if (base / "image-signing-key").is_file() and not (Path(state_dir) / "image-signing-key").is_file():
        return base
    return None


def instance_name(config_file: Path) -> str:
    """A state directory name of its own for each configuration file: a
    second configuration (another Stash, a test file) never reads or writes
    the first one's keys, records or reports."""
    resolved = Path(os.path.abspath(config_file))
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", resolved.stem).strip("-")[:40] or "config"
    return f"{stem}-{hashlib.sha256(str(resolved).encode('utf-8', 'surrogateescape')).hexdigest()[:10]}"


def _describe(err: Mapping[str, Any], sources: dict[tuple[str, str], str], file_label: str | None,
              secrets: Sequence[str] = ()) -> str:
    loc = [str(p) for p in err["loc"]]
    section = loc[0] if loc else ""
    if section == "paths":
        where = f"[[paths]] #{int(loc[1]) + 1}" if len(loc) > 1 and loc[1].isdigit() else "[[paths]]"
        key = loc[2] if len(loc) > 2 else ""
        source = sources.get(("paths", "")) or file_label or "defaults"
        fix = _fix_for(PathRuleSettings, key)
        label = f"{where} {key}".strip()
    else:
        key = loc[1] if len(loc) > 1 else ""
        source = (sources.get((section, key)) or sources.get((section, ""))
                  or next((where for (s, _), where in sources.items() if s == section), None)
                  or file_label or "defaults")
        model_field = Settings.model_fields.get(section)
        fix = _fix_for(model_field.annotation, key) if model_field else None
        label = f"[{section}] {key}".strip() if key else f"[{section}]"
    message = err["msg"]
    fix_sentence = f"set it to {fix}" if fix else ""
    shown = err.get("input")
    got = ""
    if err["type"] == "extra_forbidden":
        message, fix_sentence = _unknown(section, key, loc)
    elif err["type"] == "value_error":
        message = message.removeprefix("Value error, ")  # our messages already quote the value
    elif (isinstance(shown, (str, int, float, bool)) and not _is_secret(section, key)
          and not _holds_secret(str(shown), secrets)):
        got = f" (got {shown!r})"
    text = f"{source}: {label}: {message}{got}."
    if fix_sentence:
        text += f" Fix: {fix_sentence}."
    return text


def _unknown(section: str, key: str, loc: list[str]) -> tuple[str, str]:
    """(message, fix) for a name s2p does not know, with the nearest it does."""
    if section != "paths" and len(loc) == 1:
        name, known, shown = section, list(Settings.model_fields), "[{}]"
        message = "unknown section"
    else:
        name = loc[2] if section == "paths" and len(loc) > 2 else key
        model = PathRuleSettings if section == "paths" else Settings.model_fields[section].annotation
        assert model is not None  # every section is a model
        known, shown, message = list(model.model_fields), "{}", "unknown key"
    near = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    if near:
        return message, f"did you mean {shown.format(near[0])}? (s2p init --example lists every key)"
    return message, "check the spelling against s2p init --example, or remove it"


def _holds_secret(text: str, secrets: Sequence[str]) -> bool:
    """Whether a value equals or contains a configured secret (a key put in
    the wrong variable must not be echoed by the error about it)."""
    return any(secret and (secret in text or text in secret and len(text) >= 8) for secret in secrets)


def _given_secrets(data: dict[str, Any]) -> list[str]:
    found = []
    for section, key in (("stash", "api_key"), ("plex", "token"), ("server", "secret")):
        value = (data.get(section) or {}).get(key) if isinstance(data.get(section), dict) else None
        if isinstance(value, str) and value:
            found.append(value)
    return found


def _is_secret(section: str, key: str) -> bool:
    return (section, key) in {("stash", "api_key"), ("plex", "token"), ("server", "secret")}


def _fix_for(model: Any, key: str) -> str | None:
    if isinstance(model, type) and issubclass(model, BaseModel) and key in model.model_fields:
        return model.model_fields[key].description
    return None
