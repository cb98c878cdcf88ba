;; Unbounded recursion through a call to one of Kiln's builtins (`data.drop`). Passes in
;; ordinary builds: the call stack runs out at `max_wasm_stack` (512 KiB) and the call
;; traps with StackOverflow. Under AddressSanitizer with its default
;; `detect_stack_use_after_return=1` (the cargo-fuzz default build), the process dies
;; instead with "AddressSanitizer: stack-overflow" in `kiln::vm::builtins::impls::data_drop`:
;; `Store` computes the wasm stack limit from the address of a local variable
;; (`&outermost as *const bool as usize` in runtime/src/store.rs), and ASan moves
;; address-taken locals to its heap-allocated "fake stack", so the limit is computed from
;; a heap address and the stack checks in generated code never fire (recursion that stays
;; in generated code is still caught by the guard page; a builtin running on the last
;; page is not). The fuzz targets therefore default to detect_stack_use_after_return=0
;; (`__asan_default_options` in the oracle crate); ASAN_OPTIONS=detect_stack_use_after_return=1
;; brings the crash back.
(module
  (data "x")
  (func $f (export "f")
    (data.drop 0)
    (call $f)))
