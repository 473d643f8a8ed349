"""Paths between Plex and Stash: the bidirectional rules (``pathmap``) and
the forms one path takes across operating systems (``forms``).  Pure.
"""
