"""An OpenAPI 3.1 description of s2p's routes, served at ``/openapi.json``.

Written by hand; a test checks that it names exactly the routes and methods
the app serves.  The match hints' schema comes from the model that validates
them.  The Plex routes sit under the provider root, which is ``/<secret>``
when ``[server] secret`` is set: the description shows it as a server
variable and never carries the secret.
"""

from __future__ import annotations

from typing import Any

import falcon

from s2p import __version__
from s2p.gaps.records import KINDS
from s2p.plex.hints import MAX_CONTAINER_SIZE, MatchHints

_ERROR = {"$ref": "#/components/responses/Error"}
_JSON = "application/json"

_PROVIDER_SERVERS = [{
    "url": "{root}",
    "description": "the provider root: the URL registered in Plex",
    "variables": {"root": {"default": "", "description": "empty, or /<secret> when [server] secret is set"}},
}]

_PLEX_PARAMETERS = [
    {"name": "X-Plex-Container-Size", "in": "header", "required": False,
     "schema": {"type": "integer", "minimum": 0, "maximum": MAX_CONTAINER_SIZE}},
    {"name": "X-Plex-Container-Start", "in": "header", "required": False,
     "schema": {"type": "integer", "minimum": 0, "maximum": 10**6}},
    {"name": "X-Plex-Language", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 64}},
    {"name": "X-Plex-Country", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 64}},
    {"name": "X-Plex-Client-Identifier", "in": "header", "required": False,
     "description": "the Plex server's machine identifier; required when [server] plex_clients is set",
     "schema": {"type": "string", "maxLength": 256}},
]

_RATING_KEY = {"name": "rating_key", "in": "path", "required": True,
               "description": "the Stash scene id", "schema": {"type": "string", "pattern": "^[0-9]{1,10}$"}}



_IMAGE_PARAMETERS = [
    {"name": "kind", "in": "path", "required": True,
     "schema": {"enum": ["scene", "performer", "studio", "tag", "group"]}},
    {"name": "entity_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9]{1,10}$"}},
    {"name": "variant", "in": "path", "required": True,
     "description": "poster, poster-letterbox, poster-crop-{anchor}, background (scenes); image (performers, "
                    "studios, tags); front, back (groups)", "schema": {"type": "string"}},
]
_GAP_FILTERS = [
    {"name": "kind", "in": "query", "required": False, "description": "only this kind (repeatable)",
     "schema": {"type": "string"}},
    {"name": "state", "in": "query", "required": False,
     "schema": {"enum": ["open", "dismissed", "resolved", "all"]}},
    {"name": "offset", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}},
    {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
]

_image = {
    "summary": "an image fetched from Stash, at a URL s2p signed; open to any address (Plex fetches "
               "through images.plex.tv)",
    "parameters": _IMAGE_PARAMETERS + [
        {"name": "version", "in": "path", "required": True, "description": "changes when the image does",
         "schema": {"type": "string"}},
        {"name": "signature", "in": "path", "required": True, "schema": {"type": "string"}},
    ],
    "responses": {"200": {"description": "the image", "content": {"image/*": {}}},
                  "304": {"description": "not modified (If-None-Match, If-Modified-Since)"},
                  "400": _ERROR, "403": _ERROR, "404": _ERROR, "503": _ERROR},
}
_unsigned_image = {
    "summary": "an image URL without version and signature: always refused",
    "parameters": _IMAGE_PARAMETERS,
    "responses": {"403": _ERROR, "404": _ERROR},
}

def _container(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {_JSON: {"schema": {"$ref": "#/components/schemas/MediaContainer"}}}}


def _scene_get(summary: str, extra_parameters: list[dict] | None = None) -> dict[str, Any]:
    operation = {
        "summary": summary,
        "parameters": [_RATING_KEY, *(extra_parameters or []), *_PLEX_PARAMETERS],
        "responses": {"200": _container(summary), "400": _ERROR, "403": _ERROR, "404": _ERROR,
                      "503": _ERROR},
    }
    return {"get": operation, "head": operation, "servers": _PROVIDER_SERVERS}


def _tv_paths(hint_parameters: list[dict], hints_schema: dict, match_responses: dict,
              registration: dict) -> dict[str, Any]:
    paging = [{"name": name, "in": "query", "required": False, "schema": {"type": "integer"}, "description": text}
              for name, text in (("X-Plex-Container-Start", "the first item, counted from 0 (also a header)"),
                                 ("X-Plex-Container-Size", "items on the page, default 20 (also a header)"))]
    children = [{"name": "includeChildren", "in": "query", "required": False, "schema": {"type": "integer"},
                 "description": "1: embed a show's seasons or a season's episodes"}]
    return {
        "/tv": {"get": registration, "head": registration, "servers": _PROVIDER_SERVERS},
        "/tv/library/metadata/matches": {
            "post": {"summary": "match a show (type 2), season (3) or episode (4)",
                     "parameters": _PLEX_PARAMETERS + hint_parameters,
                     "requestBody": {"required": False, "content": {_JSON: {"schema": hints_schema}}},
                     "responses": match_responses},
            "get": {"summary": "match, with the hints as query parameters",
                    "parameters": _PLEX_PARAMETERS + hint_parameters, "responses": match_responses},
            "servers": _PROVIDER_SERVERS,
        },
        "/tv/library/metadata/{rating_key}": _scene_get(
            "a show (show-<studio id>), season (season-<studio id>-<year>) or episode (episode-<scene id>)",
            children),
        "/tv/library/metadata/{rating_key}/children": _scene_get(
            "a show's seasons or a season's episodes, paged (an episode: an empty list)", paging),
        "/tv/library/metadata/{rating_key}/grandchildren": _scene_get(
            "a show's episodes, paged (a season or an episode: an empty list)", paging),
        "/tv/library/metadata/{rating_key}/{rest}": _scene_get(
            "any other sub-path: /images, the item's pictures as an Image array; the rest an empty container",
            [{"name": "rest", "in": "path", "required": True, "description": "one or more path segments",
              "schema": {"type": "string"}}]),
    }


def describe(tv: bool = True) -> dict[str, Any]:
    hints_schema = MatchHints.model_json_schema()
    match_responses = {"200": _container("the best match, or up to [match] manual_limit candidates with "
                                         "manual=1; no match is an empty container"),
                       "400": _ERROR, "403": _ERROR, "413": _ERROR, "414": _ERROR}
    hint_parameters = [{"name": name, "in": "query", "required": False, "schema": schema}
                       for name, schema in hints_schema["properties"].items()
                       if name not in ("language", "country", "client_identifier")]
    registration = {"summary": "the provider's registration (identifier, types, features)",
                    "responses": {"200": {"description": "the MediaProvider object", "content": {
                        _JSON: {"schema": {"$ref": "#/components/schemas/MediaProvider"}}}},
                        "403": _ERROR}}
    health = {"summary": "ok, degraded or down, with a part per component; no configuration values",
              "responses": {"200": {"description": "ok or degraded", "content": {
                  _JSON: {"schema": {"$ref": "#/components/schemas/Health"}}}},
                  "503": {"description": "down", "content": {
                      _JSON: {"schema": {"$ref": "#/components/schemas/Health"}}}},
                  "403": _ERROR}}
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "s2p", "version": __version__,
                 "description": "A Plex custom metadata provider that answers from Stash."},
        "paths": {
            "/": {"get": registration, "head": registration, "servers": _PROVIDER_SERVERS},
            "/library/metadata/matches": {
                "post": {"summary": "match a file to a Stash scene", "parameters": _PLEX_PARAMETERS + hint_parameters,
                         "requestBody": {"required": False, "content": {_JSON: {"schema": hints_schema}}},
                         "responses": match_responses},
                "get": {"summary": "match, with the hints as query parameters",
                        "parameters": _PLEX_PARAMETERS + hint_parameters, "responses": match_responses},
                "servers": _PROVIDER_SERVERS,
            },
            "/library/metadata/{rating_key}": _scene_get("the scene's Metadata"),
            "/library/metadata/{rating_key}/images": _scene_get("every artwork choice for the scene"),
            "/library/metadata/{rating_key}/{rest}": _scene_get(
                "any other sub-path (extras, ...): an empty container",
                [{"name": "rest", "in": "path", "required": True, "description": "one or more path segments",
                  "schema": {"type": "string"}}]),
            "/images/{kind}/{entity_id}/{variant}/{version}/{signature}": {"get": _image, "head": _image},
            "/images/{kind}/{entity_id}/{variant}": {"get": _unsigned_image, "head": _unsigned_image},
            "/gaps": {"get": {"summary": "the gap report as an HTML page", "parameters": _GAP_FILTERS,
                              "responses": {"200": {"description": "the page", "content": {"text/html": {}}},
                                            "400": _ERROR, "403": _ERROR, "503": _ERROR}}},
            "/gaps.json": {"get": {"summary": "the gap report as JSON", "parameters": _GAP_FILTERS,
                                   "responses": {"200": {"description": "the report", "content": {_JSON: {}}},
                                                 "400": _ERROR, "403": _ERROR, "503": _ERROR}}},
            "/gaps/run": {"post": {"summary": "start a comparison of Plex and Stash now",
                                   "responses": {"202": {"description": "started", "content": {_JSON: {}}},
                                                 "303": {"description": "started (from the page)"},
                                                 "403": _ERROR, "409": _ERROR, "503": _ERROR}}},
            "/gaps/dismiss": {"post": {
                "summary": "dismiss every open gap of one kind until its item changes",
                "parameters": [{"name": "kind", "in": "query", "required": True, "schema": {"enum": list(KINDS)}}],
                "responses": {"200": {"description": "how many were dismissed", "content": {_JSON: {}}},
                              "303": {"description": "done (from the page)"},
                              "400": _ERROR, "403": _ERROR, "503": _ERROR}}},
            "/gaps/{gap_id}/{action}": {"post": {
                "summary": "dismiss a gap until its item changes, or restore it",
                "parameters": [
                    {"name": "gap_id", "in": "path", "required": True, "schema": {"type": "integer"}},
                    {"name": "action", "in": "path", "required": True, "schema": {"enum": ["dismiss", "restore"]}},
                ],
                "responses": {"200": {"description": "the record", "content": {_JSON: {}}},
                              "303": {"description": "done (from the page)"},
                              "403": _ERROR, "404": _ERROR, "503": _ERROR}}},
            "/healthz": {"get": health, "head": health},
            "/metrics": {"get": {"summary": "metrics in the Prometheus text format",
                                 "responses": {"200": {"description": "metrics", "content": {"text/plain": {}}},
                                               "403": _ERROR}}},
            "/openapi.json": {"get": {"summary": "this description",
                                      "responses": {"200": {"description": "OpenAPI 3.1",
                                                            "content": {_JSON: {}}},
                                                    "403": _ERROR}}},
        },
        "components": {
            "schemas": {
                "Error": {"type": "object", "required": ["error", "status"], "properties": {
                    "error": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"},
                    "problems": {"type": "array", "items": {"type": "object", "properties": {
                        "field": {"type": "string"}, "problem": {"type": "string"}}}}}},
                "MediaContainer": {"type": "object", "required": ["MediaContainer"], "properties": {
                    "MediaContainer": {"type": "object",
                                       "required": ["offset", "totalSize", "identifier", "size"],
                                       "properties": {"offset": {"type": "integer"},
                                                      "totalSize": {"type": "integer"},
                                                      "identifier": {"type": "string"},
                                                      "size": {"type": "integer"},
                                                      "Metadata": {"type": "array"},
                                                      "Image": {"type": "array"}}}}},
                "MediaProvider": {"type": "object", "required": ["MediaProvider"], "properties": {
                    "MediaProvider": {"type": "object", "required": ["identifier", "title", "Types", "Feature"]}}},
                "Health": {"type": "object", "required": ["status", "version", "uptime_seconds"], "properties": {
                    "status": {"enum": ["ok", "degraded", "down"]}, "version": {"type": "string"},
                    "uptime_seconds": {"type": "number"}},
                    "additionalProperties": {"type": "object", "required": ["status"]}},
            },
            "responses": {"Error": {"description": "an error, as JSON", "content": {
                _JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}},
        },
    }
    if tv:
        document["paths"].update(_tv_paths(hint_parameters, hints_schema, match_responses, registration))
    document["paths"].update(_plugin_paths())
    return document


def _plugin_paths() -> dict[str, Any]:
    """The Stash plugin's source and the routes its bridge calls (docs/stash-plugin.md)."""
    token = [{"name": "X-S2P-Token", "in": "header", "required": True, "schema": {"type": "string"},
              "description": "the token s2p wrote into the plugin's zip (never a query value)"}]
    scene = [{"name": "scene_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}]
    api_errors = {"400": _ERROR, "401": _ERROR, "403": _ERROR, "404": _ERROR, "409": _ERROR, "503": _ERROR}

    def api(summary: str, parameters: list[dict], ok: str = "200") -> dict[str, Any]:
        return {"summary": summary, "parameters": token + parameters, "servers": _PROVIDER_SERVERS,
                "responses": {ok: {"description": summary, "content": {_JSON: {}}}, **api_errors}}

    index = {"summary": "the Stash plugin source's index (Last-Modified: the zip's date)", "servers": _PROVIDER_SERVERS,
             "responses": {"200": {"description": "index.yml", "content": {"text/yaml": {}}}, "403": _ERROR}}
    package = {"summary": "the Stash plugin: a deterministic zip with this address and the token in it",
               "servers": _PROVIDER_SERVERS,
               "responses": {"200": {"description": "the zip", "content": {"application/zip": {}}}, "403": _ERROR}}
    action = [{"name": "action", "in": "path", "required": True,
               "schema": {"enum": ["explain", "refresh", "scan"]}},
              {"name": "edited", "in": "query", "required": False, "schema": {"type": "boolean"},
               "description": "refresh: asked by Stash's scene-edit hook"}]
    return {
        "/stash-plugin/index.yml": {"get": index, "head": index},
        "/stash-plugin/s2p.zip": {"get": package, "head": package},
        "/stash-plugin/api/ping": {"get": api("s2p answers, and what it can do", [])},
        "/stash-plugin/api/scenes/{scene_id}": {"get": api("the scene's Plex status", scene)},
        "/stash-plugin/api/scenes/{scene_id}/{action}": {
            "get": api("explain: how s2p matches the scene's files", scene + action[:1]),
            "post": api("refresh (at the head of the live-sync queue) or scan (the scene's folder in Plex)",
                        scene + action)},
        "/stash-plugin/api/gaps": {"get": api("the gap report, as /gaps.json", _GAP_FILTERS)},
        "/stash-plugin/api/gaps/run": {"post": api("start a comparison now, as /gaps/run", [], "202")},
        "/stash-plugin/api/gaps/{gap_id}/{action}": {"post": api("dismiss or restore a gap, as /gaps/{id}/...", [
            {"name": "gap_id", "in": "path", "required": True, "schema": {"type": "integer"}},
            {"name": "action", "in": "path", "required": True, "schema": {"enum": ["dismiss", "restore"]}}])},
    }


class OpenAPI:
    """``GET /openapi.json``."""

    def __init__(self, tv: bool = True) -> None:
        self._document = describe(tv)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._document
        req.context.outcome = "openapi"
