"""The `harbor-fleet` command line."""
