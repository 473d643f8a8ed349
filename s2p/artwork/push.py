"""Push mode: upload posters and backgrounds into the Plex items themselves.

For setups where Plex cannot fetch s2p's image URLs (Plex 1.43.5+ refuses
LAN addresses), s2p sends the bytes to Plex through plexapi
(``uploadPoster``/``uploadArt`` with a file-like object, never a URL, which
Plex would refuse just the same).  After Plex has fetched an item's metadata
the scene is queued; ``[artwork] push_delay`` later a background job finds
the Plex items carrying the scene's guid and uploads what they do not have
yet.  With the TV provider, a show Plex has read is queued the same way
(as ``show-<id>``): its studio's picture becomes the poster of the show and
of its seasons, and the newest scene's screenshot (a season's own newest)
their background.  Failures are retried with jittered exponential backoff;
the queue and the record of uploads (a SHA-256 per item and kind) live in
the state directory, so work survives restarts and no picture is uploaded
twice (a kill -9 between Plex accepting an upload and its record is the one
exception: docs/artwork.md).
"""

from __future__ import annotations

import hashlib
import io
import logging
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from s2p.artwork.links import studio_chain
from s2p.artwork.pushqueue import PushQueue, QueuedScene, Upload
from s2p.artwork.service import ImageService
from s2p.common.backoff import Backoff
from s2p.common.deadline import Deadline
from s2p.common.queued import label, show_entry, show_of
from s2p.common.statedir import StateDirError
from s2p.config import Settings
from s2p.plex import contract
from s2p.pms.connect import PlexError, connect, translate_errors
from s2p.pms.items import PlexItems
from s2p.pms.libraries import PlexLibraries
from s2p.scenes.store import SceneStore
from s2p.stash.client import FetchedImage
from s2p.stash.errors import StashError
from s2p.stash.models import Scene, SceneSummary, StudioRef, is_placeholder

__all__ = ["ArtworkPusher", "Backoff", "Drop", "Retry", "ShowPictures"]

log = logging.getLogger(__name__)

# (what the upload record calls it, the plexapi method that uploads it)
KINDS = (("poster", "uploadPoster"), ("art", "uploadArt"))
BATCH = 50  # queued entries per run of the job; the next run takes the rest
# Failures wait 50-100% of 30 s, 60 s, ... at most an hour; ten tries in all.
BACKOFF = Backoff(base=30.0, cap=3600.0, attempts=10)


@dataclass(frozen=True)
class ShowPictures:
    """What a TV show's Plex items get in push mode."""

    studios: list[StudioRef]  # the poster: the first of these with a picture
    backdrop: SceneSummary | None  # the show's background: this scene's screenshot
    seasons: dict[int, SceneSummary] = field(default_factory=dict)  # each season's, by its index


class Retry(Exception):
    """Not possible now; try the scene again later."""


class Drop(Exception):
    """Nothing to upload for this scene, ever: take it off the queue."""


class ArtworkPusher:
    def __init__(self, *, identifier: str, images: ImageService, scenes: SceneStore, queue: PushQueue,
                 connect: Callable[[], Any], push_delay: float = 30.0, sections: list[str] | None = None,
                 backoff: Backoff = BACKOFF, clock: Callable[[], float] = time.time,
                 stopping: Callable[[], bool] = lambda: False, rescan_after: float = 300.0, budget: float = 60.0,
                 tv_identifier: str | None = None,
                 shows: Callable[[str, Deadline], ShowPictures | None] | None = None):
        self._identifier = identifier
        self._tv_identifier = tv_identifier  # episodes of TV libraries on the TV agent get pictures too
        # A TV show's pictures (None: no such show).
        self._shows = shows
        self._images = images
        self._scenes = scenes
        self.queue = queue
        self._delay = push_delay
        self.backoff = backoff
        self._clock = clock
        self._stopping = stopping
        self._budget = budget
        # Plex's libraries, listed again on a schedule, after a failure and for a scene not found yet.
        self.libraries = PlexLibraries(connect, identifier, sections, tv_identifier=tv_identifier,
                                       rescan_after=rescan_after, user="artwork push", clock=clock)
        self._full_warned = False
        self.uploads = 0

    @classmethod
    def from_settings(cls, settings: Settings, images: ImageService, scenes: SceneStore, *,
                      stopping: Callable[[], bool] = lambda: False,
                      shows: Callable[[str, Deadline], ShowPictures | None] | None = None) -> "ArtworkPusher":
        return cls(identifier=settings.provider.identifier, images=images, scenes=scenes,
                   queue=PushQueue(settings.state_dir),
                   connect=lambda: connect(settings.plex, settings.state_dir),
                   push_delay=settings.artwork.push_delay, sections=settings.plex.sections, stopping=stopping,
                   tv_identifier=settings.tv_identifier if settings.tv.enabled else None, shows=shows)

    @property
    def poll_interval(self) -> float:
        """How often the job looks for due work (a fraction of the delay)."""
        return min(5.0, max(0.25, self._delay / 4))

    # ------------------------------------------------------------ producer

    def enqueue(self, scene_id: str) -> None:
        """A served-metadata observer: Plex has just read this scene."""
        self._add(scene_id)

    def enqueue_show(self, show_id: str) -> None:
        """A TV observer: Plex has just read this show or one of its seasons."""
        if self._shows is not None:
            self._add(show_entry(show_id))

    def _add(self, target: str) -> None:
        try:
            accepted = self.queue.add(target, self._clock() + self._delay)
        except (sqlite3.Error, OSError, StateDirError) as exc:
            # Never fail the metadata answer over the upload queue.
            log.warning("cannot queue the artwork of %s for upload: %s", label(target), exc)
            return
        if not accepted and not self._full_warned:
            self._full_warned = True
            log.warning("the artwork upload queue is full (%d entries); new ones wait for Plex's next "
                        "refresh", self.queue.limit)
        elif accepted:
            self._full_warned = False

    # ------------------------------------------------------------ worker

    def run_due(self) -> int:
        """Work through the scenes that are due; the scheduler's job."""
        handled = 0
        with self.queue.exclusive() as ours:
            if not ours:
                return 0
            for job in self.queue.due(self._clock(), BATCH):
                if self._stopping():
                    break
                self._run(job)
                handled += 1
        return handled

    def close(self) -> None:
        self.queue.close()

    def _run(self, job: QueuedScene) -> None:
        target = job.scene_id
        try:
            show = show_of(target)
            if show is not None:
                self.push_show(show, since=job.added)
            else:
                self.push(target, since=job.added)
        except Drop as exc:
            log.info("artwork of %s: %s", label(target), exc)
            self.queue.remove(job.scene_id)
        except Exception as exc:  # every failure is retried later; none may stop the worker
            self._failed(job, exc)
        else:
            self.queue.remove(job.scene_id)

    def _failed(self, job: QueuedScene, exc: Exception) -> None:
        if isinstance(exc, Retry):
            reason = str(exc)
        elif isinstance(exc, StashError):
            reason = f"Stash: {exc}"
        else:
            if not isinstance(exc, PlexError):
                log.debug("artwork upload of %s failed", label(job.scene_id), exc_info=exc)
            reason = str(translate_errors(exc, "uploading artwork"))
            self._disconnect()
        attempts = job.attempts + 1
        if self.backoff.gives_up(attempts):
            log.warning("artwork of %s: giving up after %d attempts (%s)", label(job.scene_id), attempts, reason)
            self.queue.remove(job.scene_id)
            return
        delay = self.backoff.delay(attempts)
        level = logging.INFO if isinstance(exc, Retry) else logging.WARNING
        log.log(level, "artwork of %s: %s; trying again in %.0f s (attempt %d of %d)",
                label(job.scene_id), reason, delay, attempts, self.backoff.attempts)
        self.queue.retry(job.scene_id, self._clock() + delay, attempts, reason)

    def push(self, scene_id: str, *, since: float | None = None) -> int:
        """Upload what the scene's Plex items lack; the number of uploads.
        ``since``: when it was queued (Plex's libraries are listed again if
        the scene is not found in a listing older than that)."""
        plex, finder = self._connection()
        scene = self._scenes.get(scene_id, deadline=Deadline(self._budget))
        if scene is None:
            raise Drop("Stash has no such scene any more")
        items = finder.find_scene(scene_id)
        if not items and since is not None and not self.libraries.confirmed(since):
            plex, finder = self._connection(newer_than=since)
            items = finder.find_scene(scene_id)
        if not items:
            raise Retry(f"no Plex item has the guid {contract.guid(self._identifier, scene_id)} yet")
        server = str(plex.machineIdentifier)
        uploads = 0
        for (kind, method), episodes in ((k, e) for k in KINDS for e in (False, True)):
            # An episode's thumb is the 16:9 screenshot, as the TV provider serves it.
            shown = [item for item in items if ("://episode/" in (getattr(item, "guid", "") or "")) == episodes]
            source = self._source(scene, kind, episodes)
            stale = []
            for item in shown:
                done = self.queue.uploaded(server, str(item.ratingKey), kind)
                if done is None or done.source != source:
                    stale.append((item, done))
            if not stale:
                continue  # nothing changed in Stash since the last upload: no need to fetch
            image = self._image(scene_id, "art" if episodes else kind)
            if image is None:
                continue
            uploads += self._upload(server, stale, kind, method, image, source, scene_id)
        return uploads

    def push_show(self, show_id: str, *, since: float | None = None) -> int:
        """Upload a TV show's pictures into its Plex items and their seasons,
        where they lack them: the studio's picture as the poster, the newest
        scene's screenshot as the background; the number of uploads."""
        if self._shows is None:
            raise Drop("the TV provider is off")
        plex, finder = self._connection()
        pictures = self._shows(show_id, Deadline(self._budget))
        if pictures is None:
            raise Drop("Stash has no such studio any more")
        pictured = [studio for studio in pictures.studios if not is_placeholder(studio.image_path)]
        if not pictured and pictures.backdrop is None:
            raise Drop("neither the studio nor its parent has a picture, and the show has no scene")
        items = finder.find_show(show_id)
        if not items and since is not None and not self.libraries.confirmed(since):
            plex, finder = self._connection(newer_than=since)
            items = finder.find_show(show_id)
        if not items:
            raise Retry(f"no Plex item has the guid {self._tv_identifier}://show/show-{show_id} yet")
        server = str(plex.machineIdentifier)
        return self._show_poster(server, items, pictured, show_id) + self._show_art(server, items, pictures, show_id)

    def _show_poster(self, server: str, items: list, pictured: list[StudioRef], show_id: str) -> int:
        for studio in pictured:
            if studio.image_path is None:  # pictured studios have one (a missing path is a placeholder)
                continue
            source = f"studio|{studio.image_path}"
            stale = [(item, done) for item in items
                     for done in [self.queue.uploaded(server, str(item.ratingKey), "poster")]
                     if done is None or done.source != source]
            if not stale:
                return 0  # the picture has not changed in Stash since the last upload
            image = self._images.from_path(studio.image_path, deadline=Deadline(self._budget))
            if image is not None:
                return self._upload(server, stale, "poster", "uploadPoster", image, source, show_entry(show_id))
            # Gone from Stash since the studio was read: the parent's may do.
        return 0

    def _show_art(self, server: str, items: list, pictures: ShowPictures, show_id: str) -> int:
        # A show item takes the show's newest scene; a season, its own newest.
        by_scene: dict[str, tuple[SceneSummary, list]] = {}
        for item in items:
            if getattr(item, "type", "") == "show":
                scene = pictures.backdrop
            else:
                index = getattr(item, "index", None)
                scene = pictures.seasons.get(index) if index is not None else None
            if scene is not None:
                by_scene.setdefault(scene.id, (scene, []))[1].append(item)
        uploads = 0
        for scene, shown in by_scene.values():
            source = f"background|scene {scene.id}|{scene.updated_at or ''}"
            stale = [(item, done) for item in shown
                     for done in [self.queue.uploaded(server, str(item.ratingKey), "art")]
                     if done is None or done.source != source]
            image = self._image(scene.id, "art") if stale else None
            if image is not None:
                uploads += self._upload(server, stale, "art", "uploadArt", image, source, show_entry(show_id))
        return uploads

    def _upload(self, server: str, stale: list[tuple[Any, Upload | None]], kind: str, method: str, image: FetchedImage,
                source: str, target: str) -> int:
        digest = hashlib.sha256(image.content).hexdigest()
        uploads = 0
        for item, done in stale:
            if done is None or done.sha256 != digest:
                getattr(item, method)(filepath=io.BytesIO(image.content))
                uploads += 1
                self.uploads += 1
                log.info("uploaded the %s of %s into Plex item %s (%d bytes)", kind, label(target),
                         item.ratingKey, len(image.content))
            self.queue.record(server, str(item.ratingKey), kind, digest, source, target)
        return uploads

    def _image(self, scene_id: str, kind: str) -> FetchedImage | None:
        variant = self._images.shaper.variant if kind == "poster" else "background"
        return self._images.image("scene", scene_id, variant, deadline=Deadline(self._budget))

    def _source(self, scene: Scene, kind: str, episode: bool = False) -> str:
        """What the picture is made from; when it is unchanged, so is the picture."""
        if kind == "art" or episode:
            return f"background|{scene.paths.screenshot}"
        studios = "|".join(s.image_path or "" for s in studio_chain(scene.studio))
        return f"{self._images.shaper.variant}|{scene.paths.screenshot}|{studios}"

    def _connection(self, newer_than: float | None = None) -> tuple[Any, PlexItems]:
        finder = self.libraries.items(newer_than=newer_than)
        return self.libraries.plex, finder

    def _disconnect(self) -> None:
        self.libraries.failed()
