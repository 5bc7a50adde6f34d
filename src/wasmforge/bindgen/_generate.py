"""The code generator of ``wasmforge bindgen``: one WIT world in, one Python module out.

The module is written as a person would write it: the world's types first (dataclasses,
enums, flags, the cases of each variant and its ``Union``), then one pair of conversion
functions per type that needs one (between those classes and the values of
``wasmforge.component``: ``Record``, ``Variant``, label sets, resource handles), then the
imports side (a ``Protocol`` per imported interface, a base class per imported resource,
``add_to_linker``) and the exports side (a class per exported interface, the world's class,
``instantiate``).  Conversions are decided here, once per type, from the component types of
``wasmforge.cm.wit.ctypes``; a call runs straight-line code with no reflection.
"""

from __future__ import annotations

import keyword
import re
import textwrap
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Set, Tuple

from ..cm.abi.resources import Resource
from ..cm.abi.values import Record, Variant, is_tagged, python_classes
from ..cm.wit.ctypes import TypeMap
from ..cm.wit.model import Function, Interface, Resolve, TypeDef, TypeRef, World, WorldKey
from ..errors import NotSupportedError

_PRIMITIVE_ANNOTATIONS = {
    "bool": "int", "s8": "int", "u8": "int", "s16": "int", "u16": "int", "s32": "int", "u32": "int",
    "s64": "int", "u64": "int", "f32": "float", "f64": "float", "char": "str", "string": "str",
}
_PRIMITIVE_ANNOTATIONS["bool"] = "bool"

#: Names the generated module defines or imports itself.
_RESERVED = frozenset({
    "abc", "enum", "dataclass", "Any", "Protocol", "Optional", "Union", "Store", "Component", "Func",
    "Instance", "Linker", "LinkerInstance", "Record", "Variant", "ResourceAny", "ResourceHost", "ResourceType",
    "Ok", "Err", "Result", "ResultError", "Some", "ExportedResource", "HostResource", "HostTable",
    "export_func", "unexpected", "add_to_linker", "instantiate", "ImportState", "WasmError", "_Context",
})


#: The local names of the generated wrappers, which a parameter must not shadow.
_LOCALS = frozenset({"func", "store", "result", "cx", "tables", "imports", "root", "inst", "linker"})


def snake(name: str) -> str:
    """A WIT identifier (kebab-case) as a Python function, field or parameter name."""
    out = name.replace("-", "_")
    if keyword.iskeyword(out) or out == "self":
        out += "_"
    return out


def camel(name: str) -> str:
    """A WIT identifier as a Python class name: ``max-size`` -> ``MaxSize`` (``none`` -> ``None_``)."""
    out = "".join(part[:1].upper() + part[1:] for part in name.split("-"))
    return out + "_" if keyword.iskeyword(out) else out


def upper(name: str) -> str:
    """A WIT identifier as an enum or flag member: ``read-only`` -> ``READ_ONLY``."""
    out = name.replace("-", "_").upper()
    return out + "_" if keyword.iskeyword(out) else out


def _docstring(docs: Optional[str], fallback: str, indent: str) -> List[str]:
    text = (docs or "").strip() or textwrap.fill(fallback, 94 - len(indent), break_on_hyphens=False)
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines = text.splitlines()
    if len(lines) == 1:
        return [f'{indent}"""{lines[0]}"""']
    return [f'{indent}"""{lines[0]}', *[(indent + ln).rstrip() for ln in lines[1:]], f'{indent}"""']


@dataclass
class _Group:
    """One imported or exported interface (or the world's own functions: ``key`` None)."""

    key: Optional[WorldKey]
    wit_name: Optional[str]          # the component-model name (``ns:pkg/iface``), None: world
    label: str                       # the name the user sees (interface or world name)
    interface: Optional[Interface]
    functions: List[Function]
    iid: Optional[int] = None
    attr: str = ""
    cls: str = ""
    resources: List[int] = field(default_factory=list)


class Generator:
    """Writes the Python bindings of world ``world_id`` of ``resolve``."""

    def __init__(self, resolve: Resolve, world_id: int) -> None:
        self.resolve = resolve
        self.world: World = resolve.worlds[world_id]
        self.types = resolve.types
        self.tmap = TypeMap(resolve)
        self.used: Set[str] = set(_RESERVED)
        self.type_names: Dict[int, str] = {}        # type id -> Python class or alias name
        self.case_names: Dict[Tuple[int, str], str] = {}
        self.helpers: Dict[Tuple[str, TypeRef], str] = {}   # (direction, type) -> helper name
        self.helper_code: List[str] = []
        self.helper_cx: Dict[str, bool] = {}
        self.exported_resources: Dict[int, _Group] = {}
        self.imported_resources: Dict[int, _Group] = {}
        self.world_cls = ""
        self.imports: List[_Group] = []
        self.exports: List[_Group] = []

    # ----------------------------------------------------------------- names and groups

    def claim(self, name: str) -> str:
        base, n = name, 2
        while name in self.used:
            name = f"{base}{n}"
            n += 1
        self.used.add(name)
        return name

    def _groups(self, items: Dict[WorldKey, object], side: str) -> List[_Group]:
        groups: List[_Group] = []
        world_funcs: List[Function] = []
        world_resources: List[int] = []
        for key, item in items.items():
            kind = getattr(item, "kind")
            if kind == "interface":
                iid = getattr(item, "interface")
                iface = self.resolve.interfaces[iid]
                label = key if isinstance(key, str) else (iface.name or "interface")
                groups.append(_Group(key, self.resolve.key_name(key), label, iface, list(iface.functions.values()),
                                     iid))
            elif kind == "function":
                world_funcs.append(getattr(item, "function"))
            elif kind == "type":
                tid = getattr(item, "type")
                if self.types[tid].kind == "resource":
                    world_resources.append(tid)
        if world_funcs or world_resources:
            g = _Group(None, None, self.world.name, None, world_funcs)
            g.resources = world_resources
            groups.append(g)
        groups = [g for g in groups if g.functions or g.key is None
                  or any(self.types[t].kind == "resource" for t in (g.interface.types.values() if g.interface else ()))]
        for g in groups:
            for f in g.functions:
                if f.is_async:
                    raise NotSupportedError(f"bindgen: async function `{f.name}` (async functions are not "
                                            "supported by the component runtime yet)")
            if g.interface is not None:
                g.resources = [tid for tid in g.interface.types.values() if self.types[tid].kind == "resource"]
            for tid in g.resources:
                (self.exported_resources if side == "export" else self.imported_resources)[tid] = g
        return groups

    def dealias(self, ref: TypeRef) -> TypeRef:
        seen = 0
        while isinstance(ref, int) and self.types[ref].kind == "type" and seen < 10000:
            nxt = self.types[ref].args[0]
            assert nxt is not None
            ref = nxt
            seen += 1
        return ref

    def _name_types(self) -> List[int]:
        """Give each named type of the world's interfaces its Python name; the ids to define."""
        owners: Set[Tuple[str, int]] = set()
        for item in [*self.world.imports.values(), *self.world.exports.values()]:
            if item.kind == "interface" and item.interface is not None:
                owners.add(("interface", item.interface))
        wid = self.resolve.worlds.index(self.world)
        owners.add(("world", wid))
        defined: List[int] = []
        for tid, t in enumerate(self.types):
            if t.name is None or t.owner is None or tuple(t.owner) not in owners:
                continue
            if t.kind == "type":
                target = self.dealias(tid)
                if isinstance(target, int) and self.types[target].name == t.name:
                    continue            # `use iface.{x}`: the same class
            defined.append(tid)
            self.type_names[tid] = self.claim(camel(t.name))
        return defined

    # ----------------------------------------------------------------- annotations

    def nullable(self, ref: Optional[TypeRef]) -> bool:
        """Whether the Python value of ``ref`` may be None (an option)."""
        if ref is None:
            return True
        ref = self.dealias(ref)
        return isinstance(ref, int) and self.types[ref].kind == "option"

    def ann(self, ref: Optional[TypeRef]) -> str:
        """The annotation of a value of WIT type ``ref``."""
        if ref is None:
            return "None"
        if isinstance(ref, str):
            if ref not in _PRIMITIVE_ANNOTATIONS:
                raise NotSupportedError(f"bindgen: the type `{ref}` has no Python binding yet")
            return _PRIMITIVE_ANNOTATIONS[ref]
        t = self.types[ref]
        k = t.kind
        if k == "type":
            target = t.args[0]
            assert target is not None
            return self.ann(target)
        if k in ("record", "variant", "enum", "flags", "resource"):
            if ref not in self.type_names:
                raise NotSupportedError(f"bindgen: type `{t.name}` is outside the world's interfaces")
            return self.type_names[ref]
        if k in ("own", "borrow"):
            res = self.dealias(t.args[0])     # type: ignore[arg-type]
            return self.ann(res)
        if k in ("list", "fixed-length-list"):
            if t.args[0] == "u8" and k == "list":
                return "bytes"
            return f"list[{self.ann(t.args[0])}]"
        if k == "option":
            inner = self.ann(t.args[0])
            return f"Some[{inner}] | None" if self.nullable(t.args[0]) else f"{inner} | None"
        if k == "result":
            return f"Result[{self.ann(t.args[0])}, {self.ann(t.args[1])}]"
        if k == "tuple":
            if not t.args:
                return "tuple[()]"
            return "tuple[" + ", ".join(self.ann(a) for a in t.args) + "]"
        raise NotSupportedError(f"bindgen: the WIT type kind `{k}` has no Python binding yet")

    def wit_text(self, ref: Optional[TypeRef]) -> str:
        if ref is None:
            return "_"
        if isinstance(ref, str):
            return ref
        t = self.types[ref]
        if t.name is not None:
            return t.name
        if t.kind in ("own", "borrow", "list", "option"):
            return f"{t.kind}<{self.wit_text(t.args[0])}>" if t.kind != "own" else self.wit_text(t.args[0])
        if t.kind == "result":
            return f"result<{self.wit_text(t.args[0])}, {self.wit_text(t.args[1])}>"
        if t.kind == "tuple":
            return "tuple<" + ", ".join(self.wit_text(a) for a in t.args) + ">"
        return t.kind

    # ----------------------------------------------------------------- conversions

    def has_handle(self, ref: Optional[TypeRef], depth: int = 0) -> bool:
        if ref is None or isinstance(ref, str):
            return False
        t = self.types[ref]
        if t.kind in ("own", "borrow"):
            return True
        if depth > 200:
            return False
        return any(self.has_handle(a, depth + 1) for a in t.args) or any(
            self.has_handle(f.type, depth + 1) for f in t.fields)

    def trivial(self, ref: Optional[TypeRef]) -> bool:
        """Whether the runtime's value of ``ref`` already is the binding's value."""
        if ref is None or isinstance(ref, str):
            return True
        ref = self.dealias(ref)
        if isinstance(ref, str):
            return True
        t = self.types[ref]
        if t.kind == "list":
            return self.trivial(t.args[0])
        if t.kind == "tuple":
            return all(self.trivial(a) for a in t.args)
        if t.kind == "option":
            return (not is_tagged(self.tmap.value(ref)) and not self.nullable(t.args[0])
                    and self.trivial(t.args[0]))
        return False

    def conv(self, direction: str, ref: Optional[TypeRef], expr: str) -> str:
        """An expression converting ``expr``: ``from`` the runtime's value to the binding's,
        or ``to`` the runtime's."""
        if self.trivial(ref):
            return expr
        assert ref is not None
        ref = self.dealias(ref)
        assert isinstance(ref, int)
        name = self.helper(direction, ref)
        return f"{name}({expr}, cx)" if self.helper_cx[name] else f"{name}({expr})"

    def _helper_base(self, ref: TypeRef, depth: int = 0) -> str:
        if isinstance(ref, str):
            return ref
        t = self.types[ref]
        if ref in self.type_names:
            return snake(t.name or "t").strip("_")
        if depth > 2:
            return f"t{ref}"
        if t.kind in ("own", "borrow"):
            return f"{t.kind}_{self._helper_base(self.dealias(t.args[0]), depth + 1)}"  # type: ignore[arg-type]
        parts = [self._helper_base(self.dealias(a), depth + 1) if a is not None else "none" for a in t.args]
        return "_".join([t.kind.replace("-", "_"), *parts])

    def helper(self, direction: str, ref: int) -> str:
        key = (direction, ref)
        if key in self.helpers:
            return self.helpers[key]
        name = self.claim(f"_{self._helper_base(ref)}_{direction}_wasm")
        self.helpers[key] = name
        body = self._from_body(ref) if direction == "from" else self._to_body(ref)
        self.helper_cx[name] = any(re.search(r"\bcx\b", ln) for ln in body)
        ann = self.ann(ref)
        params = "v: Any, cx: _Context" if self.helper_cx[name] else "v: Any"
        if direction == "from":
            sig = f"def {name}({params}) -> {ann}:"
        else:
            sig = f"def {name}({params.replace('v: Any', f'v: {ann}')}) -> Any:"
        self.helper_code.append("\n".join([sig, *("    " + ln for ln in body)]))
        return name

    def _field_get(self, name: str) -> str:
        py = name.replace("-", "_")
        return f"v.{name}" if py == name and not keyword.iskeyword(name) else f"getattr(v, {name!r})"

    def _class_test(self, cls: type) -> str:
        if cls is Resource:
            return "isinstance(v, ResourceAny)"
        if cls in (bool, int):
            return f"type(v) is {cls.__name__}"
        if cls in (float, str, bytes, list, tuple, set):
            return f"isinstance(v, {cls.__name__})"
        if cls is Record:
            return "isinstance(v, Record)"
        if cls is Variant:
            return "isinstance(v, Variant)"
        return "v is None"           # a case without payload (values._Object)

    def _cases(self, t: TypeDef, ref: int) -> List[Tuple[str, str, Optional[TypeRef]]]:
        """(runtime tag, WIT label, payload) of a variant-like type."""
        if t.kind == "option":
            return [("none", "none", None), ("some", "some", t.args[0])]
        if t.kind == "result":
            return [("ok", "ok", t.args[0]), ("err", "error", t.args[1])]
        return [(f.name, f.name, f.type) for f in t.fields]

    def _case_value(self, t: TypeDef, ref: int, label: str, payload: Optional[TypeRef], src: str) -> str:
        inner = self.conv("from", payload, src) if payload is not None else "None"
        if t.kind == "option":
            if label == "none":
                return "None"
            return f"Some({inner})" if self.nullable(payload) else inner
        if t.kind == "result":
            return f"Ok({inner})" if label == "ok" else f"Err({inner})"
        cls = self.case_names[(ref, label)]
        return f"{cls}({inner})" if payload is not None else f"{cls}()"

    def _from_body(self, ref: int) -> List[str]:
        t = self.types[ref]
        k = t.kind
        if k == "record":
            args = [f"{snake(f.name)}={self.conv('from', f.type, self._field_get(f.name))}" for f in t.fields]
            return _call_lines_wrapped(f"return {self.type_names[ref]}(", args, ")")
        if k == "enum":
            return [f"return {self.type_names[ref]}(v)"]
        if k == "flags":
            # one Flag made from the bits (combining members one by one costs a Flag each)
            bits = [f"({1 << i} if {f.name!r} in v else 0)" for i, f in enumerate(t.fields)]
            if not bits:
                return [f"return {self.type_names[ref]}(0)"]
            if len(bits) == 1:
                return [f"return {self.type_names[ref]}({bits[0]})"]
            out: List[str] = [f"bits = {' | '.join(bits)}"]
            if len(out[0]) > 100:
                out = ["bits = (", *(f"    {b} |" for b in bits[:-1]), f"    {bits[-1]}", ")"]
            return out + [f"return {self.type_names[ref]}(bits)"]
        if k == "list" or k == "fixed-length-list":
            return [f"return [{self.conv('from', t.args[0], 'e')} for e in v]"]
        if k == "tuple":
            elements = ", ".join(self.conv("from", a, f"v[{i}]") for i, a in enumerate(t.args))
            return [f"return ({elements}{',' if len(t.args) == 1 else ''})"]
        if k in ("own", "borrow"):
            res = self.dealias(t.args[0])     # type: ignore[arg-type]
            assert isinstance(res, int)
            cls = self.type_names[res]
            if res in self.exported_resources:
                if k == "borrow":
                    raise NotSupportedError(f"bindgen: a borrow of the exported resource `{self.types[res].name}` "
                                            "cannot reach the host")
                return [f"return {cls}(cx.exports().{self.exported_resources[res].attr}, v)"]
            table = self.table_attr(res)
            return [f"return cx.tables().{table}.{'take' if k == 'own' else 'get'}(cx.store, v)"]
        if k in ("variant", "option", "result"):
            cases = self._cases(t, ref)
            out = []
            if is_tagged(self.tmap.value(ref)):
                out.append("tag = v.tag")
                for tag, label, payload in cases:
                    out += [f"if tag == {tag!r}:",
                            f"    return {self._case_value(t, ref, label, payload, 'v.payload')}"]
            else:
                for tag, label, payload in cases:
                    classes: FrozenSet[type] = (frozenset({type(None)}) if payload is None
                                                else python_classes(self.tmap.value(payload)))
                    tests = sorted({self._class_test(c) if c is not type(None) else "v is None" for c in classes})
                    out += [f"if {' or '.join(tests)}:",
                            f"    return {self._case_value(t, ref, label, payload, 'v')}"]
            return out + [f"unexpected(v, {self.wit_text(ref)!r})"]
        raise NotSupportedError(f"bindgen: the WIT type kind `{k}` has no Python binding yet")

    def _to_body(self, ref: int) -> List[str]:
        t = self.types[ref]
        k = t.kind
        check = []
        if k in ("record", "enum", "flags"):
            check = [f"if not isinstance(v, {self.type_names[ref]}):", f"    unexpected(v, {self.wit_text(ref)!r})"]
        if k == "record":
            if all(snake(f.name) == f.name for f in t.fields):
                args = [f"{f.name}={self.conv('to', f.type, 'v.' + f.name)}" for f in t.fields]
                return check + _call_lines_wrapped("return Record(", args, ")")
            items = [f"{f.name!r}: {self.conv('to', f.type, 'v.' + snake(f.name))}" for f in t.fields]
            return check + _call_lines_wrapped("return Record(**{", items, "})")
        if k == "enum":
            return check + ["return v.value"]
        if k == "flags":
            out = check + ["bits = v.value", "labels = set()"]
            for i, f in enumerate(t.fields):
                out += [f"if bits & {1 << i}:", f"    labels.add({f.name!r})"]
            return out + ["return labels"]
        if k == "list" or k == "fixed-length-list":
            return [f"return [{self.conv('to', t.args[0], 'e')} for e in v]"]
        if k == "tuple":
            elements = ", ".join(self.conv("to", a, f"v[{i}]") for i, a in enumerate(t.args))
            return [f"return ({elements}{',' if len(t.args) == 1 else ''})"]
        if k in ("own", "borrow"):
            res = self.dealias(t.args[0])     # type: ignore[arg-type]
            assert isinstance(res, int)
            cls = self.type_names[res]
            if res in self.exported_resources:
                return [f"return v.{'_take' if k == 'own' else '_borrow'}()"]
            table = self.table_attr(res)
            return [f"return cx.tables().{table}.{'own' if k == 'own' else 'borrow'}(v, {cls})"]
        if k == "option":
            inner = "v.value" if self.nullable(t.args[0]) else "v"
            conv = self.conv("to", t.args[0], inner)
            if is_tagged(self.tmap.value(ref)):
                return [f"return Variant('none') if v is None else Variant('some', {conv})"]
            return [f"return None if v is None else {conv}"]
        if k == "result":
            ok = f"Variant('ok', {self.conv('to', t.args[0], 'v.value')})" if t.args[0] is not None else "Variant('ok')"
            err = (f"Variant('err', {self.conv('to', t.args[1], 'v.value')})" if t.args[1] is not None
                   else "Variant('err')")
            return ["if isinstance(v, Ok):", f"    return {ok}", "if isinstance(v, Err):", f"    return {err}",
                    f"unexpected(v, {self.wit_text(ref)!r})"]
        if k == "variant":
            out = []
            for f in t.fields:
                cls = self.case_names[(ref, f.name)]
                payload = f", {self.conv('to', f.type, 'v.value')}" if f.type is not None else ""
                out += [f"if isinstance(v, {cls}):", f"    return Variant({f.name!r}{payload})"]
            return out + [f"unexpected(v, {self.wit_text(ref)!r})"]
        raise NotSupportedError(f"bindgen: the WIT type kind `{k}` has no Python binding yet")

    def table_attr(self, res: int) -> str:
        return snake(self.types[res].name or f"r{res}")

    # ----------------------------------------------------------------- type definitions

    def _define(self, tid: int) -> List[str]:
        t = self.types[tid]
        name = self.type_names[tid]
        wit = t.name or "?"
        k = t.kind
        if k == "record":
            out: List[str] = ["@dataclass(frozen=True)", f"class {name}:"]
            out += _docstring(t.docs, f"The WIT record `{wit}`.", "    ")
            for f in t.fields:
                out.append(f"    {snake(f.name)}: {self.ann(f.type)}")
                if f.docs:
                    out += _docstring(f.docs, "", "    ")
            return out
        if k == "enum":
            out = [f"class {name}(enum.Enum):"]
            out += _docstring(t.docs, f"The WIT enum `{wit}`.", "    ")
            out += [f"    {upper(f.name)} = {f.name!r}" for f in t.fields]
            return out
        if k == "flags":
            out = [f"class {name}(enum.Flag):"]
            out += _docstring(t.docs, f"The WIT flags `{wit}`.", "    ")
            out += [f"    {upper(f.name)} = {1 << i}" for i, f in enumerate(t.fields)]
            return out
        if k == "variant":
            out = []
            names = []
            for f in t.fields:
                cname = self.case_names[(tid, f.name)]
                names.append(cname)
                out += ["@dataclass(frozen=True)", f"class {cname}:"]
                out += _docstring(f.docs, f"The case `{f.name}` of the WIT variant `{wit}`.", "    ")
                if f.type is not None:
                    out.append(f"    value: {self.ann(f.type)}")
                out += ["", ""]
            out.append(f"{name} = Union[{', '.join(names)}]")
            out += _docstring(t.docs, f"The WIT variant `{wit}`: one of its case classes.", "")
            return out
        return []

    def _alias(self, tid: int) -> List[str]:
        t = self.types[tid]
        if t.kind in ("record", "enum", "flags", "variant", "resource"):
            return []
        return [f"{self.type_names[tid]} = {self._runtime_ann(tid)}"]

    def _runtime_ann(self, tid: int) -> str:
        """``ann`` in a form Python evaluates (an alias's right-hand side): ``Union``/``Optional``."""
        t = self.types[tid]
        if t.kind == "type":
            target = t.args[0]
            assert target is not None
            return self.ann(target) if isinstance(target, str) else self._runtime_ann(target)
        text = self.ann(tid)
        if t.kind == "option":
            inner = self.ann(t.args[0])
            inner = f"Some[{inner}]" if self.nullable(t.args[0]) else inner
            return f"Optional[{inner}]"
        return text

    # ----------------------------------------------------------------- functions

    def params(self, f: Function, skip_self: bool) -> List[Tuple[str, str, TypeRef]]:
        out = []
        names: Set[str] = set()
        for i, p in enumerate(f.params):
            if skip_self and i == 0:
                continue
            py = snake(p.name)
            if py in _LOCALS:
                py += "_"
            while py in names:
                py += "_"
            names.add(py)
            out.append((py, p.name, p.type))
        return out

    def _call_lines(self, f: Function, func_attr: str, args: List[str], owner: str,
                    ret: Optional[str] = None) -> List[str]:
        """Lines calling the exported ``func_attr`` of ``owner`` with runtime ``args``, then
        its post-return, returning the converted result (or ``ret``)."""
        lines = [f"func = {owner}.{func_attr}", f"store = {owner}._cx.store"]
        call = f"func(store{''.join(', ' + a for a in args)})"
        if f.result is None:
            lines += [call, "func.post_return(store)"]
        elif ret is None and self.trivial(f.result):
            lines += [f"result: {self.ann(f.result)} = {call}", "func.post_return(store)", "return result"]
        else:
            lines += [f"result = {call}", "func.post_return(store)",
                      f"return {ret or self.conv('from', f.result, 'result')}"]
        if any(re.search(r"\bcx\b", ln) for ln in lines):
            lines.insert(2, f"cx = {owner}._cx")
        return lines

    def has_handle_fn(self, f: Function) -> bool:
        return any(self.has_handle(p.type) for p in f.params) or self.has_handle(f.result)

    def resource_of(self, f: Function) -> int:
        assert f.resource is not None
        res = self.dealias(f.resource)
        assert isinstance(res, int)
        return res

    # ----------------------------------------------------------------- exports side

    def _export_group(self, g: _Group) -> List[str]:
        owner_cls = g.cls
        out: List[str] = []
        by_res: Dict[int, List[Function]] = {r: [] for r in g.resources}
        free = []
        for f in g.functions:
            if f.kind == "freestanding":
                free.append(f)
            else:
                by_res.setdefault(self.resource_of(f), []).append(f)
        attrs: Dict[str, str] = {}      # export name -> private attribute of the Func
        for f in g.functions:
            attrs[f.name] = self.claim_attr(attrs, "_" + snake(f.name.replace("[", "").replace("]", "_")
                                                               .replace(".", "_")))
        # resource classes
        for rid, funcs in by_res.items():
            cls = self.type_names[rid]
            rt = self.types[rid]
            out += [f"class {cls}(ExportedResource):"]
            out += _docstring(rt.docs, f"The resource `{rt.name}` exported by the component "
                                       f"(`{g.wit_name or g.label}`): an own handle.", "    ")
            out += ["", "    __slots__ = ('_owner',)", "",
                    f"    def __init__(self, owner: {owner_cls}, handle: ResourceAny) -> None:",
                    "        super().__init__(owner._cx.store, handle)",
                    "        self._owner = owner"]
            for f in funcs:
                if f.kind != "method":
                    continue
                ps = self.params(f, skip_self=True)
                sig = ", ".join(["self", *(f"{py}: {self.ann(ty)}" for py, _, ty in ps)])
                out += ["", f"    def {snake(f.item_name)}({sig}) -> {self.ann(f.result)}:"]
                out += _docstring(f.docs, f"`{f.name}` of the component.", "        ")
                args = ["self._borrow()", *(self.conv("to", ty, py) for py, _, ty in ps)]
                out += ["        " + ln for ln in self._call_lines(f, attrs[f.name], args, "self._owner")]
            out += ["", ""]
            # its constructor and static functions
            fac = self.claim(f"_{cls}Factory")
            out += [f"class {fac}:"]
            out += _docstring(None, f"`{cls}(...)` constructs a `{rt.name}` in the component; its static "
                                    "functions are methods here.", "    ")
            out += ["", f"    def __init__(self, owner: {owner_cls}) -> None:", "        self._owner = owner"]
            for f in funcs:
                if f.kind == "method":
                    continue
                ps = self.params(f, skip_self=False)
                sig = ", ".join(["self", *(f"{py}: {self.ann(ty)}" for py, _, ty in ps)])
                if f.kind == "constructor":
                    out += ["", f"    def __call__({sig}) -> {cls}:"]
                    out += _docstring(f.docs, f"A new `{rt.name}` (its WIT constructor).", "        ")
                    args = [self.conv("to", ty, py) for py, _, ty in ps]
                    lines = self._call_lines(f, attrs[f.name], args, "self._owner",
                                             ret=f"{cls}(self._owner, result)")
                    out += ["        " + ln for ln in lines]
                else:
                    out += ["", f"    def {snake(f.item_name)}({sig}) -> {self.ann(f.result)}:"]
                    out += _docstring(f.docs, f"`{f.name}` of the component.", "        ")
                    args = [self.conv("to", ty, py) for py, _, ty in ps]
                    out += ["        " + ln for ln in self._call_lines(f, attrs[f.name], args, "self._owner")]
            self.factories[rid] = fac
            out += ["", ""]
        # the interface class
        kind = "interface" if g.interface is not None else "world"
        out += [f"class {owner_cls}:"]
        doc = g.interface.docs if g.interface is not None else self.world.docs
        out += _docstring(doc, f"The exports of the {kind} `{g.wit_name or g.label}`.", "    ")
        out += ["", "    def __init__(self, cx: _Context, instance: Instance) -> None:",
                "        self._cx = cx"]
        if g.functions:
            out.append(f"        name = {g.wit_name!r}")
        for f in g.functions:
            out.append(f"        self.{attrs[f.name]} = export_func(instance, cx.store, name, {f.name!r})")
        for rid in by_res:
            out.append(f"        self.{self.type_names[rid]} = {self.factories[rid]}(self)")
        for f in free:
            ps = self.params(f, skip_self=False)
            sig = ", ".join(["self", *(f"{py}: {self.ann(ty)}" for py, _, ty in ps)])
            out += ["", f"    def {snake(f.name)}({sig}) -> {self.ann(f.result)}:"]
            out += _docstring(f.docs, f"`{f.name}` of the component.", "        ")
            args = [self.conv("to", ty, py) for py, _, ty in ps]
            out += ["        " + ln for ln in self._call_lines(f, attrs[f.name], args, "self")]
        return out

    def claim_attr(self, attrs: Dict[str, str], name: str) -> str:
        taken = set(attrs.values())
        base, n = name, 2
        while name in taken:
            name = f"{base}{n}"
            n += 1
        return name

    # ----------------------------------------------------------------- imports side

    def _import_protocol(self, g: _Group) -> List[str]:
        out: List[str] = []
        by_res: Dict[int, List[Function]] = {r: [] for r in g.resources}
        free = []
        for f in g.functions:
            if f.kind == "freestanding":
                free.append(f)
            else:
                by_res.setdefault(self.resource_of(f), []).append(f)
        for rid, funcs in by_res.items():
            cls = self.type_names[rid]
            rt = self.types[rid]
            out += [f"class {cls}(HostResource, abc.ABC):"]
            out += _docstring(rt.docs, f"The resource `{rt.name}` the host implements for the component "
                                       f"(`{g.wit_name or g.label}`): subclass it.  `close()` runs when the "
                                       "component drops it.", "    ")
            methods = [f for f in funcs if f.kind == "method"]
            for f in methods:
                ps = self.params(f, skip_self=True)
                sig = ", ".join(["self", *(f"{py}: {self.ann(ty)}" for py, _, ty in ps)])
                out += ["", "    @abc.abstractmethod", f"    def {snake(f.item_name)}({sig}) -> {self.ann(f.result)}:"]
                out += _docstring(f.docs, f"`{f.name}`, called by the component.", "        ")
                out.append("        raise NotImplementedError")
            if not methods:
                out += ["", "    pass"] if not rt.docs else []
            out += ["", ""]
        proto = g.cls
        kind = "interface" if g.interface is not None else "world"
        out += [f"class {proto}(Protocol):"]
        doc = g.interface.docs if g.interface is not None else None
        out += _docstring(doc, f"What the host implements for the imported {kind} `{g.wit_name or g.label}`.", "    ")
        members = 0
        if g.key is None:
            for sub in self.imports:
                if sub.key is not None:
                    out += ["", "    @property", f"    def {sub.attr}(self) -> {sub.cls}:"]
                    out += _docstring(None, f"The implementation of `{sub.wit_name}`.", "        ")
                    out.append("        ...")
                    members += 1
        for f in g.functions:
            if f.kind == "method":
                continue
            ps = self.params(f, skip_self=False)
            sig = ", ".join(["self", *(f"{py}: {self.ann(ty)}" for py, _, ty in ps)])
            out += ["", f"    def {self.import_method(f)}({sig}) -> {self.ann(f.result)}:"]
            fallback = (f"The constructor of `{self.types[self.resource_of(f)].name}`." if f.kind == "constructor"
                        else f"`{f.name}`, called by the component.")
            out += _docstring(f.docs, fallback, "        ")
            out.append("        ...")
            members += 1
        if not members:
            out += ["", "    pass"]
        return out

    def import_method(self, f: Function) -> str:
        if f.kind == "constructor":
            return snake(f"{self.types[self.resource_of(f)].name}-new")
        if f.kind == "static":
            return snake(f"{self.types[self.resource_of(f)].name}-{f.item_name}")
        return snake(f.name)

    def _add_group(self, g: _Group, target: str, impl: str) -> List[str]:
        """Lines (inside ``add_to_linker``) registering ``g``'s functions in ``target``."""
        out: List[str] = []
        for rid in g.resources:
            table = self.table_attr(rid)
            out.append(f"{target}.add_resource({self.types[rid].name!r}, ResourceType.host(tables.{table}.type_number),")
            out.append(f"{' ' * len(target)}                 tables.{table}.destroy)")
        for f in g.functions:
            ps = self.params(f, skip_self=False)
            fname = self.claim_local(f)
            sig = ", ".join(["store: Store", *(f"{py}: Any" for py, _, _ in ps)])
            out += ["", f"def {fname}({sig}) -> Any:"]
            body: List[str] = []
            args = [self.conv("from", ty, py) for py, _, ty in ps]
            if f.kind == "method":
                call = f"{args[0]}.{snake(f.item_name)}({', '.join(args[1:])})"
            else:
                call = f"{impl}.{self.import_method(f)}({', '.join(args)})"
            if f.result is None:
                body += [call, "return None"]
            else:
                body.append(f"return {self.conv('to', f.result, call)}")
            if any(re.search(r"\bcx\b", ln) for ln in body):
                body.insert(0, "cx = _Context(store, tables, None)")
            out += ["    " + ln for ln in body]
            out += ["", f"{target}.add_func({f.name!r}, {fname})"]
        return out

    def claim_local(self, f: Function) -> str:
        base = "_" + snake(f.name.replace("[", "").replace("]", "_").replace(".", "_"))
        name, n = base, 2
        while name in self.locals:
            name = f"{base}{n}"
            n += 1
        self.locals.add(name)
        return name

    # ----------------------------------------------------------------- the module

    def generate(self) -> str:
        wid = self.resolve.worlds.index(self.world)
        self.imports = self._groups(dict(self.world.imports), "import")
        self.exports = self._groups(dict(self.world.exports), "export")
        defined = self._name_types()
        self.world_cls = self.claim(camel(self.world.name))
        for g in self.imports:
            g.attr = snake(g.label.split("/")[-1].split("@")[0]) if g.key is not None else ""
            base = camel(g.label.split("/")[-1].split("@")[0]) if g.key is not None else self.world_cls
            g.cls = self.claim(base + "Imports")
        for g in self.exports:
            g.attr = snake(g.label.split("/")[-1].split("@")[0])
            g.cls = self.claim(camel(g.label.split("/")[-1].split("@")[0]) + "Exports") if g.key is not None else ""
        for tid in defined:
            t = self.types[tid]
            if t.kind == "variant":
                for f in t.fields:
                    # (a case's class name is never a keyword: no `_` after `False`)
                    self.case_names[(tid, f.name)] = self.claim(self.type_names[tid] + camel(f.name).rstrip("_"))
        self.factories: Dict[int, str] = {}
        self.locals: Set[str] = set()
        pkg = self.resolve.packages[self.world.package] if self.world.package is not None else None
        world_path = f"{pkg.name.namespace}:{pkg.name.name}/{self.world.name}" if pkg else self.world.name
        if pkg and pkg.name.version:
            world_path += f"@{pkg.name.version}"

        types_part: List[str] = []
        for tid in defined:
            lines = self._define(tid)
            if lines:
                types_part += [*lines, "", ""]
        aliases: List[str] = []
        for tid in defined:
            aliases += self._alias(tid)

        imports_part = self._imports_side()
        exports_part = self._exports_side(wid)

        body: List[str] = []
        if types_part or aliases:
            body += ["# " + "-" * 30 + " types", "", ""] + types_part
            if aliases:
                body += aliases + ["", ""]
        body += self._context_class()
        if self.helper_code:
            body += ["# " + "-" * 30 + " conversions (the component runtime's values <-> these classes)", "", ""]
            for code in self.helper_code:
                body += [code, "", ""]
        body += imports_part
        body += exports_part
        while body and body[-1] == "":
            body.pop()
        text = "\n".join(body)
        head = [
            f'"""Python bindings for the WIT world `{world_path}`, written by `wasmforge bindgen`.',
            "",
            "Do not edit: generate them again from the WIT instead.",
            '"""',
            "",
            "from __future__ import annotations",
            "",
        ]
        head += [f"import {m}" for m in ("abc", "enum") if re.search(rf"\b{m}\.", text)]
        if "@dataclass" in text:
            head.append("from dataclasses import dataclass")
        typing_names = _used(text, ("Any", "Optional", "Protocol", "Union"))
        if typing_names:
            head.append(_from_import("typing", typing_names))
        head.append("")
        for module, names in (("wasmforge", ("Store",)), ("wasmforge.bindgen.runtime", _RUNTIME_NAMES),
                              ("wasmforge.component", _COMPONENT_NAMES), ("wasmforge.errors", ("WasmError",))):
            used = _used(text, names)
            if module == "wasmforge.bindgen.runtime":
                used = sorted(set(used) | {"Err", "Ok", "Result", "ResultError", "Some"})
            if used:
                head.append(_from_import(module, used))
        head += ["", *_packed("__all__ = [", [repr(n) for n in self._public()], "]"), "", "", ""]
        return "\n".join(head) + text + "\n"
    def _public(self) -> List[str]:
        names = ["Ok", "Err", "Result", "ResultError", "Some"]
        names += [self.type_names[t] for t in sorted(self.type_names)]
        names += sorted(set(self.case_names.values()))
        names += [g.cls for g in self.imports]
        if self.imports:
            names += ["ImportState", "add_to_linker"]
        names += [g.cls for g in self.exports if g.cls]
        names += [self.world_cls, "instantiate"]
        seen: Set[str] = set()
        return [n for n in names if not (n in seen or seen.add(n))]      # type: ignore[func-returns-value]

    def _context_class(self) -> List[str]:
        out = ["class ImportState:"]
        out += _docstring(None, "The host resources the component holds handles to: one table per imported "
                                "resource (`add_to_linker` makes it).", "    ")
        out += ["", "    def __init__(self) -> None:"]
        if not self.imported_resources:
            out.append("        pass")
        for rid in self.imported_resources:
            out.append(f"        self.{self.table_attr(rid)}: HostTable[{self.type_names[rid]}] = "
                       f"HostTable({self.types[rid].name!r})")
        out += ["", "", "class _Context:"]
        out += _docstring(None, "What the conversions of resource handles need: the store, the host's "
                                "tables, the world's exports.", "    ")
        out += ["", "    __slots__ = ('store', '_tables', 'world')", "",
                f"    def __init__(self, store: Store, tables: ImportState | None, world: {self.world_cls} | None) "
                "-> None:",
                "        self.store = store",
                "        self._tables = tables",
                "        self.world = world",
                "",
                "    def tables(self) -> ImportState:",
                "        if self._tables is None:",
                "            raise WasmError('the host resources are unknown here: create the exports with the '",
                "                            'ImportState that add_to_linker returned')",
                "        return self._tables",
                "",
                f"    def exports(self) -> {self.world_cls}:",
                "        if self.world is None:",
                "            raise WasmError('the exports are unknown here')",
                "        return self.world", "", ""]
        return out

    def _imports_side(self) -> List[str]:
        if not self.imports:
            return []
        out = ["# " + "-" * 30 + " imports: what the host implements", "", ""]
        root = next((g for g in self.imports if g.key is None), None)
        for g in self.imports:
            if g.key is not None:
                out += self._import_protocol(g) + ["", ""]
        if root is None:
            root = _Group(None, None, self.world.name, None, [])
            root.cls = self.claim(self.world_cls + "Imports")
            self.imports.append(root)
        out += self._import_protocol(root) + ["", ""]
        out += ["def add_to_linker(linker: Linker, imports: " + root.cls + ") -> ImportState:"]
        out += _docstring(None, "Define the world's imports in `linker`, implemented by `imports`; returns the "
                                "tables of host resources\n(give them to the exports' class).", "    ")
        out += ["    tables = ImportState()", "    with linker.root() as root:"]
        body: List[str] = []
        body += self._add_group(root, "root", "imports")
        for g in self.imports:
            if g.key is None:
                continue
            inner = [ln for ln in self._add_group(g, "inst", f"impl_{g.attr}")]
            body += ["", f"impl_{g.attr} = imports.{g.attr}", f"with root.add_instance({g.wit_name!r}) as inst:"]
            body += [("    " + ln) if ln else "" for ln in (inner or ["pass"])]
        out += [("        " + ln) if ln else "" for ln in (body or ["pass"])]
        out += ["    return tables", "", ""]
        return out

    def _exports_side(self, wid: int) -> List[str]:
        out = ["# " + "-" * 30 + " exports: what the host calls", "", ""]
        root: Optional[_Group] = None
        for g in self.exports:
            if g.key is None:
                root = g
                continue
            out += self._export_group(g) + ["", ""]
        world = self.world_cls
        out += [f"class {world}:"]
        out += _docstring(self.world.docs, f"An instance of a component of the world `{self.world.name}`: its "
                                           "exports, typed.", "    ")
        out += ["", "    def __init__(self, store: Store, instance: Instance, host: ImportState | None = None) "
                "-> None:",
                "        self._cx = _Context(store, host, self)"]
        attrs: Dict[str, str] = {}
        if root is not None:
            for f in root.functions:
                attrs[f.name] = self.claim_attr(attrs, "_" + snake(f.name))
                out.append(f"        self.{attrs[f.name]} = export_func(instance, store, None, {f.name!r})")
        for g in self.exports:
            if g.key is not None:
                out.append(f"        self.{g.attr} = {g.cls}(self._cx, instance)")
        if root is not None:
            for f in root.functions:
                ps = self.params(f, skip_self=False)
                sig = ", ".join(["self", *(f"{py}: {self.ann(ty)}" for py, _, ty in ps)])
                out += ["", f"    def {snake(f.name)}({sig}) -> {self.ann(f.result)}:"]
                out += _docstring(f.docs, f"`{f.name}` of the component.", "        ")
                args = [self.conv("to", ty, py) for py, _, ty in ps]
                out += ["        " + ln for ln in self._call_lines(f, attrs[f.name], args, "self")]
        out += ["", ""]
        if self.imports:
            root_imp = next(g for g in self.imports if g.key is None)
            out += [f"def instantiate(store: Store, component: Component, imports: {root_imp.cls},",
                    f"                linker: Linker | None = None) -> {world}:"]
            out += _docstring(None, "Instantiate `component` with `imports` (added to `linker`, or to a new "
                                    "one) and return its typed exports.", "    ")
            out += ["    linker = linker if linker is not None else Linker(store.engine)",
                    "    tables = add_to_linker(linker, imports)",
                    f"    return {world}(store, linker.instantiate(store, component), tables)"]
        else:
            out += [f"def instantiate(store: Store, component: Component, linker: Linker | None = None) -> {world}:"]
            out += _docstring(None, "Instantiate `component` (with `linker`'s definitions, if given) and return its "
                                    "typed exports.", "    ")
            out += ["    linker = linker if linker is not None else Linker(store.engine)",
                    f"    return {world}(store, linker.instantiate(store, component))"]
        return out


def _call_lines_wrapped(opening: str, items: List[str], closing: str) -> List[str]:
    """``opening`` items ``closing`` on one line, or one item per line when that is long."""
    line = opening + ", ".join(items) + closing
    if len(line) <= 100:
        return [line]
    return [opening, *(f"    {item}," for item in items), closing]


def _packed(opening: str, items: List[str], closing: str) -> List[str]:
    """``opening`` items ``closing``, as many items a line as fit in 100 columns."""
    lines: List[str] = []
    current = opening
    for i, item in enumerate(items):
        piece = item + (", " if i < len(items) - 1 else closing)
        if len(current) + len(piece.rstrip()) > 100 and current.strip():
            lines.append(current.rstrip())
            current = " " * len(opening)
        current += piece
    lines.append(current if items else opening + closing)
    return lines


_RUNTIME_NAMES = ("Err", "ExportedResource", "HostResource", "HostTable", "Ok", "Result", "ResultError", "Some",
                  "export_func", "unexpected")
_COMPONENT_NAMES = ("Component", "Instance", "Linker", "Record", "ResourceAny", "ResourceType", "Variant")


def _used(text: str, names: Tuple[str, ...]) -> List[str]:
    return sorted(n for n in names if re.search(rf"\b{n}\b", text))


def _from_import(module: str, names: List[str]) -> str:
    line = f"from {module} import {', '.join(names)}"
    if len(line) <= 100:
        return line
    indent = " " * len(f"from {module} import (")
    lines: List[str] = []
    current = f"from {module} import ("
    for i, n in enumerate(names):
        piece = n + (", " if i < len(names) - 1 else ")")
        if len(current) + len(piece.rstrip()) > 100:
            lines.append(current.rstrip())
            current = indent
        current += piece
    lines.append(current)
    return "\n".join(lines)


def generate_source(resolve: Resolve, world_id: int) -> str:
    """The Python source of the bindings of world ``world_id`` of ``resolve``."""
    return Generator(resolve, world_id).generate()


__all__ = ["Generator", "generate_source", "snake", "camel", "upper"]
