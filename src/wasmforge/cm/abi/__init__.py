"""The canonical ABI, synchronous part (CanonicalABI.md): how component values are laid out
in memory and flattened to core values, lifted and lowered, with strings in three encodings
and resources in per-instance handle tables.

- ``layout``     alignment, sizes, discriminants, flattening (pure functions of a type);
- ``values``     the Python form of component values (wasmtime-py's mapping);
- ``resources``  handle tables, the host's :class:`Resource`, ``resource.new/drop/rep``;
- ``strings``    the string encodings and transcoding, with the spec's ``realloc`` calls;
- ``codegen``    lifting and lowering generated as Python source, once per type;
- ``adapter``    ``canon lift`` (:class:`LiftedFunction`) and ``canon lower``
                 (:func:`lower_function`), generated once per function type;
- ``tasks``      ``task.return`` and the ``async`` lifts and lowers that finish without
                 an event loop.
"""

from .adapter import (CanonOptions, LiftedFunction, lift_flat, lift_function, load, lower_flat, lower_function,
                      store)
from .context import BytesMemory, Cx
from .layout import (MAX_FLAT_PARAMS, MAX_FLAT_RESULTS, align_to, alignment, discriminant_size, elem_size,
                     flags_size, flatten_functype, flatten_type, flatten_types)
from .resources import (CallScope, ComponentState, HandleTable, Resource, ResourceHandle, resource_drop,
                        resource_new, resource_rep)
from .strings import SourceString
from .values import Record, Variant

__all__ = [
    "CanonOptions", "LiftedFunction", "lift_flat", "lift_function", "load", "lower_flat", "lower_function",
    "store", "BytesMemory", "Cx", "MAX_FLAT_PARAMS", "MAX_FLAT_RESULTS", "align_to", "alignment",
    "discriminant_size", "elem_size", "flags_size", "flatten_functype", "flatten_type", "flatten_types",
    "CallScope", "ComponentState", "HandleTable", "Resource", "ResourceHandle", "resource_drop", "resource_new",
    "resource_rep", "SourceString", "Record", "Variant",
]
