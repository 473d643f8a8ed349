"""Live sync: what changes in Stash reaches Plex within a cycle.

``store`` keeps what was seen and the refresh queue in SQLite (a restart
loses nothing); ``changes`` asks Stash what changed since the last look;
``service`` runs a cycle: invalidate s2p's caches for the changed scenes,
then ask Plex to refresh exactly the items that carry them, keeping each
refresh queued until Plex has fetched the scene's metadata.
"""
