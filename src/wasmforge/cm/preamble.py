"""The component binary's preamble (component-model ``Binary.md``): what tells a component
from a core module.  A module of its own, importing nothing, so that ``wasmforge run`` of a
core module can ask without loading the component decoder (start-up time)."""

from __future__ import annotations

MAGIC = b"\x00asm"
#: The preamble's version and layer (pre-standard version 0x0d).
VERSION = 0x0D
LAYER = 0x01
PREAMBLE = MAGIC + bytes([VERSION, 0x00, LAYER, 0x00])


def is_component(data: bytes) -> bool:
    """Whether ``data`` starts like a component (the preamble's layer field is 1), not a core
    module (layer 0)."""
    return len(data) >= 8 and bytes(data[:4]) == MAGIC and data[6] == LAYER and data[7] == 0
