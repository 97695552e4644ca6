"""The version of ragif (part of every cached stage output's key and of every run's provenance)."""
__version__ = "0.1.0"
