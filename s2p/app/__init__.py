"""The wiring: every component built once from the settings (``services``),
the Falcon app (``webapp``), the waitress server (``server``), start-up
messages (``announce``) and the metrics collectors (``collectors``).
Nothing else in s2p imports this package.
"""
