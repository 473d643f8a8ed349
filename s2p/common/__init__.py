"""Small helpers any package may use: a TTL cache with single flight,
the per-request deadline, the state directory and network addresses.
"""
