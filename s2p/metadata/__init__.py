"""The metadata answers Plex reads: a scene rendered as the provider contract
says, and kept while the scene it came from stands."""
