"""What Plex tells us in a match request, validated.

Hints arrive as a JSON body, as query parameters, or both (body first);
``X-Plex-*`` values as headers or query parameters.  Anything malformed is
refused with a list of problems that names the field but never echoes the
value back (it may be megabytes of garbage).
"""

from __future__ import annotations

from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MAX_TEXT = 1024
MAX_FILENAME = 4096
# Plex pages with X-Plex-Container-Size; nothing s2p serves needs more.
MAX_CONTAINER_SIZE = 1000


class HintError(ValueError):
    def __init__(self, problems: list[dict[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{p['field']}: {p['problem']}" for p in problems))


def _clean_text(value: Any) -> Any:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("contains a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("is not valid UTF-8") from None
        value = value.strip()
        return value or None
    return value


class MatchHints(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)

    type: int | None = Field(None, ge=0, le=99)
    title: str | None = Field(None, max_length=MAX_TEXT)
    year: int | None = Field(None, ge=0, le=9999)
    guid: str | None = Field(None, max_length=MAX_TEXT)
    filename: str | None = Field(None, max_length=MAX_FILENAME)
    manual: bool = False
    ohash: str | None = Field(None, pattern=r"^[0-9a-fA-F]{1,16}$")
    duration: int | None = Field(None, ge=0, le=10**9)
    includeAdult: bool | None = None
    # From X-Plex-* headers or parameters.
    language: str | None = Field(None, max_length=64)
    country: str | None = Field(None, max_length=64)
    client_identifier: str | None = Field(None, max_length=256)

    _text = field_validator("title", "guid", "filename", "ohash", "language", "country", "client_identifier",
                            mode="before")(_clean_text)

    @field_validator("year")
    @classmethod
    def _year(cls, v: int | None) -> int | None:
        return v or None  # Plex sends 0 for "no year"

    @field_validator("ohash")
    @classmethod
    def _ohash(cls, v: str | None) -> str | None:
        return v.lower().rjust(16, "0") if v else v

    @property
    def has_anything(self) -> bool:
        return any((self.guid, self.filename, self.title, self.ohash))


class PlexParams(BaseModel):
    """The ``X-Plex-*`` request values s2p reads."""

    model_config = ConfigDict(frozen=True)

    language: str | None = Field(None, max_length=64)
    country: str | None = Field(None, max_length=64)
    client_identifier: str | None = Field(None, max_length=256)
    container_start: int = Field(0, ge=0, le=10**6)
    container_size: int | None = Field(None, ge=0, le=MAX_CONTAINER_SIZE)

    _text = field_validator("language", "country", "client_identifier", mode="before")(_clean_text)


_PLEX_NAMES = {
    "language": "X-Plex-Language",
    "country": "X-Plex-Country",
    "client_identifier": "X-Plex-Client-Identifier",
    "container_start": "X-Plex-Container-Start",
    "container_size": "X-Plex-Container-Size",
}


def plex_params(headers: Mapping[str, str], query: Mapping[str, Any]) -> PlexParams:
    """``X-Plex-*`` values: the header wins over the query parameter."""
    values: dict[str, Any] = {}
    for field, name in _PLEX_NAMES.items():
        value = headers.get(name.upper()) or headers.get(name) or _first(query.get(name))
        if value not in (None, ""):
            values[field] = value
    return _validate(PlexParams, values, _PLEX_NAMES)


def match_hints(body: Any, query: Mapping[str, Any], plex: PlexParams) -> MatchHints:
    """The match hints from a JSON body and the query string (the body wins)."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise HintError([{"field": "body", "problem": "must be a JSON object"}])
    values: dict[str, Any] = {k: _first(v) for k, v in query.items() if not k.startswith("X-Plex-")}
    values.update(body)
    for field in ("language", "country", "client_identifier"):
        if getattr(plex, field) is not None:
            values[field] = getattr(plex, field)
    return _validate(MatchHints, values, {})


def _first(value: Any) -> Any:
    # falcon gives a list when a parameter is repeated: take the first.
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _validate(model, values: dict[str, Any], names: dict[str, str]):
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "body"
            problems.append({"field": names.get(field, field), "problem": err["msg"].removeprefix("Value error, ")})
        raise HintError(problems) from None
