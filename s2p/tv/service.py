"""``TvService``: the TV provider's answers, from the catalog, the scene
store and the movie provider's match cascade.  As a match provider it
plugs into ``match.service.MatchService``, which keeps its answers, tells
the observers and applies the Stash outage rule."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from typing import Any, Callable, Sequence

from s2p.common.deadline import Deadline
from s2p.match.cascade import Candidate, Matcher, MatchOutcome, Rule
from s2p.match.query import MatchQuery
from s2p.match.titles import fold_name
from s2p.plex.translate import ImageLinks, TranslateOptions
from s2p.scenes.store import SceneStore
from s2p.stash.errors import StashError
from s2p.stash.models import Scene
from s2p.tv import translate, tree
from s2p.tv.catalog import Catalog, Show
from s2p.tv.tree import EPISODE, SEASON, SHOW, Episode, Key, Page, Season

# Scores: a show named exactly, by an alias, an episode Plex's evidence
# (show, date, numbers) points at, a show only partly named.
EXACT, ALIAS, EVIDENCE, PARTIAL = 100, 95, 90, 70
# Candidates of a file match checked against the show, date and numbers Plex sent.
EVIDENCE_LIMIT = 20
# The most episodes one page of /children or /grandchildren holds, whatever size Plex asks
# for: five of Stash's batched reads at the default [cache] batch_size (100), a few seconds
# at most on a slow Stash, well inside [server] request_budget.  Plex pages on from
# offset + size (docs/tv.md).
MAX_EPISODE_PAGE = 500


@dataclass(frozen=True)
class Choice:
    kind: int
    show: Show
    score: int
    step: str
    season: Season | None = None
    episode: Episode | None = None

    def describe(self) -> str:
        if self.episode is not None:
            return f"scene {self.episode.scene.id} ({self.show.title}, season {self.episode.season})"
        if self.season is not None:
            return f"{self.show.title}, season {self.season.index}"
        return f"show {self.show.title!r} (studio {self.show.id})"


@dataclass
class TvOutcome:
    query: MatchQuery
    candidates: list[Choice] = field(default_factory=list)
    decision: Choice | None = None
    reason: str = ""
    steps: list[str] = field(default_factory=list)
    cascade: MatchOutcome | None = None
    error: str | None = None  # Stash could not be asked: the answer is empty for now, not final

    def as_dict(self) -> dict[str, Any]:
        def choice(c: Choice) -> dict[str, Any]:
            found: dict[str, Any] = {"type": tree.KIND_NAMES[c.kind], "show": c.show.title, "score": c.score,
                                     "step": c.step, "ratingKey": _rating_key(c)}
            if c.episode is not None:
                found.update(scene=c.episode.scene.id, season=c.episode.season, index=c.episode.index,
                             date=c.episode.released)
            elif c.season is not None:
                found.update(season=c.season.index)
            return found

        return {
            "hints": self.query.as_dict(),
            "steps": self.steps,
            "candidates": [choice(c) for c in self.candidates],
            "decision": choice(self.decision) if self.decision else None,
            "reason": self.reason,
            "files": self.cascade.as_dict() if self.cascade is not None else None,
            **({"error": self.error} if self.error else {}),
        }

    def file_match(self) -> MatchOutcome | None:
        """An episode match of a file as the observers read one (scan-time
        gap records, match metrics, the metadata prefetch): the file's
        cascade, with the TV provider's candidates and decision in place of
        its own.  ``None`` for a match that named no file."""
        if not self.query.filename:
            return None
        if self.cascade is None:  # Stash could not be asked before the cascade ran
            return MatchOutcome.unavailable(self.query, self.error) if self.error else None
        episodes = [(c, c.episode) for c in self.candidates if c.episode is not None]
        if len(episodes) != len(self.candidates):
            return None

        def candidate(choice: Choice, episode: Episode) -> Candidate:
            return Candidate(episode.scene, choice.score, choice.step, choice.describe())

        decision = self.decision
        # A copy: the cascade's outcome may be shared with other requests.
        # Stash's outage counts only where it left the answer empty: a show and date may still decide.
        return replace(self.cascade, query=self.query, candidates=[candidate(c, e) for c, e in episodes],
                       decision=candidate(decision, decision.episode) if decision and decision.episode else None,
                       reason=self.reason, error=None if decision else self.error or self.cascade.error)


def _rating_key(choice: Choice) -> str:
    if choice.episode is not None:
        return tree.episode_key(choice.episode.scene.id)
    if choice.season is not None:
        return tree.season_key(choice.show.id, choice.season.index)
    return choice.show.rating_key


class TvService:
    def __init__(self, catalog: Catalog, scenes: SceneStore, matcher: Matcher, options: TranslateOptions, *,
                 min_score: int = 85, margin: int = 1, served: list[Callable[[str], None]] | None = None,
                 shown: list[Callable[[str], None]] | None = None):
        self.catalog = catalog
        self._served = served if served is not None else []  # told the scene of each episode Plex reads
        self._shown = shown if shown is not None else []  # told the show of each show or season Plex reads
        self._scenes = scenes
        self._matcher = matcher
        self.options = options
        self._rule: Rule[Choice] = Rule(min_score, margin, Choice.describe)

    @property
    def identifier(self) -> str:
        return self.options.identifier

    # ------------------------------------------------------------ items

    def item(self, rating_key: str, links: ImageLinks, deadline: Deadline, *,
             children: bool = False, served: bool = True) -> dict[str, Any] | None:
        """The Metadata object of a show, season or episode (``None``: no such
        item); ``served``: Plex reads it, so the observers are told."""
        key = tree.parse_key(rating_key)
        if key is None:
            return None
        if key.kind == EPISODE:
            found = self.episode(key.scene, deadline)  # type: ignore[arg-type]
            if found is None:
                return None
            show, episode, scene = found
            item = translate.episode_item(show, episode, scene, self.options, links)
            if served:
                for observe in self._served:
                    observe(scene.id)
            return item
        show = self.catalog.show(key.show, deadline)  # type: ignore[arg-type]
        if show is None:
            return None
        listing = self.catalog.listing(show, deadline)
        if key.kind == SHOW:
            item = translate.show_item(show, listing, self.options, links, children=children)
        else:
            season = listing.season(key.season)  # type: ignore[arg-type]
            if season is None:
                return None
            # Plex's refresh takes a season's episodes from this answer: full ones, read in batches.
            episodes = self._full_episodes(show, list(season.episodes), links, deadline) if children else None
            item = translate.season_item(show, season, self.options, links, episodes=episodes)
            if served and episodes:
                # Read as if one by one: push mode uploads their pictures, gap detection knows them served.
                for embedded in episodes:
                    for observe in self._served:
                        observe(embedded["ratingKey"].removeprefix("episode-"))
        if served:
            for observe in self._shown:
                observe(show.id)
        return item

    def episode(self, scene_id: str, deadline: Deadline) -> tuple[Show, Episode, Scene] | None:
        scene = self._scenes.get(scene_id, deadline=deadline)
        if scene is None:
            return None
        found = self._place(scene_id, scene.studio.id if scene.studio else None, deadline)
        return None if found is None else (*found, scene)

    def _place(self, scene_id: str, studio_id: str | None, deadline: Deadline) -> tuple[Show, Episode] | None:
        show = self.catalog.show(self.catalog.show_id_of(studio_id, deadline), deadline)
        if show is None:
            self.catalog.forget()  # a studio newer than the directory
            show = self.catalog.show(self.catalog.show_id_of(studio_id, deadline), deadline)
            if show is None:
                return None
        episode = self.catalog.listing(show, deadline).episode(scene_id)
        if episode is None:
            self.catalog.forget()  # a scene newer than the listing, or one that moved
            episode = self.catalog.listing(show, deadline).episode(scene_id)
        return None if episode is None else (show, episode)

    def children(self, rating_key: str, links: ImageLinks, deadline: Deadline, start: int,
                 size: int | None, *, grand: bool = False) -> Page | None:
        """A page of a show's seasons (or, ``grand``, its episodes), or of a season's episodes;
        an empty page for what has none (an episode's children, a season's grandchildren),
        ``None`` for an item that does not exist."""
        key = tree.parse_key(rating_key)
        if key is None:
            return None
        if key.kind == EPISODE:
            found = self.episode(key.scene, deadline)  # type: ignore[arg-type]
            return None if found is None else Page([], max(0, start), 0)
        show = self.catalog.show(key.show, deadline)  # type: ignore[arg-type]
        if show is None:
            return None
        listing = self.catalog.listing(show, deadline)
        if key.kind == SHOW and not grand:
            page = tree.page(listing.seasons, start, size)
            return Page([translate.season_item(show, s, self.options, links) for s in page.items],
                        page.offset, page.total)
        if key.kind == SHOW:
            episodes: Sequence[Episode] = listing.episodes
        else:
            season = listing.season(key.season)  # type: ignore[arg-type]
            if season is None:
                return None
            if grand:
                return Page([], max(0, start), 0)
            episodes = season.episodes
        page = tree.page(episodes, start, min(tree.DEFAULT_PAGE if size is None else size, MAX_EPISODE_PAGE))
        return Page(self._full_episodes(show, page.items, links, deadline), page.offset, page.total)

    def images(self, rating_key: str, links: ImageLinks, deadline: Deadline) -> list[dict[str, str]] | None:
        """Every picture of a show, season or episode, as Plex's ``Image`` array
        (``None``: no such item).  Not a read of the item: nothing is told."""
        item = self.item(rating_key, links, deadline, served=False)
        if item is None:
            return None
        return [{"type": image["type"], "url": image["url"]} for image in item.get("Image", [])]

    def _full_episodes(self, show: Show, episodes: Sequence[Episode], links: ImageLinks,
                       deadline: Deadline) -> list[dict[str, Any]]:
        # Batched reads: one Stash query per [cache] batch_size scenes not yet cached.
        scenes = self._scenes.get_many([e.scene.id for e in episodes], deadline=deadline)
        # A scene deleted since the listing was read is left out.
        return [translate.episode_item(show, e, scenes[e.scene.id], self.options, links)
                for e in episodes if e.scene.id in scenes]

    # ------------------------------------------------------------ matching (a MatchService provider)

    def refuses(self, query: MatchQuery) -> str | None:
        return "a movie asked of the TV provider" if query.kind == 1 else None

    def unavailable(self, query: MatchQuery, error: str) -> TvOutcome:
        return TvOutcome(query, reason=f"no match: Stash unavailable ({error})", error=error,
                         steps=[f"Stash could not be asked: {error}"])

    def items(self, outcome: TvOutcome, chosen: Sequence[Choice], links: ImageLinks,
              deadline: Deadline) -> list[dict[str, Any]]:
        return [self.render(c, links, deadline, children=outcome.query.include_children) for c in chosen]

    def file_match(self, outcome: TvOutcome) -> MatchOutcome | None:
        return outcome.file_match()

    def context(self, outcome: TvOutcome, listed: int) -> dict[str, Any]:
        hint = outcome.query.filename or outcome.query.show_title or outcome.query.guid or "-"
        decision = outcome.decision
        if decision is None or outcome.query.manual:
            return {"outcome": f"{hint!r}: {listed} listed; {outcome.reason}"}
        context: dict[str, Any] = {"outcome": f"{hint!r} -> {decision.describe()} by {decision.step}",
                                   "score": decision.score, "step": decision.step}
        if decision.episode is not None:
            context["scene"] = decision.episode.scene.id
        return context

    def render(self, choice: Choice, links: ImageLinks, deadline: Deadline, *, children: bool = False) -> dict:
        if choice.episode is not None:
            return translate.match_episode(choice.show, choice.episode, choice.score, self.options, links)
        listing = self.catalog.listing(choice.show, deadline) if children or choice.season is None else None
        if choice.season is not None:
            item = translate.season_item(choice.show, choice.season, self.options, links, children=children)
        else:
            item = translate.show_item(choice.show, listing, self.options, links, children=children)
        item["score"] = choice.score
        return item

    def match(self, query: MatchQuery, deadline: Deadline) -> TvOutcome:
        """The outcome; ``StashError`` when Stash could not be asked before
        anything was found (the match service's outage rule applies)."""
        outcome = TvOutcome(query)
        candidates = self._candidates(query, outcome, deadline)
        candidates.sort(key=lambda c: (-c.score, _rating_key(c)))
        outcome.candidates = candidates
        outcome.decision, outcome.reason = self._rule.decide(candidates)
        if outcome.cascade is not None and outcome.cascade.error and outcome.decision is None:
            outcome.error = outcome.cascade.error  # the file could not be looked up: not final
        return outcome

    def _candidates(self, query: MatchQuery, outcome: TvOutcome, deadline: Deadline) -> list[Choice]:
        kind = query.kind if query.kind in (SHOW, SEASON, EPISODE) else EPISODE if query.filename else SHOW
        ours = tree.parse_key(query.own.key) if query.own is not None else None
        if ours is not None and tree.KIND_NAMES[ours.kind] != query.own.kind:  # type: ignore[union-attr]
            ours = None
        if kind == EPISODE:
            return self._episodes(query, ours, outcome, deadline)
        shows = self._shows(query, ours, outcome, deadline)
        return shows if kind == SHOW else self._seasons(query, ours, shows, outcome, deadline)

    def _shows(self, query: MatchQuery, ours: Key | None, outcome: TvOutcome, deadline: Deadline) -> list[Choice]:
        named = ours if ours is not None and ours.kind in (SHOW, SEASON) else _evidence(query.show_key)
        if named is not None and named.show is not None:
            show = self.catalog.show(named.show, deadline)
            outcome.steps.append(f"guid: {'show ' + show.title if show else 'no such show'}")
            if show is not None:
                return [Choice(SHOW, show, EXACT, "guid")]
        title = query.show_title
        found: dict[str, Choice] = {}
        if title:
            wanted = fold_name(title)
            for show in self.catalog.shows(deadline):
                names = [show.title] + list(show.studio.aliases if show.studio else ())
                folded = [fold_name(n) for n in names]
                if wanted and wanted == folded[0]:
                    score, step = EXACT, "title"
                elif wanted and wanted in folded[1:]:
                    score, step = ALIAS, "alias"
                elif query.manual and wanted:
                    ratio = max(SequenceMatcher(None, wanted, f).ratio() for f in folded)
                    contains = any(wanted in f or f in wanted for f in folded if f)
                    score, step = (PARTIAL if contains else int(ratio * PARTIAL)), "similar title"
                    if score < 40:
                        continue
                else:
                    continue
                found[show.id] = Choice(SHOW, show, score, step)
            outcome.steps.append(f"title {title!r}: {len(found)} show(s)")
        if not found or not any(c.score >= self._rule.min_score for c in found.values()):
            # No show by that name: the file's scene tells its show.
            for show, _episode, score in self._by_file(query, outcome, deadline):
                if show.id not in found or found[show.id].score < score:
                    found[show.id] = Choice(SHOW, show, score, "file")
        return list(found.values())

    def _seasons(self, query: MatchQuery, ours: Key | None, shows: list[Choice], outcome: TvOutcome,
                 deadline: Deadline) -> list[Choice]:
        index = query.index
        if index is None and ours is not None and ours.kind == SEASON:
            index = ours.season
        if index is None:
            index = query.year
        choices = []
        for show in shows:
            season = self.catalog.listing(show.show, deadline).season(index) if index is not None else None
            if season is not None:
                choices.append(Choice(SEASON, show.show, show.score, show.step, season=season))
        outcome.steps.append(f"season {index}: in {len(choices)} of {len(shows)} show(s)")
        return choices

    def _episodes(self, query: MatchQuery, ours: Key | None, outcome: TvOutcome,
                  deadline: Deadline) -> list[Choice]:
        if ours is not None and ours.kind == EPISODE and ours.scene is not None:
            found = self.episode(ours.scene, deadline)
            outcome.steps.append(f"guid: {'scene ' + ours.scene if found else 'no such episode'}")
            if found is not None:
                return [Choice(EPISODE, found[0], EXACT, "guid", episode=found[1])]
        by_file = self._by_file(query, outcome, deadline)
        if outcome.cascade is not None and outcome.cascade.decision is not None:
            return [Choice(EPISODE, show, score, "file", episode=episode) for show, episode, score in by_file]
        # No file decided it: what Plex says of the episode (its show, season,
        # air date or numbers) picks among the file's candidates, or finds it alone.
        evidence = _Evidence.of(query)
        pool = [(show, episode) for show, episode, _ in by_file]
        if not pool and (evidence.show_title or evidence.show_id):
            for show in self.catalog.shows(deadline):
                if evidence.names(show):
                    pool.extend((show, e) for e in self.catalog.listing(show, deadline).episodes)
        fitting = [(show, e) for show, e in pool if evidence.fits(show, e)]
        if fitting and (query.date or query.index is not None):
            outcome.steps.append(f"show, date and numbers: {len(fitting)} of {len(pool)} episode(s) fit")
            return [Choice(EPISODE, show, EVIDENCE, "show and date", episode=e) for show, e in fitting]
        return [Choice(EPISODE, show, score, "file", episode=episode) for show, episode, score in by_file]

    def _by_file(self, query: MatchQuery, outcome: TvOutcome, deadline: Deadline) -> list[tuple[Show, Episode, int]]:
        """The scenes the movie cascade finds for the file, placed in their shows."""
        if outcome.cascade is None:
            if not (query.filename or query.ohash):
                return []
            # The cascade reads files, fingerprints and a title; a TV guid is not its to read.
            asked = replace(query, kind=None, guid=None, own=None,
                            title=query.title if query.kind == EPISODE else None)
            try:
                outcome.cascade = self._matcher.match(asked, deadline)
            except StashError as exc:
                # Only the file's lookup failed: a show and date may still decide.
                outcome.cascade = self._matcher.unavailable(asked, str(exc))
            outcome.steps.append(f"file: {outcome.cascade.reason or 'no candidate'}")
        cascade = outcome.cascade
        picked = [cascade.decision] if cascade.decision else cascade.candidates[:EVIDENCE_LIMIT]
        placed = []
        for candidate in picked:
            found = self.episode(candidate.scene.id, deadline)
            if found is not None:
                placed.append((found[0], found[1], candidate.score))
        return placed


def _evidence(key: str | None) -> Key | None:
    return tree.parse_key(key) if key else None


@dataclass(frozen=True)
class _Evidence:
    """What Plex says of an episode beside its file: its show (by title or
    s2p's own key), season, number and air date."""

    show_title: str
    show_id: str | None
    season_key: int | None  # the season of s2p's own key (parentRatingKey or parentGuid)
    parent_index: int | None
    index: int | None
    date: str | None

    @classmethod
    def of(cls, query: MatchQuery) -> _Evidence:
        show = _evidence(query.show_key)
        season = _evidence(query.season_key)
        show_id = show.show if show is not None and show.kind == SHOW else None
        season_index = None
        if season is not None and season.kind == SEASON:
            show_id, season_index = show_id or season.show, season.season
        return cls(fold_name(query.show_title or ""), show_id, season_index, query.parent_index, query.index,
                   query.date)

    def names(self, show: Show) -> bool:
        if self.show_id is not None:
            return show.id == self.show_id
        return bool(self.show_title) and fold_name(show.title) == self.show_title

    def fits(self, show: Show, episode: Episode) -> bool:
        if (self.show_id is not None or self.show_title) and not self.names(show):
            return False
        if self.date and episode.released != self.date:
            return False
        if self.season_key is not None and episode.season != self.season_key:
            return False
        if self.index is not None and not self.date:
            # Plex's own numbers: the episode's, and its season's when given.
            if episode.index != self.index or (self.parent_index is not None and episode.season != self.parent_index):
                return False
        return True
