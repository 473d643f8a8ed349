"""Gap detection: what Plex and Stash disagree about, kept in a small SQLite
store and shown as a report a person can read.

``detect`` compares plain data (pure), ``store`` keeps the records,
``plexlib`` reads Plex through plexapi, ``report`` renders, and ``service``
ties them together for the web routes, the CLI and the scheduler.
"""
