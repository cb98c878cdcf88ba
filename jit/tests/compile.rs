//! The jit compiles every kind of Wasm 2.0 scalar construct with the verifier on.

use kiln_jit::{Compiler, CompilerConfig, CpuFeatures, TrapKind};

fn compile(src: &str, cpu: CpuFeatures) -> kiln_jit::CompiledModule {
    let bytes = wat::parse_str(src).expect("valid text");
    let info = kiln_frontend::parse(&bytes, Default::default()).expect("valid module");
    let compiler = Compiler::new(CompilerConfig {
        verifier: true,
        cpu_features: cpu,
        ..CompilerConfig::default()
    })
    .expect("host is supported");
    compiler.compile_module(&info).expect("compiles")
}

const KITCHEN_SINK: &str = r#"(module
  (type $t (func (param i32) (result i32)))
  (import "env" "h" (func $h (param i64) (result i64 i32)))
  (import "env" "m" (memory 1))
  (import "env" "g" (global $g (mut f64)))
  (table $tab 4 funcref)
  (table $ext 1 externref)
  (global $c (mut i32) (i32.const 0))
  (data $d "hello")
  (elem $e func $fac)
  (func $fac (type $t)
    (if (result i32) (i32.lt_s (local.get 0) (i32.const 2))
      (then (i32.const 1))
      (else (i32.mul (local.get 0) (call $fac (i32.sub (local.get 0) (i32.const 1)))))))
  (func $loops (param i32) (result i32) (local i64 f32)
    (block $b
      (loop $l
        (br_table $l $b $l (local.get 0))))
    (block $v (result i32)
      (drop (br_if $v (i32.const 3) (local.get 0)))
      (i32.const 7)))
  (func $mem (param i32) (result f64)
    (i64.store offset=8 (local.get 0) (i64.const 1))
    (i32.store8 (local.get 0) (i32.load16_s offset=0x1000000 (local.get 0)))
    (drop (memory.grow (i32.const 1)))
    (memory.fill (i32.const 0) (i32.const 1) (memory.size))
    (memory.copy (i32.const 0) (i32.const 1) (i32.const 2))
    (memory.init $d (i32.const 0) (i32.const 0) (i32.const 1))
    (data.drop $d)
    (f64.add (f64.load offset=4294967295 (local.get 0)) (global.get $g)))
  (func $tables (param i32) (result i32)
    (table.set $tab (i32.const 0) (ref.func $fac))
    (drop (table.grow $ext (ref.null extern) (i32.const 1)))
    (table.fill $tab (i32.const 0) (ref.null func) (i32.const 1))
    (table.copy $tab $tab (i32.const 0) (i32.const 1) (i32.const 1))
    (table.init $tab $e (i32.const 0) (i32.const 0) (i32.const 1))
    (elem.drop $e)
    (drop (ref.is_null (table.get $tab (i32.const 0))))
    (call_indirect $tab (type $t) (local.get 0) (i32.const 1)))
  (func $numeric (param f32 f64 i64) (result i32)
    (drop (i32.trunc_f32_s (local.get 0)))
    (drop (i64.trunc_sat_f64_u (local.get 1)))
    (drop (f32.nearest (f32.demote_f64 (local.get 1))))
    (drop (f64.min (local.get 1) (f64.copysign (local.get 1) (local.get 1))))
    (drop (i64.rem_s (local.get 2) (i64.div_u (local.get 2) (local.get 2))))
    (drop (i32.extend8_s (i32.wrap_i64 (local.get 2))))
    (call $h (local.get 2)) (drop) (drop)
    (global.set $c (i32.const 1))
    (select (i32.const 1) (i32.const 2) (i32.eqz (global.get $c))))
  (func (result i32) unreachable i32.add))
"#;

#[test]
fn kitchen_sink_compiles_with_verifier_on_native_and_baseline() {
    for cpu in [CpuFeatures::Native, CpuFeatures::Baseline] {
        let m = compile(KITCHEN_SINK, cpu);
        assert_eq!(m.functions.len(), 6);
        assert!(m.functions.iter().all(|f| !f.code.is_empty()));
        let kinds: Vec<TrapKind> = m
            .functions
            .iter()
            .flat_map(|f| f.traps.iter().map(|t| t.kind))
            .collect();
        for k in [
            TrapKind::StackOverflow,
            TrapKind::MemoryOutOfBounds,
            TrapKind::TableOutOfBounds,
            TrapKind::IndirectCallToNull,
            TrapKind::BadSignature,
            TrapKind::Unreachable,
        ] {
            assert!(kinds.contains(&k), "{k:?} missing for {cpu:?}");
        }
        // Four distinct signatures among the six defined functions.
        assert_eq!(m.array_trampolines.len(), 4);
    }
}

#[test]
fn baseline_cpu_uses_libcalls_for_rounding() {
    let m = compile(
        "(module (func (param f32) (result f32) (f32.nearest (local.get 0))))",
        CpuFeatures::Baseline,
    );
    assert_eq!(m.functions[0].relocs.len(), 1);
    assert_eq!(
        m.functions[0].relocs[0].target,
        kiln_jit::RelocTarget::LibCall(kiln_jit::LibCall::NearestF32)
    );
}

#[test]
fn calls_within_a_module_are_direct_and_relocated() {
    let m = compile(
        "(module (func $a (result i32) (call $b)) (func $b (result i32) (i32.const 7)))",
        CpuFeatures::Native,
    );
    let relocs = &m.functions[0].relocs;
    assert_eq!(relocs.len(), 1);
    assert_eq!(
        relocs[0].target,
        kiln_jit::RelocTarget::Function(kiln_frontend::DefinedFuncIndex::from_u32(1))
    );
    assert!(m.functions[1].relocs.is_empty());
}

/// shootout-sieve's inner loop in a function `sieve`, with `first` at the start of the
/// loop body, then the functions `rest`.
fn sieve(first: &str, rest: &str) -> String {
    format!(
        r#"(module
          (memory 1)
          (func (export "sieve") (param $k i32) (result i32) (local $j i32)
            (local.set $j (i32.shl (local.get $k) (i32.const 1)))
            (loop $inner
              {first}
              (i32.store8 offset=3744 (local.get $j) (i32.const 0))
              (br_if $inner (i32.lt_u
                (local.tee $j (i32.add (local.get $j) (local.get $k)))
                (i32.const 8193))))
            (local.get $j))
          {rest})"#
    )
}

/// A function with a small hot loop asks to start where the loop fits one 64-byte line;
/// a function without loops has no preference.
#[test]
fn loop_placement_is_chosen_for_loops_only() {
    let straight = r#"(func (export "straight") (param i32) (result i32)
            (i32.add (local.get 0) (i32.const 1)))"#;
    let m = compile(&sieve("", straight), CpuFeatures::Native);
    let looped = &m.functions[0];
    let offset = looped
        .loop_placement
        .expect("a function with a loop has a preferred placement");
    assert!(offset < kiln_jit::PLACEMENT_LINE);
    assert_eq!(offset % looped.alignment.max(1), 0);
    assert_eq!(m.functions[1].loop_placement, None);
}

#[test]
fn a_loop_with_cold_code_keeps_its_placement() {
    // The trapping arm is a cold block, emitted after the loop: the loop is still found
    // (from the machine code's branches, since Cranelift's edges are wrong after a cold
    // block), and the branch back from the cold code is not taken for a loop.
    let cold = "(if (i32.eqz (local.get $k)) (then unreachable))";
    let m = compile(&sieve(cold, ""), CpuFeatures::Native);
    let offset = m.functions[0]
        .loop_placement
        .expect("the loop is found past the cold block");
    assert!(offset < kiln_jit::PLACEMENT_LINE);
}
