;; A bytecode interpreter with indirect handlers: each opcode's handler takes the pc and
;; returns the next one. Dispatch is replicated by predecessor (what a computed-goto
;; interpreter compiles to): the call site used depends on the previous opcode, so each
;; site sees the successors of one opcode. The program: acc += 1; acc = acc * 3 + cnt;
;; cnt -= 1; loop while cnt != 0.
(module
  (type $h (func (param i32) (result i32)))
  (memory 1)
  (global $acc (mut i32) (i32.const 0))
  (global $cnt (mut i32) (i32.const 0))
  (table 5 funcref)
  (elem (i32.const 0) $inc $muladd $dec $jnz $halt)
  ;; INC, MULADD, DEC, JNZ 0, HALT
  (data (i32.const 0) "\00\01\02\03\00\04")
  (func $inc (param $pc i32) (result i32)
    (global.set $acc (i32.add (global.get $acc) (i32.const 1)))
    (i32.add (local.get $pc) (i32.const 1)))
  (func $muladd (param $pc i32) (result i32)
    (global.set $acc
      (i32.add (i32.mul (global.get $acc) (i32.const 3)) (global.get $cnt)))
    (i32.add (local.get $pc) (i32.const 1)))
  (func $dec (param $pc i32) (result i32)
    (global.set $cnt (i32.sub (global.get $cnt) (i32.const 1)))
    (i32.add (local.get $pc) (i32.const 1)))
  (func $jnz (param $pc i32) (result i32)
    (if (result i32) (global.get $cnt)
      (then (i32.load8_u offset=1 (local.get $pc)))
      (else (i32.add (local.get $pc) (i32.const 2)))))
  (func $halt (param $pc i32) (result i32) (local.get $pc))
  (func $run (export "run") (param $n i32) (result i32)
    (local $pc i32) (local $op i32) (local $prev i32)
    (global.set $acc (i32.const 0))
    (global.set $cnt (local.get $n))
    (local.set $prev (i32.const 3))
    (block $exit
      (loop $next
        (local.set $op (i32.load8_u (local.get $pc)))
        (br_if $exit (i32.eq (local.get $op) (i32.const 4)))
        (block $done
          (block $s3
            (block $s2
              (block $s1
                (block $s0
                  (br_table $s0 $s1 $s2 $s3 $s3 (local.get $prev)))
                (local.set $pc (call_indirect (type $h) (local.get $pc) (local.get $op)))
                (br $done))
              (local.set $pc (call_indirect (type $h) (local.get $pc) (local.get $op)))
              (br $done))
            (local.set $pc (call_indirect (type $h) (local.get $pc) (local.get $op)))
            (br $done))
          (local.set $pc (call_indirect (type $h) (local.get $pc) (local.get $op))))
        (local.set $prev (local.get $op))
        (br $next)))
    (global.get $acc)))
