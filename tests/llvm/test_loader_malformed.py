"""Our object loader (llvm/loader.py) on object code that lies about its sections: refused
with a LoaderError (the JIT fallback then decides), never a copy of bytes the object does
not have."""

import gc
import struct
import weakref

import pytest

from wasmforge import Module, wat2wasm
from wasmforge.llvm import loader

WASM = wat2wasm('''(module
  (func (export "f") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3))))''')

pytestmark = pytest.mark.skipif(not loader.supported(), reason="the loader is Linux x86-64 only")


def _sections(obj):
    shoff, = struct.unpack_from("<Q", obj, 40)
    shnum, = struct.unpack_from("<H", obj, 60)
    return shoff, [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + 64 * i) for i in range(shnum)]


def test_a_section_running_past_the_end_of_the_object_is_refused(llvm_engine):
    obj = Module(llvm_engine, WASM)._compiled().object_code
    shoff, sections = _sections(obj)
    for i, sh in enumerate(sections):
        if sh[2] & 4 and sh[5]:                 # SHF_EXECINSTR, not empty: the code
            bad = bytearray(obj)
            # sh_offset near the end: its sh_size bytes are not all in the file.
            struct.pack_into("<Q", bad, shoff + 64 * i + 24, len(obj) - 1)
            with pytest.raises(loader.LoaderError, match="malformed"):
                loader.load(bytes(bad))
            break
    else:
        pytest.fail("no code section in the object")


def test_an_image_is_unmapped_once_unreachable_without_the_collector(llvm_engine):
    obj = Module(llvm_engine, WASM)._compiled().object_code
    gc.disable()
    try:
        image = loader.load(obj)
        base, size, pooled = image.base, image.size, image.pooled
        ref = weakref.ref(image)
        del image
        assert ref() is None
        with open("/proc/self/maps") as maps:
            starts = {int(line.split("-", 1)[0], 16) for line in maps}
        # A linked image (the module cache's entries are linked ahead of time, so this is one
        # when an earlier test left the entry) gives its region back to the pool of code
        # regions for the next image of its size, mapped still, unless the pool is full.
        assert base not in starts or (pooled and base in loader._pool.get(size, ()))
    finally:
        gc.enable()
