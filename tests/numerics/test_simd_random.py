"""The lane-parallel (SWAR) integer operations against a plain per-lane reference written from
the spec's definitions, on random vectors biased towards boundary lanes."""

import random

import pytest

from wasmforge.numerics.simd import IMPL

SHAPES = {"i8x16": 8, "i16x8": 16, "i32x4": 32, "i64x2": 64}


def split(v, w):
    return [(v >> i) & ((1 << w) - 1) for i in range(0, 128, w)]


def join(lanes, w):
    out = 0
    for i, x in enumerate(lanes):
        out |= (x & ((1 << w) - 1)) << (i * w)
    return out


def signed(x, w):
    return x - (1 << w) if x >> (w - 1) else x


def sat(x, lo, hi):
    return max(lo, min(hi, x))


def random_vectors(w, count=300, seed=1):
    rng = random.Random(seed + w)
    edges = [0, 1, 2, (1 << (w - 1)) - 1, 1 << (w - 1), (1 << (w - 1)) + 1, (1 << w) - 1, (1 << w) - 2]
    for _ in range(count):
        lanes = [rng.choice(edges) if rng.random() < 0.5 else rng.getrandbits(w) for _ in range(128 // w)]
        yield join(lanes, w)


def reference(op, w):
    """Per-lane reference of a binary integer op on unsigned lane values."""
    smin, smax, umax = -(1 << (w - 1)), (1 << (w - 1)) - 1, (1 << w) - 1
    s = lambda x: signed(x, w)        # noqa: E731
    ones = lambda c: umax if c else 0  # noqa: E731
    return {
        "add": lambda x, y: x + y,
        "sub": lambda x, y: x - y,
        "mul": lambda x, y: x * y,
        "add_sat_s": lambda x, y: sat(s(x) + s(y), smin, smax),
        "add_sat_u": lambda x, y: sat(x + y, 0, umax),
        "sub_sat_s": lambda x, y: sat(s(x) - s(y), smin, smax),
        "sub_sat_u": lambda x, y: sat(x - y, 0, umax),
        "min_s": lambda x, y: x if s(x) <= s(y) else y,
        "min_u": min,
        "max_s": lambda x, y: x if s(x) >= s(y) else y,
        "max_u": max,
        "avgr_u": lambda x, y: (x + y + 1) // 2,
        "eq": lambda x, y: ones(x == y),
        "ne": lambda x, y: ones(x != y),
        "lt_s": lambda x, y: ones(s(x) < s(y)),
        "lt_u": lambda x, y: ones(x < y),
        "gt_s": lambda x, y: ones(s(x) > s(y)),
        "gt_u": lambda x, y: ones(x > y),
        "le_s": lambda x, y: ones(s(x) <= s(y)),
        "le_u": lambda x, y: ones(x <= y),
        "ge_s": lambda x, y: ones(s(x) >= s(y)),
        "ge_u": lambda x, y: ones(x >= y),
    }[op]


BINARY_CASES = [(shape, op) for shape in SHAPES for op in (
    "add", "sub", "mul", "add_sat_s", "add_sat_u", "sub_sat_s", "sub_sat_u", "min_s", "min_u",
    "max_s", "max_u", "avgr_u", "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u",
    "ge_s", "ge_u") if f"{shape}.{op}" in IMPL]


@pytest.mark.parametrize("shape,op", BINARY_CASES, ids=lambda x: x)
def test_binary_op_matches_per_lane_reference(shape, op):
    w = SHAPES[shape]
    ref = reference(op, w)
    impl = IMPL[f"{shape}.{op}"]
    vs = list(random_vectors(w))
    for a, b in zip(vs, vs[1:] + vs[:1]):
        expected = join([ref(x, y) for x, y in zip(split(a, w), split(b, w))], w)
        assert impl(a, b) == expected, (hex(a), hex(b))
        assert impl(a, a) == join([ref(x, x) for x in split(a, w)], w)


@pytest.mark.parametrize("shape", SHAPES)
def test_unary_ops_match_per_lane_reference(shape):
    w = SHAPES[shape]
    for a in random_vectors(w):
        lanes = split(a, w)
        assert IMPL[shape + ".neg"](a) == join([-x for x in lanes], w)
        assert IMPL[shape + ".abs"](a) == join([abs(signed(x, w)) for x in lanes], w)
        assert IMPL[shape + ".all_true"](a) == int(all(lanes))
        assert IMPL[shape + ".bitmask"](a) == sum(1 << i for i, x in enumerate(lanes) if x >> (w - 1))


@pytest.mark.parametrize("shape", SHAPES)
def test_shifts_match_per_lane_reference(shape):
    w = SHAPES[shape]
    rng = random.Random(w)
    for a in random_vectors(w, count=100):
        n = rng.choice([0, 1, w - 1, w, w + 1, 2 * w - 1, rng.getrandbits(32)])
        c = n % w
        lanes = split(a, w)
        assert IMPL[shape + ".shl"](a, n) == join([x << c for x in lanes], w)
        assert IMPL[shape + ".shr_u"](a, n) == join([x >> c for x in lanes], w)
        assert IMPL[shape + ".shr_s"](a, n) == join([signed(x, w) >> c for x in lanes], w)


WIDENINGS = [("i8x16", "i16x8"), ("i16x8", "i32x4"), ("i32x4", "i64x2")]


@pytest.mark.parametrize("narrow,wide", WIDENINGS)
def test_widening_ops_match_per_lane_reference(narrow, wide):
    w = SHAPES[narrow]
    n = 128 // w
    vs = list(random_vectors(w, count=100))
    for a, b in zip(vs, vs[1:] + vs[:1]):
        la, lb = split(a, w), split(b, w)
        for sign, conv in (("s", lambda x: signed(x, w)), ("u", lambda x: x)):
            xa, xb = [conv(x) for x in la], [conv(x) for x in lb]
            for half, part in (("low", slice(0, n // 2)), ("high", slice(n // 2, n))):
                assert IMPL[f"{wide}.extend_{half}_{narrow}_{sign}"](a) == join(xa[part], 2 * w)
                assert IMPL[f"{wide}.extmul_{half}_{narrow}_{sign}"](a, b) == join(
                    [x * y for x, y in zip(xa[part], xb[part])], 2 * w)
            if w <= 16:
                assert IMPL[f"{wide}.extadd_pairwise_{narrow}_{sign}"](a) == join(
                    [x + y for x, y in zip(xa[0::2], xa[1::2])], 2 * w)


@pytest.mark.parametrize("narrow,wide", WIDENINGS[:2])
def test_narrowing_matches_per_lane_reference(narrow, wide):
    w = SHAPES[wide]
    half = w // 2
    vs = list(random_vectors(w, count=100))
    for a, b in zip(vs, vs[1:] + vs[:1]):
        lanes = [signed(x, w) for x in split(a, w) + split(b, w)]
        assert IMPL[f"{narrow}.narrow_{wide}_s"](a, b) == join(
            [sat(x, -(1 << (half - 1)), (1 << (half - 1)) - 1) for x in lanes], half)
        assert IMPL[f"{narrow}.narrow_{wide}_u"](a, b) == join(
            [sat(x, 0, (1 << half) - 1) for x in lanes], half)


def test_q15mulr_and_dot_match_per_lane_reference():
    vs = list(random_vectors(16, count=200))
    for a, b in zip(vs, vs[1:] + vs[:1]):
        xa, xb = [signed(x, 16) for x in split(a, 16)], [signed(x, 16) for x in split(b, 16)]
        assert IMPL["i16x8.q15mulr_sat_s"](a, b) == join(
            [sat((x * y + 0x4000) >> 15, -32768, 32767) for x, y in zip(xa, xb)], 16)
        products = [x * y for x, y in zip(xa, xb)]
        assert IMPL["i32x4.dot_i16x8_s"](a, b) == join(
            [p + q for p, q in zip(products[0::2], products[1::2])], 32)
