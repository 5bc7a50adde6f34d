#!/bin/sh
# Run the official WASI testsuite (preview1) on wasmforge through the suite's own runner.
#
#   benchmarks/wasi_testsuite/run.sh SUITE [--busy] [runner options...]
#
# SUITE is a checkout of WebAssembly/wasi-testsuite, branch prod/testsuite-base (it holds the
# prebuilt tests/*/testsuite/wasm32-wasip1/*.wasm).  The runner needs Python >= 3.12 and
# colorama (RUNNER_PYTHON, default python3).  wasmforge runs with the project's interpreter
# (WASMFORGE_PYTHON, default python3), default settings (default tier), and a new, empty
# compile cache (WASMFORGE_CACHE_DIR is set to a fresh folder).  With --busy, a process
# spinning on one core runs for the whole run.
set -eu
suite=$(cd "$1" && pwd); shift
here=$(cd "$(dirname "$0")" && pwd)
busy=
if [ "${1:-}" = "--busy" ]; then busy=1; shift; fi
cache=$(mktemp -d)
export WASMFORGE_CACHE_DIR="$cache"
export WASMFORGE="${WASMFORGE_PYTHON:-python3} -m wasmforge"
export PYTHONPATH="$here/../../src${PYTHONPATH:+:$PYTHONPATH}"
spinner=
if [ -n "$busy" ]; then
    "${WASMFORGE_PYTHON:-python3}" -c 'while 1: pass' & spinner=$!
fi
cleanup() { [ -n "$spinner" ] && kill "$spinner"; rm -rf "$cache"; }
trap cleanup EXIT
cd "$suite"
status=0
"${RUNNER_PYTHON:-python3}" ./run-tests --runtime-adapter "$here/adapter.py" --disable-colors "$@" || status=$?
exit $status
