#!/bin/sh
# Rebuilds the checked-in fixtures with zig cc (PyPI `ziglang`, a test extra):
#   sh tests/wasi/programs/build.sh
set -e
cd "$(dirname "$0")"
ZIGCC="${PYTHON:-python} -m ziglang cc"
$ZIGCC --target=wasm32-wasi-musl -O2 -s -mtail-call src/tail_call.c -o tail_call.wasm
$ZIGCC --target=wasm32-wasi-musl -O2 -s -mcpu=generic+atomics+bulk_memory \
    -Wl,--import-memory,--export-memory,--shared-memory,--max-memory=4194304,-z,stack-size=1048576 \
    src/wasi_threads.c -o wasi_threads.wasm
# wasm32-wasi with threads from Zig's own std.Thread (thread-spawn, wasi_thread_start): zig
# cc's bundled wasi-libc has only the single-threaded pthread stub (pthread_create gives EAGAIN),
# so a C pthreads program cannot be built with it.
${PYTHON:-python} -m ziglang build-exe -target wasm32-wasi -mcpu=generic+atomics+bulk_memory \
    -fno-single-threaded -O ReleaseSmall -fstrip --import-memory --export-memory --shared-memory \
    --max-memory=67108864 --export=wasi_thread_start src/zig_threads.zig -femit-bin=zig_threads.wasm
rm -f zig_threads.wasm.o
