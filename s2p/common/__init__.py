"""Small helpers any package may use: a TTL cache with single flight,
the per-request deadline, the state directory, network addresses, and the
shared persistence: the SQLite helper (``sqlitedb``), the due-queue of
push and sync (``duequeue``) and the one backoff rule (``backoff``).
"""
