"""s2p inside Stash: the Stash plugin s2p serves, and the routes it calls.

Stash installs the plugin from s2p's own plugin source
(``<s2p URL>/stash-plugin/index.yml``, see ``package``).  Its JavaScript
runs in Stash's page and asks Stash (``runPluginOperation``) to run the
plugin's bridge, a standard-library Python script, on Stash's host; the
bridge calls s2p's ``/stash-plugin/api`` routes (``resources``) with the
token written into the zip (``token``).  ``service`` answers them from the
gap records, the live-sync queue, Plex's items and the match cascade.
The plugin's own files (``plugin/``) are package data, served as they are.
"""
