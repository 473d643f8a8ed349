"""Logging set-up: text or JSON lines on stderr, with secrets masked.

Masking happens on the final text of every record, tracebacks included, so
no code path can log the Stash API key or the Plex token by accident.

Control characters in a record's message (a request path with ``%0a`` in it)
are escaped, and the lines of a traceback are indented, so that no value a
client sends can end a log line and write a well-formed one of its own.
"""

from __future__ import annotations

import atexit
import json
import logging
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from typing import Any, TextIO

from s2p.config import mask

# What LogRecord.relativeCreated counts from: logging's own start (a private name, read once).
_LOGGING_STARTED_MS = getattr(logging, "_startTime", time.time()) * 1000

# Loggers held at a floor level whatever [log] level says: urllib3 logs every
# connection and URL at DEBUG, which says nothing s2p does not.
QUIETED_LOGGERS = {"urllib3": logging.INFO}

# Longest a log line waits for its batch under load.
BATCH_SECONDS = 0.05

_EXTRA_FIELDS = ("route", "method", "path", "status", "outcome", "latency_ms", "client", "scene", "score", "step")


# C0 controls, DEL, C1 controls (NEL among them) and Unicode's line and
# paragraph separators: each can end a line in some log reader.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# The ones json.dumps(ensure_ascii=False) leaves raw.
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029]")


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape_controls(text: str) -> str:
    """``text`` on one line: every control character written as an escape."""
    return text if _CONTROL.search(text) is None else _CONTROL.sub(_escaped, text)


def _indented(text: str) -> str:
    # A traceback's lines (an exception's message among them) stay below
    # their record: indented, none can pass for a record of its own.
    return "\n".join("    " + escape_controls(line) for line in text.split("\n"))


class Redactor:
    def __init__(self, secrets: Iterable[str]):
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, mask(secret))
        return text


class RedactedStream:
    """A text stream that masks secrets in what is written to it."""

    def __init__(self, stream: TextIO, redact: Redactor):
        self._stream = stream
        self._redact = redact

    def write(self, text: str) -> int:
        self._stream.write(self._redact(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def redacted_output(secrets: Iterable[str]) -> Iterator[None]:
    """A command's printed output with secrets masked, as its log lines are:
    people paste what ``s2p check`` printed into forum posts."""
    redact = Redactor(secrets)
    with redirect_stdout(RedactedStream(sys.stdout, redact)), redirect_stderr(RedactedStream(sys.stderr, redact)):
        yield


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor):
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self._redact = redact
        self._second: tuple[int, str] = (-1, "")  # the last second's date and time, as text

    def format(self, record: logging.LogRecord) -> str:
        # logging.Formatter.format, with the message escaped and tracebacks indented.
        record.message = escape_controls(record.getMessage())
        if not (record.exc_info or record.exc_text or record.stack_info):
            # The format string above, built directly: a server writes a line per
            # request, and the date changes once a second.
            second = int(record.created)
            cached, stamp = self._second
            if cached != second:
                stamp = time.strftime(self.default_time_format, self.converter(record.created))
                self._second = (second, stamp)
            record.asctime = f"{stamp},{int(record.msecs):03d}"
            return self._redact(f"{record.asctime} {record.levelname:<7} {record.name}: {record.message}")
        record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text += "\n" + _indented(record.exc_text)
        if record.stack_info:
            text += "\n" + _indented(self.formatStack(record.stack_info))
        return self._redact(text)


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redactor):
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _EXTRA_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        text = json.dumps(entry, ensure_ascii=False, default=str)  # escapes C0 controls itself
        if _JSON_RAW.search(text):
            text = _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
        return self._redact(text)


_RECORD_DEFAULTS = {"exc_info": None, "exc_text": None, "stack_info": None, "thread": None, "threadName": None,
                    "processName": None, "process": None, "taskName": None}


def call_site(logger: logging.Logger, level: int, pathname: str, lineno: int, func: str) -> dict[str, object]:
    """The fields of a ``quick_record`` that are the same every time: who
    logs, at which level, and where from."""
    filename = pathname.rsplit("/", 1)[-1]
    return {**_RECORD_DEFAULTS, "name": logger.name, "levelno": level, "levelname": logging.getLevelName(level),
            "pathname": pathname, "filename": filename, "module": filename.rsplit(".", 1)[0], "lineno": lineno,
            "funcName": func}


def quick_record(site: dict[str, object], msg: str, args: tuple, fields: dict) -> logging.LogRecord:
    """A record as ``logger.log(level, msg, *args, extra=fields)`` makes it,
    for the one line per request, at a fraction of the cost: what never
    changes comes from ``site`` (``call_site``), and the thread and process,
    which no formatter of s2p shows, are not looked up."""
    record = logging.LogRecord.__new__(logging.LogRecord)
    now = time.time_ns()
    record.__dict__ = {**site, **fields, "msg": msg, "args": args, "created": now / 1e9,
                       "msecs": (now % 1_000_000_000) // 1_000_000 + 0.0,
                       "relativeCreated": now / 1e6 - _LOGGING_STARTED_MS}
    return record


class _Batches(logging.Handler):
    """Hands records to a writer thread that formats (and masks) them and
    writes them in batches.

    Under load the writer wakes at most every ``BATCH_SECONDS`` and writes
    everything queued with one flush; a queue woken per record cost a thread
    switch per request, which every other thread paid for while the GIL
    changed hands.  Idle, the writer sleeps until a record comes.
    """

    def __init__(self, target: logging.StreamHandler[TextIO]):
        super().__init__()
        self._target = target
        self._records: deque[logging.LogRecord] = deque()  # append and popleft are atomic
        self._wake = threading.Event()
        self._idle = True
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def handle(self, record: logging.LogRecord) -> bool:  # no lock needed: the deque is thread-safe
        self._records.append(record)
        if self._idle:
            self._idle = False
            self._wake.set()
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)

    def _run(self) -> None:
        while True:
            self._idle = True
            if not self._records:
                if self._closing:
                    return
                self._wake.wait()
            self._wake.clear()
            if not self._closing:
                time.sleep(BATCH_SECONDS)  # let a batch gather
            self._write()

    def _write(self) -> None:
        target = self._target
        lines = []
        while self._records:
            record = self._records.popleft()
            try:
                lines.append(target.format(record) + "\n")
            except Exception:
                target.handleError(record)
        if not lines:
            return
        try:
            stream = target.stream
            stream.write("".join(lines))
            stream.flush()
        except Exception:  # the stream is gone (closed at exit): nothing more to do
            pass

    def close(self) -> None:
        """Write what is queued, then stop the writer."""
        self._closing = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(5)
        super().close()


def configure(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = (), stream: TextIO | None = None, *,
              background: bool = False) -> logging.Handler:
    """Replace the root logger's handlers with one stderr handler.

    ``background``: records are written by a thread of their own.  A server
    logs a line per request from many threads; with one shared stream handler
    they queue for its lock and for the GIL behind every write, which halved
    the requests per second s2p could answer.
    """
    redact = Redactor(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(redact) if fmt == "json" else TextFormatter(redact))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        if isinstance(old, _Batches):
            old.close()
    if background:
        # No formatter here shows where a call was made from: skip looking it
        # up for every record (the logging HOWTO's own optimisation).
        logging._srcfile = None
        logging.logThreads = False
        logging.logProcesses = False
        logging.logMultiprocessing = False
        front = _Batches(handler)
        atexit.register(front.close)  # write what is queued before the process ends
        root.addHandler(front)
    else:
        root.addHandler(handler)
    root.setLevel(level)
    for name, floor in QUIETED_LOGGERS.items():
        logging.getLogger(name).setLevel(max(floor, logging.getLevelName(level)))
    return handler
