"""``create_app``: the Falcon app and its route table, wired from the services it is given."""

from __future__ import annotations

from urllib.parse import urlsplit

import falcon

from s2p.app.services import Services
from s2p.artwork.links import LinkFactory
from s2p.stash.errors import StashError
from s2p.stashplugin import resources as stashplugin
from s2p.web import debug, errors, gaps, images, openapi, ops, provider, tv
from s2p.web.access import AccessControl, HostCheck, Networks, SecretRoot
from s2p.web.capture import CaptureRequests
from s2p.web.limits import InputLimits
from s2p.web.middleware import RequestLog


def create_app(services: Services) -> falcon.App:
    settings = services.settings
    secret_root = SecretRoot(settings.server.secret)
    # RequestLog first: it times and logs requests the access check refuses.
    public_host = urlsplit(settings.provider.public_url).hostname if settings.provider.public_url else None
    middleware = [
        RequestLog(secret_root, services.observers.request, budget=settings.server.request_budget),
        HostCheck([*settings.server.hosts, public_host or ""]),
        AccessControl(settings.server, secret_root),
        InputLimits(),
    ]
    if services.capture is not None:  # first, so that it sees the answer last (timed and logged)
        middleware.insert(0, CaptureRequests(services.capture, secret_root, settings.secrets()))
    app = falcon.App(middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.keep_blank_qs_values = False
    app.set_error_serializer(errors.serialize_error)
    app.add_error_handler(Exception, errors.handle_unexpected)
    app.add_error_handler(StashError, errors.handle_stash_error)

    links = LinkFactory(settings.provider.public_url, services.signer, services.images.shaper.variant,
                        pushing=services.pusher is not None, covers=services.images.covers,
                        square=services.images.shaper.can_square)
    metadata = services.metadata
    values = provider.PlexValues(services.observers.dropped, secret_root.route)
    root = secret_root.prefix
    app.add_route(root or "/", provider.Registration(settings.provider.identifier, settings.provider.title))
    app.add_route(f"{root}/library/metadata/matches",
                  provider.Matches(services.cached_matcher, metadata, links, max_body=settings.server.max_body,
                                   manual_limit=settings.match.manual_limit, values=values,
                                   observers=services.observers.match))
    app.add_route(f"{root}/library/metadata/{{rating_key}}", provider.MetadataItem(metadata, links, values))
    app.add_route(f"{root}/library/metadata/{{rating_key}}/images", provider.MetadataImages(metadata, links, values))
    app.add_route(f"{root}/library/metadata/{{rating_key}}/{{rest:path}}", provider.MetadataOther(metadata.identifier, values))
    if services.tv is not None:
        add_tv_routes(app, f"{root}/tv", services, links, values)
    image_route = images.ImageResource(services.images, services.signer)
    app.add_route("/images/{kind}/{entity_id}/{variant}/{version}/{signature}", image_route)
    app.add_route("/images/{kind}/{entity_id}/{variant}", image_route)
    app.add_route("/healthz", ops.Health(services.health))
    app.add_route("/metrics", ops.Metrics(services.metrics.render))
    app.add_route("/openapi.json", openapi.OpenAPI(tv=services.tv is not None))
    app.add_route("/gaps", gaps.GapsPage(services.gaps))
    app.add_route("/gaps.json", gaps.GapsJson(services.gaps))
    app.add_route("/gaps/run", gaps.GapsRun(services.gaps))
    app.add_route("/gaps/{gap_id:int}/{action}", gaps.GapAction(services.gaps))
    if settings.debug.enabled:
        app.add_route("/debug/match", debug.DebugMatch(services.matcher, services.tv))
    if services.capture is not None:
        app.add_route("/debug/requests", debug.CapturedRequests(services.capture))
    if services.stash_plugin is not None:  # the Stash plugin: its source and its bridge's routes
        plugin = services.stash_plugin
        stashplugin.add_routes(app, root, service=plugin.service, source=plugin.source, token=plugin.token,
                               gaps=services.gaps, proxies=Networks(settings.server.trusted_proxies))
    return app


def add_tv_routes(app: falcon.App, base: str, services: Services, links: LinkFactory,
                  values: provider.PlexValues) -> None:
    settings = services.settings
    service = services.tv
    assert service is not None
    app.add_route(base, tv.Registration(settings.tv_identifier, settings.tv.title))
    app.add_route(f"{base}/library/metadata/matches",
                  tv.Matches(service, links, values, max_body=settings.server.max_body,
                             manual_limit=settings.match.manual_limit, observers=services.observers.match))
    app.add_route(f"{base}/library/metadata/{{rating_key}}", tv.Item(service, links, values))
    app.add_route(f"{base}/library/metadata/{{rating_key}}/children", tv.Children(service, links, values, grand=False))
    app.add_route(f"{base}/library/metadata/{{rating_key}}/grandchildren",
                  tv.Children(service, links, values, grand=True))
    app.add_route(f"{base}/library/metadata/{{rating_key}}/{{rest:path}}", tv.Other(service, links, values))
