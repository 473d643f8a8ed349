"""Keeping s2p observable: health, Prometheus metrics, logging set-up and
the scheduler thread for periodic jobs.
"""
