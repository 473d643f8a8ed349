"""A fake Plex Media Server speaking the part of PMS's HTTP API that s2p
uses through plexapi (XML, X-Plex-Token) and for registration.

Served over loopback by waitress like the real thing; state and counters are
plain attributes the tests read and change.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import quoteattr

import requests

from s2p.app.server import BackgroundServer

TOKEN = "plex-test-token-abcdef123456"

# Plex's TV scanner, as the "Plex Series Scanner" (Plex, 2010; kept in ZeroQI/Absolute-Series-Scanner)
# reads a file: it adds only files named like episodes.  Written here from that scanner, apart from
# s2p's own model of it (s2p/tv/layout.py), so that the tests check one against the other.
_EPISODE_RX = [
    r"(?P<show>.*?)[sS](?P<season>[0-9]+)[\._ ]*[eE](?P<ep>[0-9]+)([- ]?[Ee+](?P<secondEp>[0-9]+))?",  # S03E04-E05
    r"(?P<show>.*?)[sS](?P<season>[0-9]{2})[\._\- ]+(?P<ep>[0-9]+)",  # S03-03
    r"(?P<show>.*?)([^0-9]|^)(?P<season>(19[3-9][0-9]|20[0-5][0-9]|[0-9]{1,2}))[Xx](?P<ep>[0-9]+)"
    r"(-[0-9]+[Xx](?P<secondEp>[0-9]+))?",  # 3x03
    r"(.*?)[^0-9a-z](?P<season>[0-9]{1,2})(?P<ep>[0-9]{2})([\.\-][0-9]+(?P<secondEp>[0-9]{2})([ \-_\.]|$)[\.\-]?)?"
    r"([^0-9a-z%]|$)",  # .602.
]
_DATE_RX = [
    r"(?P<year>[0-9]{4})[^0-9a-zA-Z]+(?P<month>[0-9]{2})[^0-9a-zA-Z]+(?P<day>[0-9]{2})([^0-9]|$)",  # 2009-02-10
    r"(?P<month>[0-9]{2})[^0-9a-zA-Z]+(?P<day>[0-9]{2})[^0-9a-zA-Z(]+(?P<year>[0-9]{4})([^0-9a-zA-Z]|$)",  # 02-10-2009
]
_STANDALONE_RX = [
    r"(.*?)( \(([0-9]+)\))? - ([0-9]+)+x([0-9]+)(-[0-9]+[Xx]([0-9]+))?( - (.*))?",
    r"(.*?)( \(([0-9]+)\))?[Ss]([0-9]+)+[Ee]([0-9]+)(-[0-9]+[Xx]([0-9]+))?( - (.*))?",
]
_JUST_EPISODE_RX = [
    r"(?P<ep>[0-9]{1,3})[\. -_]*of[\. -_]*[0-9]{1,3}",  # 01 of 08
    r"^(?P<ep>[0-9]{1,3})[^0-9]",  # 01 - Foo
    r"e[a-z]*[ \.\-_]*(?P<ep>[0-9]{2,3})([^0-9c-uw-z%]|$)",  # Blah Blah ep234
    r".*?[ \.\-_](?P<ep>[0-9]{2,3})[^0-9c-uw-z%]+",  # Flah - 04 - Blah
    r".*?[ \.\-_](?P<ep>[0-9]{2,3})$",  # Flah - 04
    r".*?[^0-9x](?P<ep>[0-9]{2,3})$",  # Flah707
]
_YEAR_RX = r"([\(\[\.\-])([1-2][0-9]{3})([\.\-\)\]_,+])"
_WHACK_RX = [r"([hHx][\.]?264)[^0-9]", r"[^[0-9](720[pP])", r"[^[0-9](1080[pP])", r"[^[0-9](480[pP])"]


def tv_scanner_reads(relative: str) -> dict[str, Any] | None:
    """What Plex's TV scanner makes of the file at ``relative`` (its path under
    the library's folder): ``show``, ``season`` and ``episode`` or ``date``;
    ``None`` when it skips the file."""
    parts = [p for p in relative.split("/") if p]
    name = parts[-1]
    if len(parts) == 1:  # the library root: the plain episode forms only, the show named in the file
        for rx in _EPISODE_RX[:-1]:
            m = re.search(rx, name, re.IGNORECASE)
            if m and m.group("show").strip(" .-_"):
                return {"show": m.group("show").strip(" .-_"), "season": int(m.group("season")),
                        "episode": int(m.group("ep"))}
        return None
    show, folders = parts[0], parts[:-1]
    season_number = None
    if len(folders) >= 2:
        m = re.match(r".*?(?P<season>[0-9]+)$", folders[-1], re.IGNORECASE)
        season_number = int(m.group("season")) if m else None
    stem = name.rsplit(".", 1)[0] if "." in name else name
    for rx in _DATE_RX:
        m = re.search(rx, stem)
        if m:
            if any(re.search(r, stem) for r in _EPISODE_RX[:-1] + _STANDALONE_RX):
                break  # a stronger season and episode in the same name
            year, month, day = int(m.group("year")), int(m.group("month")), int(m.group("day"))
            return {"show": show, "season": year, "date": f"{year}-{month:02d}-{day:02d}"}
    year = re.search(_YEAR_RX, stem.lower())
    cleaned = stem.replace(year.group(2), "XXXX") if year else stem  # "the year is not going to help"
    for rx in _WHACK_RX:
        cleaned = re.sub(rx, " ", cleaned)
    for rx in _EPISODE_RX:
        m = re.search(rx, cleaned, re.IGNORECASE)
        if not m:
            continue
        season, episode = int(m.group("season")), int(m.group("ep"))
        if rx == _EPISODE_RX[-1]:
            if re.match(r".+ \([1-2][0-9]{3}\)", folders[-1]):
                return None  # looks like a movie
            if season == 0:
                break
            if season_number is not None and season_number != season:
                if re.search(r"^[0-9]+[ -]", cleaned):
                    break
                episode += season * 100
        return {"show": show, "season": season, "episode": episode}
    for rx in _JUST_EPISODE_RX:
        m = re.search(rx, cleaned.lower(), re.IGNORECASE)
        if m:
            episode, season = int(m.group("ep")), season_number if season_number is not None else 1
            if episode >= 100 and episode // 100 == season:
                episode %= 100
            return {"show": show, "season": season, "episode": episode}
    return None


@dataclass
class Part:
    file: str
    size: int = 1000
    id: int = 0


@dataclass
class Item:
    rating_key: int
    title: str
    guid: str
    parts: list[Part]
    year: int | None = None
    added_at: int = 1700000000
    updated_at: int = 1700000000
    guids: list[str] = field(default_factory=list)
    # Sections of type "show" hold shows, their seasons and their episodes.
    type: str = "movie"  # or "show", "season", "episode"
    index: int | None = None
    parent_index: int | None = None
    parent_rating_key: int | None = None  # a season's show, an episode's season
    grandparent_title: str | None = None
    grandparent_guid: str | None = None


@dataclass
class Section:
    key: int
    title: str
    locations: list[str]
    agent: str = "tv.plex.agents.custom.s2p"
    type: str = "movie"
    items: list[Item] = field(default_factory=list)


class FakePlex:
    def __init__(self, token: str = TOKEN, machine_identifier: str = "fake-pms-0001", version: str = "1.43.5.10000"):
        self.token = token
        self.machine_identifier = machine_identifier
        self.version = version
        self.sections: dict[int, Section] = {}
        self.providers: list[dict[str, Any]] = []  # {id, identifier, title, uri}
        self.groups: list[dict[str, Any]] = []  # {id, title, primaryIdentifier}
        self.refreshed: list[int] = []
        self.scans: list[tuple[int, str | None]] = []  # (section key, path) of each partial or full scan
        self.uploads: list[tuple[int, str, bytes]] = []  # (ratingKey, "posters"|"arts", bytes)
        self.requests: Counter[str] = Counter()
        self.page_sizes: list[int] = []
        self.fail_next: list[int] = []  # HTTP statuses to answer with, one per request
        # (regex on "METHOD /path", status): the first request that matches is failed, once per entry
        self.fail_matching: list[tuple[str, int]] = []
        self.guid_filter = True  # honour ?guid= on /library/sections/{key}/all (False: ignore it)
        self.sections_hidden = False  # answer /library/sections with an empty list (a Plex still starting)
        self.headers_seen: list[dict[str, str]] = []
        self.fail_route: dict[str, list[int]] = {}  # "METHOD /path" -> statuses for its next requests
        self.reachability_check = True  # fetch a provider's URI on registration, as PMS does
        self.latency = 0.0  # seconds added to every request (a slow or busy server)
        self._lock = threading.Lock()
        self._next_key = 1000
        self.server: BackgroundServer | None = None

    # ---------------------------------------------------------------- building

    def add_section(self, key: int, title: str, locations: list[str], **kwargs: Any) -> Section:
        section = Section(key, title, locations, **kwargs)
        self.sections[key] = section
        return section

    def add_item(self, section_key: int, title: str, files: list[str], *, guid: str | None = None,
                 **kwargs: Any) -> Item:
        with self._lock:
            self._next_key += 1
            key = self._next_key
        parts = [Part(f, id=key * 10 + i) for i, f in enumerate(files)]
        item = Item(key, title, guid or f"local://{key}", parts, **kwargs)
        self.sections[section_key].items.append(item)
        return item

    def scan_tv(self, section_key: int, provider: str, files: list[str], *, page_size: int = 20) -> dict[str, Any]:
        """Play Plex's scan of a TV library against a TV provider at ``provider``
        (its root URL), as Plex's provider documentation describes it.  The TV
        scanner first reads each file's name (``tv_scanner_reads``) and skips
        those not named like an episode; then each show, named after its folder,
        is matched by title (type 2), its seasons and episodes read from
        ``children`` and ``grandchildren`` page by page, and each file matched
        as an episode (type 4) with its show's title and the season and episode,
        or the air date, its name carries.  Matched files become episode items
        of the section, inside show and season items as Plex builds them.
        Returns what the scan saw, for the test to check."""
        section = self.sections[section_key]
        root = section.locations[0].rstrip("/") + "/"
        seen: dict[str, Any] = {"shows": {}, "listed": {}, "skipped": [], "unmatched": [], "requests": Counter()}
        by_show: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for path in files:
            read = tv_scanner_reads(path[len(root):]) if path.startswith(root) else None
            if read is None:
                seen["skipped"].append(path)
            else:
                by_show.setdefault(read["show"], []).append((path, read))

        def call(method: str, path: str, **kwargs: Any) -> Any:
            seen["requests"][f"{method} {re.sub(r'/[^/]*-[^/]*(?=/|$)', '/{key}', path)}"] += 1
            response = requests.request(method, provider.rstrip("/") + path, timeout=30, **kwargs)
            response.raise_for_status()
            return response.json()["MediaContainer"]

        def paged(path: str) -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = []
            while True:
                page = call("GET", path, headers={"X-Plex-Container-Start": str(len(items)),
                                                  "X-Plex-Container-Size": str(page_size)})
                items += page.get("Metadata", [])
                if not page.get("Metadata") or len(items) >= page["totalSize"]:
                    return items

        for folder, found_files in sorted(by_show.items()):
            shows = call("POST", "/library/metadata/matches", json={"type": 2, "title": folder}).get("Metadata", [])
            if not shows:
                seen["unmatched"] += [path for path, _ in found_files]
                continue
            show = call("GET", f"/library/metadata/{shows[0]['ratingKey']}",
                        params={"includeChildren": 1})["Metadata"][0]
            seen["shows"][folder] = show
            show_item = self.add_item(section_key, show["title"], [], guid=show["guid"], type="show")
            season_items: dict[int, Item] = {}
            seasons = paged(show["key"])  # the show's key leads to its children
            seen["listed"][show["ratingKey"]] = {
                "seasons": {s["index"]: [e["ratingKey"] for e in paged(s["key"])] for s in seasons},
                "grandchildren": [e["ratingKey"]
                                  for e in paged(f"/library/metadata/{show['ratingKey']}/grandchildren")],
            }
            for path, read in found_files:
                hints: dict[str, Any] = {"type": 4, "filename": path, "grandparentTitle": folder,
                                         "parentIndex": read["season"]}
                if "date" in read:  # a dated name: season = year, with the air date
                    hints["date"] = read["date"]
                else:
                    hints["index"] = read["episode"]
                found = call("POST", "/library/metadata/matches", json=hints).get("Metadata", [])
                if not found:
                    seen["unmatched"].append(path)
                    continue
                episode = found[0]
                season = episode["parentIndex"]
                if season not in season_items:
                    season_items[season] = self.add_item(
                        section_key, episode["parentTitle"], [], guid=episode["parentGuid"], type="season",
                        index=season, parent_rating_key=show_item.rating_key)
                self.add_item(section_key, episode["title"], [path], guid=episode["guid"], type="episode",
                              index=episode["index"], parent_index=season,
                              parent_rating_key=season_items[season].rating_key,
                              grandparent_title=episode["grandparentTitle"],
                              grandparent_guid=episode["grandparentGuid"])
        return seen

    def item(self, rating_key: int) -> Item | None:
        for section in self.sections.values():
            for item in section.items:
                if item.rating_key == rating_key:
                    return item
        return None

    def _located(self, rating_key: int, path: str) -> tuple[Item, Section]:
        """The item and its section, or the KeyError that makes a 404."""
        for section in self.sections.values():
            for item in section.items:
                if item.rating_key == rating_key:
                    return item, section
        raise KeyError(path)

    # ---------------------------------------------------------------- serving

    def start(self) -> "FakePlex":
        self.server = BackgroundServer.for_app(self, threads=8).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop()

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def __call__(self, environ: dict[str, Any], start_response) -> list[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            self.requests[f"{method} {path}"] += 1
            if len(self.headers_seen) < 10000:
                self.headers_seen.append(headers)
            failure = self.fail_next.pop(0) if self.fail_next else None
            for index, (pattern, status) in enumerate(self.fail_matching):
                if failure is None and re.search(pattern, f"{method} {path}"):
                    failure = status
                    del self.fail_matching[index]
                    break
            route_failures = self.fail_route.get(f"{method} {path}")
            if not failure and route_failures:
                failure = route_failures.pop(0)
        if failure:
            return _reply(start_response, f"{failure} Failure", b"<html>failure</html>", "text/html")
        token = headers.get("x-plex-token") or query.get("X-Plex-Token")
        if token != self.token:
            return _reply(start_response, "401 Unauthorized", b"<html><h1>401 Unauthorized</h1></html>", "text/html")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            status, xml = self._route(method, path, query, headers, body)
        except KeyError:
            status, xml = "404 Not Found", "<MediaContainer size=\"0\"/>"
        return _reply(start_response, status, xml.encode("utf-8"), "text/xml;charset=utf-8")

    def _route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> tuple[str, str]:
        ok = "200 OK"
        if path in ("/", "/identity") and method == "GET":
            return ok, (f'<MediaContainer size="0" machineIdentifier="{self.machine_identifier}" '
                        f'version="{self.version}" friendlyName="Fake PMS" myPlex="0" platform="Linux"/>')
        if path.rstrip("/") == "/library" and method == "GET":
            return ok, '<MediaContainer size="0" title1="Plex Library" identifier="com.plexapp.plugins.library"/>'
        if path == "/library/sections" and method == "GET":
            return ok, _container([]) if self.sections_hidden else self._sections_xml()
        m = re.fullmatch(r"/library/sections/(\d+)/all", path)
        if m and method == "GET":
            return ok, self._section_items(int(m.group(1)), query, headers)
        m = re.fullmatch(r"/library/sections/(\d+)", path)
        if m and method == "GET":
            return ok, self._sections_xml(int(m.group(1)))
        m = re.fullmatch(r"/library/sections/(\d+)/refresh", path)
        if m and method == "GET":
            if int(m.group(1)) not in self.sections:
                raise KeyError(path)
            self.scans.append((int(m.group(1)), query.get("path")))
            return ok, "<MediaContainer size=\"0\"/>"
        m = re.fullmatch(r"/library/metadata/(\d+)", path)
        if m and method == "GET":
            item, section = self._located(int(m.group(1)), path)
            return ok, _container([_item_xml(item, section)], librarySectionID=section.key)
        m = re.fullmatch(r"/library/metadata/(\d+)/children", path)
        if m and method == "GET":
            parent, section = self._located(int(m.group(1)), path)
            children = [i for i in section.items if i.parent_rating_key == parent.rating_key]
            return ok, _container([_item_xml(i, section) for i in children], librarySectionID=section.key)
        m = re.fullmatch(r"/library/metadata/(\d+)/refresh", path)
        if m and method == "PUT":
            if self.item(int(m.group(1))) is None:
                raise KeyError(path)
            self.refreshed.append(int(m.group(1)))
            return ok, "<MediaContainer size=\"0\"/>"
        m = re.fullmatch(r"/library/metadata/(\d+)/(posters|arts)", path)
        if m and method == "POST":
            if self.item(int(m.group(1))) is None:
                raise KeyError(path)
            self.uploads.append((int(m.group(1)), m.group(2), body))
            return ok, "<MediaContainer size=\"0\"/>"
        if path == "/media/providers/metadata":
            return self._providers(method, query)
        m = re.fullmatch(r"/media/providers/metadata/(\d+)", path)
        if m and method == "PUT":
            return self._repoint(int(m.group(1)), query.get("uri", ""))
        if path == "/media/providers/metadata/group":
            return self._groups(method, query)
        raise KeyError(path)

    # ---------------------------------------------------------------- pieces

    def _sections_xml(self, only: int | None = None) -> str:
        directories = []
        for section in self.sections.values():
            if only is not None and section.key != only:
                continue
            locations = "".join(f"<Location id={quoteattr(str(i))} path={quoteattr(p)}/>"
                                for i, p in enumerate(section.locations, start=1))
            directories.append(
                f'<Directory allowSync="1" key="{section.key}" type="{section.type}" title={quoteattr(section.title)} '
                f'agent={quoteattr(section.agent)} scanner="Plex Movie" language="en-US" '
                f'uuid="uuid-{section.key}" updatedAt="1700000000" createdAt="1700000000" '
                f'scannedAt="1700000000">{locations}</Directory>')
        return _container(directories)

    def _section_items(self, key: int, query: dict[str, str], headers: dict[str, str]) -> str:
        section = self.sections[key]
        start = int(headers.get("x-plex-container-start") or query.get("X-Plex-Container-Start") or 0)
        size = int(headers.get("x-plex-container-size") or query.get("X-Plex-Container-Size") or 50)
        with self._lock:
            self.page_sizes.append(size)
        items = section.items
        kinds = {"1": "movie", "2": "show", "3": "season", "4": "episode"}  # Plex's type numbers
        if query.get("type") in kinds:
            items = [i for i in items if i.type == kinds[query["type"]]]
        elif section.type == "show":
            items = [i for i in items if i.type == "show"]  # a TV section lists its shows by default
        if "guid" in query and self.guid_filter:
            items = [i for i in items if i.guid == unquote(query["guid"])]
        page = items[start:start + size]
        return _container([_item_xml(i, section) for i in page], totalSize=len(items), offset=start,
                          librarySectionID=section.key, librarySectionTitle=section.title)

    def _providers(self, method: str, query: dict[str, str]) -> tuple[str, str]:
        if method == "GET":
            return "200 OK", _container(
                [f'<MetadataAgentProvider id="{p["id"]}" identifier={quoteattr(p["identifier"])} '
                 f'title={quoteattr(p["title"])} uri={quoteattr(p["uri"])}/>' for p in self.providers])
        if method == "POST":
            uri = query.get("uri", "")
            if any(p["uri"] == uri for p in self.providers):
                return "409 Conflict", "<MediaContainer size=\"0\"/>"
            identifier, title = "unknown", "unknown"
            if self.reachability_check:
                fetched = self._fetch_root(uri)
                if fetched is None:
                    return "400 Bad Request", "<MediaContainer size=\"0\"/>"
                identifier, title = fetched
            if any(p["identifier"] == identifier for p in self.providers):
                return "409 Conflict", "<MediaContainer size=\"0\"/>"
            provider = {"id": len(self.providers) + 1, "identifier": identifier, "title": title, "uri": uri}
            self.providers.append(provider)
            return "200 OK", _container([f'<MetadataAgentProvider id="{provider["id"]}" '
                                         f'identifier={quoteattr(identifier)} uri={quoteattr(uri)}/>'])
        raise KeyError(method)

    def _fetch_root(self, uri: str) -> tuple[str, str] | None:
        """PMS fetches a provider's root and refuses one it cannot read."""
        try:
            provider = requests.get(uri, timeout=5).json()["MediaProvider"]
            return provider["identifier"], provider["title"]
        except (requests.RequestException, ValueError, KeyError, TypeError):
            return None

    def _repoint(self, provider_id: int, uri: str) -> tuple[str, str]:
        provider = next((p for p in self.providers if p["id"] == provider_id), None)
        if provider is None:
            raise KeyError(provider_id)
        if self.reachability_check and self._fetch_root(uri) is None:
            return "400 Bad Request", "<MediaContainer size=\"0\"/>"
        provider["uri"] = uri
        return "200 OK", "<MediaContainer size=\"0\"/>"

    def _groups(self, method: str, query: dict[str, str]) -> tuple[str, str]:
        if method == "GET":
            return "200 OK", _container(
                [f'<MetadataAgentProviderGroup id="{g["id"]}" title={quoteattr(g["title"])} '
                 f'primaryIdentifier={quoteattr(g["primaryIdentifier"])}/>' for g in self.groups])
        if method == "POST":
            group = {"id": len(self.groups) + 1, "title": query.get("title", ""),
                     "primaryIdentifier": query.get("primaryIdentifier", "")}
            self.groups.append(group)
            return "200 OK", _container([f'<MetadataAgentProviderGroup id="{group["id"]}" '
                                         f'title={quoteattr(group["title"])}/>'])
        raise KeyError(method)


def _item_xml(item: Item, section: Section) -> str:
    if item.type in ("show", "season"):  # Plex sends these as directories, without media
        children = sum(1 for i in section.items if i.parent_rating_key == item.rating_key)
        place = (f' index="{item.index}" parentRatingKey="{item.parent_rating_key}"'
                 f' parentKey="/library/metadata/{item.parent_rating_key}"' if item.type == "season" else "")
        return (f'<Directory ratingKey="{item.rating_key}" key="/library/metadata/{item.rating_key}/children" '
                f'guid={quoteattr(item.guid)} type="{item.type}" title={quoteattr(item.title)}{place} '
                f'childCount="{children}" leafCount="{children}" librarySectionID="{section.key}" '
                f'addedAt="{item.added_at}" updatedAt="{item.updated_at}"/>')
    parts = "".join(f'<Part id="{p.id}" key="/library/parts/{p.id}/file" file={quoteattr(p.file)} size="{p.size}"/>'
                    for p in item.parts)
    guids = "".join(f"<Guid id={quoteattr(g)}/>" for g in item.guids)
    year = f' year="{item.year}"' if item.year else ""
    if item.type == "episode":
        year += (f' index="{item.index}" parentIndex="{item.parent_index}" parentRatingKey="{item.parent_rating_key}" '
                 f'grandparentTitle={quoteattr(item.grandparent_title or "")} '
                 f'grandparentGuid={quoteattr(item.grandparent_guid or "")}')
    return (f'<Video ratingKey="{item.rating_key}" key="/library/metadata/{item.rating_key}" '
            f'guid={quoteattr(item.guid)} type="{item.type}" title={quoteattr(item.title)}{year} '
            f'librarySectionID="{section.key}" addedAt="{item.added_at}" updatedAt="{item.updated_at}">'
            f'<Media id="{item.rating_key}">{parts}</Media>{guids}</Video>')


def _container(children: list[str], **attributes: Any) -> str:
    attrs = {"size": len(children), **attributes}
    rendered = " ".join(f"{k}={quoteattr(str(v))}" for k, v in attrs.items())
    return f"<MediaContainer {rendered}>{''.join(children)}</MediaContainer>"


def _reply(start_response, status: str, body: bytes, content_type: str) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
