"""The simulator: vehicles driving plausible routes, reported to a server as a partner would."""
