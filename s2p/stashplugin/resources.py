"""The Stash plugin's routes, under ``<root>/stash-plugin``.

``index.yml`` and ``s2p.zip`` are the plugin source Stash's server reads;
everything under ``api/`` is what the bridge calls, refused without the
plugin's token in the ``X-S2P-Token`` header (a query value is never
looked at: URLs end up in logs).  Access control (``web.access``) lets in
callers from ``[server] allow`` or ``[server] ops_allow``.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

import falcon

from s2p.gaps.service import GapsUnavailable
from s2p.stashplugin.package import ZIP_NAME, Package, PluginSource
from s2p.stashplugin.service import NoSuchScene, NotAvailable, PluginService
from s2p.stashplugin.token import HEADER, PluginToken
from s2p.web.access import Networks, parse_address
from s2p.web.errors import BadRequest
from s2p.web.gaps import GapAction, GapsJson, GapsRun

SEGMENT = "stash-plugin"
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?")
_SCENE_ID = re.compile(r"\d{1,18}")


def base_url(req: falcon.Request, root: str, proxies: Networks) -> str:
    """s2p's address as the caller reached it, with the secret root."""
    host = (req.get_header("Host") or "").strip()
    if not _HOST.fullmatch(host):
        raise BadRequest("the Host header is not an address s2p can write into the plugin",
                         [{"field": "Host", "problem": "a host name or address, and a port"}])
    scheme = req.scheme
    forwarded = (req.get_header("X-Forwarded-Proto") or "").split(",")[0].strip().lower()
    peer = parse_address(req.remote_addr)
    if forwarded in ("http", "https") and peer is not None and peer in proxies:
        scheme = forwarded  # a trusted reverse proxy says how Stash reached it
    return f"{scheme}://{host}{root}"


class _Source:
    def __init__(self, source: PluginSource, root: str, proxies: Networks):
        self._source = source
        self._root = root
        self._proxies = proxies

    def _package(self, req: falcon.Request, resp: falcon.Response) -> Package:
        package = self._source.package(base_url(req, self._root, self._proxies))
        resp.last_modified = datetime.datetime.fromtimestamp(package.date, datetime.timezone.utc)
        return package


class PluginIndex(_Source):
    """``GET``/``HEAD <root>/stash-plugin/index.yml``: the plugin source's index."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        package = self._package(req, resp)
        resp.content_type = "text/yaml; charset=utf-8"
        resp.cache_control = ["no-cache"]
        resp.text = package.index(self._source.version)
        req.context.outcome = f"Stash plugin index ({package.date_text})"

    def on_head(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.on_get(req, resp)


class PluginZip(_Source):
    """``GET``/``HEAD <root>/stash-plugin/s2p.zip``: the plugin, with this address and the token in it."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        package = self._package(req, resp)
        resp.content_type = "application/zip"
        resp.cache_control = ["no-store"]  # it carries the token
        resp.downloadable_as = ZIP_NAME
        resp.data = package.zip_bytes
        req.context.outcome = f"Stash plugin zip ({len(package.zip_bytes)} bytes)"

    def on_head(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.on_get(req, resp)


def _check_token(token: PluginToken, req: falcon.Request) -> None:
    if not token.accepts(req.get_header(HEADER)):
        req.context.outcome = "refused: no or wrong Stash plugin token"
        raise falcon.HTTPUnauthorized(
            title="token refused",
            description="the Stash plugin's token is missing or wrong. Fix: update or reinstall the s2p plugin "
                        "in Stash (Settings > Plugins) from s2p's plugin source")


def _scene_id(value: str) -> str:
    if not _SCENE_ID.fullmatch(value):
        raise BadRequest("a scene id is a whole number", [{"field": "scene_id", "problem": "not a scene id"}])
    return value


class _Api:
    def __init__(self, service: PluginService, token: PluginToken):
        self._service = service
        self._token = token

    def _guard(self, req: falcon.Request) -> None:
        _check_token(self._token, req)


def _answer(req: falcon.Request, resp: falcon.Response, call: Any, outcome: str) -> None:
    try:
        resp.media = call()
    except NoSuchScene as exc:
        raise falcon.HTTPNotFound(title="no such scene", description=str(exc)) from None
    except NotAvailable as exc:
        raise falcon.HTTPConflict(title="not available", description=str(exc)) from None
    except GapsUnavailable as exc:
        raise falcon.HTTPServiceUnavailable(title="gap records unavailable", description=str(exc)) from None
    resp.cache_control = ["no-store"]
    req.context.outcome = outcome


class Ping(_Api):
    """``GET api/ping``: s2p answers, and what it can do."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._guard(req)
        _answer(req, resp, self._service.ping, "plugin: ping")


class SceneStatus(_Api):
    """``GET api/scenes/{id}``: the scene's Plex status."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, scene_id: str) -> None:
        self._guard(req)
        scene_id = _scene_id(scene_id)
        _answer(req, resp, lambda: self._service.status(scene_id, req.context.deadline),
                f"plugin: status of scene {scene_id}")


class SceneAction(_Api):
    """``GET api/scenes/{id}/explain``; ``POST api/scenes/{id}/refresh`` (``?edited=1`` from
    Stash's hook) and ``POST api/scenes/{id}/scan``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, scene_id: str, action: str) -> None:
        self._guard(req)
        scene_id = _scene_id(scene_id)
        if action != "explain":
            raise falcon.HTTPMethodNotAllowed(["POST"]) if action in ("refresh", "scan") else \
                falcon.HTTPNotFound(title="no such action", description="use explain, refresh or scan")
        _answer(req, resp, lambda: self._service.explain(scene_id, req.context.deadline),
                f"plugin: why of scene {scene_id}")

    def on_post(self, req: falcon.Request, resp: falcon.Response, scene_id: str, action: str) -> None:
        self._guard(req)
        scene_id = _scene_id(scene_id)
        if action == "refresh":
            edited = req.get_param_as_bool("edited", default=False)
            _answer(req, resp, lambda: self._service.refresh(scene_id, req.context.deadline, edited=edited),
                    f"plugin: refresh scene {scene_id}")
        elif action == "scan":
            _answer(req, resp, lambda: self._service.scan(scene_id, req.context.deadline),
                    f"plugin: scan the folder of scene {scene_id}")
        elif action == "explain":
            raise falcon.HTTPMethodNotAllowed(["GET"])
        else:
            raise falcon.HTTPNotFound(title="no such action", description="use explain, refresh or scan")


class Gaps(GapsJson):
    """``GET api/gaps``: the report as ``/gaps.json`` gives it (same query), with
    the Plex server's machineIdentifier for links into Plex Web."""

    def __init__(self, service: PluginService, token: PluginToken, gaps: Any):
        super().__init__(gaps)
        self._service = service
        self._token = token

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _check_token(self._token, req)
        super().on_get(req, resp)
        resp.media["plex"] = {"machine_identifier": self._service.machine_identifier()}


class GapsCompare(GapsRun):
    """``POST api/gaps/run``: a comparison now, as ``/gaps/run``."""

    def __init__(self, token: PluginToken, gaps: Any):
        super().__init__(gaps)
        self._token = token

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        _check_token(self._token, req)
        super().on_post(req, resp)


class GapChange(GapAction):
    """``POST api/gaps/{id}/dismiss`` and ``/restore``, as ``/gaps/{id}/...``."""

    def __init__(self, token: PluginToken, gaps: Any):
        super().__init__(gaps)
        self._token = token

    def on_post(self, req: falcon.Request, resp: falcon.Response, gap_id: int, action: str) -> None:
        _check_token(self._token, req)
        super().on_post(req, resp, gap_id, action)


def add_routes(app: falcon.App, root: str, *, service: PluginService, source: PluginSource, token: PluginToken,
               gaps: Any, proxies: Networks) -> None:
    """Every route of the plugin, under ``<root>/stash-plugin``."""
    base = f"{root}/{SEGMENT}"
    app.add_route(f"{base}/index.yml", PluginIndex(source, root, proxies))
    app.add_route(f"{base}/{ZIP_NAME}", PluginZip(source, root, proxies))
    app.add_route(f"{base}/api/ping", Ping(service, token))
    app.add_route(f"{base}/api/scenes/{{scene_id}}", SceneStatus(service, token))
    app.add_route(f"{base}/api/scenes/{{scene_id}}/{{action}}", SceneAction(service, token))
    app.add_route(f"{base}/api/gaps", Gaps(service, token, gaps))
    app.add_route(f"{base}/api/gaps/run", GapsCompare(token, gaps))
    app.add_route(f"{base}/api/gaps/{{gap_id:int}}/{{action}}", GapChange(token, gaps))
