"""s2p: a Plex custom metadata provider that answers from Stash."""

__version__ = "0.1.0"
