"""A logging handler that remembers every record carrying a watched secret,
or most of one (two thirds of it, in any case: a near miss of the path
secret logged whole gives the rest away).

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


def near_misses(secret: str) -> list[str]:
    """Every run of two thirds of a secret (at least 12 characters), folded:
    a log line holding one shows most of the secret, in whatever case."""
    length = max(12, -(-2 * len(secret) // 3))
    if len(secret) < length:
        return []
    folded = secret.casefold()
    return [folded[i:i + length] for i in range(len(folded) - length + 1)]


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
            secrets = list(self._secrets)
        folded = text.casefold()
        found = [s for s in secrets if s in text or any(part in folded for part in near_misses(s))]
        if found:
            self.leaks.append(f"{record.name} {record.levelname}: {text[:300]!r}")
