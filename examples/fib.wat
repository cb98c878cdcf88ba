;; Fibonacci two ways. Run it with:
;;   cargo run --release -p kiln-cli -- run --invoke fib examples/fib.wat 30
(module $fib
  ;; Naive doubly-recursive Fibonacci: exercises calls.
  (func $fib (export "fib") (param $n i32) (result i64)
    (if (result i64) (i32.lt_u (local.get $n) (i32.const 2))
      (then (i64.extend_i32_u (local.get $n)))
      (else
        (i64.add
          (call $fib (i32.sub (local.get $n) (i32.const 1)))
          (call $fib (i32.sub (local.get $n) (i32.const 2)))))))

  ;; Iterative Fibonacci: exercises loops and locals.
  (func $fib_iter (export "fib_iter") (param $n i32) (result i64)
    (local $a i64) (local $b i64) (local $t i64)
    (local.set $b (i64.const 1))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $t (i64.add (local.get $a) (local.get $b)))
        (local.set $a (local.get $b))
        (local.set $b (local.get $t))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $a))

  ;; Recurses forever: shows a stack-overflow trap with its backtrace.
  (func $runaway (export "runaway") (param $n i32) (result i32)
    (i32.add (i32.const 1) (call $runaway (local.get $n)))))
