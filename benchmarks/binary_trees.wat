;; The binary-trees benchmark (the Computer Language Benchmarks Game's classic GC test) with
;; the GC proposal: allocate and walk perfect binary trees of GC structs.  `run(n)` does
;; the whole program for maximum depth n (the benchmark's usual n: 16 to 21): a stretch tree
;; of depth n + 1, a long-lived tree of depth n kept across all the rest, and for each depth
;; d = 4, 6, ..., n, 2^(n - d + 4) trees of depth d, each checked (nodes counted) and then
;; garbage.  Returns the sum of every check, so engines can be compared on the result.
(module
  (type $node (struct (field $left (ref null $node)) (field $right (ref null $node))))

  (func $bottom_up (param $depth i32) (result (ref $node))
    (if (result (ref $node)) (i32.le_s (local.get $depth) (i32.const 0))
      (then (struct.new $node (ref.null $node) (ref.null $node)))
      (else
        (local.set $depth (i32.sub (local.get $depth) (i32.const 1)))
        (struct.new $node (call $bottom_up (local.get $depth))
                          (call $bottom_up (local.get $depth))))))

  (func $check (param $t (ref $node)) (result i32)
    (local $l (ref null $node))
    (local.set $l (struct.get $node $left (local.get $t)))
    (if (result i32) (ref.is_null (local.get $l))
      (then (i32.const 1))
      (else
        (i32.add (i32.const 1)
          (i32.add (call $check (ref.as_non_null (local.get $l)))
                   (call $check (ref.as_non_null (struct.get $node $right (local.get $t)))))))))

  (func (export "run") (param $n i32) (result i64)
    (local $total i64) (local $long (ref null $node)) (local $d i32) (local $iters i32)
    (local $i i32) (local $sum i32)
    (local.set $total (i64.extend_i32_u
      (call $check (call $bottom_up (i32.add (local.get $n) (i32.const 1))))))
    (local.set $long (call $bottom_up (local.get $n)))
    (local.set $d (i32.const 4))
    (block $depths (loop $by_depth
      (br_if $depths (i32.gt_s (local.get $d) (local.get $n)))
      (local.set $iters (i32.shl (i32.const 1)
        (i32.add (i32.sub (local.get $n) (local.get $d)) (i32.const 4))))
      (local.set $sum (i32.const 0))
      (local.set $i (i32.const 0))
      (block $trees (loop $each
        (br_if $trees (i32.ge_u (local.get $i) (local.get $iters)))
        (local.set $sum (i32.add (local.get $sum) (call $check (call $bottom_up (local.get $d)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each)))
      (local.set $total (i64.add (local.get $total) (i64.extend_i32_u (local.get $sum))))
      (local.set $d (i32.add (local.get $d) (i32.const 2)))
      (br $by_depth)))
    (i64.add (local.get $total)
             (i64.extend_i32_u (call $check (ref.as_non_null (local.get $long))))))
)
