"""The JSON form of a :class:`~.model.Resolve`, in the shape ``wasm-tools component wit
--json`` prints (its serialised ``Resolve``): arenas of worlds, interfaces, types and
packages, referring to each other by index."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .model import Field, Function, Resolve, Stability, TypeDef, WorldItem, WorldKey

JSON = Any


def _docs(out: Dict[str, JSON], docs: Optional[str]) -> None:
    if docs is not None:
        out["docs"] = {"contents": docs}


def _stability(out: Dict[str, JSON], s: Stability) -> None:
    if s.since is not None:
        inner: Dict[str, JSON] = {"since": s.since}
        if s.deprecated is not None:
            inner["deprecated"] = s.deprecated
        out["stability"] = {"stable": inner}
    elif s.unstable is not None:
        inner = {"feature": s.unstable}
        if s.deprecated is not None:
            inner["deprecated"] = s.deprecated
        out["stability"] = {"unstable": inner}


def _field(f: Field, with_type: bool, type_optional: bool = False) -> JSON:
    out: Dict[str, JSON] = {"name": f.name}
    if with_type:
        out["type"] = f.type
    _docs(out, f.docs)
    return out


def _kind(t: TypeDef) -> JSON:
    k = t.kind
    a = t.args
    if k == "resource":
        return "resource"
    if k == "type":
        return {"type": a[0]}
    if k == "record":
        return {"record": {"fields": [_field(f, True) for f in t.fields]}}
    if k == "variant":
        return {"variant": {"cases": [_field(f, True) for f in t.fields]}}
    if k == "enum":
        return {"enum": {"cases": [_field(f, False) for f in t.fields]}}
    if k == "flags":
        return {"flags": {"flags": [_field(f, False) for f in t.fields]}}
    if k in ("own", "borrow"):
        return {"handle": {k: a[0]}}
    if k == "fixed-length-list":
        return {"fixed-length-list": [a[0], t.length]}
    if k == "result":
        return {"result": {"ok": a[0], "err": a[1]}}
    if k == "tuple":
        return {"tuple": {"types": list(a)}}
    if k == "map":
        return {"map": [a[0], a[1]]}
    return {k: a[0] if a else None}


def _type(t: TypeDef) -> JSON:
    out: Dict[str, JSON] = {"name": t.name, "kind": _kind(t)}
    out["owner"] = None if t.owner is None else {t.owner[0]: t.owner[1]}
    if t.external_id is not None:
        out["external_id"] = t.external_id
    _docs(out, t.docs)
    _stability(out, t.stability)
    return out


def _function(f: Function) -> JSON:
    kind: JSON
    prefix = "async-" if f.is_async else ""
    if f.kind == "freestanding":
        kind = prefix + "freestanding"
    else:
        kind = {prefix + f.kind: f.resource}
    out: Dict[str, JSON] = {"name": f.name, "kind": kind,
                            "params": [{"name": p.name, "type": p.type} for p in f.params]}
    if f.result is not None:
        out["result"] = f.result
    if f.external_id is not None:
        out["external_id"] = f.external_id
    _docs(out, f.docs)
    _stability(out, f.stability)
    return out


def _key(k: WorldKey) -> str:
    return k if isinstance(k, str) else f"interface-{k}"


def _item(item: WorldItem) -> JSON:
    if item.kind == "interface":
        inner: Dict[str, JSON] = {"id": item.interface}
        _stability(inner, item.stability)
        if item.external_id is not None:
            inner["external_id"] = item.external_id
        _docs(inner, item.docs)
        return {"interface": inner}
    if item.kind == "function":
        assert item.function is not None
        return {"function": _function(item.function)}
    return {"type": item.type}


def to_json(resolve: Resolve) -> JSON:
    """The Resolve as plain JSON data (dicts, lists, strings, numbers, ``None``)."""
    worlds: List[JSON] = []
    for w in resolve.worlds:
        out: Dict[str, JSON] = {"name": w.name,
                                "imports": {_key(k): _item(v) for k, v in w.imports.items()},
                                "exports": {_key(k): _item(v) for k, v in w.exports.items()},
                                "package": w.package}
        _docs(out, w.docs)
        _stability(out, w.stability)
        worlds.append(out)
    interfaces: List[JSON] = []
    for i in resolve.interfaces:
        o: Dict[str, JSON] = {"name": i.name, "types": dict(i.types),
                              "functions": {n: _function(f) for n, f in i.functions.items()}}
        _docs(o, i.docs)
        _stability(o, i.stability)
        o["package"] = i.package
        interfaces.append(o)
    packages: List[JSON] = []
    for p in resolve.packages:
        po: Dict[str, JSON] = {"name": str(p.name)}
        _docs(po, p.docs)
        po["interfaces"] = dict(p.interfaces)
        po["worlds"] = dict(p.worlds)
        packages.append(po)
    return {"worlds": worlds, "interfaces": interfaces, "types": [_type(t) for t in resolve.types],
            "packages": packages}
