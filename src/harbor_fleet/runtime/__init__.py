"""The runtime: a supervisor for asyncio tasks, and the per-fleet tracker actors it runs."""
