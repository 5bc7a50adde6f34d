;; A component (component model, text format) exporting `greet: func(name: string) -> string`.
;;   wasmforge run --invoke 'greet("Zoë")' examples/greet.wat      # "hi Zoë"
;; Its world is examples/greet.wit.  The core module inside works on bytes in its linear
;; memory; `canon lift` turns its (pointer, length) pairs into component strings.
(component
  (core module $M
    (memory (export "memory") 1)
    ;; a bump allocator: the canonical ABI calls it to place the argument string
    (global $bump (mut i32) (i32.const 1024))
    (func $realloc (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (global.get $bump))
      (global.set $bump (i32.and (i32.add (i32.add (local.get $p) (local.get 3)) (i32.const 7))
                                 (i32.const -8)))
      (local.get $p))
    ;; greet(ptr, len) -> pointer to the result's (ptr, len): "hi " followed by the name
    (func (export "greet") (param $p i32) (param $n i32) (result i32)
      (local $q i32) (local $r i32)
      (local.set $q (call $realloc (i32.const 0) (i32.const 0) (i32.const 1)
                                   (i32.add (local.get $n) (i32.const 3))))
      (i32.store8 (local.get $q) (i32.const 104))              ;; h
      (i32.store8 offset=1 (local.get $q) (i32.const 105))     ;; i
      (i32.store8 offset=2 (local.get $q) (i32.const 32))      ;; space
      (memory.copy (i32.add (local.get $q) (i32.const 3)) (local.get $p) (local.get $n))
      (local.set $r (call $realloc (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 8)))
      (i32.store (local.get $r) (local.get $q))
      (i32.store offset=4 (local.get $r) (i32.add (local.get $n) (i32.const 3)))
      (local.get $r)))
  (core instance $m (instantiate $M))
  (func (export "greet") (param "name" string) (result string)
    (canon lift (core func $m "greet") (memory (core memory $m "memory"))
                (realloc (core func $m "realloc")))))
