;; C++-style virtual calls: 4096 objects of 16 bytes (vtable base, a, b), 15 of every 16
;; of class A, made afresh by each call of `run`. Each pass calls `area` and `grow` on every object through its vtable:
;; table[vtable + 0] and table[vtable + 1].
(module
  (type $area (func (param i32) (result i32)))
  (type $grow (func (param i32 i32)))
  (memory 1)
  (table 4 funcref)
  ;; vtable of A at 0, of B at 2
  (elem (i32.const 0) $a_area $a_grow $b_area $b_grow)
  (func $a_area (param $o i32) (result i32)
    (i32.mul (i32.load offset=4 (local.get $o)) (i32.load offset=8 (local.get $o))))
  (func $a_grow (param $o i32) (param $by i32)
    (i32.store offset=4 (local.get $o)
      (i32.and (i32.add (i32.load offset=4 (local.get $o)) (local.get $by)) (i32.const 1023))))
  (func $b_area (param $o i32) (result i32)
    (i32.add (i32.load offset=4 (local.get $o)) (i32.load offset=8 (local.get $o))))
  (func $b_grow (param $o i32) (param $by i32)
    (i32.store offset=8 (local.get $o)
      (i32.and (i32.sub (i32.load offset=8 (local.get $o)) (local.get $by)) (i32.const 1023))))
  (func $init
    (local $i i32) (local $o i32)
    (loop $l
      (local.set $o (i32.shl (local.get $i) (i32.const 4)))
      (i32.store (local.get $o)
        (select (i32.const 2) (i32.const 0)
          (i32.eqz (i32.and (local.get $i) (i32.const 15)))))
      (i32.store offset=4 (local.get $o) (i32.and (local.get $i) (i32.const 255)))
      (i32.store offset=8 (local.get $o) (i32.const 3))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 4096)))))
  (func $run (export "run") (param $passes i32) (result i32)
    (local $i i32) (local $o i32) (local $sum i32)
    ;; Every call starts from the same objects.
    (call $init)
    (loop $pass
      (local.set $i (i32.const 0))
      (loop $obj
        (local.set $o (i32.shl (local.get $i) (i32.const 4)))
        (local.set $sum
          (i32.add (local.get $sum)
            (call_indirect (type $area) (local.get $o) (i32.load (local.get $o)))))
        (call_indirect (type $grow) (local.get $o) (local.get $i)
          (i32.add (i32.load (local.get $o)) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $obj (i32.lt_u (local.get $i) (i32.const 4096))))
      (local.set $passes (i32.sub (local.get $passes) (i32.const 1)))
      (br_if $pass (i32.gt_s (local.get $passes) (i32.const 0))))
    (local.get $sum)))
