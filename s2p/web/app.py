"""``create_app``: the Falcon app, wired from the services it is given."""

from __future__ import annotations

import falcon

from ..artwork.links import LinkFactory
from ..stash.errors import StashError
from . import debug, errors, gaps, images, openapi, ops, provider
from .access import AccessControl, SecretRoot
from .limits import InputLimits
from .middleware import RequestLog


def create_app(services) -> falcon.App:
    settings = services.settings
    secret_root = SecretRoot(settings.server.secret)
    # RequestLog first: it times and logs requests the access check refuses.
    app = falcon.App(middleware=[
        RequestLog(secret_root, services.request_observers),
        AccessControl(settings.server, secret_root),
        InputLimits(),
    ])
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.keep_blank_qs_values = False
    app.set_error_serializer(errors.serialize_error)
    app.add_error_handler(Exception, errors.handle_unexpected)
    app.add_error_handler(StashError, errors.handle_stash_error)

    links = LinkFactory(settings.provider.public_url, services.signer, services.images.shaper.variant,
                        pushing=services.pusher is not None)
    root = secret_root.prefix
    scene_args = (settings, services.scenes, services.options, links)
    app.add_route(root or "/", provider.Registration(settings))
    app.add_route(f"{root}/library/metadata/matches",
                  provider.Matches(settings, services.cached_matcher, services.options, links,
                                   services.match_observers))
    app.add_route(f"{root}/library/metadata/{{rating_key}}",
                  provider.MetadataItem(*scene_args, served=services.served_observers))
    app.add_route(f"{root}/library/metadata/{{rating_key}}/images", provider.MetadataImages(*scene_args))
    app.add_route(f"{root}/library/metadata/{{rating_key}}/{{rest:path}}", provider.MetadataOther(settings))
    image_route = images.ImageResource(settings, services.images, services.signer)
    app.add_route("/images/{kind}/{entity_id}/{variant}/{version}/{signature}", image_route)
    app.add_route("/images/{kind}/{entity_id}/{variant}", image_route)
    app.add_route("/healthz", ops.Health(services.health))
    app.add_route("/metrics", ops.Metrics(services.metrics.render))
    app.add_route("/openapi.json", openapi.OpenAPI())
    app.add_route("/gaps", gaps.GapsPage(services.gaps))
    app.add_route("/gaps.json", gaps.GapsJson(services.gaps))
    app.add_route("/gaps/run", gaps.GapsRun(services.gaps))
    app.add_route("/gaps/{gap_id:int}/{action}", gaps.GapAction(services.gaps))
    if settings.debug.enabled:
        app.add_route("/debug/match", debug.DebugMatch(services.matcher, settings.server.request_budget))
    return app
