;; Dispatch through a function-pointer table with one dominant target: a loop calls
;; `table[i % 1024 == 0]`, so `$mix` takes 1023 of every 1024 calls and `$rare` the rest.
(module
  (type $f (func (param i32 i32) (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $mix $rare)
  (func $mix (param i32 i32) (result i32)
    (i32.xor (i32.mul (local.get 0) (i32.const 31)) (local.get 1)))
  (func $rare (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))
  (func $run (export "run") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (loop $l
      (local.set $acc
        (call_indirect (type $f) (local.get $acc) (local.get $i)
          (i32.eqz (i32.and (local.get $i) (i32.const 1023)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $acc)))
