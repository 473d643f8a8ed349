"""The gap report: one dictionary (served as JSON), rendered as an HTML page
readable on a phone (no script at all) or as plain text for the CLI."""

from __future__ import annotations

import sqlite3
from html import escape
from typing import Any, Sequence
from urllib.parse import urlencode

from s2p.gaps import store as db
from s2p.gaps.detect import iso
from s2p.gaps.records import ADVICE, KINDS, LABELS


def gap_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "kind": row["kind"], "label": LABELS.get(row["kind"], row["kind"]),
        "title": row["title"], "section": row["section"],
        "plex_path": row["plex_path"], "stash_path": row["stash_path"],
        "scene_id": row["scene_id"], "rating_key": row["rating_key"],
        "reason": row["reason"],
        "first_seen": iso(row["first_seen"]), "last_seen": iso(row["last_seen"]), "seen_count": row["seen_count"],
        "resolved_at": iso(row["resolved_at"]), "resolution": row["resolution"],
        "dismissed_at": iso(row["dismissed_at"]),
        "refreshed_at": iso(row["refreshed_at"]),
        "detail": row["detail"],
    }


def collect(conn: sqlite3.Connection, *, kinds: Sequence[str], state: str, offset: int, limit: int | None,
            now: float) -> dict[str, Any]:
    """Everything the report shows, read in one transaction."""
    counts = db.counts(conn, state)
    rows = db.list_gaps(conn, kinds=kinds, state=state, offset=offset, limit=limit)
    runs = db.last_runs(conn, 1, finished=True)
    last = runs[0] if runs else None
    newest = db.last_runs(conn, 1)
    return {
        "generated_at": iso(now),
        "state": state,
        "kinds": list(kinds),
        "counts": {kind: counts.get(kind, 0) for kind in KINDS},
        "totals": db.state_totals(conn),
        "total": sum(counts.get(kind, 0) for kind in kinds),
        "offset": offset,
        "limit": limit,
        "last_run": None if last is None else {
            "id": last["id"], "status": last["status"], "trigger": last["trigger"],
            "started_at": iso(last["started_at"]), "finished_at": iso(last["finished_at"]),
            "error": last["error"], "stats": last["stats"],
        },
        "last_complete": iso(db.last_complete(conn)),
        "run_in_progress": bool(newest and newest[0]["status"] == "running"),
        "gaps": [gap_json(row) for row in rows],
    }


# ---------------------------------------------------------------- text (CLI)


def to_text(report: dict[str, Any]) -> str:
    lines = []
    run = report["last_run"]
    if run:
        lines.append(f"last comparison: {run['status']}, started {run['started_at']}"
                     + (f", finished {run['finished_at']}" if run["finished_at"] else "")
                     + (f": {run['error']}" if run["error"] else ""))
        for problem in (run.get("stats") or {}).get("problems") or []:
            lines.append(f"  note: {problem}")
    else:
        lines.append("last comparison: none yet")
    state = report["state"]
    lines.append(f"{state} gaps: " + ", ".join(f"{report['counts'][k]} {LABELS[k].lower()}" for k in report["kinds"]))
    for gap in report["gaps"]:
        lines.append("")
        lines.append(f"#{gap['id']} [{gap['label']}] {gap['title'] or ''}".rstrip()
                     + (f"  (library {gap['section']})" if gap["section"] else ""))
        if gap["plex_path"]:
            lines.append(f"    Plex:  {gap['plex_path']}")
        if gap["stash_path"]:
            scene = f"  (scene {gap['scene_id']})" if gap["scene_id"] else ""
            lines.append(f"    Stash: {gap['stash_path']}{scene}")
        elif gap["scene_id"]:
            lines.append(f"    Stash: scene {gap['scene_id']}")
        lines.append(f"    why:   {gap['reason']}")
    shown = len(report["gaps"])
    if shown < report["total"]:
        lines.append(f"\n({shown} of {report['total']} shown)")
    return "\n".join(lines)


# ---------------------------------------------------------------- HTML

_CSS = """
:root{color-scheme:light dark;--fg:#1d1d1f;--bg:#fff;--muted:#6b6b70;--line:#d9d9de;--card:#f6f6f8;--accent:#0b5cad}
@media (prefers-color-scheme:dark){
:root{--fg:#ececf0;--bg:#161618;--muted:#a0a0a8;--line:#38383d;--card:#202024;--accent:#6fb1ff}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:70rem;padding:1rem;font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;
color:var(--fg);background:var(--bg)}
h1{font-size:1.4rem;margin:.2rem 0 .6rem}
a{color:var(--accent)}
.meta{color:var(--muted);margin:.3rem 0}
.meta form{display:inline}
nav{display:flex;flex-wrap:wrap;gap:.4rem;margin:.7rem 0}
nav a{padding:.3rem .6rem;border:1px solid var(--line);border-radius:1rem;text-decoration:none;white-space:nowrap}
nav a.on{background:var(--accent);border-color:var(--accent);color:var(--bg)}
nav a.zero{color:var(--muted)}
.advice{border-left:3px solid var(--accent);padding:.2rem .7rem;color:var(--muted)}
article{background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:.6rem .8rem;margin:.6rem 0}
article h2{font-size:1rem;margin:0 0 .3rem}
.kind{font-size:.75rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);display:block}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem .7rem;margin:.3rem 0}
dt{color:var(--muted)}
dd{margin:0;overflow-wrap:anywhere}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
footer{display:flex;flex-wrap:wrap;align-items:center;gap:.6rem;color:var(--muted);font-size:.85rem}
footer form{margin-left:auto}
button{font:inherit;padding:.25rem .8rem;border-radius:.4rem;border:1px solid var(--line);background:var(--bg);
color:var(--fg);cursor:pointer}
.pages{margin:1rem 0}
@media (max-width:32rem){dl{grid-template-columns:1fr}dt{margin-top:.3rem}footer form{margin-left:0}}
"""

_STATE_LABELS = {"open": "Open", "dismissed": "Dismissed", "resolved": "Resolved"}


def to_html(report: dict[str, Any], *, base: str = "/gaps") -> str:
    state = report["state"]
    kinds = report["kinds"]
    one_kind = kinds[0] if len(kinds) == 1 else None
    here = _link(base, one_kind, state, report["offset"])
    out = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        '<meta name=viewport content="width=device-width,initial-scale=1">',
        "<title>s2p gaps</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Plex and Stash: what differs</h1>",
        _run_summary(report, base, here),
        "<nav aria-label=state>",
    ]
    for name, label in _STATE_LABELS.items():
        cls = ' class="on"' if name == state else ""
        count = report["totals"].get(name, 0)
        out.append(f'<a{cls} href="{escape(_link(base, one_kind, name))}">{label} ({count})</a>')
    out.append("</nav><nav aria-label=kind>")
    all_cls = ' class="on"' if one_kind is None else ""
    out.append(f'<a{all_cls} href="{escape(_link(base, None, state))}">All ({sum(report["counts"].values())})</a>')
    for kind in KINDS:
        count = report["counts"].get(kind, 0)
        classes = [c for c in ("on" if kind == one_kind else "", "zero" if not count else "") if c]
        cls = f' class="{" ".join(classes)}"' if classes else ""
        out.append(f'<a{cls} href="{escape(_link(base, kind, state))}">{escape(LABELS[kind])} ({count})</a>')
    out.append("</nav>")
    if one_kind:
        out.append(f'<p class="advice">{escape(ADVICE[one_kind])}</p>')
        if state == "open" and report["total"]:
            # Junk and known exceptions go in one step; each returns if its item changes.
            action = f"{base}/dismiss?{urlencode({'kind': one_kind, 'back': here})}"
            out.append(f'<form class="meta" method=post action="{escape(action)}"><button>Dismiss all '
                       f'{report["total"]} of this kind</button></form>')
    if not report["gaps"]:
        out.append(f"<p>No {escape(state)} gaps{' of this kind' if one_kind else ''}.</p>")
    for gap in report["gaps"]:
        out.append(_card(gap, base, here))
    out.append(_pages(report, base, one_kind))
    out.append(f'<p class="meta">Also as <a href="{escape(base)}.json{escape(_query(one_kind, state))}">JSON</a>. '
               f"Generated {_when(report['generated_at'])}.</p>")
    out.append("</body></html>")
    return "\n".join(out)


def _run_summary(report: dict[str, Any], base: str, here: str) -> str:
    comparison = report.get("comparison") or {}
    run = report["last_run"]
    parts = []
    if run is None:
        parts.append("No comparison has run yet.")
    else:
        when = run["finished_at"] or run["started_at"]
        text = f"Last comparison: {escape(run['status'])} ({_when(when)})"
        stats = run.get("stats") or {}
        if run["status"] == "complete" and stats:
            text += (f": {stats.get('plex_items', 0)} Plex items in {escape(', '.join(stats.get('sections') or []))}, "
                     f"{stats.get('stash_scenes', 0)} Stash scenes, {stats.get('seconds', 0)} s")
        if run["error"]:
            text += f": {escape(run['error'])}"
        parts.append(text + ".")
        for problem in stats.get("problems") or []:
            parts.append(f"Note: {escape(problem)}.")
        guessed = stats.get("parts_by_name_and_size", 0)
        if guessed:
            parts.append(f"{guessed} Plex file(s) were recognised only by name and size: if that is many, "
                         "check the path rules.")
        if stats.get("never_served"):
            parts.append(f"{stats['never_served']} item(s) matched by s2p have never fetched metadata from this "
                         "s2p, so whether they are stale is unknown.")
    if comparison.get("running") or report.get("run_in_progress"):
        parts.append("A comparison is running now; reload the page in a while.")
    if not comparison.get("plex_configured", True):
        parts.append("Only scan-time records are shown: set [plex] url and token to compare whole libraries.")
    if report.get("observations_dropped"):
        parts.append(f"{report['observations_dropped']} scan-time observation(s) were dropped while s2p was busy.")
    html = "".join(f'<p class="meta">{p}</p>' for p in parts)
    if comparison.get("plex_configured") and comparison.get("scheduled") and not comparison.get("running"):
        html += (f'<form class="meta" method=post action="{escape(base)}/run?{escape(urlencode({"back": here}))}">'
                 "<button>Compare now</button></form>")
    return html


def _card(gap: dict[str, Any], base: str, here: str) -> str:
    title = gap["title"] or gap["plex_path"] or gap["stash_path"] or gap["reason"]
    rows = []
    if gap["section"]:
        rows.append(("Library", escape(gap["section"])))
    if gap["plex_path"]:
        rows.append(("Plex", f"<code>{escape(gap['plex_path'])}</code>"
                     + (f" (item {escape(gap['rating_key'])})" if gap["rating_key"] else "")))
    if gap["stash_path"] or gap["scene_id"]:
        stash = f"<code>{escape(gap['stash_path'])}</code>" if gap["stash_path"] else ""
        if gap["scene_id"]:
            stash += f" (scene {escape(gap['scene_id'])})"
        rows.append(("Stash", stash))
    rows.append(("Why", escape(gap["reason"])))
    candidates = gap["detail"].get("candidates") if isinstance(gap["detail"], dict) else None
    if candidates:
        listed = "; ".join(f"scene {escape(str(c.get('scene')))} ({escape(str(c.get('score')))}): "
                           f"{escape(str(c.get('reason')))}" for c in candidates)
        rows.append(("Candidates", listed))
    if gap["resolved_at"]:
        rows.append(("Resolved", f"{_when(gap['resolved_at'])}: {escape(gap['resolution'] or '')}"))
    seen = f"seen since {_when(gap['first_seen'])}"
    if gap["seen_count"] and gap["seen_count"] > 1:
        seen += f" ({gap['seen_count']} times, last {_when(gap['last_seen'])})"
    action = ""
    if not gap["resolved_at"]:
        verb, path = ("Restore", "restore") if gap["dismissed_at"] else ("Dismiss", "dismiss")
        action = (f'<form method=post action="{escape(base)}/{gap["id"]}/{path}?{escape(urlencode({"back": here}))}">'
                  f"<button>{verb}</button></form>")
    body = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
    return (f'<article id="gap-{gap["id"]}"><span class="kind">{escape(gap["label"])}</span>'
            f"<h2>{escape(title)}</h2><dl>{body}</dl>"
            f"<footer><span>#{gap['id']} · {seen}</span>{action}</footer></article>")


def _when(stamp: str | None) -> str:
    """2024-05-01T12:00:00Z as 2024-05-01 12:00 UTC."""
    if not stamp:
        return ""
    return escape(stamp[:16].replace("T", " ") + " UTC")


def _pages(report: dict[str, Any], base: str, kind: str | None) -> str:
    limit = report["limit"]
    if not limit or report["total"] <= limit:
        return ""
    offset = report["offset"]
    links = []
    if offset > 0:
        links.append(f'<a href="{escape(_link(base, kind, report["state"], max(0, offset - limit)))}">previous</a>')
    shown_to = min(report["total"], offset + len(report["gaps"]))
    links.append(f"{offset + 1}-{shown_to} of {report['total']}")
    if shown_to < report["total"]:
        links.append(f'<a href="{escape(_link(base, kind, report["state"], offset + limit))}">next</a>')
    return f'<p class="pages">{" · ".join(links)}</p>'


def _query(kind: str | None, state: str, offset: int = 0) -> str:
    params = {}
    if kind:
        params["kind"] = kind
    if state != "open":
        params["state"] = state
    if offset:
        params["offset"] = str(offset)
    return "?" + urlencode(params) if params else ""


def _link(base: str, kind: str | None, state: str, offset: int = 0) -> str:
    return base + _query(kind, state, offset)
