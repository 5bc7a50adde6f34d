"""Warm runs and artifacts without LLVM: the module cache keyed by the binary
(llvm/modcache.py) and our own object loader (llvm/loader.py)."""

import importlib
import os
import struct
import subprocess
import sys

import pytest

from wasmforge import Config, Engine, Instance, Module, Store, Trap, WasmError, wat2wasm
from wasmforge.llvm import jit, loader

validate_module = importlib.import_module("wasmforge.valid.validate")

WASM = wat2wasm('''(module
  (memory 1)
  (global $g (mut i32) (i32.const 7))
  (func $sq (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
  (func (export "f") (param i32) (result i32)
    (memory.fill (i32.const 0) (i32.const 1) (i32.const 100))
    (memory.copy (i32.const 200) (i32.const 0) (i32.const 50))
    (i32.add (call $sq (local.get 0))
             (i32.add (global.get $g) (i32.load8_u (i32.const 249)))))
  (func (export "h") (param f64) (result f64) (f64.nearest (f64.sqrt (local.get 0)))))''')

CHILD = r'''
import sys, wasmforge
engine = wasmforge.Engine()
assert engine.strategy == "llvm", engine.strategy
data = open(sys.argv[2], "rb").read()
if sys.argv[1] == "module":
    module = wasmforge.Module(engine, data)
else:
    module = wasmforge.Module.deserialize(engine, data)
store = wasmforge.Store(engine)
inst = wasmforge.Instance(store, module, [])
print(inst.exports(store)["f"](store, 5), "llvmlite" in sys.modules)
'''


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("WASMFORGE_CACHE", raising=False)
    monkeypatch.delenv("WASMFORGE_LLVM_LAZY", raising=False)
    return tmp_path


def _f(engine, module):
    store = Store(engine)
    ex = Instance(store, module, []).exports(store)
    return ex["f"](store, 5), ex["h"](store, 30.25)


def _child(kind, path, env):
    env = dict(os.environ, **env)
    env.pop("WASMFORGE_STRATEGY", None)
    out = subprocess.run([sys.executable, "-c", CHILD, kind, str(path)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_warm_module_and_artifact_load_without_importing_llvmlite(llvm_engine, cache, tmp_path):
    wasm = tmp_path / "m.wasm"
    wasm.write_bytes(WASM)
    # (LLVM's code: a first run of the quick compiler's imports no llvmlite at all,
    # tests/llvm/test_quick.py)
    env = {"WASMFORGE_CACHE_DIR": str(cache), "WASMFORGE_LLVM_QUICK": "0"}
    # This process knows its host description already (as after any earlier test) and leaves
    # none in this cache folder: the cold child must (the artifact's header names the host).
    jit.host_description()
    for path in (cache / "llvm").glob("host-*"):
        path.unlink()
    # Cold: compiles (llvmlite), and writes the module entry.
    assert _child("module", wasm, env) == ["33", "True"]
    assert list((cache / "llvm").glob("mod-*.o"))
    # Warm: neither validation nor IR nor llvmlite.
    assert _child("module", wasm, env) == ["33", "False"]
    artifact = tmp_path / "m.cwasm"
    artifact.write_bytes(Module(llvm_engine, WASM).serialize())
    assert _child("artifact", artifact, env) == ["33", "False"]


def test_warm_module_runs_the_loaded_code(llvm_engine, cache):
    cold = Module(llvm_engine, WASM)
    assert _f(llvm_engine, cold) == (33, 6.0)
    warm = Module(llvm_engine, WASM)
    assert warm._code is not None                  # from the module cache: loaded at once
    assert isinstance(warm._code._engine, loader.Image)
    assert _f(llvm_engine, warm) == (33, 6.0)


def test_a_tampered_module_entry_is_refused_and_compiled_again(llvm_engine, cache):
    Module(llvm_engine, WASM)._compiled()
    [entry] = (cache / "llvm").glob("mod-*.o")
    raw = bytearray(entry.read_bytes())
    raw[-200] ^= 0xFF                              # inside the machine code
    entry.write_bytes(bytes(raw))
    module = Module(llvm_engine, WASM)
    # Refused: a miss, compiled again (its validation verdict is cached on its own, so the
    # module is not validated again: tests/runtime/test_validation_cache.py).
    assert module._cache_entry is not None
    assert _f(llvm_engine, module) == (33, 6.0)
    assert Module(llvm_engine, WASM)._cache_entry is None  # and the entry was written again


def test_module_entry_depends_on_the_settings_that_change_code(llvm_engine, cache):
    Module(llvm_engine, WASM)._compiled()
    config = Config()
    config.strategy = "llvm"
    config.consume_fuel = True
    fueled = Engine(config)
    module = Module(fueled, WASM)
    assert module._cache_entry is not None         # another key: not the unmetered code
    store = Store(fueled)
    store.set_fuel(3)
    with pytest.raises(Exception, match="fuel"):
        Instance(store, module, []).exports(store)["f"](store, 5)


def test_deserialize_uses_our_loader(llvm_engine, cache):
    data = Module(llvm_engine, WASM).serialize()
    module = Module.deserialize(llvm_engine, data)
    assert isinstance(module._code._engine, loader.Image)
    assert _f(llvm_engine, module) == (33, 6.0)


def test_loader_refuses_what_it_does_not_handle(llvm_engine, cache):
    obj = Module(llvm_engine, WASM)._compiled().object_code
    with pytest.raises(loader.LoaderError, match="ELF64"):
        loader.load(b"\x7fELF" + bytes(60))
    with pytest.raises(loader.LoaderError):
        loader.load(obj[:100])
    other = bytearray(obj)
    struct.pack_into("<H", other, 18, 183)         # e_machine: aarch64
    with pytest.raises(loader.LoaderError, match="x86-64"):
        loader.load(bytes(other))
    # An unknown relocation type in the first RELA entry is named, not applied.
    shoff, = struct.unpack_from("<Q", obj, 40)
    shnum, = struct.unpack_from("<H", obj, 60)
    for i in range(shnum):
        sh = struct.unpack_from("<IIQQQQIIQQ", obj, shoff + 64 * i)
        if sh[1] == 4 and sh[5]:
            bad = bytearray(obj)
            info, = struct.unpack_from("<Q", bad, sh[4] + 8)
            struct.pack_into("<Q", bad, sh[4] + 8, (info & ~0xFFFFFFFF) | 42)   # R_X86_64_REX_GOTPCRELX
            with pytest.raises(loader.LoaderError, match="relocation type 42"):
                loader.load(bytes(bad))
            break
    else:
        pytest.fail("no relocations in the object code")


def test_a_malformed_artifact_object_falls_back_or_fails_cleanly(llvm_engine, cache, monkeypatch):
    # Whatever our loader refuses goes to LLVM's JIT (same symbols, same behaviour).
    monkeypatch.setenv("WASMFORGE_LLVM_LOADER", "0")
    module = Module.deserialize(llvm_engine, Module(llvm_engine, WASM).serialize())
    assert not isinstance(module._code._engine, loader.Image)
    assert _f(llvm_engine, module) == (33, 6.0)


def test_warm_run_of_a_lazily_compiled_module_compiles_nothing(cache, tmp_path):
    wasm = tmp_path / "m.wasm"
    wasm.write_bytes(WASM)
    # LLVM's batches: with the quick compiler the first run imports no llvmlite either
    # (tests/llvm/test_quick_lazy.py), and this checks that the probe sees a compile.
    env = {"WASMFORGE_CACHE_DIR": str(cache), "WASMFORGE_LLVM_LAZY": "1", "WASMFORGE_LLVM_QUICK": "0"}
    assert _child("module", wasm, env) == ["33", "True"]
    parts = sorted(p.name for p in (cache / "llvm").glob("mod-*-*.o"))
    assert any(p.endswith("-entries.o") for p in parts) and len(parts) >= 2   # entries + a batch
    # Warm: the entry trampolines and the batch come from the cache, through our loader.
    assert _child("module", wasm, env) == ["33", "False"]


def test_warm_wasmforge_run_imports_no_llvmlite(cache, tmp_path):
    wasm = tmp_path / "exit.wasm"
    wasm.write_bytes(wat2wasm('''(module
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (func (export "_start") (call $exit (i32.const 7))))'''))
    env = dict(os.environ, WASMFORGE_CACHE_DIR=str(cache), WASMFORGE_LLVM_QUICK="0")
    for name in ("WASMFORGE_STRATEGY", "WASMFORGE_LLVM_LAZY"):
        env.pop(name, None)
    cmd = [sys.executable, "-X", "importtime", "-m", "wasmforge", "run", str(wasm)]
    cold = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert cold.returncode == 7 and "llvmlite" in cold.stderr
    warm = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert warm.returncode == 7, warm.stderr[-2000:]
    assert "llvmlite" not in warm.stderr


def test_cache_off_writes_no_module_entry_and_still_validates(llvm_engine, cache, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE", "off")
    checked = []
    check = validate_module._check_module
    monkeypatch.setattr(validate_module, "_check_module",
                        lambda *args: checked.append(args[0]) or check(*args))
    module = Module(llvm_engine, WASM)
    assert len(checked) == 1
    assert _f(llvm_engine, module) == (33, 6.0)
    assert not (cache / "llvm").exists()


def test_an_invalid_binary_is_still_refused_on_a_warm_cache(llvm_engine, cache):
    # Only a validated binary ever gets an entry: a different (invalid) binary has another key.
    Module(llvm_engine, WASM)._compiled()
    bad = wat2wasm('(module (func (export "f") (param i32) (result i32) (local.get 0)))')
    bad = bad.replace(b"\x20\x00\x0b", b"\x20\x05\x0b")          # local.get 5: no such local
    with pytest.raises(WasmError):
        Module(llvm_engine, bad)


# ----- linked images (loader.link): what artifacts and cache entries hold -----

def test_an_artifact_holds_a_linked_image(llvm_engine, cache):
    from wasmforge.api import aot
    _, _, code, _ = aot._split(Module(llvm_engine, WASM).serialize())
    assert loader.is_image(code)


def test_a_linked_image_runs_like_its_object(llvm_engine, cache, monkeypatch):
    # `always`: freshly compiled code goes through link + load instead of LLVM's JIT.
    monkeypatch.setenv("WASMFORGE_CACHE", "0")
    monkeypatch.setenv("WASMFORGE_LLVM_LOADER", "always")
    module = Module(llvm_engine, WASM)
    assert isinstance(module._compiled()._engine, loader.Image)
    assert _f(llvm_engine, module) == (33, 6.0)
    obj = module._compiled().object_code
    image = loader.link(obj)
    assert loader.link(image) == image               # linking a linked image changes nothing
    a, b = loader.load(obj), loader.load(image)
    assert {n: v - a.base for n, v in a.symbols.items() if n != "wf_funcs"} == \
        {n: v - b.base for n, v in b.symbols.items() if n != "wf_funcs"}


def test_a_malformed_linked_image_is_refused(llvm_engine, cache):
    image = loader.link(Module(llvm_engine, WASM)._compiled().object_code)
    for bad in (image[:40], image[:-1], image + b"\0"):
        with pytest.raises(loader.LoaderError, match="malformed"):
            loader.load(bad)


def _raw_image(size, content):
    return loader._IMAGE.pack(loader.IMAGE_MAGIC, size, 0, len(content), 0, 0, 0, 0, 0) + content


def test_a_reused_code_region_starts_zeroed_past_the_new_image(cache):
    import ctypes
    size = 2 * loader._PAGE
    first = loader.load(_raw_image(size, b"\xAA" * size))
    base = first.base
    del first                                        # to the pool of code regions
    second = loader.load(_raw_image(size, b"\x55" * 16))
    assert second.base == base                       # the region was reused ...
    assert ctypes.string_at(base, size) == b"\x55" * 16 + bytes(size - 16)   # ... and cleared


def _code_image(size, content):
    # All of it read+execute, as the llvm tier's linked images are.
    return loader._IMAGE.pack(loader.IMAGE_MAGIC, size, size, len(content), 0, 0, 0, 0, 0) + content


def test_a_pooled_region_holding_the_same_image_is_taken_as_it_is(cache, monkeypatch):
    import ctypes
    size = 5 * loader._PAGE                         # a size no other test pools
    a, b = b"\xAA" * 100, b"\x55" * 300
    first = loader.load(_code_image(size, a), key=b"A")
    base = first.base
    del first
    protects = []
    real = loader._mprotect
    monkeypatch.setattr(loader, "_mprotect", lambda *args: protects.append(args) or real(*args))
    again = loader.load(_code_image(size, a), key=b"A")
    assert again.base == base and protects == []    # no copy, no change of protection
    assert ctypes.string_at(base, size) == a + bytes(size - len(a))
    del again
    other = loader.load(_code_image(size, b), key=b"B")
    assert other.base == base and protects          # the region is written for B ...
    assert ctypes.string_at(base, size) == b + bytes(size - len(b))
    del other
    back = loader.load(_code_image(size, a), key=b"A")   # ... so it no longer holds A
    assert ctypes.string_at(back.base, size) == a + bytes(size - len(a))
    del back
    plain = loader.load(_code_image(size, a))       # loaded without a key: ...
    del plain
    protects.clear()
    again = loader.load(_code_image(size, b), key=b"B")
    assert again.base == base and protects          # ... the region held B no longer
    assert ctypes.string_at(base, size) == b + bytes(size - len(b))


def test_the_pool_of_code_regions_is_bounded(cache):
    size = loader._PAGE
    images = [loader.load(_raw_image(size, b"\1")) for _ in range(loader._POOL_PER_SIZE + 3)]
    del images
    assert len(loader._pool[size]) == loader._POOL_PER_SIZE     # the others were unmapped
    assert loader._pooled_bytes == sum(k * len(v) for k, v in loader._pool.items()) \
        <= loader._POOL_BYTES


TRAPPY = wat2wasm('''(module
  (memory 1)
  (func $div (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func $load (param i32) (result i32) (i32.load (local.get 0)))
  (func $scale (param f64) (result f64) (f64.mul (local.get 0) (f64.const 1.5)))
  (func (export "f") (param i32 i32) (result i32)
    (i32.add (call $div (local.get 0) (local.get 1)) (call $load (local.get 1))))
  (func (export "g") (param f64) (result f64) (call $scale (local.get 0)))
  (func (export "u") unreachable))''')


def _patched_sections(obj):
    """The names of the sections of ``obj`` in which its linked image has load-time patches."""
    import array
    layout = {}
    image = loader.link(obj, layout)
    _, _, _, nbytes, nrel = loader._IMAGE.unpack_from(image)[:5]
    at = loader._IMAGE.size + nbytes
    offsets = array.array("I")
    offsets.frombytes(image[at:at + 4 * nrel])
    sections, names = loader.elf_sections(obj)
    return {loader._cstr(obj, names + sections[i][0])
            for i, start in layout.items() for o in offsets if start <= o < start + sections[i][5]}


def test_a_linked_image_needs_no_load_time_patch_in_its_code(llvm_engine, cache):
    # The large code model loads every address with a movabs (traps: @wf_trap's; calls; float
    # constants); link rewrites each to a RIP-relative lea, so no instruction is patched at
    # load.  What is left is data: the table of function addresses (and jump tables).
    module = Module(llvm_engine, TRAPPY)
    patched = _patched_sections(module._compiled().object_code)
    assert patched and not any("text" in name for name in patched), patched
    loaded = Module.deserialize(llvm_engine, module.serialize())
    store = Store(llvm_engine)
    ex = Instance(store, loaded, []).exports(store)
    assert ex["f"](store, 7, 2) == 3 and ex["g"](store, 2.0) == 3.0
    with pytest.raises(Trap, match="integer divide by zero") as info:
        ex["f"](store, 1, 0)
    assert [f.func_index for f in info.value.frames][:2] == [0, 3]
    with pytest.raises(Trap, match="out of bounds memory access"):
        ex["f"](store, 1, 70000)
    with pytest.raises(Trap, match="unreachable"):
        ex["u"](store)


def test_movabs_to_lea_keeps_the_register_and_the_length():
    # movabs $0x1000, %rax at 0 and movabs $0x1000, %r9 at 10; a stray pattern is left alone.
    buf = bytearray(b"\x48\xb8" + bytes(8) + b"\x49\xb9" + bytes(8) + b"\x90\x90" + bytes(8))
    assert loader._movabs_to_lea(buf, 2, 0x1000)
    assert loader._movabs_to_lea(buf, 12, 0x1000)
    assert not loader._movabs_to_lea(buf, 22, 0x1000)
    assert buf[:10] == b"\x48\x8d\x05" + struct.pack("<i", 0x1000 - 7) + b"\x0f\x1f\x00"
    assert buf[10:20] == b"\x4c\x8d\x0d" + struct.pack("<i", 0x1000 - 17) + b"\x0f\x1f\x00"


def _maps_of(base):
    """The permissions of the mapping of this process that holds ``base``, or None."""
    for line in open("/proc/self/maps"):
        span, perms = line.split()[:2]
        lo, hi = (int(x, 16) for x in span.split("-"))
        if lo <= base < hi:
            return perms
    return None


def test_a_group_of_linked_images_is_mapped_as_each_would_be_alone(llvm_engine, cache):
    import ctypes
    image = loader.link(Module(llvm_engine, WASM)._compiled().object_code)
    layout = loader._Layout(image)
    group = loader.load_group([image, b"not an image", image[:-1], image])
    first, not_image, malformed, second = group
    assert not_image is None and malformed is None      # (the caller loads those alone)
    assert second.base == first.base + first.size       # one region, one after the other
    alone = loader.load(image)
    slots = {at + k for at in layout.offs for k in range(8)}
    for member in (first, second):
        assert {n: v - member.base for n, v in member.symbols.items()} == \
            {n: v - alone.base for n, v in alone.symbols.items()}
        got, want = (ctypes.string_at(x.base, layout.size) for x in (member, alone))
        # The same bytes, but for the base relocations: each moved by its own base.
        assert bytes(b for k, b in enumerate(got) if k not in slots) == \
            bytes(b for k, b in enumerate(want) if k not in slots)
        for at, target in zip(layout.offs, layout.targets):
            assert struct.unpack_from("<Q", got, at)[0] == member.base + target
        assert _maps_of(member.base).startswith("r-x")


def test_a_group_stays_mapped_while_any_of_its_images_lives(cache):
    size = loader._PAGE
    images = loader.load_group([_code_image(size, b"\xC3"), _code_image(size, b"\xC3")])
    base = images[0].base
    del images[0]
    assert _maps_of(base) is not None                   # the other image holds the region
    del images[0]
    assert _maps_of(base) is None                       # the last one unmapped it


def test_an_image_of_a_group_needing_a_missing_c_symbol_is_left_to_load_alone(llvm_engine, cache):
    image = loader.link(Module(llvm_engine, WASM)._compiled().object_code)
    layout = loader._Layout(image)
    assert layout.externs                           # (memset, memmove: the test module's)
    name = layout.externs[0][1]
    # The same image with that reference renamed to a symbol no process has.
    bad = image.replace(name.encode() + b"\0", b"wf_no" + name.encode()[5:] + b"\0", 1)
    assert bad != image and len(bad) == len(image)
    good, missing = loader.load_group([image, bad])
    assert good is not None and missing is None
    with pytest.raises(loader.LoaderError, match="needs the symbol"):
        loader.load(bad)


def _relocated_image(size, content, slot, target, symbol=0):
    """A linked image of ``content`` with one base relocation (``slot`` gets the load
    address plus ``target``) and one global symbol ``f`` at ``symbol``."""
    return (loader._IMAGE.pack(loader.IMAGE_MAGIC, size, size, len(content), 1, 0, 0, 1, 1)
            + content + struct.pack("<IQQ", slot, target, symbol) + b"f")


@pytest.mark.parametrize("slot", [
    16,                                 # (in the image: the test's check of its own images)
    20,                                 # a patch running past the bytes stored
    loader._PAGE,                       # a patch in the next image of a group
    1 << 31,                            # a patch past the whole group
])
def test_a_relocation_out_of_its_image_is_refused_alone_and_in_a_group(slot, cache):
    import ctypes
    size = loader._PAGE
    image = _relocated_image(size, b"\xC3" * 24, slot, 8)
    other = _code_image(size, b"\xC3" * 16)
    if slot == 16:
        alone = loader.load(image)
        assert struct.unpack_from("<Q", ctypes.string_at(alone.base, 24), 16)[0] == alone.base + 8
        first, member = loader.load_group([other, image])
        assert struct.unpack_from("<Q", ctypes.string_at(member.base, 24), 16)[0] == member.base + 8
        return
    with pytest.raises(loader.LoaderError, match="malformed"):
        loader.load(image)
    first, bad, last = loader.load_group([other, image, other])
    assert bad is None                  # (left to load alone: refused there)
    assert last.base == first.base + size           # (in its place)
    for member in (first, last):        # not patched
        assert ctypes.string_at(member.base, size) == b"\xC3" * 16 + bytes(size - 16)
        assert _maps_of(member.base).startswith("r-x")
    # Nothing of it is left in the region, executable or not.
    assert ctypes.string_at(last.base + size, size) == bytes(size)
