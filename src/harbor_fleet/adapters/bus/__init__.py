"""Pub/sub between the writer and everything that follows commits: one interface, several backends."""
