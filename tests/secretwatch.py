"""A logging handler that remembers every record carrying a watched secret.

It looks at everything a record holds: the message with its arguments, the
exception and stack text, and any extra fields.  Records from urllib3 below
INFO are skipped because s2p's own logging set-up (``logs.configure``) never
lets them through at any level; in the tests they also carry the test
client's own URLs.
"""

from __future__ import annotations

import logging
import threading

from s2p.ops.logs import QUIETED_LOGGERS

_STANDARD = set(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {"message", "asctime"}


class SecretWatch(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._secrets: set[str] = set()
        self._lock_secrets = threading.Lock()
        self.leaks: list[str] = []
        self.records_seen = 0
        self._formatter = logging.Formatter()

    def watch(self, *secrets: str) -> None:
        with self._lock_secrets:
            self._secrets.update(s for s in secrets if s)

    def install(self, logger: logging.Logger) -> None:
        if self not in logger.handlers:
            logger.addHandler(self)
        logger.setLevel(logging.DEBUG)

    def uninstall(self, logger: logging.Logger) -> None:
        logger.removeHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        floor = QUIETED_LOGGERS.get(record.name.split(".")[0])
        if floor is not None and record.levelno < floor:
            return
        self.records_seen += 1
        try:
            parts = [record.getMessage()]
        except Exception:  # a broken format string is the logger's problem, not a leak
            parts = [str(record.msg), repr(record.args)]
        if record.exc_info:
            parts.append(self._formatter.formatException(record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(record.stack_info)
        parts.extend(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD)
        text = "\n".join(parts)
        with self._lock_secrets:
            found = [s for s in self._secrets if s in text]
        if found:
            self.leaks.append(f"{record.name} {record.levelname}: {text[:300]!r}")
