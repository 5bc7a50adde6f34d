"""`--invoke` calls of ``fixtures/wave_types.wat`` and what wasmtime 49 prints for each
(checked with its CLI; ``test_run_component.py`` compares again when it is installed)."""

from __future__ import annotations

from typing import List, Tuple

#: (the --invoke argument, the expected stdout line)
CASES: List[Tuple[str, str]] = [
    ("id-bool(true)", "true"),
    ("id-bool(false)", "false"),
    ("id-u8(255)", "255"),
    ("id-s8(-128)", "-128"),
    ("id-u16(65535)", "65535"),
    ("id-s16(-32768)", "-32768"),
    ("id-u32(4294967295)", "4294967295"),
    ("id-s32(-2147483648)", "-2147483648"),
    ("id-u64(18446744073709551615)", "18446744073709551615"),
    ("id-s64(-9223372036854775808)", "-9223372036854775808"),
    ("id-f32(3.4028235e38)", "340282350000000000000000000000000000000"),
    ("id-f32(1e-45)", "0.000000000000000000000000000000000000000000001"),
    ("id-f64(-1.5e-10)", "-0.00000000015"),
    ("id-f64(1)", "1"),
    ("list-f64([1.0, 0.1, 1e20, 1e-7, -0.0, nan, inf, -inf, 123456789.125])",
     "[1, 0.1, 100000000000000000000, 0.0000001, -0, nan, inf, -inf, 123456789.125]"),
    ("list-f32([1.0, 0.1, 1e20, 1e-7, 16777217])", "[1, 0.1, 100000000000000000000, 0.0000001, 16777216]"),
    ("id-char('x')", "'x'"),
    ("id-char('\\'')", "'\\''"),
    ("id-char('\"')", "'\\\"'"),
    ("id-char('\\u{1}')", "'\\u{1}'"),
    ("id-char('é')", "'é'"),
    ("id-char('\\t')", "'\\t'"),
    ("id-string(\"a\\\"b\\\\c\\n\\t\\r'é😀\\u{7f}\\u{0}\\u{1b}\")",
     "\"a\\\"b\\\\c\\n\\t\\r\\'é😀\\u{7f}\\u{0}\\u{1b}\""),
    ("id-string(\"\")", "\"\""),
    ("add(1, 2)", "3"),
    ("ns:pkg/api.add(40,2)", "42"),
    ("nothing()", "()"),
    ("bytes([1, 2, 255])", "[1, 2, 255]"),
    ("list-string([\"%\", \"x\"])", "[\"%\", \"x\"]"),
    ("list-record([{x: 1, y: -2, label: \"p\"}, {y: 0, x: 1, label: \"q\", note: some(\"n\")}, "
     "{x: 0, y: 0, label: \"\", note: none}])",
     "[{x: 1, y: -2, label: \"p\"}, {x: 1, y: 0, label: \"q\", note: some(\"n\")}, {x: 0, y: 0, label: \"\"}]"),
    ("list-variant([circle(1.5), square(3), empty, named(\"x\")])",
     "[circle(1.5), square(3), empty, named(\"x\")]"),
    ("list-enum([red, dark-blue, green])", "[red, dark-blue, green]"),
    ("list-flags([{}, {read}, {exec, read}, {read, write, exec}])",
     "[{}, {read}, {read, exec}, {read, write, exec}]"),
    ("list-tuple([(1, \"a\", 'b'), (255, \"\", '\\n')])", "[(1, \"a\", 'b'), (255, \"\", '\\n')]"),
    ("list-option([some(1), none, 5])", "[some(1), none, some(5)]"),
    ("list-option-option([some(some(1)), some(none), none])", "[some(some(1)), some(none), none]"),
    ("list-result([ok(\"x\"), err(3), \"y\"])", "[ok(\"x\"), err(3), ok(\"y\")]"),
    ("list-result-empty([ok, err])", "[ok, err]"),
    ("list-list([[1, -2], []])", "[[1, -2], []]"),
]

#: (the --invoke argument, a piece of our error message) for malformed or ill-typed values;
#: wasmtime refuses each as well (its messages differ: byte ranges instead of a column)
BAD: List[Tuple[str, str]] = [
    ("id-u8(256)", "column 7: 256 is out of range for u8"),
    ("id-u8(1.0)", "column 7: expected a value of type u8, found '1.0'"),
    ("id-s8(-129)", "column 7: -129 is out of range for s8"),
    ("add(1)", "column 6: missing argument(s): b"),
    ("add(1, 2, 3)", "column 11: too many arguments"),
    ("list-enum([blue])", "column 12: expected a value of type enum { red, green, dark-blue }, found 'blue'"),
    ("list-record([{x: 1}])", "column 14: missing field 'y'"),
    ("list-record([{x: 1, x: 2}])", "column 21: field 'x' given twice"),
    ("id-string(\"a)", "column 11: unterminated string"),
    ("id-string(\"\\u{d800}\")", "column 12: invalid unicode scalar value"),
    ("id-string(\"\\q\")", "column 12: invalid escape"),
    ("id-char('ab')", "column 9: a char holds exactly one character"),
    ("id-char(a)", "column 9: expected a value of type char, found 'a'"),
    ("list-variant([circle])", "column 21: case 'circle' needs a payload"),
    ("list-variant([empty(1)])", "column 20: case 'empty' has no payload"),
    ("list-flags([{read, read}])", "column 20: flag 'read' given twice"),
    ("list-flags([{all}])", "column 14: flags { read, write, exec } has no flag 'all'"),
    ("list-tuple([(1, \"a\")])", "column 13: expected a tuple of 3 elements, found 2"),
    ("list-option([some(1]) ", "column 20: expected ')', found ']'"),
    ("id-u32(1 2)", "column 10: expected ',' or ')', found '2'"),
    ("id-u32(#)", "column 8: unexpected character '#'"),
    ("id-u32", "expected an export name and its arguments in parentheses"),
]
