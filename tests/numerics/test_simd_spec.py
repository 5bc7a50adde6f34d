"""The spec suite's simd_*.wast assertions, checked directly against the SIMD numerics.

Most functions in these scripts are straight-line: they push locals and constants, apply
one or a few vector instructions, maybe load from or store to memory.  This harness evaluates
such bodies with a small stack machine calling ``IMPL``, ``LOAD``, ``lane_get`` and
``lane_set`` over a plain bytearray memory (no runtime or tier involved) and checks every
``assert_return`` whose function it can evaluate; functions using control flow or
calls are left to the full runner (``wasmforge wast``).  Each file must check some
assertions and fail none.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import TESTSUITE
from wasmforge.numerics.bits import (MASK32, MASK64, f32_from_bits, f32_to_bits, f64_from_bits,
                                     f64_to_bits)
from wasmforge.numerics.simd import IMPL, LOAD, lane_get, lane_set
from wasmforge.text.script import (ActionCommand, AssertReturn, Const, Invoke, ModuleCommand,
                                  NanPattern, V128Pattern)
from wasmforge.text.wast import parse_script

SIMD_FILES = sorted(TESTSUITE.glob("simd_*.wast")) if TESTSUITE.is_dir() else []

# Files with no assert_return on a straight-line function: nothing for this harness to check.
NOTHING_STRAIGHT_LINE = {"simd_linking"}


class Unsupported(Exception):
    """The function uses an instruction outside this harness's straight-line subset."""


_ZERO = {"i32": 0, "i64": 0, "f32": 0.0, "f64": 0.0, "v128": 0}


def _to_internal(c: Const):
    if c.type == "i32":
        return c.value & MASK32
    if c.type == "i64":
        return c.value & MASK64
    if c.type == "f32":
        return f32_from_bits(c.value)
    if c.type == "f64":
        return f64_from_bits(c.value)
    return c.value


_CONST_OPS = {"i32.const": lambda v: v & MASK32, "i64.const": lambda v: v & MASK64,
              "f32.const": f32_from_bits, "f64.const": f64_from_bits, "v128.const": lambda v: v}


_SCALAR = {"i32.add": lambda a, b: (a + b) & MASK32, "i32.and": lambda a, b: a & b,
           "i32.or": lambda a, b: a | b, "i32.xor": lambda a, b: a ^ b}


def new_memory(module) -> bytearray:
    """The module's memory after its active data segments (constant offsets) are copied in."""
    mem = bytearray(module.mems[0].type.limits.min * 65536 if module.mems else 0)
    for seg in module.datas:
        if seg.mode == "active":
            (const, offset), _end = seg.offset
            if const.name != "i32.const":
                raise Unsupported(const.name)
            mem[offset:offset + len(seg.init)] = seg.init
    return mem


def new_globals(module) -> list:
    """The module's globals, initialised from constant expressions (imports unsupported)."""
    if module.num_imported("global"):
        raise Unsupported("imported global")
    out = []
    for glob in module.globals:
        (const, *imms), _end = glob.init
        if const.name not in _CONST_OPS:
            raise Unsupported(const.name)
        out.append(_CONST_OPS[const.name](*imms))
    return out


def evaluate(module, mem: bytearray, globals_: list, func_index: int, args: list) -> list:
    """Run a straight-line function body; raise Unsupported on anything else."""
    func = module.funcs[func_index]
    ftype = module.types[func.typeidx]
    local_vals = list(args) + [_ZERO[t] for t in func.locals]
    stack = []
    for instr in func.body:
        op, imms = instr[0], instr[1:]
        name = op.name
        if name == "local.get":
            stack.append(local_vals[imms[0]])
        elif name == "local.set":
            local_vals[imms[0]] = stack.pop()
        elif name == "local.tee":
            local_vals[imms[0]] = stack[-1]
        elif name == "global.get":
            stack.append(globals_[imms[0]])
        elif name == "global.set":
            globals_[imms[0]] = stack.pop()
        elif name in _CONST_OPS:
            stack.append(_CONST_OPS[name](imms[0]))
        elif name == "drop":
            stack.pop()
        elif name in _SCALAR:
            b = stack.pop()
            stack.append(_SCALAR[name](stack.pop(), b))
        elif op.imm in ("memarg", "memarg_lane"):
            _memory_access(op, imms, stack, mem)
        elif name in IMPL:
            n = len(op.params)
            operands = stack[len(stack) - n:]
            del stack[len(stack) - n:]
            stack.append(IMPL[name](*operands, *imms))
        elif name == "end":
            break
        else:
            raise Unsupported(name)
    return stack[len(stack) - len(ftype.results):]


def _memory_access(op, imms, stack, mem) -> None:
    size = 1 << op.align                # bytes accessed
    if op.imm == "memarg_lane":
        v = stack.pop()
        addr = stack.pop() + imms[1]
        if addr + size > len(mem):
            raise Unsupported("trapping access")
        if op.name.startswith("v128.load"):
            stack.append(lane_set(v, size * 8, imms[2], int.from_bytes(mem[addr:addr + size], "little")))
        else:
            mem[addr:addr + size] = lane_get(v, size * 8, imms[2]).to_bytes(size, "little")
    elif op.name == "v128.store":
        v = stack.pop()
        addr = stack.pop() + imms[1]
        if addr + 16 > len(mem):
            raise Unsupported("trapping access")
        mem[addr:addr + 16] = v.to_bytes(16, "little")
    elif op.name in LOAD or op.name in ("i32.load", "i64.load"):
        addr = stack.pop() + imms[1]
        if addr + size > len(mem):
            raise Unsupported("trapping access")
        raw = mem[addr:addr + size]
        stack.append(LOAD[op.name](raw) if op.name in LOAD else int.from_bytes(raw, "little"))
    else:
        raise Unsupported(op.name)


def _nan_ok(bits: int, width: int, kind: str) -> bool:
    quiet = 0x7FC00000 if width == 32 else 0x7FF8000000000000
    mask = quiet if kind == "arithmetic" else (1 << (width - 1)) - 1
    return bits & mask == quiet


def matches(value, expected) -> bool:
    if isinstance(expected, NanPattern):
        if expected.type == "f32":
            return _nan_ok(f32_to_bits(value), 32, expected.kind)
        return _nan_ok(f64_to_bits(value), 64, expected.kind)
    if isinstance(expected, V128Pattern):
        w = 128 // int(expected.shape.split("x")[1])
        mask = (1 << w) - 1
        for i, lane in enumerate(expected.lanes):
            bits = (value >> (i * w)) & mask
            if isinstance(lane, NanPattern):
                if not _nan_ok(bits, w, lane.kind):
                    return False
            elif bits != lane & mask:
                return False
        return True
    if expected.type == "f32":
        return f32_to_bits(value) == expected.value
    if expected.type == "f64":
        return f64_to_bits(value) == expected.value
    return value == _to_internal(expected)


def _writes_state(func) -> bool:
    return any(instr[0].name == "global.set" or ".store" in instr[0].name
               or instr[0].name.startswith("call") for instr in func.body)


def _invoke(instances: dict, current: list, action: Invoke):
    """Evaluate an invocation; an unsupported one that may have written memory or globals
    leaves its instance in a state this harness cannot know, so the instance is dropped."""
    inst = instances[action.module] if action.module else current
    module, mem, globals_ = inst
    export = next(e for e in module.exports if e.name == action.name and e.kind == "func")
    index = export.index - module.num_imported("func")
    if mem is None:
        raise Unsupported("module state this harness cannot build")
    try:
        return evaluate(module, mem, globals_, index, [_to_internal(a) for a in action.args])
    except Unsupported:
        if _writes_state(module.funcs[index]):
            inst[1] = inst[2] = None
        raise


def check_script(path: Path):
    """Return (checked, failures, skipped) for one script."""
    instances, current = {}, None       # an instance here is [module, memory, globals]
    checked, failures, skipped = 0, [], 0
    for cmd in parse_script(path.read_text(), str(path)):
        if isinstance(cmd, ModuleCommand):
            module = cmd.source.load()
            try:
                current = [module, new_memory(module), new_globals(module)]
            except Unsupported:
                current = [module, None, None]
            if cmd.source.name:
                instances[cmd.source.name] = current
        elif isinstance(cmd, ActionCommand) and isinstance(cmd.action, Invoke):
            try:
                _invoke(instances, current, cmd.action)
            except Unsupported:
                pass
        elif isinstance(cmd, AssertReturn) and isinstance(cmd.action, Invoke):
            try:
                results = _invoke(instances, current, cmd.action)
            except Unsupported:
                skipped += 1
                continue
            checked += 1
            if len(results) != len(cmd.expected) or not all(map(matches, results, cmd.expected)):
                failures.append(f"line {cmd.line}: {cmd.action.name} -> {results!r}, "
                                f"expected {cmd.expected!r}")
    return checked, failures, skipped


@pytest.mark.parametrize("path", SIMD_FILES, ids=lambda p: p.stem)
def test_spec_simd_script(path):
    checked, failures, skipped = check_script(path)
    assert not failures, f"{len(failures)} of {checked} failed:\n" + "\n".join(failures[:20])
    if path.stem in NOTHING_STRAIGHT_LINE:
        assert checked == 0, "this harness now checks assertions here: drop it from the exclusion list"
    else:
        assert checked > 0


def test_spec_suite_has_the_simd_scripts(testsuite_dir):
    assert len(list(testsuite_dir.glob("simd_*.wast"))) >= 50
