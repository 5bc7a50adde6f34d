"""A normal form of the JSON of a resolved WIT package set (ours or ``wasm-tools component wit
--json``'s) that does not depend on how the arenas are numbered or ordered.

What is normalised, exactly:
- every reference by index is replaced by what it names: a package by its name; a named
  interface by ``package/name``; an anonymous (world-inline) interface by its whole normal
  form; a named type by ``owner#name`` (owner: ``package/interface`` or ``package/world``);
  an anonymous type by its whole normal form (so duplicates of one anonymous type compare
  equal);
- the arenas (``worlds``, ``interfaces``, ``types``, ``packages``) become one mapping from
  package name to its interfaces and worlds, so their order and numbering drop out;
- the ``stability`` of anonymous types is dropped (wasm-tools gives an anonymous type the
  gate of whichever item happened to create it first);
- the order of keys in objects is ignored (Python ``dict`` equality); lists (parameters,
  fields, cases, tuple members) keep their order.
"""

from __future__ import annotations

from typing import Any, Dict

JSON = Any


class _Normal:
    def __init__(self, doc: JSON):
        self.doc = doc

    def pkg(self, i: int) -> str:
        return self.doc["packages"][i]["name"]

    def iface_ref(self, i: int) -> JSON:
        iface = self.doc["interfaces"][i]
        if iface["name"] is None:
            return {"anonymous-interface": self.interface(i)}
        return f"{self.pkg(iface['package'])}/{iface['name']}"

    def owner(self, owner: JSON) -> str:
        if "interface" in owner:
            i = self.doc["interfaces"][owner["interface"]]
            return f"{self.pkg(i['package'])}/{i['name']}"
        w = self.doc["worlds"][owner["world"]]
        return f"{self.pkg(w['package'])}/{w['name']}"

    def ty(self, ref: JSON) -> JSON:
        if not isinstance(ref, int):
            return ref
        t = self.doc["types"][ref]
        if t["name"] is not None and t["owner"] is not None:
            return f"{self.owner(t['owner'])}#{t['name']}"
        return {"anonymous-type": self.kind(t["kind"])}

    def kind(self, k: JSON) -> JSON:
        if isinstance(k, str):
            return k
        (tag, v), = k.items()
        if tag in ("type", "list", "option", "future", "stream"):
            return {tag: self.ty(v)}
        if tag == "handle":
            (h, r), = v.items()
            return {"handle": {h: self.ty(r)}}
        if tag in ("record",):
            return {tag: [self.field(f) for f in v["fields"]]}
        if tag == "variant":
            return {tag: [self.field(f) for f in v["cases"]]}
        if tag in ("enum",):
            return {tag: v["cases"]}
        if tag == "flags":
            return {tag: v["flags"]}
        if tag == "result":
            return {tag: {"ok": self.ty(v["ok"]), "err": self.ty(v["err"])}}
        if tag == "tuple":
            return {tag: [self.ty(x) for x in v["types"]]}
        if tag in ("map", "fixed-length-list"):
            return {tag: [self.ty(v[0]), v[1] if tag == "fixed-length-list" else self.ty(v[1])]}
        raise ValueError(f"unknown type kind {tag!r}")

    def field(self, f: JSON) -> JSON:
        out = dict(f)
        if "type" in out:
            out["type"] = self.ty(out["type"])
        return out

    def typedef(self, i: int) -> JSON:
        t = dict(self.doc["types"][i])
        t["kind"] = self.kind(t["kind"])
        t.pop("owner")
        return t

    def function(self, f: JSON) -> JSON:
        out = dict(f)
        k = out["kind"]
        if isinstance(k, dict):
            (tag, r), = k.items()
            out["kind"] = {tag: self.ty(r)}
        out["params"] = [{"name": p["name"], "type": self.ty(p["type"])} for p in f["params"]]
        if "result" in out:
            out["result"] = self.ty(out["result"])
        return out

    def interface(self, i: int) -> JSON:
        iface = self.doc["interfaces"][i]
        out = {k: v for k, v in iface.items() if k not in ("types", "functions", "package")}
        out["types"] = {n: self.typedef(t) for n, t in iface["types"].items()}
        out["functions"] = {n: self.function(f) for n, f in iface["functions"].items()}
        return out

    def item(self, key: str, item: JSON) -> JSON:
        (tag, v), = item.items()
        if tag == "interface":
            inner = dict(v)
            inner["id"] = self.iface_ref(v["id"])
            return {tag: inner}
        if tag == "function":
            return {tag: self.function(v)}
        return {tag: self.ty(v)}

    def key(self, key: str, item: JSON) -> str:
        if key.startswith("interface-") and "interface" in item:
            ref = self.iface_ref(item["interface"]["id"])
            return ref if isinstance(ref, str) else key
        return key

    def world(self, i: int) -> JSON:
        w = self.doc["worlds"][i]
        out = {k: v for k, v in w.items() if k not in ("imports", "exports", "package")}
        for side in ("imports", "exports"):
            out[side] = {self.key(k, v): self.item(k, v) for k, v in w[side].items()}
        return out

    def all(self) -> JSON:
        out: Dict[str, JSON] = {}
        for p in self.doc["packages"]:
            entry = {k: v for k, v in p.items() if k not in ("interfaces", "worlds", "name")}
            entry["interfaces"] = {n: self.interface(i) for n, i in p["interfaces"].items()}
            entry["worlds"] = {n: self.world(i) for n, i in p["worlds"].items()}
            out[p["name"]] = entry
        return out


def normalise(doc: JSON) -> JSON:
    """The normal form of a Resolve's JSON (see the module docstring)."""
    n = _Normal(doc)
    out = n.all()
    _drop_anon_stability(out)
    return out


def _drop_anon_stability(x: JSON) -> None:
    if isinstance(x, dict):
        if "anonymous-type" in x:
            x.pop("stability", None)
        for v in x.values():
            _drop_anon_stability(v)
    elif isinstance(x, list):
        for v in x:
            _drop_anon_stability(v)
