"""WASI 0.2 (preview2): the component-model system interfaces as host implementations.

``host_instances(store, import_names)`` gives the instances a component's ``wasi:*@0.2.x``
imports are linked to (``wasmforge.component.Linker.add_wasip2`` calls it), configured by the
``WasiConfig`` the store was given with ``Store.set_wasi`` (the same as preview1's: argv, env,
stdio, preopens; plus virtual clocks and a random seed).  See docs/wasi.md, "WASI preview2".
"""

from ._wit import WIT_VERSION, unversioned, wasi_resolve
from .ctx import P2Ctx, p2_ctx
from .host import IMPLEMENTATIONS, host_instances, instance_of

__all__ = ["WIT_VERSION", "P2Ctx", "p2_ctx", "host_instances", "instance_of", "unversioned", "wasi_resolve",
           "IMPLEMENTATIONS"]
