"""The package layout holds: few modules at the root, and no package that
imports, even inside a function, one that imports it back (docs/layout.md)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "s2p"

# What each package may import (besides itself, s2p's version and config):
# lower layers never reach up.  docs/layout.md draws the same picture.
ALLOWED = {
    "common": set(),
    "paths": set(),
    "config": {"paths"},
    "ops": {"common"},
    "stash": {"common"},
    "plex": {"stash"},
    "pms": {"common"},
    "scenes": {"common", "paths", "stash"},
    "match": {"common", "paths", "stash", "scenes", "plex"},
    "metadata": {"common", "stash", "scenes", "plex"},
    "artwork": {"common", "stash", "scenes", "plex", "pms"},
    "gaps": {"common", "paths", "stash", "plex", "pms", "match", "ops", "tv"},
    "sync": {"common", "paths", "stash", "scenes"},
    "tv": {"common", "stash", "scenes", "plex", "match"},
    "web": {"common", "stash", "plex", "match", "metadata", "artwork", "gaps", "ops", "tv"},
    "stashplugin": {"common", "paths", "stash", "plex", "scenes", "match", "gaps", "sync", "web"},
    "app": {"common", "paths", "ops", "stash", "plex", "pms", "scenes", "match", "metadata", "artwork", "gaps", "sync",
            "tv", "web", "stashplugin"},
    "demo": {"common", "stash", "plex", "match", "artwork", "app"},
    "cli": {"common", "paths", "ops", "stash", "plex", "pms", "match", "artwork", "gaps", "sync", "tv", "app", "demo"},
    "__main__": {"cli"},
}


def _unit(module: str) -> str:
    """``s2p.match.cascade`` -> ``match``; ``s2p.config`` -> ``config``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).with_suffix("")
        unit = relative.parts[0]
        targets = found.setdefault(unit, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # every import, however nested
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("s2p"):
                assert node.level == 0, f"{path}: relative import"
                names = [node.module] if node.module != "s2p" else [f"s2p.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("s2p")]
            else:
                continue
            targets.update(_unit(name) for name in names)
    for unit, targets in found.items():
        targets.discard(unit)
        targets -= {"", "__init__", "__version__", "config"} if unit != "config" else {"", "__init__"}
    return found


def test_the_root_keeps_only_the_entry_points():
    modules = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert len(modules) <= 5, modules
    assert "config.py" in modules


def test_each_package_imports_only_the_layers_below_it():
    found = imports()
    assert set(found) - {"__init__", "config"} <= set(ALLOWED), set(found) - set(ALLOWED)
    wrong = {unit: sorted(targets - ALLOWED[unit]) for unit, targets in found.items()
             if unit in ALLOWED and targets - ALLOWED[unit]}
    assert not wrong, wrong


def test_no_import_cycle_between_packages():
    graph = imports()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(unit for unit in graph if reaches(unit, unit, {unit}))
    assert not cycles, cycles


# The match core: pure ranking over its own query type.  Plex's request
# model is read at the edge (web, cli); what a Stash outage means is the
# match service's rule, not the cascade's.
MATCH_CORE = ("cascade", "pathscore", "titles", "query")


def _module_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_the_match_core_reads_neither_plex_requests_nor_stash_errors():
    for name in MATCH_CORE:
        found = {m for m in _module_imports(PACKAGE / "match" / f"{name}.py") if m.startswith("s2p.")}
        wrong = {m for m in found if m.startswith(("s2p.plex", "s2p.stash.errors", "s2p.stash.client",
                                                   "s2p.stash.api", "s2p.scenes"))}
        assert not wrong, (name, wrong)


def test_one_composition_root_builds_the_components():
    # Only app/runtime.py assembles the server's services; the rest receive
    # them.  Two one-off commands build the one service each explains or runs.
    builders = ("MatchService(", "ArtworkPusher.from_settings(", "GapService.build(", "SyncService(")
    found = {str(p.relative_to(PACKAGE)): [b for b in builders if b in p.read_text(encoding="utf-8")]
             for p in PACKAGE.rglob("*.py") if p.parent.name not in ("match", "artwork", "gaps", "sync")}
    found = {path: names for path, names in found.items() if names}
    assert set(found) <= {"app/runtime.py", "cli/match.py", "cli/gaps.py"}, found
