"""Engine and Config: which execution tier compiles and runs modules."""

from __future__ import annotations

import ctypes
import importlib
import os
import sys
import threading
import warnings
import weakref
from types import ModuleType
from typing import TYPE_CHECKING, Any, Dict, Optional, Set, Tuple

from ..errors import ConfigError, Handle, NotSupportedError, WasmError, backtrace_details_from_env
from ..features import DEFAULT as DEFAULT_FEATURES, FEATURES, INTERP_ONLY, Feature
from ..runtime.metering import DEFAULT_MAX_WASM_STACK

if TYPE_CHECKING:
    from ..module import Module as ModuleData
    from ..runtime.store import Store

#: The execution tiers by strategy name: the module implementing the tier contract
#: (runtime/tier.py).  A tier is imported when the first engine using it is made, so a
#: process never imports a tier it does not run (the llvm tier's machinery on interp).
TIERS = {"interp": "wasmforge.interp", "llvm": "wasmforge.llvm"}

#: What ``Config.strategy`` accepts: a tier, or ``"auto"`` (llvm where it loads, else interp).
STRATEGIES = ("auto", *TIERS)

#: The largest ``Config.max_wasm_stack``: 1 GiB, 16,777,216 minimal frames (wasmtime, whose
#: wasm stack is a real native stack, refuses anything above its 2 MiB async stack by default).
MAX_WASM_STACK = 1 << 30


class Config(Handle):
    """Engine configuration (wasmtime-py's ``Config``).

    ``strategy`` picks the execution tier: ``"interp"`` (pure Python), ``"llvm"`` (native
    code, needs llvmlite) or ``"auto"`` (``llvm`` when llvmlite imports, else ``interp``).  The
    environment variable ``WASMFORGE_STRATEGY`` sets the default.

    Limits (see docs/security.md): ``consume_fuel`` meters every store's execution with fuel
    (``Store.set_fuel``); ``epoch_interruption`` makes code check the store's epoch deadline
    (``Store.set_epoch_deadline``, ``Engine.increment_epoch``); ``max_wasm_stack`` is the wasm
    stack budget in bytes, each frame counting
    :data:`~wasmforge.runtime.metering.FRAME_BYTES`.  Code translated with fuel or epochs on
    pays for the checks; with them off (the default) it contains none.

    ``opt_level`` (0-3, or ``None`` for the default: ``WASMFORGE_LLVM_OPT``, else 2) is the llvm
    tier's optimisation level: lower compiles faster, higher runs faster.  The interp tier
    ignores it."""

    def __init__(self) -> None:
        self._strategy = os.environ.get("WASMFORGE_STRATEGY", "auto") or "auto"
        self.consume_fuel = False
        self.epoch_interruption = False
        self._max_wasm_stack = DEFAULT_MAX_WASM_STACK
        self._opt_level: Optional[int] = None
        self._settings: Dict[str, Any] = {}     # wasmtime-py settings set to an accepted value
        self._features: Set[str] = set(DEFAULT_FEATURES)  # proposals on (wasmforge.features)
        # wasmtime reads its environment variable when the Config is made; None: not set.
        self._backtrace_details_env = backtrace_details_from_env()
        self._backtrace_details: Optional[bool] = None

    @property
    def wasm_backtrace_details(self) -> bool:
        """Whether a trap's text shows, under each frame of a module with DWARF debug
        information, its source function, file, line and column (wasmtime's
        ``wasm_backtrace_details``; docs/observability.md).  Default: the environment
        variable ``WASMTIME_BACKTRACE_DETAILS=1`` (or ``WASMFORGE_BACKTRACE_DETAILS``), read
        when the Config is made; off, a backtrace of such a module ends with wasmtime's note
        naming the variable, unless set off here.  ``Trap.frames[i].symbols`` has the
        source frames either way."""
        return self._backtrace_details_env if self._backtrace_details is None else self._backtrace_details

    @wasm_backtrace_details.setter
    def wasm_backtrace_details(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise ConfigError(f"wasm_backtrace_details must be True or False, got {value!r}")
        self._backtrace_details = value

    @property
    def opt_level(self) -> Optional[int]:
        return self._opt_level

    @opt_level.setter
    def opt_level(self, value: Optional[int]) -> None:
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 3):
            raise ConfigError(f"opt_level must be 0, 1, 2, 3 or None, got {value!r}")
        self._opt_level = value

    @property
    def strategy(self) -> str:
        return self._strategy

    @strategy.setter
    def strategy(self, value: str) -> None:
        # wasmtime's names: "cranelift" is its optimising native compiler (here: llvm);
        # "winch", its baseline compiler, has no counterpart.
        if value == "cranelift":
            value = "llvm"
        elif value == "winch":
            raise NotSupportedError("Config.strategy = 'winch' is not supported: wasmforge's tiers "
                                    "are 'interp', 'llvm' (alias 'cranelift') and 'auto'")
        if value not in STRATEGIES:
            raise ConfigError(f"unknown strategy {value!r}: expected one of {', '.join(STRATEGIES)}")
        self._strategy = value

    @property
    def max_wasm_stack(self) -> int:
        """The wasm stack budget in bytes (default 1 MiB); exceeding it traps with
        ``TrapCode.STACK_OVERFLOW``."""
        return self._max_wasm_stack

    @max_wasm_stack.setter
    def max_wasm_stack(self, value: int) -> None:
        # Checked here, not at instantiation: a budget sizes the shadow stack mapping and the
        # interpreter's recursion limit, where an absurd one would surface as a raw
        # OverflowError or ENOMEM.
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_WASM_STACK:
            raise ConfigError(f"max_wasm_stack must be a number of bytes from 1 to {MAX_WASM_STACK} "
                             f"(1 GiB), got {value!r}")
        self._max_wasm_stack = value

    # ----- wasmtime-py's other settings -----
    #
    # Every setting of wasmtime-py's Config exists here.  One that wasmforge implements
    # works; one that selects what wasmforge does anyway (``wasm_simd = True``) is accepted;
    # any other value raises NotSupportedError naming the setting, never a silent no-op.

    def _setting(self, name: str, value: object, accepted: Tuple[object, ...], why: str) -> None:
        if not any(value is a or (type(value) is type(a) and value == a) for a in accepted):
            raise NotSupportedError(f"Config.{name} = {value!r} is not supported yet: {why}")
        self._settings[name] = value

    @property
    def cranelift_opt_level(self) -> str:
        """wasmtime's optimisation level: ``"none"`` (``opt_level = 0``), ``"speed"`` or
        ``"speed_and_size"`` (``opt_level = 2``, the default)."""
        return "none" if self._opt_level == 0 else "speed"

    @cranelift_opt_level.setter
    def cranelift_opt_level(self, value: str) -> None:
        levels = {"none": 0, "speed": 2, "speed_and_size": 2}
        if value not in levels:
            raise ConfigError(f"unknown optimization level: {value!r} "
                              f"(expected 'none', 'speed' or 'speed_and_size')")
        self._opt_level = levels[value]

    def cranelift_flag_enable(self, flag: str) -> None:
        raise NotSupportedError(f"Config.cranelift_flag_enable({flag!r}) is not supported: "
                                "wasmforge does not compile with Cranelift")

    def cranelift_flag_set(self, key: str, value: str) -> None:
        raise NotSupportedError(f"Config.cranelift_flag_set({key!r}, {value!r}) is not supported: "
                                "wasmforge does not compile with Cranelift")

    def __repr__(self) -> str:
        return (f"<Config strategy={self._strategy!r} consume_fuel={self.consume_fuel} "
                f"epoch_interruption={self.epoch_interruption} max_wasm_stack={self._max_wasm_stack}>")


def _host_triple() -> Optional[str]:
    """This host's target triple as wasmtime names it (the one ``Config.target`` accepts),
    None where it is not known."""
    if not hasattr(os, "uname"):
        return None
    host = os.uname()       # not the platform module: it would cost `import wasmforge` time
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(host.machine.lower(), host.machine.lower())
    system = {"Linux": "unknown-linux-gnu", "Darwin": "apple-darwin"}.get(host.sysname)
    return f"{machine}-{system}" if system else None


#: wasmtime-py Config settings that wasmforge does not vary: name -> (accepted values, why
#: others are refused).  Proposals of later issues are "not supported yet"; a feature that
#: wasmforge always has cannot be switched off.
_FIXED_SETTINGS = {
    "debug_info": ((False,), "wasmforge emits no DWARF debug info for wasm code"),
    # Either value: shared memories follow wasm_threads (SharedMemory needs it on).
    "shared_memory": ((False, True), ""),
    "wasm_reference_types": ((True,), "reference types are part of WebAssembly 2.0 and always on"),
    "wasm_simd": ((True,), "SIMD (v128) is part of WebAssembly 2.0 and always on"),
    "wasm_bulk_memory": ((True,), "bulk memory is part of WebAssembly 2.0 and always on"),
    "wasm_multi_value": ((True,), "multi-value is part of WebAssembly 2.0 and always on"),
    "wasm_relaxed_simd_deterministic": ((False,), "relaxed SIMD always makes the choices wasmtime "
                                        "makes on x86-64 (docs/features.md)"),
    # Either value: components work through wasmforge.component whatever it says.
    "wasm_component_model": ((False, True), ""),
    "wasm_component_model_map": ((False,), "the component model is a later issue"),
    "wasm_component_model_implements": ((False,), "the component model is a later issue"),
    "wasm_wide_arithmetic": ((False,), "the wide-arithmetic proposal is not implemented"),
    "wasm_custom_page_sizes": ((False,), "the custom-page-sizes proposal is not implemented"),
    "wasm_stack_switching": ((False,), "the stack-switching proposal is not implemented"),
    "gc_support": ((True,), "externref support is always on"),
    "cranelift_debug_verifier": ((False,), "wasmforge does not compile with Cranelift"),
    "cranelift_nan_canonicalization": ((False,), "NaN results keep the bits the spec allows"),
    "profiler": (("none",), "no profiler integration (jitdump, perfmap, vtune)"),
    "cache": ((True,), "the compiled-code cache is on unless WASMFORGE_CACHE=off, and has "
                       "no configuration file (see docs/security.md)"),
    "parallel_compilation": ((False,), "each module is compiled on the calling thread"),
    "memory_may_move": ((True, False), ""),         # a linear memory never moves here
    "memory_reservation": ((), "the reservation is the memory's maximum (or the store limit)"),
    "memory_guard_size": ((), "wasmforge checks every access, it reserves no guard region"),
    "memory_reservation_for_growth": ((), "memories grow in place within their reservation"),
    "native_unwind_info": ((False,), "no native unwind info is registered for wasm code"),
    "target": (tuple(t for t in (_host_triple(),) if t), "wasmforge compiles for the host only"),
    "macos_use_mach_ports": ((False,), "traps are detected by explicit checks, not signals"),
    "signals_based_traps": ((False,), "traps are detected by explicit checks, not signals"),
    "memory_init_cow": ((False,), "memories are initialised by copying their data segments"),
}


def _fixed_setting(name: str, accepted: Tuple[object, ...], why: str) -> property:
    def get(self: Config) -> object:
        return self._settings.get(name, accepted[0] if accepted else None)

    def set(self: Config, value: object) -> None:
        self._setting(name, value, accepted, why)

    return property(get, set, doc=f"wasmtime's ``{name}``: accepts {', '.join(map(repr, accepted)) or 'nothing'}"
                                  + (f" ({why})" if why else "") + ".")


for _name, (_accepted, _why) in _FIXED_SETTINGS.items():
    setattr(Config, _name, _fixed_setting(_name, _accepted, _why))
del _name, _accepted, _why


def _feature_setting(feature: Feature) -> property:
    def get(self: Config) -> bool:
        return feature.name in self._features

    def set(self: Config, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"Config.{feature.setting} must be a bool, got {type(value).__name__}")
        if value and not feature.implemented and feature.name not in INTERP_ONLY:
            raise NotSupportedError(f"Config.{feature.setting} = True is not supported yet: "
                                    f"the {feature.name} proposal is not implemented")
        if value:
            self._features.add(feature.name)
        else:
            self._features.discard(feature.name)

    return property(get, set, doc=f"Whether modules may use the {feature.name} proposal "
                                  f"({feature.title}); on by default once implemented, as in "
                                  f"wasmtime.")


for _feature in FEATURES.values():
    if _feature.setting is not None:
        setattr(Config, _feature.setting, _feature_setting(_feature))
del _feature


class Engine(Handle):
    """Compiles modules with one execution tier; every Store and Module belongs to one Engine."""

    def __init__(self, config: Optional[Config] = None) -> None:
        if config is None:
            config = Config()
        elif not isinstance(config, Config):
            raise TypeError(f"expected a Config, got {type(config).__name__}")
        strategy = config.strategy
        if strategy not in STRATEGIES:
            raise WasmError(f"unknown strategy {strategy!r} (from WASMFORGE_STRATEGY?): "
                            f"expected one of {', '.join(STRATEGIES)}")
        #: The tier's module (runtime/tier.py's contract); a missing tier fails here, with a
        #: clear message, not at the first call.
        self.strategy, self.tier = _auto_tier() if strategy == "auto" else (strategy, load_tier(strategy))
        # The settings are copied: changing the Config later does not affect this engine.
        self.consume_fuel = bool(config.consume_fuel)
        self.epoch_interruption = bool(config.epoch_interruption)
        self.max_wasm_stack = config.max_wasm_stack
        self.opt_level = config.opt_level
        #: What its modules' traps show of their DWARF (module.Module.backtrace_details):
        #: True, False (set off), None (off by default: wasmtime's hint).
        self.backtrace_details: Optional[bool] = True if config.wasm_backtrace_details else \
            None if config._backtrace_details is None else False
        #: The proposals beyond 2.0 that modules of this engine may use (wasmforge.features).
        self.features = frozenset(config._features)
        #: The epoch counter, in native memory so that the llvm tier's code can read it while
        #: another thread advances it (runtime/tier.py StoreCells.epoch); Python reads it as
        #: ``epoch_counter[0]``.
        self.epoch_counter = (ctypes.c_uint64 * 1)()
        self._epoch_lock = threading.Lock()
        self._stores: weakref.WeakSet[Store] = weakref.WeakSet()   # whose deadlines it watches

    def compile(self, module: ModuleData) -> Any:
        """Translate a validated module (wasmforge.module.Module) with this engine's tier."""
        compile_module = self.tier.compile_module
        options: Dict[str, Any] = {}
        if self.consume_fuel:
            options["fuel"] = True
        if self.epoch_interruption:
            options["epoch"] = True
        if not options and self.opt_level is None:
            return compile_module(module)
        import inspect  # start-up speed: only a compile with limits asks (a warm run compiles nothing)
        params = inspect.signature(compile_module).parameters
        missing = [k for k in options if k not in params]
        if missing:
            # Never run unmetered code when the embedder asked for limits.
            raise WasmError(f"the {self.strategy} execution tier does not support "
                            f"{' and '.join(missing)} metering yet")
        if self.opt_level is not None and "opt_level" in params:
            options["opt_level"] = self.opt_level
        return compile_module(module, **options)

    def increment_epoch(self) -> None:
        """Advance the engine's epoch by one tick.  Thread-safe: meant to be called from a
        timer thread while wasm code runs; a store whose deadline is reached traps with
        ``TrapCode.INTERRUPT`` at its next check."""
        with self._epoch_lock:
            self.epoch_counter[0] += 1
            epoch = self.epoch_counter[0]
            for store in list(self._stores):
                if store._deadline.cell_contents <= epoch:
                    store._interrupt.cell_contents = True

    @property
    def epoch(self) -> int:
        """The current epoch (the number of ``increment_epoch`` calls)."""
        return int(self.epoch_counter[0])

    def _watch(self, store: Store) -> None:
        """Raise ``store``'s interrupt flag when the epoch reaches its deadline."""
        with self._epoch_lock:
            self._stores.add(store)

    def _set_deadline(self, store: Store, ticks: int) -> None:
        """Set ``store``'s deadline ``ticks`` beyond the current epoch (under the lock, so
        that no tick is missed)."""
        with self._epoch_lock:
            store._deadline.cell_contents = self.epoch_counter[0] + ticks
            store._interrupt.cell_contents = ticks == 0

    def is_pulley(self) -> bool:
        """wasmtime-py: whether code runs on its Pulley interpreter.  Always False here (the
        pure-Python tier is not Pulley: see :attr:`strategy`)."""
        return False

    def close(self) -> None:
        """wasmtime-py's explicit release.  An engine holds nothing that outlives its modules
        and stores, so there is nothing to free early; it stays usable."""

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Engine {self.strategy}>"


def _auto_tier() -> Tuple[str, ModuleType]:
    """The tier ``"auto"`` means: llvm where it loads (llvmlite installed: it passes the whole
    spec suite and meters fuel, epochs and the stack like interp), interp elsewhere."""
    if sys.platform in ("emscripten", "wasi"):
        # Python compiled to WebAssembly (Pyodide) cannot load native code at all: interp is
        # the only tier there, so say nothing rather than advise installing llvmlite.
        return "interp", load_tier("interp")
    try:
        return "llvm", importlib.import_module(TIERS["llvm"])
    except ImportError as exc:
        if exc.name != "llvmlite":
            raise WasmError(f"the llvm execution tier is not available ({exc})") from None
    _notice_interp_fallback()
    return "interp", load_tier("interp")


class TierNotice(UserWarning):
    """``"auto"`` chose the interp tier because the llvm tier cannot load here."""


_noticed = False


def _notice_interp_fallback() -> None:
    """Say once per process that ``auto`` runs on the pure-Python tier, and how to get native
    code; a warning, so embedders can silence or log it like any other."""
    global _noticed
    if not _noticed:
        _noticed = True
        warnings.warn("wasmforge: llvmlite is not installed, running on the pure-Python interp tier "
                      "(pip install 'wasmforge[llvm]' for native code)", TierNotice, stacklevel=4)


def load_tier(strategy: str) -> ModuleType:
    """The module of tier ``strategy`` (a key of :data:`TIERS`), imported now; WasmError,
    naming the tier, when it cannot load here."""
    hint = "" if strategy == "interp" else "; use strategy 'interp'"
    try:
        mod = importlib.import_module(TIERS[strategy])
    except ImportError as exc:
        raise WasmError(f"the {strategy} execution tier is not available ({exc}){hint}") from None
    if getattr(mod, "compile_module", None) is None:
        raise WasmError(f"the {strategy} execution tier is not available in this build{hint}")
    return mod
