"""Printing a resolved package back as WIT text."""

from __future__ import annotations

from typing import Optional

from .model import Resolve


def print_wit(resolve: Resolve, package: Optional[int] = None) -> str:
    raise NotImplementedError
