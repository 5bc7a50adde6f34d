"""What the quick compiler takes on: the host CPU it needs and the refusal of a module it
does not compile.  Its own module, below the translator, so that asking (the module cache
key, llvm/compiler.py) builds none of the translator's tables."""

from __future__ import annotations

_cpu_ok = None


class Refused(Exception):
    """The quick compiler does not compile this module (the LLVM baseline does)."""


def cpu_supported() -> bool:
    """Whether the host has the instructions quick code uses beyond x86-64's baseline:
    SSE4.1 (``roundss``/``roundsd``: ceil, floor, trunc, nearest), ``popcnt``, ``lzcnt``
    (``abm``) and ``tzcnt`` (``bmi1``)."""
    global _cpu_ok
    if _cpu_ok is None:
        try:
            with open("/proc/cpuinfo", "rb") as fh:
                flags = set()
                for line in fh:
                    if line.startswith(b"flags"):
                        flags = set(line.split(b":", 1)[1].split())
                        break
        except OSError:
            flags = set()
        _cpu_ok = {b"sse4_1", b"popcnt", b"abm", b"bmi1"} <= flags
    return _cpu_ok
