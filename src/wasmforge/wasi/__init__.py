"""WASI preview1 (``wasi_snapshot_preview1``) with capability-based file-system access.

``WasiConfig`` says what a guest is given (arguments, environment, stdio, preopened
directories and sockets); ``WasiCtx(config)`` holds one guest's state and implements every
preview1 function; ``define_wasi(linker, store, ctx)`` links them (or ``set_wasi(store,
config)`` then ``define_wasi(linker)``, wasmtime-py's per-store shape).  See docs/wasi.md.
"""

from .abi import Errno, Filetype, Rights
from .config import WasiConfig
from .ctx import WasiCtx
from .link import define_wasi, set_wasi, wasi_ctx
from .network import SocketAddrUse
from .pipes import OutputPipe, StdinPipe

__all__ = ["WasiConfig", "WasiCtx", "define_wasi", "set_wasi", "wasi_ctx", "Errno", "Rights", "Filetype",
           "SocketAddrUse", "StdinPipe", "OutputPipe"]
