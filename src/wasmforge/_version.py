"""The package version (one place: the modules below the public API read it here)."""

__version__ = "0.1.0"
