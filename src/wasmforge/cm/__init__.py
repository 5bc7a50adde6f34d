"""The component model's machinery, below the public API (``wasmforge.component``).

Laid out as the core language is:

- ``types``   the resolved component-level types (value types, function types, resources)
              that the canonical ABI, the linker and the API read;
- ``ast``     the component as the binary format defines it (sections, index spaces);
- ``binary``  decode and encode; ``text`` the text format; ``valid`` validation;
- ``abi``     the canonical ABI (lifting, lowering, handle tables);
- ``wit``     the WIT language.

Nothing here imports ``wasmforge.api`` or ``wasmforge.component``.
"""
