"""The Plex side: the provider contract and the Stash -> Plex translation."""
