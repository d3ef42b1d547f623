"""The fleet service (the "context"): what controllers and commands call. No HTTP here."""
