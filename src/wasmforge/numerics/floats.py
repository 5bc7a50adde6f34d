"""Floating-point instructions of WebAssembly 2.0 (spec 4.3.3, "Floating-Point Operations").

Values follow :mod:`wasmforge.numerics.bits`: both f32 and f64 are Python floats; an f32 is a
double holding a binary32 value, with a NaN's binary32 payload in the double's top mantissa
bits.  That layout makes the quiet bit of an f32 NaN the quiet bit of the double, so a
hardware operation that quiets a double NaN quiets the f32 NaN too.

f32 arithmetic computes in double precision and rounds once to binary32: for ``+ - * /`` and
``sqrt`` a double result rounded to binary32 equals the directly rounded result, because
53 >= 2 * 24 + 2 (Figueroa, "When is double rounding innocuous?").

NaN results follow spec 4.3.3 "NaN propagation": an operation on canonical NaNs returns a
canonical NaN, otherwise an arithmetic (quiet) NaN.  ``x + x`` on a NaN returns it quieted
with its payload, which satisfies both cases; freshly produced NaNs (``0/0``,
``sqrt(-1)``) are the positive canonical NaN.  ``abs``, ``neg`` and ``copysign`` are pure bit
operations and keep the payload, signalling or not.
"""

from __future__ import annotations

import math

from .bits import f32_round

NAN = float("nan")
INF = float("inf")
_copysign = math.copysign
_fabs = math.fabs
_sqrt = math.sqrt
_TWO52 = 4503599627370496.0       # 2**52: every double at least this large is an integer


def _div(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        # IEEE 754 division by (signed) zero; Python raises instead.
        if a != a:
            return a + a
        if a == 0.0:
            return NAN
        return _copysign(INF, a) * _copysign(1.0, b)


def _sqrt_f(a: float) -> float:
    if a != a:
        return a + a
    if a < 0.0:
        return NAN
    return _sqrt(a)


def _min(a: float, b: float) -> float:
    if a < b:
        return a
    if b < a:
        return b
    if a != a or b != b:
        return a + b              # a NaN operand, quieted
    # Equal: only zeros of opposite signs differ, and min(-0, +0) is -0 (spec: fmin).
    return a if _copysign(1.0, a) < 0.0 else b


def _max(a: float, b: float) -> float:
    if a > b:
        return a
    if b > a:
        return b
    if a != a or b != b:
        return a + b
    return b if _copysign(1.0, a) < 0.0 else a


def _ceil(a: float) -> float:
    if a != a:
        return a + a
    if _fabs(a) >= _TWO52:        # includes the infinities
        return a
    return _copysign(float(math.ceil(a)), a)


def _floor(a: float) -> float:
    if a != a:
        return a + a
    if _fabs(a) >= _TWO52:
        return a
    return _copysign(float(math.floor(a)), a)


def _trunc(a: float) -> float:
    if a != a:
        return a + a
    if _fabs(a) >= _TWO52:
        return a
    return _copysign(float(int(a)), a)


def _nearest(a: float) -> float:
    if a != a:
        return a + a
    if _fabs(a) >= _TWO52:
        return a
    # round() on a float rounds half to even, as fnearest requires; the sign of a zero
    # result follows the operand (spec: fnearest of -0.5 is -0).
    return _copysign(float(round(a)), a)


# ----- f64 -----

def f64_add(a, b): return a + b
def f64_sub(a, b): return a - b
def f64_mul(a, b): return a * b
f64_div = _div
f64_sqrt = _sqrt_f
f64_min = _min
f64_max = _max
f64_ceil = _ceil
f64_floor = _floor
f64_trunc = _trunc
f64_nearest = _nearest
def f64_abs(a): return _fabs(a)
def f64_neg(a): return -a
def f64_copysign(a, b): return _copysign(a, b)
def f64_eq(a, b): return 1 if a == b else 0
def f64_ne(a, b): return 1 if a != b else 0
def f64_lt(a, b): return 1 if a < b else 0
def f64_gt(a, b): return 1 if a > b else 0
def f64_le(a, b): return 1 if a <= b else 0
def f64_ge(a, b): return 1 if a >= b else 0


# ----- f32: compute in double, round once (see the module docstring) -----

def f32_add(a, b): return f32_round(a + b)
def f32_sub(a, b): return f32_round(a - b)
def f32_mul(a, b): return f32_round(a * b)
def f32_div(a, b): return f32_round(_div(a, b))
def f32_sqrt(a): return f32_round(_sqrt_f(a))
f32_min = _min
f32_max = _max
# An integer-valued rounding of a binary32 value is itself a binary32 value.
f32_ceil = _ceil
f32_floor = _floor
f32_trunc = _trunc
f32_nearest = _nearest
f32_abs = f64_abs
f32_neg = f64_neg
f32_copysign = f64_copysign
f32_eq = f64_eq
f32_ne = f64_ne
f32_lt = f64_lt
f32_gt = f64_gt
f32_le = f64_le
f32_ge = f64_ge
