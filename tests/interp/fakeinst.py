"""A minimal stand-in for the runtime's module instance, with exactly the attributes the
execution interface promises the tier, so the interp tier is tested on its own."""

import mmap

from wasmforge.interp import compile_module
from wasmforge.module import ACTIVE
from wasmforge.text.parser import parse_module
from wasmforge.valid.validate import validate

PAGE = 65536


class FakeFunc:
    def __init__(self, type, call=None, name=None):
        self.type = type
        self.call = call
        self.name = name


class FakeMemory:
    def __init__(self, pages, max_pages=16):
        self.max_pages = max_pages
        self.data = mmap.mmap(-1, max_pages * PAGE)
        self.size = pages * PAGE

    def grow(self, delta):
        old = self.size // PAGE
        if old + delta > self.max_pages:
            return -1
        self.size += delta * PAGE
        return old


class FakeTable:
    def __init__(self, type, n):
        self.type = type
        self.elements = [None] * n

    def grow(self, delta, init=None):
        old = len(self.elements)
        if self.type.limits.max is not None and old + delta > self.type.limits.max:
            return -1
        self.elements.extend([init] * delta)
        return old


class FakeGlobal:
    def __init__(self, type, value):
        self.type = type
        self.value = value


def _const(expr, inst):
    op, *imm = expr[0]
    if op.name == "ref.func":
        return inst.funcs[imm[0]]
    if op.name == "ref.null":
        return None
    if op.name == "global.get":
        return inst.globals[imm[0]].value
    v = imm[0]
    return v & 0xFFFFFFFF if op.name == "i32.const" else v & 0xFFFFFFFFFFFFFFFF


class FakeInstance:
    def __init__(self, module, host=(), max_call_depth=None):
        self.module = module
        self.store = None
        if max_call_depth is not None:
            self.max_call_depth = max_call_depth
        ftypes = module.func_types()
        self.funcs = [FakeFunc(ftypes[i], fn) for i, fn in enumerate(host)]
        self.funcs += [FakeFunc(ftypes[i], name=module.names.funcs.get(i))
                       for i in range(len(host), len(ftypes))]
        self.tables = [FakeTable(t.type, t.type.limits.min) for t in module.tables]
        self.mems = [FakeMemory(m.type.limits.min, m.type.limits.max or 16) for m in module.mems]
        self.globals = [FakeGlobal(g.type, 0) for g in module.globals]
        for g, gi in zip(module.globals, self.globals):
            gi.value = _const(g.init, self)
        self.elems = [[_const(e, self) for e in seg.init] for seg in module.elems]
        self.datas = [d.init for d in module.datas]


def instantiate(wat, host=(), code=None, **kw):
    """Instantiate the text module ``wat`` on the interp tier; return (exports, inst, code).
    ``exports`` maps export names to the tier's callables; ``host`` gives the imported
    functions' callables in order."""
    module = parse_module(wat)
    validate(module)
    inst = FakeInstance(module, host, **kw)
    code = code or compile_module(module)
    nimp = len(host)
    for fi, call in zip(inst.funcs[nimp:], code.instantiate(inst)):
        fi.call = call
    for i, seg in enumerate(module.elems):
        if seg.mode == ACTIVE:
            off = _const(seg.offset, inst)
            inst.tables[seg.table].elements[off:off + len(seg.init)] = inst.elems[i]
    for seg in module.datas:
        if seg.mode == ACTIVE:
            off = _const(seg.offset, inst)
            inst.mems[seg.memory].data[off:off + len(seg.init)] = seg.init
    # Calls go through the FuncInstance, as the runtime's do.
    exports = {name: (lambda *a, _fi=inst.funcs[e.index]: _fi.call(*a))
               for name, e in ((e.name, e) for e in module.exports if e.kind == "func")}
    return exports, inst, code
