"""Gap detection: what Plex and Stash disagree about, kept in a small SQLite
store and shown as a report a person can read.

``detect`` compares plain data (pure), ``store`` keeps the records,
``pms.library`` reads Plex through plexapi, ``fingerprint`` hashes files s2p can
read, ``syncfile`` reads Stash2Plex's sync times, ``report`` renders, and
``service`` ties them together for the web routes, the ``s2p gaps`` command
(``cli.gaps``) and the scheduler.
"""
