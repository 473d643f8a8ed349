"""Everything that calls a Plex Media Server through plexapi: the
connection, provider registration, library listing for gaps and item
lookup for artwork.  (``plex`` is the provider contract; this is the
server.)
"""
