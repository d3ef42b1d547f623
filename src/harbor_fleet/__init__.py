"""Harbor Fleet: real-time fleet tracking."""

__version__ = "0.1.0"
