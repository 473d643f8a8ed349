"""``create_app``: the Falcon app and its route table, wired from the services it is given."""

from __future__ import annotations

from urllib.parse import urlsplit

import falcon

from s2p.app.runtime import Runtime
from s2p.artwork.links import LinkFactory
from s2p.stash.errors import StashError
from s2p.stashplugin import resources as stashplugin
from s2p.web import debug, errors, gaps, images, openapi, ops, provider, tv
from s2p.web.access import AccessControl, HostCheck, Networks, SecretRoot
from s2p.web.capture import CaptureRequests
from s2p.web.limits import InputLimits
from s2p.web.middleware import RequestLog


def create_app(runtime: Runtime) -> falcon.App:
    settings = runtime.settings
    secret_root = SecretRoot(settings.server.secret)
    # RequestLog first: it times and logs requests the access check refuses.
    public_host = urlsplit(settings.provider.public_url).hostname if settings.provider.public_url else None
    middleware = [
        RequestLog(secret_root, runtime.observers.request, budget=settings.server.request_budget),
        HostCheck([*settings.server.hosts, public_host or ""]),
        AccessControl(settings.server, secret_root),
        InputLimits(),
    ]
    if runtime.capture is not None:  # first, so that it sees the answer last (timed and logged)
        middleware.insert(0, CaptureRequests(runtime.capture, secret_root, settings.secrets()))
    app = falcon.App(middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.keep_blank_qs_values = False
    app.set_error_serializer(errors.serialize_error)
    app.add_error_handler(Exception, errors.handle_unexpected)
    app.add_error_handler(StashError, errors.handle_stash_error)

    signer = runtime.signer()
    links = LinkFactory(settings.provider.public_url, signer, runtime.images.shaper.variant,
                        pushing=runtime.pusher is not None, covers=runtime.images.covers,
                        square=runtime.images.shaper.can_square)
    metadata = runtime.metadata
    values = provider.PlexValues(runtime.observers.dropped, secret_root.route)
    root = secret_root.prefix
    app.add_route(root or "/", provider.Registration(settings.provider.identifier, settings.provider.title))
    app.add_route(f"{root}/library/metadata/matches",
                  provider.Matches(runtime.matches, links, values, max_body=settings.server.max_body))
    app.add_route(f"{root}/library/metadata/{{rating_key}}", provider.MetadataItem(metadata, links, values))
    app.add_route(f"{root}/library/metadata/{{rating_key}}/images", provider.MetadataImages(metadata, links, values))
    app.add_route(f"{root}/library/metadata/{{rating_key}}/{{rest:path}}", provider.MetadataOther(metadata.identifier, values))
    if runtime.tv is not None and runtime.tv_matches is not None:
        add_tv_routes(app, f"{root}/tv", runtime, links, values)
    image_route = images.ImageResource(runtime.images, signer)
    app.add_route("/images/{kind}/{entity_id}/{variant}/{version}/{signature}", image_route)
    app.add_route("/images/{kind}/{entity_id}/{variant}", image_route)
    app.add_route("/healthz", ops.Health(runtime.health))
    app.add_route("/metrics", ops.Metrics(runtime.metrics.render))
    app.add_route("/openapi.json", openapi.OpenAPI(tv=runtime.tv is not None))
    app.add_route("/gaps", gaps.GapsPage(runtime.gaps))
    app.add_route("/gaps.json", gaps.GapsJson(runtime.gaps))
    app.add_route("/gaps/run", gaps.GapsRun(runtime.gaps))
    app.add_route("/gaps/dismiss", gaps.GapsDismissKind(runtime.gaps))
    app.add_route("/gaps/{gap_id:int}/{action}", gaps.GapAction(runtime.gaps))
    if settings.debug.enabled:
        app.add_route("/debug/match", debug.DebugMatch(runtime.matches, runtime.tv_matches))
    if runtime.capture is not None:
        app.add_route("/debug/requests", debug.CapturedRequests(runtime.capture))
    if runtime.stash_plugin is not None:  # the Stash plugin: its source and its bridge's routes
        plugin = runtime.stash_plugin
        stashplugin.add_routes(app, root, service=plugin.service, source=plugin.source, token=plugin.token,
                               gaps=runtime.gaps, proxies=Networks(settings.server.trusted_proxies))
    return app


def add_tv_routes(app: falcon.App, base: str, runtime: Runtime, links: LinkFactory,
                  values: provider.PlexValues) -> None:
    settings = runtime.settings
    service = runtime.tv
    assert service is not None and runtime.tv_matches is not None
    app.add_route(base, tv.Registration(settings.tv_identifier, settings.tv.title))
    app.add_route(f"{base}/library/metadata/matches",
                  provider.Matches(runtime.tv_matches, links, values, max_body=settings.server.max_body))
    app.add_route(f"{base}/library/metadata/{{rating_key}}", tv.Item(service, links, values))
    app.add_route(f"{base}/library/metadata/{{rating_key}}/children", tv.Children(service, links, values, grand=False))
    app.add_route(f"{base}/library/metadata/{{rating_key}}/grandchildren",
                  tv.Children(service, links, values, grand=True))
    app.add_route(f"{base}/library/metadata/{{rating_key}}/{{rest:path}}", tv.Other(service, links, values))
