"""``create_app``: the Falcon app, wired from the services it is given."""

from __future__ import annotations

import falcon

from ..artwork.links import RouteImageLinks
from ..stash.errors import StashError
from . import debug, errors, images, ops, provider
from .middleware import RequestLog


def create_app(services) -> falcon.App:
    settings = services.settings
    app = falcon.App(middleware=[RequestLog()])
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.keep_blank_qs_values = False
    app.set_error_serializer(errors.serialize_error)
    app.add_error_handler(Exception, errors.handle_unexpected)
    app.add_error_handler(StashError, errors.handle_stash_error)

    public_url = settings.provider.public_url

    def links(req: falcon.Request) -> RouteImageLinks:
        return RouteImageLinks(public_url or f"{req.scheme}://{req.netloc}")

    root = f"/{settings.server.secret}" if settings.server.secret else ""
    scene_args = (settings, services.scenes, services.options, links)
    app.add_route(root or "/", provider.Registration(settings))
    app.add_route(f"{root}/library/metadata/matches",
                  provider.Matches(settings, services.matcher, services.options, links, services.match_observers))
    app.add_route(f"{root}/library/metadata/{{rating_key}}",
                  provider.MetadataItem(*scene_args, served=services.served_observers))
    app.add_route(f"{root}/library/metadata/{{rating_key}}/images", provider.MetadataImages(*scene_args))
    app.add_route(f"{root}/library/metadata/{{rating_key}}/{{rest:path}}", provider.MetadataOther(settings))
    app.add_route("/images/{kind}/{entity_id}/{variant}", images.ImageResource(settings, services.images))
    app.add_route("/healthz", ops.Health(services.health))
    if settings.debug.enabled:
        app.add_route("/debug/match", debug.DebugMatch(services.matcher, settings.server.request_budget))
    return app
