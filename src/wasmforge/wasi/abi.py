"""The preview1 ABI: numbers, bit sets and struct layouts of ``wasi_snapshot_preview1``.

Everything here is transcribed from the witx description of WASI preview1
(``preview1/witx/typenames.witx`` and ``wasi_snapshot_preview1.witx``).  Enumerations keep
their witx order, which *is* their numeric value; flags are bit positions in that order.
Struct offsets follow the witx C layout (natural alignment, little-endian).
"""

from __future__ import annotations

import errno as _errno
import enum
import struct

from ..types import FuncType


class Errno(enum.IntEnum):
    """``$errno``: the error codes preview1 functions return (0 is success)."""

    SUCCESS = 0
    TOOBIG = 1          # witx `2big` (E2BIG)
    ACCES = 2
    ADDRINUSE = 3
    ADDRNOTAVAIL = 4
    AFNOSUPPORT = 5
    AGAIN = 6
    ALREADY = 7
    BADF = 8
    BADMSG = 9
    BUSY = 10
    CANCELED = 11
    CHILD = 12
    CONNABORTED = 13
    CONNREFUSED = 14
    CONNRESET = 15
    DEADLK = 16
    DESTADDRREQ = 17
    DOM = 18
    DQUOT = 19
    EXIST = 20
    FAULT = 21
    FBIG = 22
    HOSTUNREACH = 23
    IDRM = 24
    ILSEQ = 25
    INPROGRESS = 26
    INTR = 27
    INVAL = 28
    IO = 29
    ISCONN = 30
    ISDIR = 31
    LOOP = 32
    MFILE = 33
    MLINK = 34
    MSGSIZE = 35
    MULTIHOP = 36
    NAMETOOLONG = 37
    NETDOWN = 38
    NETRESET = 39
    NETUNREACH = 40
    NFILE = 41
    NOBUFS = 42
    NODEV = 43
    NOENT = 44
    NOEXEC = 45
    NOLCK = 46
    NOLINK = 47
    NOMEM = 48
    NOMSG = 49
    NOPROTOOPT = 50
    NOSPC = 51
    NOSYS = 52
    NOTCONN = 53
    NOTDIR = 54
    NOTEMPTY = 55
    NOTRECOVERABLE = 56
    NOTSOCK = 57
    NOTSUP = 58
    NOTTY = 59
    NXIO = 60
    OVERFLOW = 61
    OWNERDEAD = 62
    PERM = 63
    PIPE = 64
    PROTO = 65
    PROTONOSUPPORT = 66
    PROTOTYPE = 67
    RANGE = 68
    ROFS = 69
    SPIPE = 70
    SRCH = 71
    STALE = 72
    TIMEDOUT = 73
    TXTBSY = 74
    XDEV = 75
    NOTCAPABLE = 76


def _host_errno_table() -> dict:
    table = {}
    for e in Errno:
        if e is Errno.SUCCESS:
            continue
        name = "E2BIG" if e is Errno.TOOBIG else "E" + e.name
        code = getattr(_errno, name, None)
        if code is not None:
            table.setdefault(code, int(e))
    # Aliases the loop cannot see by name.
    for alias, target in (("EOPNOTSUPP", Errno.NOTSUP), ("EWOULDBLOCK", Errno.AGAIN),
                          ("EDEADLOCK", Errno.DEADLK)):
        code = getattr(_errno, alias, None)
        if code is not None:
            table.setdefault(code, int(target))
    return table


#: host ``errno`` value -> WASI errno
HOST_ERRNO = _host_errno_table()


def errno_of(exc: OSError) -> int:
    """The WASI errno for a host ``OSError`` (``EIO`` for codes WASI lacks)."""
    return HOST_ERRNO.get(exc.errno, Errno.IO)


class Rights(enum.IntFlag):
    """``$rights``: what a file descriptor may be used for (a u64 bit set)."""

    FD_DATASYNC = 1 << 0
    FD_READ = 1 << 1
    FD_SEEK = 1 << 2
    FD_FDSTAT_SET_FLAGS = 1 << 3
    FD_SYNC = 1 << 4
    FD_TELL = 1 << 5
    FD_WRITE = 1 << 6
    FD_ADVISE = 1 << 7
    FD_ALLOCATE = 1 << 8
    PATH_CREATE_DIRECTORY = 1 << 9
    PATH_CREATE_FILE = 1 << 10
    PATH_LINK_SOURCE = 1 << 11
    PATH_LINK_TARGET = 1 << 12
    PATH_OPEN = 1 << 13
    FD_READDIR = 1 << 14
    PATH_READLINK = 1 << 15
    PATH_RENAME_SOURCE = 1 << 16
    PATH_RENAME_TARGET = 1 << 17
    PATH_FILESTAT_GET = 1 << 18
    PATH_FILESTAT_SET_SIZE = 1 << 19
    PATH_FILESTAT_SET_TIMES = 1 << 20
    FD_FILESTAT_GET = 1 << 21
    FD_FILESTAT_SET_SIZE = 1 << 22
    FD_FILESTAT_SET_TIMES = 1 << 23
    PATH_SYMLINK = 1 << 24
    PATH_REMOVE_DIRECTORY = 1 << 25
    PATH_UNLINK_FILE = 1 << 26
    POLL_FD_READWRITE = 1 << 27
    SOCK_SHUTDOWN = 1 << 28
    SOCK_ACCEPT = 1 << 29


R = Rights
ALL_RIGHTS = (1 << 30) - 1

#: rights meaningful on a regular file
FILE_RIGHTS = int(R.FD_DATASYNC | R.FD_READ | R.FD_SEEK | R.FD_FDSTAT_SET_FLAGS | R.FD_SYNC | R.FD_TELL
                  | R.FD_WRITE | R.FD_ADVISE | R.FD_ALLOCATE | R.FD_FILESTAT_GET | R.FD_FILESTAT_SET_SIZE
                  | R.FD_FILESTAT_SET_TIMES | R.POLL_FD_READWRITE)
#: the subset of FILE_RIGHTS that never changes a file
FILE_READ_RIGHTS = int(R.FD_READ | R.FD_SEEK | R.FD_FDSTAT_SET_FLAGS | R.FD_TELL | R.FD_ADVISE
                       | R.FD_FILESTAT_GET | R.POLL_FD_READWRITE)
#: rights meaningful on a directory
DIR_RIGHTS = int(R.FD_FDSTAT_SET_FLAGS | R.FD_SYNC | R.FD_DATASYNC
                 | R.PATH_CREATE_DIRECTORY | R.PATH_CREATE_FILE
                 | R.PATH_LINK_SOURCE | R.PATH_LINK_TARGET | R.PATH_OPEN | R.FD_READDIR | R.PATH_READLINK
                 | R.PATH_RENAME_SOURCE | R.PATH_RENAME_TARGET | R.PATH_FILESTAT_GET
                 | R.PATH_FILESTAT_SET_SIZE | R.PATH_FILESTAT_SET_TIMES | R.FD_FILESTAT_GET
                 | R.FD_FILESTAT_SET_TIMES | R.PATH_SYMLINK | R.PATH_REMOVE_DIRECTORY | R.PATH_UNLINK_FILE
                 | R.POLL_FD_READWRITE)
#: the subset of DIR_RIGHTS that never changes the tree below the directory
DIR_READ_RIGHTS = int(R.FD_FDSTAT_SET_FLAGS | R.PATH_OPEN | R.FD_READDIR | R.PATH_READLINK
                      | R.PATH_FILESTAT_GET | R.FD_FILESTAT_GET | R.POLL_FD_READWRITE)
#: rights of a byte stream (stdio, pipes)
STREAM_RIGHTS = int(R.FD_READ | R.FD_WRITE | R.FD_FDSTAT_SET_FLAGS | R.FD_FILESTAT_GET | R.POLL_FD_READWRITE)
#: rights of a connected socket
SOCKET_RIGHTS = int(R.FD_READ | R.FD_WRITE | R.FD_FDSTAT_SET_FLAGS | R.FD_FILESTAT_GET
                    | R.POLL_FD_READWRITE | R.SOCK_SHUTDOWN)
#: rights of a listening socket
LISTENER_RIGHTS = int(R.FD_FDSTAT_SET_FLAGS | R.FD_FILESTAT_GET | R.POLL_FD_READWRITE | R.SOCK_ACCEPT)


class Filetype(enum.IntEnum):
    """``$filetype``."""

    UNKNOWN = 0
    BLOCK_DEVICE = 1
    CHARACTER_DEVICE = 2
    DIRECTORY = 3
    REGULAR_FILE = 4
    SOCKET_DGRAM = 5
    SOCKET_STREAM = 6
    SYMBOLIC_LINK = 7


class Clock(enum.IntEnum):
    """``$clockid``."""

    REALTIME = 0
    MONOTONIC = 1
    PROCESS_CPUTIME_ID = 2
    THREAD_CPUTIME_ID = 3


# $whence
WHENCE_SET, WHENCE_CUR, WHENCE_END = 0, 1, 2
# $advice: normal .. noreuse
ADVICE_MAX = 5
# $fdflags
FDFLAG_APPEND, FDFLAG_DSYNC, FDFLAG_NONBLOCK, FDFLAG_RSYNC, FDFLAG_SYNC = 1, 2, 4, 8, 16
FDFLAGS_ALL = 31
# $fstflags
FST_ATIM, FST_ATIM_NOW, FST_MTIM, FST_MTIM_NOW = 1, 2, 4, 8
# $lookupflags
LOOKUP_SYMLINK_FOLLOW = 1
# $oflags
OFLAG_CREAT, OFLAG_DIRECTORY, OFLAG_EXCL, OFLAG_TRUNC = 1, 2, 4, 8
OFLAGS_ALL = 15
# $eventtype
EVENT_CLOCK, EVENT_FD_READ, EVENT_FD_WRITE = 0, 1, 2
# $eventrwflags
EVENT_FD_READWRITE_HANGUP = 1
# $subclockflags
SUBSCRIPTION_CLOCK_ABSTIME = 1
# $signal: none .. sys
SIGNAL_MAX = 30
# $riflags / $roflags
RIFLAG_RECV_PEEK, RIFLAG_RECV_WAITALL = 1, 2
ROFLAG_RECV_DATA_TRUNCATED = 1
# $sdflags
SDFLAG_RD, SDFLAG_WR = 1, 2
# $preopentype
PREOPENTYPE_DIR = 0

# Struct layouts (offsets in bytes).
IOVEC = struct.Struct("<II")                # buf, buf_len; size 8
FDSTAT = struct.Struct("<BxHxxxxQQ")       # filetype@0, flags@2, rights_base@8, rights_inheriting@16; size 24
FILESTAT = struct.Struct("<QQB7xQQQQQ")    # dev@0 ino@8 filetype@16 nlink@24 size@32 atim@40 mtim@48 ctim@56; 64
DIRENT = struct.Struct("<QQIB3x")          # d_next@0 d_ino@8 d_namlen@16 d_type@20; size 24
PRESTAT = struct.Struct("<B3xI")           # tag@0, pr_name_len@4; size 8
SUBSCRIPTION_SIZE = 48                     # userdata@0, tag@8, contents@16
SUB_HEAD = struct.Struct("<QB")
SUB_CLOCK = struct.Struct("<I4xQQH")       # id@16 timeout@24 precision@32 flags@40
SUB_FD = struct.Struct("<I")               # file_descriptor@16
EVENT = struct.Struct("<QHB5xQH6x")        # userdata@0 error@8 type@10 nbytes@16 flags@24; size 32
U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")

_I, _L = "i32", "i64"

#: every preview1 import: name -> core function type (witx lowered to core wasm: pointers and
#: 32-bit-or-narrower values are i32, 64-bit values i64, results after the errno become
#: trailing out-pointers).
SIGNATURES: dict[str, FuncType] = {
    name: FuncType(params, results)
    for name, params, results in (
        ("args_get", (_I, _I), (_I,)),
        ("args_sizes_get", (_I, _I), (_I,)),
        ("environ_get", (_I, _I), (_I,)),
        ("environ_sizes_get", (_I, _I), (_I,)),
        ("clock_res_get", (_I, _I), (_I,)),
        ("clock_time_get", (_I, _L, _I), (_I,)),
        ("fd_advise", (_I, _L, _L, _I), (_I,)),
        ("fd_allocate", (_I, _L, _L), (_I,)),
        ("fd_close", (_I,), (_I,)),
        ("fd_datasync", (_I,), (_I,)),
        ("fd_fdstat_get", (_I, _I), (_I,)),
        ("fd_fdstat_set_flags", (_I, _I), (_I,)),
        ("fd_fdstat_set_rights", (_I, _L, _L), (_I,)),
        ("fd_filestat_get", (_I, _I), (_I,)),
        ("fd_filestat_set_size", (_I, _L), (_I,)),
        ("fd_filestat_set_times", (_I, _L, _L, _I), (_I,)),
        ("fd_pread", (_I, _I, _I, _L, _I), (_I,)),
        ("fd_prestat_get", (_I, _I), (_I,)),
        ("fd_prestat_dir_name", (_I, _I, _I), (_I,)),
        ("fd_pwrite", (_I, _I, _I, _L, _I), (_I,)),
        ("fd_read", (_I, _I, _I, _I), (_I,)),
        ("fd_readdir", (_I, _I, _I, _L, _I), (_I,)),
        ("fd_renumber", (_I, _I), (_I,)),
        ("fd_seek", (_I, _L, _I, _I), (_I,)),
        ("fd_sync", (_I,), (_I,)),
        ("fd_tell", (_I, _I), (_I,)),
        ("fd_write", (_I, _I, _I, _I), (_I,)),
        ("path_create_directory", (_I, _I, _I), (_I,)),
        ("path_filestat_get", (_I, _I, _I, _I, _I), (_I,)),
        ("path_filestat_set_times", (_I, _I, _I, _I, _L, _L, _I), (_I,)),
        ("path_link", (_I, _I, _I, _I, _I, _I, _I), (_I,)),
        ("path_open", (_I, _I, _I, _I, _I, _L, _L, _I, _I), (_I,)),
        ("path_readlink", (_I, _I, _I, _I, _I, _I), (_I,)),
        ("path_remove_directory", (_I, _I, _I), (_I,)),
        ("path_rename", (_I, _I, _I, _I, _I, _I), (_I,)),
        ("path_symlink", (_I, _I, _I, _I, _I), (_I,)),
        ("path_unlink_file", (_I, _I, _I), (_I,)),
        ("poll_oneoff", (_I, _I, _I, _I), (_I,)),
        ("proc_exit", (_I,), ()),
        ("proc_raise", (_I,), (_I,)),
        ("sched_yield", (), (_I,)),
        ("random_get", (_I, _I), (_I,)),
        ("sock_accept", (_I, _I, _I), (_I,)),
        ("sock_recv", (_I, _I, _I, _I, _I, _I), (_I,)),
        ("sock_send", (_I, _I, _I, _I, _I), (_I,)),
        ("sock_shutdown", (_I, _I), (_I,)),
    )
}

MODULE_NAME = "wasi_snapshot_preview1"
