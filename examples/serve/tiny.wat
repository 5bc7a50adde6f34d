;; The core module of examples/serve/tiny.wasm, a wasi:http/proxy component of 9 KB for
;; examples/serve/apps.toml and the serve tests (build.sh makes the component with
;; wasm-tools): its requests cost milliseconds where the componentize-py handler's cost seconds.
;;
;; Every request answers 200 with the body "tiny-v1 " followed by the request's path and
;; query, except when the path's last segment starts with (/trap, /api/trap, ...)
;;   /tra  trap (unreachable) before answering
;;   /loo  loop forever (a deadline or fuel stops it)
;;   /slo  wait 1.5 s (wasi:clocks monotonic-clock) and then answer
;;   /gro  grow the memory page by page to 64 MiB, trap when a growth fails (a memory limit)
;;   /big  grow the memory by 64 MiB at once, trap if that fails
;; "tiny-v1" is a fixed 7-byte marker the reload tests rewrite in the binary.
(module
  (import "wasi:http/types@0.2.9" "[constructor]fields" (func $fields_new (result i32)))
  (import "wasi:http/types@0.2.9" "[method]incoming-request.path-with-query"
    (func $path_with_query (param i32 i32)))
  (import "wasi:http/types@0.2.9" "[constructor]outgoing-response" (func $response_new (param i32) (result i32)))
  (import "wasi:http/types@0.2.9" "[method]outgoing-response.body" (func $response_body (param i32 i32)))
  (import "wasi:http/types@0.2.9" "[method]outgoing-body.write" (func $body_write (param i32 i32)))
  (import "wasi:http/types@0.2.9" "[static]outgoing-body.finish" (func $body_finish (param i32 i32 i32 i32)))
  (import "wasi:http/types@0.2.9" "[static]response-outparam.set"
    (func $outparam_set (param i32 i32 i32 i32 i64 i32 i32 i32 i32)))
  (import "wasi:http/types@0.2.9" "[resource-drop]incoming-request" (func $drop_request (param i32)))
  (import "wasi:io/streams@0.2.9" "[method]output-stream.blocking-write-and-flush"
    (func $write (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.9" "[resource-drop]output-stream" (func $drop_stream (param i32)))
  (import "wasi:clocks/monotonic-clock@0.2.9" "subscribe-duration" (func $sleep (param i64) (result i32)))
  (import "wasi:io/poll@0.2.9" "[method]pollable.block" (func $block (param i32)))
  (import "wasi:io/poll@0.2.9" "[resource-drop]pollable" (func $drop_pollable (param i32)))

  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 1024) "tiny-v1 ")

  ;; a bump allocator: each instance serves one request
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
                           (i32.sub (i32.const 0) (local.get 2))))
    (global.set $heap (i32.add (local.get $p) (local.get 3)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))))
    (local.get $p))

  (func (export "wasi:http/incoming-handler@0.2.9#handle") (param $req i32) (param $out i32)
    (local $ptr i32) (local $len i32) (local $word i32) (local $resp i32) (local $body i32)
    (local $stream i32) (local $pollable i32) (local $i i32) (local $last i32)
    (call $path_with_query (local.get $req) (i32.const 16))
    (if (i32.load8_u (i32.const 16))
      (then (local.set $ptr (i32.load (i32.const 20))) (local.set $len (i32.load (i32.const 24)))))
    (call $drop_request (local.get $req))
    ;; $last: where the last segment starts (its "/"), up to the query
    (block $done
      (loop $scan
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (br_if $done (i32.eq (i32.load8_u (i32.add (local.get $ptr) (local.get $i))) (i32.const 0x3f)))  ;; "?"
        (if (i32.eq (i32.load8_u (i32.add (local.get $ptr) (local.get $i))) (i32.const 0x2f))          ;; "/"
          (then (local.set $last (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    (if (i32.ge_u (local.get $len) (i32.add (local.get $last) (i32.const 4)))
      (then (local.set $word (i32.load (i32.add (local.get $ptr) (local.get $last))))))
    (if (i32.eq (local.get $word) (i32.const 0x6172742f))            ;; "/tra"
      (then unreachable))
    (if (i32.eq (local.get $word) (i32.const 0x6f6f6c2f))            ;; "/loo"
      (then (loop $forever (br $forever))))
    (if (i32.eq (local.get $word) (i32.const 0x6f6c732f))            ;; "/slo"
      (then
        (local.set $pollable (call $sleep (i64.const 1500000000)))
        (call $block (local.get $pollable))
        (call $drop_pollable (local.get $pollable))))
    (if (i32.eq (local.get $word) (i32.const 0x6f72672f))            ;; "/gro"
      (then
        (loop $grow
          (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
          (br_if $grow (i32.lt_u (memory.size) (i32.const 1024))))))
    (if (i32.eq (local.get $word) (i32.const 0x6769622f))            ;; "/big"
      (then (if (i32.eq (memory.grow (i32.const 1024)) (i32.const -1)) (then unreachable))))
    (local.set $resp (call $response_new (call $fields_new)))
    (call $response_body (local.get $resp) (i32.const 32))
    (local.set $body (i32.load (i32.const 36)))
    (call $body_write (local.get $body) (i32.const 40))
    (local.set $stream (i32.load (i32.const 44)))
    (call $outparam_set (local.get $out) (i32.const 0) (local.get $resp) (i32.const 0) (i64.const 0)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))
    (call $write (local.get $stream) (i32.const 1024) (i32.const 8) (i32.const 48))
    (call $write (local.get $stream) (local.get $ptr) (local.get $len) (i32.const 48))
    (call $drop_stream (local.get $stream))
    (call $body_finish (local.get $body) (i32.const 0) (i32.const 0) (i32.const 56)))
)
