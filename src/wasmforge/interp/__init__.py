"""The pure-Python execution tier: each function is translated once to Python source with the
operand stack resolved at translation time, then run by CPython.

``compile_module(module)`` makes an immutable :class:`CompiledModule` shared by all
instances; ``compiled.instantiate(inst)`` returns one callable per defined function.
"""

from .compiler import CompiledModule, compile_module
from .sampling import stack_sampler

__all__ = ["CompiledModule", "compile_module", "stack_sampler"]
