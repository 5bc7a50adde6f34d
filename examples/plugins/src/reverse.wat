;; A well-behaved plugin: the input's bytes in reverse order when it is ASCII, an error
;; otherwise (reversing UTF-8 bytes would not give a string); logs the length it reversed.
;; The canonical ABI as in upper.wat.
(module
  (import "$root" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 128) "reversed some ASCII")
  (data (i32.const 192) "only ASCII text can be reversed")

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
    (local.set $out (call $realloc (i32.const 0) (i32.const 0) (i32.const 1) (local.get $len)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $c (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
        (if (i32.ge_u (local.get $c) (i32.const 128))
          (then
            (i32.store8 (i32.const 64) (i32.const 1))
            (i32.store (i32.const 68) (i32.const 192))
            (i32.store (i32.const 72) (i32.const 31))
            (return (i32.const 64))))
        (i32.store8 (i32.sub (i32.add (local.get $out) (local.get $len)) (i32.add (local.get $i) (i32.const 1)))
                    (local.get $c))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $log (i32.const 128) (i32.const 19))
    (i32.store8 (i32.const 64) (i32.const 0))
    (i32.store (i32.const 68) (local.get $out))
    (i32.store (i32.const 72) (local.get $len))
    (i32.const 64)))
