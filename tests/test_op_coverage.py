"""Every instruction of the opcode table is handled by each execution tier.

The reference interpreter matches every instruction exhaustively, so its compiler reports a
missing case; here each tier is walked over ``opcodes.OPS`` instead.  An instruction must be
handled when it is WebAssembly 2.0 (``Op.feature`` is None) or when its proposal is
implemented for that tier: ``implemented`` in :mod:`wasmforge.features`, and for the llvm tier
not listed in ``LLVM_PENDING`` (tests/spec/test_proposals.py).
"""

from __future__ import annotations

import pytest

from spec.test_proposals import LLVM_PENDING
from support import has_llvmlite
from wasmforge.features import FEATURES, feature_name
from wasmforge.interp import ops as interp_ops
from wasmforge.interp.compiler import _simd_names
from wasmforge.interp.translate import FunctionTranslator
from wasmforge.opcodes import BY_NAME, FAMILIES, OPS, op


def _required(tier: str) -> list:
    out = []
    for o in OPS:
        if o.feature is not None:
            if not FEATURES[o.feature].implemented:
                continue
            # (LLVM_PENDING names the suite's folders: "exception-handling" is "exceptions".)
            if tier == "llvm" and o.feature in {feature_name(p) for p in LLVM_PENDING}:
                continue
        out.append(o)
    return out


def _interp_missing() -> list:
    simd = _simd_names()
    scalar_helpers = interp_ops.SCALAR
    missing = []
    for o in _required("interp"):
        how = interp_ops.translation_of(o)
        if how is None:
            missing.append(o.name)
        elif how.startswith("do_") and not callable(getattr(FunctionTranslator, how, None)):
            missing.append(f"{o.name} (no FunctionTranslator.{how})")
        elif how.startswith("V_") and how not in simd:
            missing.append(f"{o.name} (no {how} in the SIMD numerics)")
        elif how == "trapping" and o.name not in scalar_helpers:
            missing.append(f"{o.name} (no numerics helper)")
    return missing


@pytest.fixture
def llvm_ops():
    if not has_llvmlite():
        pytest.skip("LLVM TIER NOT TESTED: llvmlite is not installed (pip install '.[llvm]')")
    from wasmforge.llvm import ops, prelude
    # Asking for a numeric handler makes it (and records the intrinsics it declares): leave
    # the declarations as they were, so this test changes no IR made after it.
    saved = set(prelude.DECLS)
    yield ops
    prelude.DECLS.clear()
    prelude.DECLS.update(saved)


def _llvm_missing(ops) -> list:
    return [o.name for o in _required("llvm") if ops.handler_of(o) is None]


def test_interp_handles_every_instruction():
    missing = _interp_missing()
    assert not missing, f"interp tier: no translation for {len(missing)}: {', '.join(missing)}"


def test_llvm_handles_every_instruction(llvm_ops):
    missing = _llvm_missing(llvm_ops)
    assert not missing, f"llvm tier: no handler for {len(missing)}: {', '.join(missing)}"


def test_the_walk_covers_the_proposals_each_tier_runs():
    # The walk is not vacuous: the table has 437 rows of 2.0 (SIMD and both encodings of
    # `select` included), and an implemented proposal's instructions are required on the
    # interp tier.
    base = [o for o in OPS if o.feature is None]
    assert len(base) == 437
    interp = _required("interp")
    assert BY_NAME["i8x16.relaxed_swizzle"] in interp
    assert BY_NAME["return_call"] in interp
    llvm = _required("llvm")
    assert set(base) <= set(llvm) <= set(interp)


@pytest.mark.parametrize("table, name", [("SPECIAL", "memory.fill"), ("CONTROL", "br_table"),
                                         ("STORES", "i64.store32"), ("LOADS", "i64.load32_s")])
def test_a_removed_interp_translation_is_reported(monkeypatch, table, name):
    monkeypatch.delitem(getattr(interp_ops, "_SPECIAL" if table == "SPECIAL" else table), name)
    assert name in _interp_missing()


def test_a_removed_interp_method_is_reported(monkeypatch):
    monkeypatch.delattr(FunctionTranslator, "do_br_table")
    assert "br_table (no FunctionTranslator.do_br_table)" in _interp_missing()


@pytest.mark.parametrize("name", ["memory.fill", "call_indirect", "i8x16.shuffle", "i32.load8_u",
                                  "f32x4.relaxed_madd"])
def test_a_removed_llvm_handler_is_reported(monkeypatch, llvm_ops, name):
    monkeypatch.delitem(llvm_ops.HANDLERS, op(name))
    assert name in _llvm_missing(llvm_ops)


def test_a_numeric_handler_the_llvm_tier_cannot_make_is_reported(monkeypatch, llvm_ops):
    # The numeric handlers are made from the name on first use (ops.generic).
    o = op("i64.popcnt")
    monkeypatch.delitem(llvm_ops.HANDLERS, o, raising=False)
    monkeypatch.setattr(llvm_ops, "generic", lambda o: None)
    assert "i64.popcnt" in _llvm_missing(llvm_ops)


def test_every_instruction_has_a_family_and_an_operator():
    for o in OPS:
        assert o.family in FAMILIES, o
        assert o.operator, o
        if o.family in ("unop", "binop", "ternop", "testop", "relop", "cvtop", "const", "load",
                        "store", "shiftop", "bitmask", "splat", "lane", "shuffle"):
            assert o.type in ("i32", "i64", "f32", "f64", "v128"), o


@pytest.mark.parametrize("name, type_, family, operator", [
    ("i32.add", "i32", "binop", "add"), ("i64.eqz", "i64", "testop", "eqz"),
    ("f32.lt", "f32", "relop", "lt"), ("i64.extend_i32_u", "i64", "cvtop", "extend_i32_u"),
    ("i64.extend32_s", "i64", "unop", "extend32_s"), ("f64.load", "f64", "load", "load"),
    ("i32.store8", "i32", "store", "store8"), ("f32.const", "f32", "const", "const"),
    ("i8x16.add", "v128", "binop", "add"), ("i16x8.extend_low_i8x16_s", "v128", "cvtop",
                                             "extend_low_i8x16_s"),
    ("i32x4.shl", "v128", "shiftop", "shl"), ("v128.any_true", "v128", "testop", "any_true"),
    ("i8x16.relaxed_laneselect", "v128", "ternop", "relaxed_laneselect"),
    ("local.get", None, "variable", "get"), ("br_table", None, "control", "br_table"),
    ("select", None, "parametric", "select"), ("elem.drop", None, "table", "drop"),
    ("ref.is_null", None, "ref", "is_null"), ("memory.grow", None, "memory", "grow"),
])
def test_op_structure(name, type_, family, operator):
    o = op(name)
    assert (o.type, o.family, o.operator) == (type_, family, operator)
    assert o.shape == ("i8x16" if name.startswith("i8x16") else None) or o.type == "v128"
