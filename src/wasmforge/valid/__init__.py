"""Validation of modules (spec chapter 3): :func:`validate`."""

from .validate import validate

__all__ = ["validate"]
