"""Exceptions raised by the Stash client.

Code above the client sees only these, never a ``requests`` exception.
Messages are safe to log and to show: they never carry the API key.
"""


class StashError(Exception):
    """Any failure to get an answer from Stash."""


class StashUnavailable(StashError):
    """Stash could not be reached, was too slow, too busy, or failing.

    Transient by nature: retrying later may succeed.
    """


class StashAuthError(StashError):
    """Stash refused our credentials: a configuration problem, not transient."""


class StashQueryError(StashError):
    """Stash answered with GraphQL errors."""

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("; ".join(messages) or "GraphQL error")
