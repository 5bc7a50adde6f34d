"""Where a module's instructions are in its binary: the code offsets of trap frames.

wasmtime reports a frame's instruction as ``module_offset`` (the byte offset in the module's
binary) and ``func_offset`` (from the start of the function's body: its locals, right after
the code entry's size).  A tier records the instruction's index in its function; a
:class:`CodeOffsets` turns it into the two offsets when a frame's offset is first read, so
the code that runs pays nothing.  A module from text is placed as its binary encoding places
it, as wasmtime's modules from text are.  A core module read from a component counts its
``module_offset`` from the start of the component's binary (``Module.binary_offset``), as
wasmtime does.
"""

from __future__ import annotations

import threading
from typing import Dict, FrozenSet, List, Optional, Tuple

from ..debuginfo import DebugInfo, has_debug_info
from ..errors import FrameSymbol, WasmError, backtrace_details_from_env
from ..features import FEATURES
from ..module import FUNC, Module
from .decode import decode_module


class CodeOffsets:
    """``locate(funcidx, position)`` for the functions of ``module``."""

    def __init__(self, module: Module):
        self.module = module
        self.nimported = module.num_imported(FUNC)
        self._places: List[Optional[Tuple[Optional[int], Optional[List[int]]]]] = [None] * len(module.funcs)
        self._encoded: Optional[Module] = None
        self._calls: Dict[int, Tuple[Dict[int, List[int]], List[int]]] = {}
        self._targets: Dict[int, Dict[int, int]] = {}
        self._tails: Dict[int, FrozenSet[int]] = {}
        self._lock = threading.Lock()
        self._debug: Optional[DebugInfo] = None

    # ----- source lines (wasmforge.debuginfo), for Frame.symbols -----

    def source(self) -> "CodeOffsets":
        """What ``Frame`` asks for the module's source lines: this object."""
        return self

    @property
    def has_debug_info(self) -> bool:
        """Whether the module has DWARF custom sections."""
        return has_debug_info(c.name for c in self.module.customs)

    @property
    def backtrace_details(self) -> Optional[bool]:
        """The module's ``backtrace_details`` (``Config.wasm_backtrace_details``); for a
        module no engine loaded, the environment's default."""
        details = self.module.backtrace_details
        if details is None and backtrace_details_from_env():
            return True
        return details

    def symbols(self, module_offset: int) -> Tuple[FrameSymbol, ...]:
        """The source frames (``wasmforge.debuginfo``) of the instruction at
        ``module_offset`` (as :meth:`locate` gives it); the DWARF is read on first use."""
        start = self.module.code_section_offset
        if start is None or not self.has_debug_info:
            return ()
        if self._debug is None:
            self._debug = DebugInfo({c.name: c.data for c in self.module.customs})
        return self._debug.symbols(module_offset - self.module.binary_offset - start)

    def locate(self, funcidx: int, position: int) -> Optional[Tuple[int, int]]:
        """``(func_offset, module_offset)`` of instruction ``position`` (its index in the
        body) of function ``funcidx``; None when unknown (a negative position)."""
        j = funcidx - self.nimported
        if position < 0 or not 0 <= j < len(self._places):
            return None
        place = self._places[j]
        if place is None:
            with self._lock:
                f = self.module.funcs[j]
                offsets = f.instruction_offsets()
                if offsets is None or f.body_offset is None:
                    if self._encoded is None:
                        # start-up speed: only a trap in a module parsed from text encodes it
                        from .encode import encode_module
                        try:
                            self._encoded = decode_module(encode_module(self.module), lazy=True,
                                                          features=frozenset(FEATURES))
                        except WasmError:       # (not expected: the module is valid)
                            self._encoded = Module()
                    encoded = self._encoded.funcs
                    f = encoded[j] if j < len(encoded) else f
                    offsets = f.instruction_offsets()
                place = self._places[j] = (f.body_offset, offsets)
        start, offsets = place
        if start is None or offsets is None or position >= len(offsets):
            return None
        return offsets[position] - start, offsets[position] + self.module.binary_offset

    def locate_call(self, funcidx: int, callee: int) -> Optional[Tuple[int, int]]:
        """:meth:`locate` for the call that function ``funcidx`` is making to function
        ``callee``, for a tier that knows the frames but not their call sites: found when
        the caller has exactly one instruction that can make that call (a ``call`` of it,
        or its only indirect call and no direct one), else None.  Tail calls do not count:
        a frame that makes one is gone."""
        j = funcidx - self.nimported
        if callee < 0 or not 0 <= j < len(self._places):
            return None
        sites = self._calls.get(j)
        if sites is None:
            direct: Dict[int, List[int]] = {}
            indirect: List[int] = []
            for k, ins in enumerate(self.module.funcs[j].iter_body()):
                name = ins[0].name
                if name == "call":
                    direct.setdefault(ins[1], []).append(k)
                elif name in _INDIRECT_CALLS:
                    indirect.append(k)
            sites = self._calls[j] = (direct, indirect)
        direct, indirect = sites
        found = direct.get(callee, []) + indirect
        return self.locate(funcidx, found[0]) if len(found) == 1 else None

    def locate_direct_call(self, funcidx: int, callee: int) -> Optional[Tuple[int, int]]:
        """:meth:`locate` for the one ``call`` of ``callee`` in function ``funcidx`` (a tier
        that knows the call was direct: inlined code), else None."""
        j = funcidx - self.nimported
        if callee < 0 or not 0 <= j < len(self._places):
            return None
        self.call_target(funcidx, 0)            # finds the function's calls
        found = self._calls[j][0].get(callee, [])
        return self.locate(funcidx, found[0]) if len(found) == 1 else None

    def call_target(self, funcidx: int, position: int) -> Optional[int]:
        """The function that instruction ``position`` of function ``funcidx`` calls when it
        is a ``call``, -1 when it is an indirect call, else None."""
        j = funcidx - self.nimported
        if not 0 <= j < len(self._places):
            return None
        targets = self._targets.get(j)
        if targets is None:
            self.locate_call(funcidx, 0)        # fills self._calls[j]
            direct, indirect = self._calls[j]
            targets = dict.fromkeys(indirect, -1)
            for f, positions in direct.items():
                targets.update(dict.fromkeys(positions, f))
            self._targets[j] = targets
        return targets.get(position)

    def is_tail_call(self, funcidx: int, position: int) -> bool:
        """Whether instruction ``position`` of function ``funcidx`` is a tail call (a
        ``return_call*``: the frame that made it is gone)."""
        j = funcidx - self.nimported
        if position < 0 or not 0 <= j < len(self._places):
            return False
        tails = self._tails.get(j)
        if tails is None:
            tails = self._tails[j] = frozenset(
                k for k, ins in enumerate(self.module.funcs[j].iter_body()) if ins[0].name in _TAIL_CALLS)
        return position in tails


#: The instructions whose frame is replaced by the callee's.
_TAIL_CALLS = frozenset(("return_call", "return_call_indirect", "return_call_ref"))

#: The instructions that call a function not named by their immediate (and return to the
#: caller).  Any of them may have made the call to any callee.
_INDIRECT_CALLS = frozenset(("call_indirect", "call_ref"))
