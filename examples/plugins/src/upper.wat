;; A well-behaved plugin: the input in upper case (ASCII letters), or an error for an empty
;; input; logs one line per call.  The core module of a component of the world `plugin`
;; (wit/plugin.wit), in the canonical ABI: `transform` receives the input string as
;; (pointer, length) in this memory, written there through `cabi_realloc`, and returns the
;; address of its result<string, string>: the case at +0 (0 ok, 1 err), the string at +4, +8.
(module
  (import "$root" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 128) "converted to upper case")
  (data (i32.const 192) "nothing to convert")

  ;; a bump allocator: an instance serves one call, so nothing is ever freed
  (func $realloc (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32)
        (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
                           (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $p) (local.get $size)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then (if (i32.eq (memory.grow (i32.add (i32.shr_u (i32.sub (global.get $heap)
                                                                  (i32.mul (memory.size) (i32.const 65536)))
                                                         (i32.const 16))
                                              (i32.const 1)))
                        (i32.const -1))
              (then unreachable))))
    (if (local.get $old) (then (memory.copy (local.get $p) (local.get $old) (local.get $old_size))))
    (local.get $p))

  (func (export "transform") (param $ptr i32) (param $len i32) (result i32)
    (local $out i32) (local $i i32) (local $c i32)
    (if (i32.eqz (local.get $len))
      (then
        (i32.store8 (i32.const 64) (i32.const 1))
        (i32.store (i32.const 68) (i32.const 192))
        (i32.store (i32.const 72) (i32.const 18))
        (return (i32.const 64))))
    (local.set $out (call $realloc (i32.const 0) (i32.const 0) (i32.const 1) (local.get $len)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $c (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
        (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 122)))
          (then (local.set $c (i32.sub (local.get $c) (i32.const 32)))))
        (i32.store8 (i32.add (local.get $out) (local.get $i)) (local.get $c))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $log (i32.const 128) (i32.const 23))
    (i32.store8 (i32.const 64) (i32.const 0))
    (i32.store (i32.const 68) (local.get $out))
    (i32.store (i32.const 72) (local.get $len))
    (i32.const 64)))
