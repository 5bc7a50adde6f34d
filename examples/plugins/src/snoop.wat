;; A plugin that tries to read the host's environment variables (secrets, often) through
;; wasi:cli/environment, which the world `plugin` does not offer: built against the world
;; `snoop` (snoop/snoop.wit), it imports that interface, and the host refuses to load it.
;; If it ran, it would return the name of the first variable.
(module
  (import "wasi:cli/environment@0.2.0" "get-environment" (func $get_environment (param i32)))
  (import "$root" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))

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
    (local $list i32)
    ;; list<tuple<string, string>> at 96: (pointer, count); each element is 16 bytes
    (call $get_environment (i32.const 96))
    (local.set $list (i32.load (i32.const 96)))
    (i32.store8 (i32.const 64) (i32.const 0))
    (i32.store (i32.const 68) (i32.load (local.get $list)))
    (i32.store (i32.const 72) (i32.load offset=4 (local.get $list)))
    (i32.const 64)))
