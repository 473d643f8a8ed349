#!/usr/bin/env python3
"""The s2p plugin's bridge: Stash runs it on its own host and it calls s2p.

Stash starts it for ``runPluginOperation``, for the plugin's tasks and for
its hook (``interface: raw``): JSON on standard input, ``{"server_connection":
{...}, "args": {...}}``, and one JSON object on standard output,
``{"output": ...}`` or ``{"error": "<one line naming the fix>"}``.  It uses
the standard library only (Stash's image has python3 and nothing of s2p's).

Where s2p is and the token to send come from s2p_connection.json, written
into the zip by s2p when Stash downloaded it; the plugin's "s2p URL"
setting, read from Stash, overrides the address.  The token goes in the
X-S2P-Token header, never in a URL, and is never printed.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

PLUGIN_ID = "s2p"
HERE = os.path.dirname(os.path.abspath(__file__))
CONNECTION_FILE = os.path.join(HERE, "s2p_connection.json")
TOKEN_HEADER = "X-S2P-Token"
SETTINGS_QUERY = "query S2PPluginSettings($include: [ID!]) { configuration { plugins(include: $include) } }"
SETTINGS_TIMEOUT = 5.0
TIMEOUT = 30.0  # Stash waits for the bridge; s2p answers within its request budget
HOOK_TIMEOUT = 5.0
OPS = ("ping", "scene", "explain", "refresh", "scan", "gaps", "dismiss", "restore", "compare", "changed")
GAP_KINDS = ("plex_only", "stash_only", "matched_elsewhere", "stale", "no_match", "ambiguous")
GAP_STATES = ("open", "dismissed", "resolved", "all")


class BridgeError(Exception):
    """A one-line message for Stash's page: what went wrong and the fix."""


def log(level: str, message: str) -> None:
    """A line in Stash's log (level: t, d, i, w or e)."""
    sys.stderr.write("\x01" + level + "\x02" + message + "\n")
    sys.stderr.flush()


# ---------------------------------------------------------------- Stash


def stash_graphql_url(connection: dict[str, Any]) -> str:
    scheme = connection.get("Scheme") or "http"
    host = connection.get("Host") or "127.0.0.1"
    if host in ("0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"  # Stash listens everywhere: ask it here
    if ":" in host and not host.startswith("["):
        host = "[" + host + "]"
    return f"{scheme}://{host}:{int(connection.get('Port') or 9999)}/graphql"


def plugin_settings(connection: dict[str, Any]) -> dict[str, Any]:
    """The plugin's settings as Stash keeps them ({} when Stash cannot say)."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    cookie = connection.get("SessionCookie") or {}
    if cookie.get("Name") and cookie.get("Value"):
        headers["Cookie"] = "{}={}".format(cookie["Name"], cookie["Value"])
    body = json.dumps({"query": SETTINGS_QUERY, "variables": {"include": [PLUGIN_ID]}}).encode("utf-8")
    request = urllib.request.Request(stash_graphql_url(connection), data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=SETTINGS_TIMEOUT) as response:
            answer = json.loads(response.read().decode("utf-8"))
        plugins = ((answer.get("data") or {}).get("configuration") or {}).get("plugins") or {}
        found = plugins.get(PLUGIN_ID) or {}
        return found if isinstance(found, dict) else {}
    except Exception as exc:  # the settings are optional: the zip's address stands
        log("d", f"s2p: cannot read the plugin's settings from Stash ({type(exc).__name__})")
        return {}


# ---------------------------------------------------------------- s2p


def read_connection() -> tuple[str, str]:
    try:
        with open(CONNECTION_FILE, encoding="utf-8") as handle:
            data = json.load(handle)
        return str(data["url"]).rstrip("/"), str(data["token"])
    except (OSError, ValueError, KeyError, TypeError):
        raise BridgeError("the plugin has no readable s2p_connection.json. Fix: reinstall the s2p plugin from "
                          "s2p's plugin source (Settings > Plugins > Available Plugins)") from None


def shown(url: str) -> str:
    """An address as messages may show it: no path, since a secret root lives there."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "(no address)"


def call(base: str, token: str, method: str, path: str, query: dict[str, Any] | None = None,
         timeout: float = TIMEOUT) -> Any:
    """One request to s2p's plugin routes; its JSON answer, or a BridgeError."""
    url = base + "/stash-plugin/api/" + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None,
                                     headers={TOKEN_HEADER: token, "Accept": "application/json",
                                              "User-Agent": "s2p-stash-plugin"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8") or "null")
    except urllib.error.HTTPError as exc:
        raise BridgeError(refused(exc, shown(base))) from None
    except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, socket.timeout) or "timed out" in str(reason):
            what = f"no answer in {timeout:.0f} s"
        else:  # "Connection refused" rather than "[Errno 111] Connection refused"
            what = (getattr(reason, "strerror", None) or str(reason)).rstrip(".")
        raise BridgeError(f"s2p cannot be reached at {shown(base)}: {what}. Fix: start s2p, or set the s2p URL "
                          "in Settings > Plugins > s2p (Plex) to an address Stash's host reaches") from None
    except ValueError:
        raise BridgeError(f"s2p at {shown(base)} answered something that is not JSON. Fix: check the s2p URL "
                          "setting") from None


def refused(exc: urllib.error.HTTPError, where: str) -> str:
    try:
        body = json.loads(exc.read().decode("utf-8"))
    except Exception:
        body = {}
    detail = str(body.get("detail") or body.get("error") or exc.reason or "").strip().rstrip(".")
    status = exc.code
    if status == 401:
        return ("s2p refused the plugin's token. Fix: update the s2p plugin in Stash (Settings > Plugins: check "
                "for updates), or reinstall it from s2p's plugin source")
    if status == 403:
        return (f"s2p at {where} refuses calls from Stash's host ({detail}). Fix: add that host's network to "
                "[server] allow or [server] ops_allow in s2p's configuration")
    if status == 404 and body.get("error") not in ("no such scene", "no such gap", "no such action"):
        return (f"s2p at {where} has no plugin routes there. Fix: set the s2p URL setting to s2p's address, with "
                "/<secret> when s2p has a [server] secret")
    if status == 421:
        return f"s2p at {where} does not serve that host name. Fix: add it to [server] hosts"
    return f"s2p: {detail or f'HTTP {status}'}"


# ---------------------------------------------------------------- operations


def _id(args: dict[str, Any], name: str = "id") -> str:
    value = str(args.get(name) if args.get(name) is not None else "").strip()
    if not value.isdigit():
        raise BridgeError("the {!r} operation needs a numeric {!r} argument".format(args.get("op"), name))
    return value


def _number(args: dict[str, Any], name: str, default: int, top: int) -> int:
    value = args.get(name, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BridgeError(f"{name!r} must be a whole number, not {value!r}") from None
    return max(0, min(top, number))


def gaps_query(args: dict[str, Any]) -> dict[str, Any]:
    query: dict[str, Any] = {"offset": _number(args, "offset", 0, 10 ** 9),
                             "limit": max(1, _number(args, "limit", 50, 1000))}
    kind = args.get("kind")
    if kind:
        if kind not in GAP_KINDS:
            raise BridgeError("kind {!r} is not one of {}".format(kind, ", ".join(GAP_KINDS)))
        query["kind"] = kind
    state = args.get("state")
    if state:
        if state not in GAP_STATES:
            raise BridgeError("state {!r} is not one of {}".format(state, ", ".join(GAP_STATES)))
        query["state"] = state
    return query


def run(payload: dict[str, Any]) -> Any:
    args = payload.get("args") or {}
    if not isinstance(args, dict):
        raise BridgeError("the plugin's arguments are not a map")
    op = args.get("op")
    hook = args.get("hookContext")
    if op not in OPS:
        raise BridgeError("unknown operation {!r}: use one of {}".format(op, ", ".join(OPS)))
    connection = payload.get("server_connection") or {}
    settings = plugin_settings(connection)
    if op == "changed":
        if not settings.get("notifyEdits"):
            return {"skipped": "\"Refresh Plex as soon as a scene is edited\" is off"}
        if not isinstance(hook, dict) or hook.get("input") is None:
            return {"skipped": "not an edit (Stash is scanning)"}
        args = dict(args, id=hook.get("id"))
    base, token = read_connection()
    override = str(settings.get("s2pUrl") or "").strip().rstrip("/")
    if override:
        if not override.startswith(("http://", "https://")):
            raise BridgeError(f"the s2p URL setting {override!r} is not an http:// or https:// address. Fix: "
                              "correct it in Settings > Plugins > s2p (Plex)")
        base = override
    if op == "ping":
        answer = call(base, token, "GET", "ping", timeout=10.0)
        log("i", "s2p {} answers at {} with the plugin's token".format(answer.get("s2p"), shown(base)))
        return answer
    if op == "scene":
        return call(base, token, "GET", "scenes/" + _id(args))
    if op == "explain":
        return call(base, token, "GET", f"scenes/{_id(args)}/explain")
    if op == "refresh":
        return call(base, token, "POST", f"scenes/{_id(args)}/refresh")
    if op == "changed":  # Stash waits for its hooks: a short wait, and live sync catches up anyway
        return call(base, token, "POST", f"scenes/{_id(args)}/refresh", {"edited": "1"}, timeout=HOOK_TIMEOUT)
    if op == "scan":
        return call(base, token, "POST", f"scenes/{_id(args)}/scan")
    if op == "gaps":
        return call(base, token, "GET", "gaps", gaps_query(args))
    if op in ("dismiss", "restore"):
        return call(base, token, "POST", f"gaps/{_id(args)}/{op}")
    answer = call(base, token, "POST", "gaps/run")  # compare
    log("i", "s2p: a comparison of Plex and Stash is under way; the report is at /plugins/s2p in Stash")
    return answer


def main() -> int:
    try:
        raw = sys.stdin.read()
        payload = json.loads(raw) if raw.strip() else {}
        if not isinstance(payload, dict):
            raise BridgeError("the plugin's input is not a JSON object")
        result: dict[str, Any] = {"output": run(payload)}
    except BridgeError as exc:
        result = {"error": str(exc)}
        log("e", f"s2p: {exc}")
    except ValueError:
        result = {"error": "the plugin's input is not JSON"}
    except Exception as exc:  # never a traceback in Stash's page
        result = {"error": f"the s2p bridge failed: {type(exc).__name__}: {exc}"}
        log("e", "s2p: {}".format(result["error"]))
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
