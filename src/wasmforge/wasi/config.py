"""``WasiConfig``: what a WASI instance is given (wasmtime-py's shape, plus a few extras)."""

from __future__ import annotations

import codecs
import enum
import io
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Sequence, Union

from .._frozen import Frozen
from ..errors import Handle, NotSupportedError, WasmError
from .pipes import OutputPipe, StdinPipe

if TYPE_CHECKING:
    import socket as _socket

    # The network capability (ipaddress, dataclasses: ~2 ms to import) is loaded when a
    # config's network is first used: a preview1 program never does.
    from .network import IPAddress, IPNetwork, NetworkPolicy, PortSpec, SocketAddrUse

StrOrBytes = Union[str, bytes]


class DirPerms(enum.Enum):
    """What the guest may do to a preopened directory's tree (wasmtime-py's ``DirPerms``):
    READ_ONLY lists and opens; READ_WRITE also creates, renames and removes."""

    READ_ONLY = 1
    WRITE_ONLY = 2
    READ_WRITE = 3


class FilePerms(enum.Enum):
    """The most the guest may do to a file below a preopened directory (wasmtime-py's
    ``FilePerms``): READ_ONLY files open for reading only."""

    READ_ONLY = 1
    WRITE_ONLY = 2
    READ_WRITE = 3


class Preopen(Frozen):
    """One preopened directory: the host directory, the name the guest sees, whether the
    guest may change anything below it, and whether it may write to files (only meaningful
    when ``read_only`` is False).  Immutable, equal by its fields (_frozen.py)."""

    host_path: str
    guest_path: str
    read_only: bool
    file_read_only: bool
    _fields = ("host_path", "guest_path", "read_only", "file_read_only")

    def __init__(self, host_path: str, guest_path: str, read_only: bool = False,
                 file_read_only: bool = False) -> None:
        object.__setattr__(self, "host_path", host_path)
        object.__setattr__(self, "guest_path", guest_path)
        object.__setattr__(self, "read_only", read_only)
        object.__setattr__(self, "file_read_only", file_read_only)


class _Capture:
    """The sink of ``WasiConfig.stdout_buffer``/``stderr_buffer``: called with each chunk the
    guest writes (``bytes`` already: preview1's ``_chunks`` and WASI 0.2's output streams
    copy out of guest memory), it puts the bytes into ``target``."""

    __slots__ = ("target", "_write")

    def __init__(self, target: Any, name: str) -> None:
        self.target = target
        if isinstance(target, bytearray):
            self._write: Callable[[bytes], object] = target.extend
        elif isinstance(target, io.TextIOBase):
            # A guest writes bytes; a UTF-8 character may straddle two writes.
            decode = codecs.getincrementaldecoder("utf-8")("replace").decode
            write = target.write
            self._write = lambda data: write(decode(data))
        elif callable(getattr(target, "write", None)):
            self._write = target.write
        else:
            raise TypeError(f"{name} must be a bytearray or a stream with write(), "
                            f"got {type(target).__name__}")

    def __call__(self, data: bytes) -> None:
        self._write(data)


def _captured(slot: "tuple[str, Any]") -> Any:
    return slot[1].target if slot[0] == "callback" and isinstance(slot[1], _Capture) else None


class WasiConfig(Handle):
    """Configuration of one WASI preview1 context.

    Mirrors ``wasmtime.WasiConfig``: ``argv``, ``env``, ``inherit_*()``, ``stdin_file``,
    ``stdout_file``, ``stderr_file`` and ``preopen_dir()``.  By default the guest gets no
    arguments, no environment, an empty stdin, discarded stdout/stderr and no directory.

    wasmforge extras: ``stdin_bytes`` (the bytes stdin yields), ``stdout_callback`` and
    ``stderr_callback`` (called with each chunk of bytes the guest writes), ``stdout_buffer``
    and ``stderr_buffer`` (a ``bytearray`` or stream receiving them), ``stdin_pipe()``,
    ``stdout_pipe()`` and ``stderr_pipe()`` (streams the host feeds and reads while the guest
    runs),
    ``preopen_dir(..., read_only=True)`` and ``preopen_socket()``.
    """

    def __init__(self) -> None:
        self._argv: list[bytes] = []
        self._env: list[tuple[bytes, bytes]] = []
        # Each stdio slot is (kind, value): ("null", None), ("inherit", host fd),
        # ("file", path), ("bytes", data), ("callback", callable) or ("pipe", StdinPipe or
        # OutputPipe).
        self._stdin: tuple[str, Any] = ("null", None)
        self._stdout: tuple[str, Any] = ("null", None)
        self._stderr: tuple[str, Any] = ("null", None)
        self.preopens: list[Preopen] = []
        self.sockets: list[_socket.socket] = []
        #: Virtual clocks for WASI 0.2 (``wasi:clocks``): callables returning nanoseconds (the
        #: wall clock since the Unix epoch; the monotonic clock from any origin).  None: the
        #: host's clocks.  ``lambda: 0`` is a fixed clock.
        self.wall_clock: Optional[Callable[[], int]] = None
        self.monotonic_clock: Optional[Callable[[], int]] = None
        #: A seed making WASI 0.2's ``wasi:random`` (all three interfaces) deterministic, for
        #: tests; None (the default): ``random`` is the OS's cryptographic randomness.
        self.random_seed: Optional[int] = None
        self._network: Optional[NetworkPolicy] = None

    @property
    def network(self) -> NetworkPolicy:
        """The network capability of WASI 0.2 sockets (``allow_tcp``, ``allow_udp``,
        ``inherit_network``, ``socket_addr_check``, ``allow_ip_name_lookup``): none by default.
        Made on first use: a preview1 program never asks for it (a config per request)."""
        network = self._network
        if network is None:
            from .network import NetworkPolicy  # start-up speed: see the imports above
            network = self._network = NetworkPolicy()
        return network

    @network.setter
    def network(self, policy: NetworkPolicy) -> None:
        self._network = policy

    # -- arguments and environment -------------------------------------------------------
    @property
    def argv(self) -> list[bytes]:
        """The program's arguments, ``argv[0]`` (the program name) first."""
        return list(self._argv)

    @argv.setter
    def argv(self, args: Sequence[StrOrBytes]) -> None:
        self._argv = [_to_bytes(a, "argument") for a in args]

    def inherit_argv(self) -> None:
        """Give the guest this Python process's ``sys.argv``."""
        self.argv = sys.argv

    @property
    def env(self) -> list[tuple[bytes, bytes]]:
        """The environment as a list of ``(key, value)`` pairs (set it from pairs or a dict)."""
        return list(self._env)

    @env.setter
    def env(self, pairs: "Iterable[tuple[StrOrBytes, StrOrBytes]] | Mapping[StrOrBytes, StrOrBytes]") -> None:
        env = []
        for key, value in (pairs.items() if isinstance(pairs, Mapping) else pairs):
            k = _to_bytes(key, "environment variable name")
            if not k or b"=" in k:
                raise WasmError(f"invalid environment variable name {key!r}")
            env.append((k, _to_bytes(value, "environment variable value")))
        self._env = env

    def inherit_env(self) -> None:
        """Give the guest this Python process's environment."""
        self._env = [(k, v) for k, v in os.environb.items()]

    # -- stdio ---------------------------------------------------------------------------
    def inherit_stdin(self) -> None:
        """Let the guest read this process's standard input."""
        self._stdin = ("inherit", 0)

    def inherit_stdout(self) -> None:
        """Send the guest's standard output to this process's standard output."""
        self._stdout = ("inherit", 1)

    def inherit_stderr(self) -> None:
        """Send the guest's standard error to this process's standard error."""
        self._stderr = ("inherit", 2)

    stdin_file = property(lambda self: _path_of(self._stdin),
                          lambda self, path: setattr(self, "_stdin", ("file", _checked_path(path))),
                          doc="A host file the guest reads as standard input.")
    stdout_file = property(lambda self: _path_of(self._stdout),
                           lambda self, path: setattr(self, "_stdout", ("file", _output_path(path, "stdout"))),
                           doc="A host file (created or truncated) receiving standard output.")
    stderr_file = property(lambda self: _path_of(self._stderr),
                           lambda self, path: setattr(self, "_stderr", ("file", _output_path(path, "stderr"))),
                           doc="A host file (created or truncated) receiving standard error.")

    @property
    def stdin_bytes(self) -> Optional[bytes]:
        """The bytes the guest reads as standard input (then end of file)."""
        return self._stdin[1] if self._stdin[0] == "bytes" else None

    @stdin_bytes.setter
    def stdin_bytes(self, data: bytes) -> None:
        self._stdin = ("bytes", bytes(data))

    @property
    def stdout_callback(self) -> Optional[Callable[[bytes], object]]:
        """A callable receiving every chunk of bytes the guest writes to standard output."""
        return self._stdout[1] if self._stdout[0] == "callback" else None

    @stdout_callback.setter
    def stdout_callback(self, fn: Callable[[bytes], object]) -> None:
        if not callable(fn):
            raise TypeError("stdout_callback must be callable")
        self._stdout = ("callback", fn)

    @property
    def stderr_callback(self) -> Optional[Callable[[bytes], object]]:
        """A callable receiving every chunk of bytes the guest writes to standard error."""
        return self._stderr[1] if self._stderr[0] == "callback" else None

    @stderr_callback.setter
    def stderr_callback(self, fn: Callable[[bytes], object]) -> None:
        if not callable(fn):
            raise TypeError("stderr_callback must be callable")
        self._stderr = ("callback", fn)

    # wasmtime-py's names for the callbacks.
    stdout_custom = stdout_callback
    stderr_custom = stderr_callback

    @property
    def stdout_buffer(self) -> Any:
        """Capture the guest's standard output into a Python object: a ``bytearray`` (the
        bytes appended), a binary stream (``io.BytesIO``, a file opened ``"wb"``: its
        ``write`` called with each chunk) or a text stream (``io.StringIO``, ``sys.stdout``:
        written decoded as UTF-8, invalid bytes replaced, a character split between two
        writes written whole with the second).  Reads back the object set, else None."""
        return _captured(self._stdout)

    @stdout_buffer.setter
    def stdout_buffer(self, target: Any) -> None:
        self._stdout = ("callback", _Capture(target, "stdout_buffer"))

    @property
    def stderr_buffer(self) -> Any:
        """As :attr:`stdout_buffer`, for standard error."""
        return _captured(self._stderr)

    @stderr_buffer.setter
    def stderr_buffer(self, target: Any) -> None:
        self._stderr = ("callback", _Capture(target, "stderr_buffer"))

    def stdin_pipe(self) -> StdinPipe:
        """Feed the guest's standard input from Python while it runs: returns the host's end
        (``write()``, ``close()`` for end of file).  An OS pipe, so a full pipe blocks the
        writer until the guest reads, and a guest waiting for input sleeps in the OS."""
        pipe = StdinPipe()
        self._stdin = ("pipe", pipe)
        return pipe

    def stdout_pipe(self) -> OutputPipe:
        """Read the guest's standard output from Python while it runs: returns the host's end
        (``read()``, ``readline()``, iteration; ``close()`` ends the stream).  A guest writing
        faster than the host reads is held back (preview2: ``check-write`` permits 0)."""
        pipe = OutputPipe("stdout")
        self._stdout = ("pipe", pipe)
        return pipe

    def stderr_pipe(self) -> OutputPipe:
        """As :meth:`stdout_pipe`, for standard error."""
        pipe = OutputPipe("stderr")
        self._stderr = ("pipe", pipe)
        return pipe

    # -- capabilities --------------------------------------------------------------------
    def preopen_dir(self, path: "str | os.PathLike[str]", guest_path: str,
                    dir_perms: "DirPerms | bool" = DirPerms.READ_WRITE,
                    file_perms: FilePerms = FilePerms.READ_WRITE, *, read_only: bool = False,
                    fs_mutable: Optional[bool] = None) -> None:
        """Grant the guest the host directory ``host_path``, visible as ``guest_path``.

        The guest reaches nothing outside the directories granted here.  ``dir_perms`` and
        ``file_perms`` are wasmtime-py's: ``DirPerms.READ_ONLY`` lets the guest read below the
        directory but create, change, rename or remove nothing there (as ``read_only=True``);
        ``FilePerms.READ_ONLY`` opens files for reading only.  A bool in place of
        ``dir_perms`` (or the keyword ``fs_mutable``) is wasmtime-py 50's ``fs_mutable``.
        Write-only permissions are not supported (NotSupportedError)."""
        if fs_mutable is not None:
            dir_perms = bool(fs_mutable)
        if isinstance(dir_perms, bool):
            dir_perms = DirPerms.READ_WRITE if dir_perms else DirPerms.READ_ONLY
        if not isinstance(dir_perms, DirPerms) or not isinstance(file_perms, FilePerms):
            raise TypeError("preopen_dir takes a DirPerms and a FilePerms")
        if dir_perms is DirPerms.WRITE_ONLY or file_perms is FilePerms.WRITE_ONLY:
            raise NotSupportedError("write-only DirPerms/FilePerms are not supported: a guest that "
                                    "may write below a directory may also read it")
        host = os.fspath(path)
        if not os.path.isdir(host):
            raise WasmError(f"failed to open directory {host!r}: not a directory")
        if not isinstance(guest_path, str) or not guest_path:
            raise WasmError("the guest path of a preopened directory must be a non-empty string")
        try:
            guest_path.encode("utf-8")          # the guest reads it as UTF-8 (WASI 0.2: a string)
        except UnicodeEncodeError:
            raise WasmError(f"the guest path {guest_path!r} of a preopened directory is not "
                            "UTF-8 text") from None
        read_only = read_only or dir_perms is DirPerms.READ_ONLY
        self.preopens.append(Preopen(host, guest_path, read_only,
                                     read_only or file_perms is FilePerms.READ_ONLY))

    # -- the network (WASI 0.2 wasi:sockets) ----------------------------------------------
    def allow_tcp(self, network: "str | IPAddress | IPNetwork", ports: Optional[PortSpec] = None, *,
                  bind: bool = True, connect: bool = True) -> None:
        """Let the guest's TCP sockets bind to (``bind``) and connect to (``connect``) the
        addresses of ``network`` (``"127.0.0.1"``, ``"::1"``, ``"10.0.0.0/8"``) on ``ports``
        (an int, a ``range`` or several of these; None: every port, including port 0, which
        asks the OS for an ephemeral port).  Anything not granted is ``access-denied``."""
        from .network import SocketAddrUse  # start-up speed: see the imports above
        uses = {SocketAddrUse.TCP_BIND} if bind else set()
        if connect:
            uses.add(SocketAddrUse.TCP_CONNECT)
        self.network.grant(network, ports, frozenset(uses))

    def allow_udp(self, network: "str | IPAddress | IPNetwork", ports: Optional[PortSpec] = None, *,
                  bind: bool = True, connect: bool = True) -> None:
        """Let the guest's UDP sockets bind to (``bind``) and send to or stream with
        (``connect``) the addresses of ``network`` on ``ports``, as :meth:`allow_tcp`."""
        from .network import SocketAddrUse  # start-up speed: see the imports above
        uses = {SocketAddrUse.UDP_BIND} if bind else set()
        if connect:
            uses |= {SocketAddrUse.UDP_CONNECT, SocketAddrUse.UDP_OUTGOING_DATAGRAM}
        self.network.grant(network, ports, frozenset(uses))

    def inherit_network(self, *, tcp: bool = True, udp: bool = True) -> None:
        """Grant every IPv4 and IPv6 address and port, for TCP and/or UDP (wasmtime's
        ``inherit_network``; ``wasmforge run -S inherit-network``)."""
        from .network import TCP_USES, UDP_USES  # start-up speed: see the imports above
        uses = (TCP_USES if tcp else frozenset()) | (UDP_USES if udp else frozenset())
        for net in ("0.0.0.0/0", "::/0"):
            self.network.grant(net, None, uses)

    @property
    def socket_addr_check(self) -> Optional[Callable[[str, int, SocketAddrUse], bool]]:
        """A callable ``check(address, port, use)`` asked about each address no grant covers
        (the address as a string, ``use`` a :class:`~wasmforge.wasi.network.SocketAddrUse`):
        true allows it.  An exception it raises reaches the embedder."""
        return self.network.check

    @socket_addr_check.setter
    def socket_addr_check(self, fn: Optional[Callable[[str, int, SocketAddrUse], bool]]) -> None:
        if fn is not None and not callable(fn):
            raise TypeError("socket_addr_check must be callable (or None)")
        self.network.check = fn

    @property
    def allow_ip_name_lookup(self) -> bool:
        """Whether ``wasi:sockets/ip-name-lookup`` may resolve names (False by default: it
        fails with ``permanent-resolver-failure``, as in wasmtime)."""
        return self.network.ip_name_lookup

    @allow_ip_name_lookup.setter
    def allow_ip_name_lookup(self, allowed: bool) -> None:
        if not allowed and self._network is None:
            return          # the default, without making the policy (``wasmforge run`` sets it)
        self.network.ip_name_lookup = bool(allowed)

    def __repr__(self) -> str:
        return (f"<WasiConfig argv={len(self._argv)} env={len(self._env)} stdin={self._stdin[0]} "
                f"stdout={self._stdout[0]} stderr={self._stderr[0]} preopens={len(self.preopens)} "
                f"sockets={len(self.sockets)}>")

    def preopen_socket(self, sock: _socket.socket) -> None:
        """Grant the guest a listening (``sock_accept``) or connected stream socket."""
        import socket as _socket  # start-up speed: the caller made a socket, so it is loaded
        if not isinstance(sock, _socket.socket):
            raise TypeError("preopen_socket takes a socket.socket")
        self.sockets.append(sock)


def _to_bytes(value: StrOrBytes, what: str) -> bytes:
    # A str from the operating system (sys.argv, os.environ) holds each byte that is not
    # UTF-8 as a lone surrogate (PEP 383): the guest gets that byte back, as os.fsencode does.
    try:
        b = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
    except UnicodeEncodeError:
        raise WasmError(f"{what} {value!r} is not text: it holds a lone surrogate") from None
    if b"\0" in b:
        raise WasmError(f"{what} {value!r} contains a NUL byte")
    return b


def _path_of(slot: tuple[str, Any]) -> Optional[str]:
    return str(slot[1]) if slot[0] == "file" else None


def _output_path(path: "str | os.PathLike[str]", what: str) -> str:
    """``path`` as an output file, checked now as wasmtime does (it opens the file when it is
    set): a file that cannot be created or opened for writing, such as one in a missing
    directory, raises here rather than when the guest starts.  The file is created if
    missing; it is truncated when the WASI context is made."""
    path = os.fspath(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise WasmError(f"failed to set {what} file {path!r}: {exc.strerror}") from None
    os.close(fd)
    return path


def _checked_path(path: "str | os.PathLike[str]") -> str:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WasmError(f"failed to open input file {path!r}")
    return path
