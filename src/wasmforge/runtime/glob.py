"""Global instances (spec 4.2.9)."""

from __future__ import annotations

from ..types import GlobalType


class GlobalInstance:
    """A global: ``value`` in the internal value form (see numerics/bits.py), ``type`` its
    GlobalType.  The tiers read and write ``value`` directly."""

    __slots__ = ("type", "value", "__weakref__")

    def __init__(self, type: GlobalType, value):
        self.type = type
        self.value = value
