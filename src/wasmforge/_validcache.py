"""Validation results cached per machine: a binary validated once (with the same proposals
switched on, by the same front end) is not validated again by the next process.

The entry name is a SHA-256 of the binary, the switched-on proposals and a stamp of the
front end's files (their sizes and modification times, as the module cache stamps the code
generator: an edited checkout never trusts an old verdict).  Only successes are stored: the
entry's presence is the verdict.  Entries live in the ``valid`` folder of
:mod:`wasmforge._cache`, so they are private and HMAC'd like the compiled code: a forged
entry would make the tiers run an invalid module, exactly as a forged compiled entry would.
"""

from __future__ import annotations

import hashlib
import os
from typing import Iterable

from . import _cache

_DOMAIN = b"wasmforge-validation-cache-v1\0"
_VERDICT = b"valid"
# The files whose code decides whether a binary is valid.
_FRONT_END = (os.path.join("valid", "validate.py"), os.path.join("valid", "fast.py"),
              os.path.join("binary", "decode.py"), os.path.join("binary", "leb128.py"),
              "opcodes.py", "types.py", "module.py", "features.py")
_stamp = None


def _front_end_stamp() -> bytes:
    global _stamp
    if _stamp is None:
        _stamp = _cache.files_stamp(os.path.dirname(os.path.abspath(__file__)), _FRONT_END)
    return _stamp


def entry(binary: bytes, features: Iterable[str]) -> str:
    """The entry name of ``binary`` validated with ``features`` switched on."""
    h = hashlib.sha256(_DOMAIN)
    h.update(_front_end_stamp() + b"\0")
    h.update(",".join(sorted(features)).encode() + b"\0")
    h.update(binary)
    return "valid-" + h.hexdigest()


def known_valid(binary: bytes, features: Iterable[str]) -> bool:
    """Whether this user's processes found ``binary`` valid before (same features, same
    front end)."""
    cache = _cache.folder("valid")
    return bool(cache) and cache.load(entry(binary, features)) == _VERDICT


def remember_valid(binary: bytes, features: Iterable[str]) -> None:
    """Record that ``binary`` is valid with ``features``."""
    cache = _cache.folder("valid")
    if cache:
        cache.store(entry(binary, features), _VERDICT)
