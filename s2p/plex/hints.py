"""What Plex tells us in a match request, read leniently.

Hints arrive as a JSON body, as query parameters, or both (body first);
``X-Plex-*`` values as headers or query parameters.  Plex's requests are
not fully documented, and refusing one costs the user a match, so every
optional value that is missing, empty, of the wrong type or out of range
is dropped (or coerced where the meaning is clear: ``"2021"`` -> 2021,
``1234.5`` -> 1234, ``"movie"`` -> 1) and the request goes on with the
rest.  Each dropped value is reported as ``(field, reason)``, never with
the value itself (it may be megabytes of garbage).  Only a body that is not
a JSON object is refused (``HintError``).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MAX_TEXT = 1024
MAX_FILENAME = 4096
# Plex pages with X-Plex-Container-Size; nothing s2p serves needs more.
MAX_CONTAINER_SIZE = 1000
MAX_CONTAINER_START = 10**6

# Told of every value dropped: (field as Plex names it, why).
Dropped = Callable[[str, str], None]

# Plex's metadata types by name (its type numbers: movie 1, show 2, ...).
TYPE_NAMES = {"movie": 1, "show": 2, "season": 3, "episode": 4, "artist": 8, "album": 9, "track": 10,
              "collection": 18}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


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


def _number(value: Any, *, integral: bool = False) -> Any:
    """A whole number from what Plex may send for one: 2021, 2021.0, "2021",
    1234.5 (truncated unless ``integral``).  Anything else is left for
    validation to refuse (and the field is dropped)."""
    if isinstance(value, bool):
        raise ValueError("is a boolean, not a number")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            value = float(text) if len(text) <= 32 else math.inf
        except ValueError:
            raise ValueError("is not a number") from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("is not a finite number")
        if integral and not value.is_integer():
            raise ValueError("is not a whole number")
        return int(value)
    return value


def _flag(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("is not true or false")


def read_flag(value: Any) -> bool:
    """A yes/no query value; anything unreadable is no."""
    try:
        return bool(_flag(value))
    except ValueError:
        return False


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
    # TV libraries: a season's show (parentTitle), an episode's show
    # (grandparentTitle), season (parentIndex) and number (index) or air date.
    parentTitle: str | None = Field(None, max_length=MAX_TEXT)
    grandparentTitle: str | None = Field(None, max_length=MAX_TEXT)
    index: int | None = Field(None, ge=0, le=10**9)
    parentIndex: int | None = Field(None, ge=0, le=10**9)
    # The air date: ``date`` in the provider documentation's examples,
    # ``originallyAvailableAt`` in Plex's metadata vocabulary; either is read.
    date: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    originallyAvailableAt: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    # The show and season an episode (or season) is in, as Plex knows them.
    parentGuid: str | None = Field(None, max_length=MAX_TEXT)
    grandparentGuid: str | None = Field(None, max_length=MAX_TEXT)
    parentRatingKey: str | None = Field(None, max_length=MAX_TEXT)
    grandparentRatingKey: str | None = Field(None, max_length=MAX_TEXT)
    includeChildren: bool = False
    # From X-Plex-* headers or parameters.
    language: str | None = Field(None, max_length=64)
    country: str | None = Field(None, max_length=64)
    client_identifier: str | None = Field(None, max_length=256)

    _text = field_validator("title", "guid", "filename", "ohash", "language", "country", "client_identifier",
                            "parentTitle", "grandparentTitle", "parentGuid", "grandparentGuid", "parentRatingKey",
                            "grandparentRatingKey", mode="before")(_clean_text)
    _flags = field_validator("manual", "includeAdult", "includeChildren", mode="before")(_flag)

    @field_validator("date", "originallyAvailableAt", mode="before")
    @classmethod
    def _date(cls, v: Any) -> Any:
        # An air date; a timestamp's date part is the date ("2023-05-12T00:00:00Z").
        v = _clean_text(v)
        return v[:10] if isinstance(v, str) and len(v) > 10 and v[10] in "T " else v

    @field_validator("index", "parentIndex", mode="before")
    @classmethod
    def _indexes(cls, v: Any) -> Any:
        v = _number(v, integral=True)
        # Below 0 means "not known" (Plex sends -1): absent, not refused.
        return None if isinstance(v, int) and v < 0 else v

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().lower() in TYPE_NAMES:
            return TYPE_NAMES[v.strip().lower()]
        return _number(v, integral=True)

    @field_validator("year", "duration", mode="before")
    @classmethod
    def _whole(cls, v: Any) -> Any:
        return _number(v)

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

    @property
    def air_date(self) -> str | None:
        return self.date or self.originallyAvailableAt

    @property
    def show_title(self) -> str | None:
        """The show a TV match names: its own title (a show), its parent's
        (a season) or its grandparent's (an episode)."""
        if self.type == 4:
            return self.grandparentTitle or self.parentTitle
        if self.type == 3:
            return self.parentTitle or self.title
        return self.title


class PlexParams(BaseModel):
    """The ``X-Plex-*`` request values s2p reads."""

    model_config = ConfigDict(frozen=True)

    language: str | None = Field(None, max_length=64)
    country: str | None = Field(None, max_length=64)
    client_identifier: str | None = Field(None, max_length=256)
    container_start: int = Field(0, ge=0, le=MAX_CONTAINER_START)
    container_size: int | None = Field(None, ge=0, le=MAX_CONTAINER_SIZE)

    _text = field_validator("language", "country", "client_identifier", mode="before")(_clean_text)

    @field_validator("container_start", "container_size", mode="before")
    @classmethod
    def _paging(cls, v: Any, info) -> Any:
        # Clamped, not refused: a client asking for 5000 gets what there is,
        # one asking to start before 0 starts at 0.
        v = _number(v, integral=True)
        if isinstance(v, int):
            top = MAX_CONTAINER_SIZE if info.field_name == "container_size" else MAX_CONTAINER_START
            return min(max(v, 0), top)
        return v


NO_PLEX_PARAMS = PlexParams()

_PLEX_NAMES = {
    "language": "X-Plex-Language",
    "country": "X-Plex-Country",
    "client_identifier": "X-Plex-Client-Identifier",
    "container_start": "X-Plex-Container-Start",
    "container_size": "X-Plex-Container-Size",
}
PLEX_HEADERS = tuple(_PLEX_NAMES.values())


def plex_params(headers: Mapping[str, str], query: Mapping[str, Any], dropped: Dropped | None = None) -> PlexParams:
    """``X-Plex-*`` values: the header wins over the query parameter."""
    values: dict[str, Any] = {}
    for field, name in _PLEX_NAMES.items():
        value = headers.get(name.upper()) or headers.get(name) or _first(query.get(name))
        if value not in (None, ""):
            values[field] = value
    if not values:
        return NO_PLEX_PARAMS  # most requests: nothing to validate
    return _lenient(PlexParams, values, _PLEX_NAMES, dropped)


def match_hints(body: Any, query: Mapping[str, Any], plex: PlexParams, dropped: Dropped | None = None) -> MatchHints:
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
    return _lenient(MatchHints, values, {}, dropped)


def _first(value: Any) -> Any:
    # falcon gives a list when a parameter is repeated: take the first.
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _lenient(model, values: dict[str, Any], names: dict[str, str], dropped: Dropped | None):
    """The model from ``values``, each field that fails validation dropped (and reported)."""
    values = dict(values)
    for _ in range(len(model.model_fields) + 1):
        try:
            return model.model_validate(values)
        except ValidationError as exc:
            failed: dict[str, str] = {}
            for err in exc.errors():
                if err["loc"] and err["loc"][0] in model.model_fields:
                    failed.setdefault(str(err["loc"][0]), err["msg"].removeprefix("Value error, "))
            if not failed:
                raise HintError([{"field": "body", "problem": "cannot be read"}]) from None
            for field, reason in failed.items():
                values.pop(field, None)
                if dropped is not None:
                    dropped(names.get(field, field), reason)
    raise HintError([{"field": "body", "problem": "cannot be read"}])
