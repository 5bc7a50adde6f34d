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
