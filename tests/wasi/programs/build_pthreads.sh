#!/bin/sh
# Rebuilds tests/wasi/programs/pthreads.wasm, a C program using wasi-libc's POSIX threads, for
# the wasm32-wasip1-threads target (what wasi-sdk's clang builds with -pthread):
#
#   WASI_LIBC_SRC=/path/to/wasi-libc sh tests/wasi/programs/build_pthreads.sh
#
# zig cc cannot build it (zig's bundled wasi-libc has only the single-threaded pthread stub),
# but the clang and wasm-ld inside zig can, with wasi-libc itself built for that target.
# Toolchain of the checked-in binary:
#   - PyPI ziglang 0.17.1 (a test extra): `zig clang` = clang 22.1.8, `zig wasm-ld` = LLD
#     22.1.8, `zig ar`, and Zig's compiler_rt (the builtins clang links: long double printf);
#   - wasi-libc at tag wasi-sdk-27 (commit 3f7eb4c7d6ede4dde3c4bffa6ed14e8d656fe93f, the last
#     one built by its Makefile), compiled here with THREAD_MODEL=posix for
#     TARGET_TRIPLE=wasm32-wasip1-threads.
# The link flags are wasi-sdk's for threads: the memory is imported (every thread's instance
# shares it), exported, shared (implied by -pthread) and bounded (--max-memory).
set -e
: "${WASI_LIBC_SRC:?set WASI_LIBC_SRC to a wasi-libc checkout at tag wasi-sdk-27}"
cd "$(dirname "$0")"
HERE=$(pwd)
ZIG=$(${PYTHON:-python} -c "import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), 'zig'))")
ZIGLIB=$(dirname "$ZIG")/lib
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# clang's resource directory: zig's clang headers and a compiler_rt built for the target.
mkdir -p "$WORK/bin" "$WORK/resource/lib/wasm32-unknown-wasip1-threads"
ln -s "$ZIGLIB/include" "$WORK/resource/include"
(cd "$WORK/resource/lib/wasm32-unknown-wasip1-threads" &&
 "$ZIG" build-lib -target wasm32-wasi -mcpu=generic+atomics+bulk_memory -O ReleaseSmall \
     -fno-single-threaded --name clang_rt.builtins "$ZIGLIB/compiler_rt.zig")
for tool in "clang:clang -resource-dir $WORK/resource" "llvm-ar:ar" "llvm-ranlib:ranlib" "wasm-ld:wasm-ld"; do
    printf '#!/bin/sh\nexec %s %s "$@"\n' "$ZIG" "${tool#*:}" > "$WORK/bin/${tool%%:*}"
    chmod +x "$WORK/bin/${tool%%:*}"
done
export PATH="$WORK/bin:$PATH"

# wasi-libc for wasm32-wasip1-threads (its symbol check needs llvm-nm: skipped).
cp -r "$WASI_LIBC_SRC" "$WORK/wasi-libc"
make -C "$WORK/wasi-libc" -j2 CC="$WORK/bin/clang" AR="$WORK/bin/llvm-ar" NM=true \
    THREAD_MODEL=posix TARGET_TRIPLE=wasm32-wasip1-threads SYSROOT="$WORK/sysroot" no-check-symbols

clang --target=wasm32-wasip1-threads --sysroot="$WORK/sysroot" -pthread -O2 \
    -Wl,--import-memory,--export-memory,--max-memory=67108864 \
    src/pthreads.c -o "$HERE/pthreads.wasm"
