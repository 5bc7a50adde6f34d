"""WASI preview1 (``wasi_snapshot_preview1``) with capability-based file-system access.

``WasiConfig`` says what a guest is given (arguments, environment, stdio, preopened
directories and sockets); ``WasiCtx(config)`` holds one guest's state and implements every
preview1 function; ``define_wasi(linker, store, ctx)`` links them (or ``set_wasi(store,
config)`` then ``define_wasi(linker)``, wasmtime-py's per-store shape).  See docs/wasi.md.
"""

from typing import TYPE_CHECKING, Any

from .abi import Errno, Filetype, Rights
from .config import WasiConfig
from .ctx import WasiCtx
from .link import define_wasi, set_wasi, wasi_ctx
from .pipes import OutputPipe, StdinPipe

if TYPE_CHECKING:
    from .network import SocketAddrUse


def __getattr__(name: str) -> Any:
    # The network capability loads on first use (a preview1 run never needs it).
    if name == "SocketAddrUse":
        from .network import SocketAddrUse  # start-up speed: see above
        globals()[name] = SocketAddrUse
        return SocketAddrUse
    raise AttributeError(f"module 'wasmforge.wasi' has no attribute {name!r}")

__all__ = ["WasiConfig", "WasiCtx", "define_wasi", "set_wasi", "wasi_ctx", "Errno", "Rights", "Filetype",
           "SocketAddrUse", "StdinPipe", "OutputPipe"]
