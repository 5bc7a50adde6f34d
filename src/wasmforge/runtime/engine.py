"""Engine and Config: which execution tier compiles and runs modules."""

from __future__ import annotations

import importlib
import os

from ..errors import WasmError

STRATEGIES = ("auto", "interp", "llvm")

# strategy -> module providing `compile_module(module, info=None)`
_TIER_MODULES = {"interp": "wasmforge.interp", "llvm": "wasmforge.llvm"}


class Config:
    """Engine configuration (wasmtime-py's ``Config``).

    ``strategy`` picks the execution tier: ``"interp"`` (pure Python), ``"llvm"`` (native
    code; not available yet) or ``"auto"`` (the best available, currently ``interp``).  The
    environment variable ``WASMFORGE_STRATEGY`` sets the default."""

    def __init__(self):
        self._strategy = os.environ.get("WASMFORGE_STRATEGY", "auto") or "auto"

    @property
    def strategy(self) -> str:
        return self._strategy

    @strategy.setter
    def strategy(self, value: str) -> None:
        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r}: expected one of {', '.join(STRATEGIES)}")
        self._strategy = value

    def __repr__(self) -> str:
        return f"<Config strategy={self._strategy!r}>"


class Engine:
    """Compiles modules with one execution tier; every Store and Module belongs to one Engine."""

    def __init__(self, config: Config | None = None):
        if config is None:
            config = Config()
        elif not isinstance(config, Config):
            raise TypeError(f"expected a Config, got {type(config).__name__}")
        strategy = config.strategy
        if strategy not in STRATEGIES:
            raise WasmError(f"unknown strategy {strategy!r} (from WASMFORGE_STRATEGY?): "
                            f"expected one of {', '.join(STRATEGIES)}")
        self.strategy = "interp" if strategy == "auto" else strategy
        # The interp tier is part of every build; any other tier is checked now so that asking
        # for one that is missing fails here, with a clear message, not at the first call.
        self._compile_module = None if self.strategy == "interp" else _load_tier(self.strategy)

    def compile(self, module, info=None):
        """Translate a validated module (wasmforge.module.Module) with this engine's tier."""
        if self._compile_module is None:
            self._compile_module = _load_tier(self.strategy)
        return self._compile_module(module, info)

    def __repr__(self) -> str:
        return f"<Engine {self.strategy}>"


def _load_tier(strategy: str):
    hint = "" if strategy == "interp" else "; use strategy 'interp'"
    try:
        mod = importlib.import_module(_TIER_MODULES[strategy])
    except ImportError as exc:
        raise WasmError(f"the {strategy} execution tier is not available ({exc}){hint}") from None
    compile_module = getattr(mod, "compile_module", None)
    if compile_module is None:
        raise WasmError(f"the {strategy} execution tier is not available in this build{hint}")
    return compile_module
