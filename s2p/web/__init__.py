"""The HTTP face of s2p: a Falcon WSGI app."""
