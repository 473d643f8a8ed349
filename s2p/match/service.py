"""``MatchService``: Plex's match requests answered, for movies and TV alike.

One service per provider (the movie cascade, or the TV provider), each
owning what a match request needs besides reading it: the answers kept a
short while (a rescan repeats its requests), the observers told of every
file match (metrics, gap records, the metadata prefetch), the rule for a
Stash outage (an empty answer now, never kept, and Plex asks again at its
next scan) and the bytes of the answer.  The routes only read the request
and write what this returns.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar

from s2p.common.cache import TTLCache
from s2p.common.deadline import Deadline
from s2p.match.cascade import Candidate, Matcher, MatchOutcome
from s2p.match.query import MatchQuery
from s2p.plex import contract, translate
from s2p.plex.translate import ImageLinks, TranslateOptions
from s2p.stash.errors import StashError

log = logging.getLogger(__name__)


class Outcome(Protocol):
    """What every provider's match outcome has."""

    @property
    def query(self) -> MatchQuery: ...

    @property
    def error(self) -> str | None: ...

    @property
    def candidates(self) -> Sequence[Any]: ...

    @property
    def decision(self) -> Any: ...


OutcomeT = TypeVar("OutcomeT", bound=Outcome)


class Provider(Protocol[OutcomeT]):
    """One provider's side of a match: the movie cascade, or the TV provider."""

    @property
    def identifier(self) -> str: ...

    def refuses(self, query: MatchQuery) -> str | None:
        """Why a query is not this provider's to answer (a movie asked of TV), or None."""
        ...

    def match(self, query: MatchQuery, deadline: Deadline) -> OutcomeT:
        """The outcome; ``StashError`` when Stash could not be asked."""
        ...

    def unavailable(self, query: MatchQuery, error: str) -> OutcomeT: ...

    def items(self, outcome: OutcomeT, chosen: Sequence[Any], links: ImageLinks,
              deadline: Deadline) -> list[dict[str, Any]]:
        """The match items Plex reads for the candidates chosen."""
        ...

    def file_match(self, outcome: OutcomeT) -> MatchOutcome | None:
        """The outcome as the observers read a file match, or None for a match of no file."""
        ...

    def context(self, outcome: OutcomeT, listed: int) -> dict[str, Any]:
        """What the request log records of it: ``outcome`` (a line), and for a
        decision ``scene``, ``score`` and ``step``."""
        ...


@dataclass(frozen=True)
class Answer(Generic[OutcomeT]):
    data: bytes  # the JSON answer
    outcome: OutcomeT | None  # None: the question was not this provider's (a movie asked of TV)
    context: dict[str, Any]  # what the request log records
    noted: tuple[Any, ...] = ()  # what the edge noted reading the request (told again on a replay)


@dataclass
class _Stats:
    replayed: int = 0
    answered: int = 0
    unavailable: int = 0


def result_of(outcome: Outcome) -> tuple[str, str]:
    """(result, step) of a match, as s2p_matches_total counts it."""
    if outcome.query.manual:
        return "manual", ""
    if outcome.error:
        return "stash_unavailable", ""
    if outcome.decision is not None:
        return "matched", str(getattr(outcome.decision, "step", ""))
    if outcome.candidates:
        return "ambiguous", ""
    return "none", ""


class MatchService(Generic[OutcomeT]):
    """Answers to Plex's match requests for one provider.

    Answers are kept ``TTL`` seconds, only while the scene index they were
    made from stands (``generation``), and never when Stash could not be
    asked, when nothing was found (the file may be in Stash a moment later)
    or when a crowd of candidates was (a file name hundreds of scenes share:
    the index answers it again in milliseconds).  Each is kept under the
    query it answers and under the request as it came (``request_key``), so
    a request repeated word for word is answered without being read again."""

    TTL = 60.0
    MAX_KEPT_CANDIDATES = 20

    def __init__(self, provider: Provider[OutcomeT], *, observers: Sequence[Callable[[MatchOutcome], None]] = (),
                 generation: Callable[[], int] = lambda: 0, manual_limit: int = 50, enabled: bool = True,
                 size: int = 5000, name: str = "matches", label: str = "match"):
        self.provider = provider
        self._observers = observers  # the runtime's list: observers attached later are told too
        self._generation = generation
        self._manual_limit = manual_limit
        self._answers: TTLCache[Answer[OutcomeT]] = TTLCache(size if enabled else 0, self.TTL)
        self._requests: TTLCache[Answer[OutcomeT]] = TTLCache(size if enabled else 0, self.TTL)
        self._name = name
        self._label = label
        self.stats = _Stats()
        self._results: Counter[tuple[str, str]] = Counter()  # file matches told, by (result, step)
        self._results_lock = threading.Lock()

    @property
    def identifier(self) -> str:
        return self.provider.identifier

    def replay(self, request_key: Hashable) -> Answer[OutcomeT] | None:
        """The answer to the same request seen a moment ago, observers told as for a new one."""
        kept = self._requests.get((self._generation(), request_key))
        if kept is not None:
            self.stats.replayed += 1
            self._tell(kept.outcome)
        return kept

    def answer(self, query: MatchQuery, links: ImageLinks, deadline: Deadline, *, where: Hashable = None,
               request_key: Hashable = None, noted: tuple[Any, ...] = ()) -> Answer[OutcomeT]:
        """The answer to ``query``; ``where`` names what image URLs depend on
        (the address the request came to)."""
        generation = self._generation()
        key = (generation, query, where)

        def load() -> Answer[OutcomeT]:
            return self._make(query, links, deadline, noted)

        try:
            found = self._answers.get_or_load(key, load, ttl_for=self._ttl_for, wait=deadline.remaining())
        except TimeoutError:  # the same question is being answered and takes too long: answer it here
            found = load()
        if request_key is not None and self._keeps(found):
            self._requests.put((generation, request_key), replace(found, noted=noted))
        self._tell(found.outcome)
        return found

    def explain(self, query: MatchQuery, deadline: Deadline) -> OutcomeT:
        """The outcome afresh, for a person asking why: nothing kept, nobody told."""
        return self._outcome(query, deadline)

    def results(self) -> dict[tuple[str, str], int]:
        """File matches answered so far, by (result, step)."""
        with self._results_lock:
            return dict(self._results)

    def forget(self) -> None:
        """Stash changed: answers made before may no longer hold."""
        self._answers.clear()
        self._requests.clear()

    def caches(self) -> dict[str, TTLCache[Any]]:
        return {self._name: self._answers}

    # ------------------------------------------------------------ inside

    def _outcome(self, query: MatchQuery, deadline: Deadline) -> OutcomeT:
        try:
            return self.provider.match(query, deadline)
        except StashError as exc:
            # The outage rule: an empty answer now; Plex asks again at its next scan.
            self.stats.unavailable += 1
            return self.provider.unavailable(query, str(exc))

    def _make(self, query: MatchQuery, links: ImageLinks, deadline: Deadline,
              noted: tuple[Any, ...]) -> Answer[OutcomeT]:
        refused = self.provider.refuses(query)
        if refused is not None:
            return Answer(_encode(contract.container(self.identifier)), None, {"outcome": f"no match: {refused}"},
                          noted)
        self.stats.answered += 1
        outcome = self._outcome(query, deadline)
        if query.manual:
            chosen = list(outcome.candidates[: self._manual_limit])
        else:
            chosen = [outcome.decision] if outcome.decision is not None else []
        items = self.provider.items(outcome, chosen, links, deadline)
        data = _encode(contract.container(self.identifier, items))
        if outcome.error:
            log.warning("%s for %r answered empty: %s", self._label, query.hint, outcome.error)
        return Answer(data, outcome, self.provider.context(outcome, len(items)), noted)

    def _tell(self, outcome: OutcomeT | None) -> None:
        if outcome is None:
            return  # not this provider's question: nothing was matched
        file_match = self.provider.file_match(outcome)
        if file_match is not None:
            result = result_of(file_match)
            with self._results_lock:
                self._results[result] += 1
            for observe in self._observers:
                observe(file_match)

    def _keeps(self, answer: Answer[OutcomeT]) -> bool:
        return self._answers.max_weight > 0 and self._ttl_for(answer) is None

    def _ttl_for(self, answer: Answer[OutcomeT]) -> float | None:
        outcome = answer.outcome
        if outcome is None:
            return None
        if outcome.error or not outcome.candidates or len(outcome.candidates) > self.MAX_KEPT_CANDIDATES:
            return 0
        return None


def _encode(answer: dict[str, Any]) -> bytes:
    return json.dumps(answer, ensure_ascii=False).encode()


@dataclass
class MovieMatches:
    """The movie provider's side of a match: the cascade, and match items
    made by ``plex.translate``."""

    matcher: Matcher
    options: TranslateOptions
    kinds: tuple[int | None, ...] = field(default=(None, contract.MOVIE))

    @property
    def identifier(self) -> str:
        return self.options.identifier

    def refuses(self, query: MatchQuery) -> str | None:
        return None if query.kind in self.kinds else f"type {query.kind} is not a movie"

    def match(self, query: MatchQuery, deadline: Deadline) -> MatchOutcome:
        return self.matcher.match(query, deadline)

    def unavailable(self, query: MatchQuery, error: str) -> MatchOutcome:
        return self.matcher.unavailable(query, error)

    def items(self, outcome: MatchOutcome, chosen: Sequence[Candidate], links: ImageLinks,
              deadline: Deadline) -> list[dict[str, Any]]:
        return [translate.match_item(c.scene, c.score, self.options, links) for c in chosen]

    def file_match(self, outcome: MatchOutcome) -> MatchOutcome | None:
        return outcome

    def context(self, outcome: MatchOutcome, listed: int) -> dict[str, Any]:
        query = outcome.query
        hint = query.filename or query.title or query.guid or "-"
        if query.manual:
            return {"outcome": f"manual {hint!r}: {listed} candidate(s); {outcome.reason}"}
        decision = outcome.decision
        if decision is None:
            return {"outcome": f"{hint!r}: no match ({outcome.reason})"}
        return {"outcome": f"{hint!r} -> scene {decision.scene.id} score {decision.score} by {decision.step}",
                "scene": decision.scene.id, "score": decision.score, "step": decision.step}
