"""A fake Stash for the tests: the demo's stand-in server, with every
GraphQL document validated against Stash's schema and executed by
graphql-core (so answers carry exactly the fields that were asked for).

Two schemas are checked: the subset written for s2p in this directory, and
Stash's upstream schema when it is at hand ($STASH_SCHEMA_DIR).
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Any

from graphql import GraphQLError, build_schema, execute_sync, parse, validate

from s2p.demo.library import ROOT_FIELDS, Library

HERE = Path(__file__).resolve().parent
SUBSET_SCHEMA = HERE / "stash_schema_subset.graphql"
# Stash's own schema (graphql/schema in a Stash checkout), when it is at hand: $STASH_SCHEMA_DIR, or a
# stash-schema folder in a "shared" folder beside the checkout.
UPSTREAM_HINT = "set STASH_SCHEMA_DIR to the graphql/schema folder of a Stash checkout to compare with it"


def upstream_dir() -> Path:
    return Path(os.environ.get("STASH_SCHEMA_DIR") or HERE.parent.parent / "shared" / "stash-schema")


def upstream_sources() -> str | None:
    folder = upstream_dir()
    if not folder.is_dir():
        return None
    files = sorted(folder.glob("**/*.graphql"))
    return "\n".join(f.read_text(encoding="utf-8") for f in files) if files else None


_SCHEMAS: dict[str, Any] = {}
_LOCK = threading.Lock()


def schemas() -> dict[str, Any]:
    """{"subset": schema, "upstream": schema (when Stash's schema is at hand)}."""
    with _LOCK:
        if not _SCHEMAS:
            _SCHEMAS["subset"] = build_schema(SUBSET_SCHEMA.read_text(encoding="utf-8"))
            upstream = upstream_sources()
            if upstream:
                _SCHEMAS["upstream"] = build_schema(upstream)
        return dict(_SCHEMAS)


@functools.lru_cache(maxsize=256)
def _validation_errors(document: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    # s2p sends a dozen fixed documents thousands of times: validate each once.
    return tuple((name, tuple(msgs)) for name, msgs in _validate(document).items())


def validation_errors(document: str) -> dict[str, list[str]]:
    """Problems of one document against each schema (empty lists: valid)."""
    return {name: list(msgs) for name, msgs in _validation_errors(document)}


def _validate(document: str) -> dict[str, list[str]]:
    try:
        ast = parse(document)
    except GraphQLError as exc:
        return {name: [f"syntax: {exc.message}"] for name in schemas()}
    return {name: [e.message for e in validate(schema, ast)] for name, schema in schemas().items()}


class _Root:
    def __init__(self, library: Library):
        for field, method in ROOT_FIELDS.items():
            target = getattr(library, method)
            setattr(self, field, lambda info, _target=target, **kwargs: _target(**kwargs))


class SchemaCheckingExecutor:
    """Validate against every schema, then execute against the subset."""

    def __init__(self, library: Library):
        self.library = library
        self.invalid: list[tuple[str | None, dict[str, list[str]]]] = []
        self.operations: list[str | None] = []
        self._lock = threading.Lock()

    def __call__(self, document: str, variables: dict[str, Any], operation_name: str | None) -> dict[str, Any]:
        with self._lock:
            self.operations.append(operation_name)
        problems = validation_errors(document)
        if any(problems.values()):
            with self._lock:
                self.invalid.append((operation_name, problems))
            return {"errors": [{"message": f"{name}: {msg}"} for name, msgs in problems.items() for msg in msgs],
                    "data": None}
        result = execute_sync(schemas()["subset"], parse(document), root_value=_Root(self.library),
                              variable_values=variables, operation_name=operation_name)
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [{"message": e.message, "path": e.path} for e in result.errors]
        return body
