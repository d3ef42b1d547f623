"""Adapters: the outside world (PostgreSQL) behind small interfaces."""
