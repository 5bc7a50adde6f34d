"""The WAT parser stays linear on adversarial texts and enforces the decoder's limits
(docs/security.md, "Front end and diagnostics")."""

import time

import pytest

from wasmforge.binary.decode import MAX_LOCALS
from wasmforge.errors import ParseError
from wasmforge.opcodes import BY_NAME
from wasmforge.text import parse_module

# Generous bounds that only guard against super-linear blow-ups: the fixed parser reads each
# of these texts in well under a second, the quadratic one took tens of seconds.
BOUND = 10.0
DEPTH = 10_000
TARGETS = 50_000


def timed_parse(text):
    started = time.perf_counter()
    m = parse_module(text)
    return m, time.perf_counter() - started


def test_many_nested_folded_labels_resolve_in_linear_time():
    # ~350 KB: 10,000 labelled blocks, then 50,000 branches to the outermost label.  Each
    # `$l0` used to be found by scanning the whole label stack.
    text = ("(module (func " + "".join(f"(block $l{i} " for i in range(DEPTH))
            + "(br_table" + " $l0" * TARGETS + ")" + ")" * DEPTH + "))")
    m, elapsed = timed_parse(text)
    assert elapsed < BOUND, f"{len(text)} bytes parsed in {elapsed:.1f} s"
    instr = next(i for i in m.funcs[0].body if i[0] is BY_NAME["br_table"])
    assert instr[2] == DEPTH - 1 and set(instr[1]) == {DEPTH - 1}


def test_many_nested_flat_labels_resolve_in_linear_time():
    text = ("(module (func " + "".join(f"block $l{i} " for i in range(DEPTH))
            + "br_table" + " $l0" * TARGETS + " " + "end " * DEPTH + "))")
    m, elapsed = timed_parse(text)
    assert elapsed < BOUND, f"{len(text)} bytes parsed in {elapsed:.1f} s"
    instr = next(i for i in m.funcs[0].body if i[0] is BY_NAME["br_table"])
    assert instr[2] == DEPTH - 1


def test_unknown_label_under_deep_nesting_is_reported_quickly():
    text = ("(module (func " + "".join(f"(block $l{i} " for i in range(DEPTH))
            + "(br_table" + " $nope" * TARGETS + ")" + ")" * DEPTH + "))")
    started = time.perf_counter()
    with pytest.raises(ParseError, match="unknown label"):
        parse_module(text)
    assert time.perf_counter() - started < BOUND


def test_shadowed_labels_resolve_to_the_innermost_and_come_back_after_end():
    m = parse_module("(module (func (block $a (block $b (block $a (br $a) (br $b)) (br $a)))))")
    brs = [i[1] for i in m.funcs[0].body if i[0] is BY_NAME["br"]]
    assert brs == [0, 1, 1]
    m = parse_module("(module (func block $a block $a end br $a end))")
    assert [i[1] for i in m.funcs[0].body if i[0] is BY_NAME["br"]] == [0]


def test_deeply_nested_folded_expressions_do_not_exhaust_the_python_stack():
    n = 30_000
    text = "(module (func (result i32) " + "(i32.eqz " * n + "(i32.const 0)" + ")" * n + "))"
    m, elapsed = timed_parse(text)
    assert len(m.funcs[0].body) == n + 2 and elapsed < BOUND
    with pytest.raises(ParseError):
        parse_module("(module (func " + "(block " * n + "))")


def test_many_locals_types_and_long_strings_parse_in_linear_time():
    texts = [
        "(module (func " + "".join(f"(local $x{i} i32)" for i in range(20_000))
        + " ".join(f"local.get $x{i}" for i in range(0, 20_000, 7)) + "))",
        "(module " + "".join(f"(type $t{i} (func (param i32) (result i64 i64)))" for i in range(5_000))
        + "(func (type $t4999)))",
        '(module (memory 1) (data (i32.const 0) "' + "\\41" * 100_000 + '"))',
        '(module (func (export "' + "x" * 200_000 + '")))',
    ]
    for text in texts:
        _, elapsed = timed_parse(text)
        assert elapsed < BOUND, f"{text[:40]}...: {elapsed:.1f} s"


def test_too_many_locals_is_a_parse_error_like_the_decoder():
    ok = "(module (func (local" + " i32" * MAX_LOCALS + ")))"
    assert len(parse_module(ok).funcs[0].locals) == MAX_LOCALS
    for text in ("(module (func (local" + " i32" * (MAX_LOCALS + 1) + ")))",
                 "(module (func (local" + " i32" * MAX_LOCALS + ") (local $extra i64)))",
                 "(module (func (param i32)" + "(local i64)" * (MAX_LOCALS + 1) + "))"):
        with pytest.raises(ParseError) as info:
            parse_module(text)
        assert info.value.reason == "too many locals"


def test_long_literals_read_in_linear_time_and_leading_zeros_do_not_count():
    zeros = "0" * 100_000
    m, elapsed = timed_parse(f"(module (global i64 (i64.const {zeros}1)) (global i32 (i32.const 0x{zeros}2))"
                             f" (global f64 (f64.const 0x1.{'f' * 100_000}p0)) (global f64 (f64.const {zeros}1.5)))")
    assert [g.init[0][1] for g in m.globals[:2]] == [1, 2] and elapsed < BOUND
    with pytest.raises(ParseError, match="constant out of range"):
        parse_module("(module (global i64 (i64.const 1" + zeros + ")))")


def test_printing_deep_nesting_is_linear_in_the_module():
    # Indenting each line by its depth made the text quadratic: 8,000 nested blocks (a 24 KB
    # binary) printed as 128 MB.  Indentation stops growing at MAX_INDENT levels.
    from wasmforge.text.printer import MAX_INDENT, print_module
    n = 8000
    m = parse_module("(module (func " + "(block " * n + ")" * n + "))")
    text = print_module(m)
    assert len(text) < 100 * 2 * n
    assert parse_module(text) == m
    assert max(len(line) - len(line.lstrip(" ")) for line in text.splitlines()) == 2 * MAX_INDENT
