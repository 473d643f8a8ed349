"""From Plex's hints to a Stash scene.

``cascade`` ranks candidates (pure scoring through ``pathscore`` and
``titles``); ``sources`` holds where scenes come from (Stash queries or the
scene index); ``cached`` keeps outcomes a short while; ``localfiles``
hashes files s2p can read.
"""
