"""Everything that calls a Plex Media Server through plexapi: the
connection, provider registration, library listing for gaps, item lookup
for artwork and sync, and which libraries to look in (``libraries``, listed
again when they may have changed).  (``plex`` is the provider contract;
this is the server.)
"""
