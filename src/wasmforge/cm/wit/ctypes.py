"""WIT's resolved types as the component model's types (``wasmforge.cm.types``): what the
canonical ABI, linking and bindings read.

A WIT ``resource`` becomes one :class:`~wasmforge.cm.types.ResourceType` per definition
(aliases made by ``use`` share it); structural types become the frozen dataclasses of
``cm.types``, so equal WIT types give equal component types.  A world becomes a
:class:`~wasmforge.cm.types.ComponentType` whose interface imports and exports are instances.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from ...errors import NotSupportedError
from .. import types as ct
from .model import Function, Interface, Resolve, TypeRef, WorldItem

_PRIMITIVES = {p.name: p for p in (ct.BOOL, ct.S8, ct.U8, ct.S16, ct.U16, ct.S32, ct.U32, ct.S64, ct.U64,
                                   ct.F32, ct.F64, ct.CHAR, ct.STRING, ct.ERROR_CONTEXT)}


class TypeMap:
    """Converts the types of one :class:`Resolve`, keeping one ``ResourceType`` per WIT
    resource definition."""

    def __init__(self, resolve: Resolve):
        self.resolve = resolve
        self.resources: Dict[int, ct.ResourceType] = {}

    def _dealias(self, tid: int) -> int:
        types = self.resolve.types
        seen = 0
        while types[tid].kind == "type" and isinstance(types[tid].args[0], int) and seen < 10000:
            nxt = types[tid].args[0]
            assert isinstance(nxt, int)
            tid = nxt
            seen += 1
        return tid

    def resource(self, tid: int) -> ct.ResourceType:
        """The component resource type of the WIT resource ``tid`` names (through aliases)."""
        rid = self._dealias(tid)
        t = self.resolve.types[rid]
        if t.kind != "resource":
            raise ValueError(f"type {tid} is not a resource")
        if rid not in self.resources:
            self.resources[rid] = ct.ResourceType(t.name or "")
        return self.resources[rid]

    def value(self, ref: TypeRef) -> ct.ValType:
        """The component value type of a WIT type reference (not a bare resource)."""
        if isinstance(ref, str):
            return _PRIMITIVES[ref]
        return self._value(ref, 0)

    def _opt(self, ref: Optional[TypeRef], depth: int) -> Optional[ct.ValType]:
        if ref is None:
            return None
        return _PRIMITIVES[ref] if isinstance(ref, str) else self._value(ref, depth + 1)

    def _req(self, ref: Optional[TypeRef], depth: int) -> ct.ValType:
        out = self._opt(ref, depth)
        assert out is not None
        return out

    def _value(self, tid: int, depth: int) -> ct.ValType:
        if depth > 1000:
            raise ValueError("type nesting too deep")
        t = self.resolve.types[tid]
        k, a = t.kind, t.args
        if k == "type":
            target = a[0]
            if isinstance(target, int) and self.resolve.types[self._dealias(target)].kind == "resource":
                raise ValueError(f"`{t.name}` is a resource, not a value type: use own<> or borrow<>")
            return self._req(target, depth)
        if k == "record":
            return ct.RecordType(tuple((f.name, self._req(f.type, depth)) for f in t.fields))
        if k == "variant":
            return ct.VariantType(tuple((f.name, self._opt(f.type, depth)) for f in t.fields))
        if k == "enum":
            return ct.EnumType(tuple(f.name for f in t.fields))
        if k == "flags":
            return ct.FlagsType(tuple(f.name for f in t.fields))
        if k == "list":
            return ct.ListType(self._req(a[0], depth))
        if k == "fixed-length-list":
            return ct.ListType(self._req(a[0], depth), t.length)
        if k == "option":
            return ct.OptionType(self._req(a[0], depth))
        if k == "result":
            return ct.ResultType(self._opt(a[0], depth), self._opt(a[1], depth))
        if k == "tuple":
            return ct.TupleType(tuple(self._req(x, depth) for x in a))
        if k == "own":
            assert isinstance(a[0], int)
            return ct.OwnType(self.resource(a[0]))
        if k == "borrow":
            assert isinstance(a[0], int)
            return ct.BorrowType(self.resource(a[0]))
        if k == "future":
            return ct.FutureType(self._opt(a[0], depth))
        if k == "stream":
            return ct.StreamType(self._opt(a[0], depth))
        if k == "map":
            raise NotSupportedError("`map<K, V>` has no component value type in wasmforge yet")
        raise ValueError(f"`{t.name}` ({k}) is not a value type")

    def function(self, f: Function) -> ct.FuncType:
        """The component function type of a WIT function (``self`` included for methods)."""
        return ct.FuncType(tuple((p.name, self.value(p.type)) for p in f.params),
                           None if f.result is None else self.value(f.result), f.is_async)

    def _type_extern(self, tid: int) -> ct.Extern:
        t = self.resolve.types[tid]
        if t.kind == "resource" or (t.kind == "type" and isinstance(t.args[0], int)
                                    and self.resolve.types[self._dealias(t.args[0])].kind == "resource"):
            return ct.Extern("type", self.resource(tid))
        return ct.Extern("type", self.value(tid))

    def instance(self, iface: Interface) -> ct.InstanceType:
        """An interface as the instance type a component imports or exports it as."""
        exports: List[Tuple[str, ct.Extern]] = []
        defined: List[ct.ResourceType] = []
        for name, tid in iface.types.items():
            if self.resolve.types[tid].kind == "resource":
                defined.append(self.resource(tid))
            exports.append((name, self._type_extern(tid)))
        for name, f in iface.functions.items():
            exports.append((name, ct.Extern("func", self.function(f))))
        return ct.InstanceType(tuple(exports), tuple(defined))

    def _item(self, item: WorldItem) -> ct.Extern:
        if item.kind == "interface":
            assert item.interface is not None
            return ct.Extern("instance", self.instance(self.resolve.interfaces[item.interface]))
        if item.kind == "function":
            assert item.function is not None
            return ct.Extern("func", self.function(item.function))
        assert item.type is not None
        return self._type_extern(item.type)

    def world(self, wid: int) -> ct.ComponentType:
        """A world as the type of a component that targets it: its imports and exports by
        their component-model names (``ns:pkg/iface@version`` for interfaces)."""
        w = self.resolve.worlds[wid]
        r = self.resolve
        imports = tuple((r.key_name(k), self._item(v)) for k, v in w.imports.items())
        imported = tuple(self.resources.values())
        exports = tuple((r.key_name(k), self._item(v)) for k, v in w.exports.items())
        defined = tuple(res for res in self.resources.values() if res not in imported)
        return ct.ComponentType(imports, exports, imported, defined)

def component_type(resolve: Resolve, world: int) -> ct.ComponentType:
    """The component type of world ``world`` (an index into ``resolve.worlds``)."""
    return TypeMap(resolve).world(world)
