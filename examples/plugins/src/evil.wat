;; A malicious plugin that the host must contain.  It passes its input through unchanged
;; (looking harmless) unless the input names an attack:
;;   "loop"   spins forever                       (stopped by fuel or the deadline)
;;   "trap"   executes `unreachable`              (a trap, that call alone fails)
;;   "alloc"  grows its memory 1 MiB at a time    (the memory limit refuses; it logs how far
;;            it got and traps, as an allocator aborts when out of memory)
;;   "flood"  logs without end                    (the host's cap on log lines per call)
;; The canonical ABI as in upper.wat.
(module
  (import "$root" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 128) "all your base")
  (data (i32.const 160) "memory.grow refused, pages: ")

  ;; writes the decimal digits of $n at $at; returns how many
  (func $decimal (param $n i32) (param $at i32) (result i32)
    (local $len i32) (local $i i32)
    (local.set $i (local.get $n))
    (loop $count
      (local.set $len (i32.add (local.get $len) (i32.const 1)))
      (local.set $i (i32.div_u (local.get $i) (i32.const 10)))
      (br_if $count (local.get $i)))
    (local.set $i (local.get $len))
    (loop $digit
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (local.get $at) (local.get $i))
                  (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (local.get $i)))
    (local.get $len))

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
    (local $first i32)
    (if (local.get $len) (then (local.set $first (i32.load8_u (local.get $ptr)))))
    (if (i32.eq (local.get $first) (i32.const 108))           ;; 'l'
      (then (loop $spin (br $spin))))
    (if (i32.eq (local.get $first) (i32.const 116))           ;; 't'
      (then unreachable))
    (if (i32.eq (local.get $first) (i32.const 97))            ;; 'a'
      (then (loop $more
              ;; each new MiB is written to, so that it would really be committed
              (local.set $first (memory.grow (i32.const 16)))
              (if (i32.ne (local.get $first) (i32.const -1))
                (then (i32.store8 (i32.add (i32.mul (local.get $first) (i32.const 65536)) (i32.const 65535))
                                  (i32.const 1))
                      (br $more))))
            ;; refused: say how far it got, then abort as an allocator does
            (call $log (i32.const 160) (i32.add (i32.const 28) (call $decimal (memory.size) (i32.const 188))))
            unreachable))
    (if (i32.eq (local.get $first) (i32.const 102))           ;; 'f'
      (then (loop $again (call $log (i32.const 128) (i32.const 13)) (br $again))))
    (i32.store8 (i32.const 64) (i32.const 0))
    (i32.store (i32.const 68) (local.get $ptr))
    (i32.store (i32.const 72) (local.get $len))
    (i32.const 64)))
