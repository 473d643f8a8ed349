"""Loading scenes from Stash: the scene store with its cache, batching of
lookups, and the in-memory scene index with its snapshot.
"""
