"""The repr of every handle says what it is: its type and its size or name."""

from wasmforge import (Config, Engine, Global, GlobalType, Instance, Limits, Linker, Memory, MemoryType, Module,
                       Store, Table, TableType, ValType, WasiConfig)

WAT = ('(module $demo (func $run (export "run")) (memory (export "mem") 2 3)'
       ' (global (export "g") i32 (i32.const 1)) (table (export "t") 4 funcref))')


def test_reprs_name_type_and_size():
    engine = Engine()
    store = Store(engine)
    module = Module(engine, WAT)
    inst = Instance(store, module, [])
    ex = inst.exports(store)
    assert repr(module) == "<Module demo imports=0 exports=4>"
    assert repr(inst) == "<Instance demo exports=4>"
    assert repr(ex) == "<InstanceExports run, mem, g, t>"
    assert repr(ex["run"]) == "<Func run [] -> []>"
    assert repr(ex["mem"]) == "<Memory 2 pages (max 3), 131,072 bytes>"
    assert repr(ex["g"]) == "<Global i32 = 1>"
    assert repr(ex["t"]) == "<Table 4 funcref>"
    assert repr(Table(store, TableType(ValType.funcref(), Limits(1, 5)), None)) == "<Table 1 funcref (max 5)>"
    # A global shows its mutability and its value as the API gives it (signed).
    assert repr(Global(store, GlobalType(ValType.i32(), True), -1)) == "<Global mut i32 = -1>"
    assert repr(Memory(store, MemoryType(Limits(1)))) == "<Memory 1 page, 65,536 bytes>"
    assert repr(store).startswith("<Store open")
    assert repr(engine).startswith("<Engine ")
    assert repr(Config()).startswith("<Config strategy=")
    linker = Linker(engine)
    linker.define_instance(store, "demo", inst)
    assert repr(linker) == "<Linker 4 definitions in 1 modules>"
    assert repr(WasiConfig()).startswith("<WasiConfig argv=0 env=0 stdin=null")
