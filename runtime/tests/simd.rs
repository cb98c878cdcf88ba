//! `v128` crosses every boundary: parameters, results, locals, globals, blocks, host
//! functions (typed and dynamic), `Val::V128`, and the baseline CPU feature set.

use kiln::*;

const MODULE: &str = r#"(module
  (import "host" "swap" (func $swap (param v128) (result v128)))
  (import "host" "sum" (func $sum (param v128 i32) (result v128 i64)))
  (global $g (export "g") (mut v128) (v128.const i32x4 1 2 3 4))
  (func (export "add") (param v128 v128) (result v128) (i32x4.add (local.get 0) (local.get 1)))
  (func (export "through_host") (param v128) (result v128)
    (call $swap (i8x16.add (local.get 0) (local.get 0))))
  (func (export "multi") (param v128) (result i64) (local $r i64)
    (call $sum (local.get 0) (i32.const 5))
    (local.set $r)
    (drop)
    (local.get $r))
  (func (export "blocks") (param i32) (result v128) (local $v v128)
    (local.set $v (global.get $g))
    (block $b (result v128)
      (br_if $b (f32x4.splat (f32.const 1.5)) (local.get 0))
      (drop)
      (i16x8.splat (i32.const 7))))
  (func (export "bump")
    (global.set $g (i64x2.add (global.get $g) (v128.const i64x2 10 20)))))"#;

fn lanes_i32(v: u128) -> [i32; 4] {
    std::array::from_fn(|i| (v >> (32 * i)) as u32 as i32)
}

fn from_i32(l: [i32; 4]) -> u128 {
    l.iter().enumerate().fold(0u128, |acc, (i, &x)| {
        acc | (u128::from(x as u32) << (32 * i))
    })
}

fn run(cpu: CpuFeatures) {
    let engine = Engine::new(Config::new().cpu_features(cpu)).expect("engine");
    let module = Module::new(&engine, MODULE).expect("module compiles");
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "swap", |v: u128| v.rotate_left(64))
        .expect("define swap");
    linker
        .func_new(
            "host",
            "sum",
            FuncType::new([ValType::V128, ValType::I32], [ValType::V128, ValType::I64]),
            |_, p, r| {
                let Val::V128(v) = p[0] else {
                    return Err(Error::msg("not a v128"));
                };
                let k = p[1].i32().ok_or_else(|| Error::msg("not an i32"))?;
                r[0] = Val::V128(!v);
                r[1] = Val::I64(
                    lanes_i32(v).iter().map(|&x| i64::from(x)).sum::<i64>() + i64::from(k),
                );
                Ok(())
            },
        )
        .expect("define sum");
    let instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiates");

    let add = instance
        .get_typed_func::<(u128, u128), u128>(&store, "add")
        .expect("typed");
    let r = add
        .call(
            &mut store,
            (from_i32([1, -2, 3, i32::MAX]), from_i32([10, 20, 30, 1])),
        )
        .expect("call");
    assert_eq!(lanes_i32(r), [11, 18, 33, i32::MIN]);

    let through = instance
        .get_typed_func::<u128, u128>(&store, "through_host")
        .expect("typed");
    let x = 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10u128;
    let doubled = u128::from_le_bytes(x.to_le_bytes().map(|b| b.wrapping_mul(2)));
    assert_eq!(
        through.call(&mut store, x).expect("call"),
        doubled.rotate_left(64)
    );

    let multi = instance
        .get_typed_func::<u128, i64>(&store, "multi")
        .expect("typed");
    assert_eq!(
        multi
            .call(&mut store, from_i32([1, 2, 3, -10]))
            .expect("call"),
        1
    );

    let blocks = instance.get_func(&store, "blocks").expect("export");
    let mut out = [Val::V128(0)];
    blocks
        .call(&mut store, &[Val::I32(1)], &mut out)
        .expect("call");
    assert_eq!(
        out[0],
        Val::V128(u128::from_le_bytes(
            [0, 0, 0xc0, 0x3f].repeat(4).try_into().expect("16 bytes")
        ))
    );
    blocks
        .call(&mut store, &[Val::I32(0)], &mut out)
        .expect("call");
    assert_eq!(
        out[0],
        Val::V128(u128::from_le_bytes(
            [7, 0].repeat(8).try_into().expect("16 bytes")
        ))
    );

    let g = instance.get_global(&store, "g").expect("global");
    assert_eq!(g.get(&store), Val::V128(from_i32([1, 2, 3, 4])));
    instance
        .get_typed_func::<(), ()>(&store, "bump")
        .expect("typed")
        .call(&mut store, ())
        .expect("call");
    assert_eq!(g.get(&store), Val::V128(from_i32([11, 2, 23, 4])));
    g.set(&mut store, Val::V128(u128::MAX)).expect("set");
    assert!(g.set(&mut store, Val::I32(0)).is_err());
    assert_eq!(g.get(&store), Val::V128(u128::MAX));
}

#[test]
fn v128_crosses_every_boundary_with_host_features() {
    run(CpuFeatures::Native);
}

#[test]
fn v128_crosses_every_boundary_on_the_baseline_cpu() {
    run(CpuFeatures::Baseline);
}

/// Relaxed SIMD gives one documented result, whatever the CPU features: `madd` is fused
/// (one rounding), the dot product takes both operands as signed, a swizzle index past
/// 15 selects 0, and truncation saturates.
#[test]
fn relaxed_simd_is_deterministic_across_cpu_features() {
    const RELAXED: &str = r#"(module
      (func (export "madd") (param f32 f32 f32) (result f32)
        (f32x4.extract_lane 0 (f32x4.relaxed_madd
          (f32x4.splat (local.get 0)) (f32x4.splat (local.get 1)) (f32x4.splat (local.get 2)))))
      (func (export "nmadd") (param f64 f64 f64) (result f64)
        (f64x2.extract_lane 1 (f64x2.relaxed_nmadd
          (f64x2.splat (local.get 0)) (f64x2.splat (local.get 1)) (f64x2.splat (local.get 2)))))
      (func (export "dot") (param i32 i32) (result i32)
        (i16x8.extract_lane_s 0 (i16x8.relaxed_dot_i8x16_i7x16_s
          (i8x16.splat (local.get 0)) (i8x16.splat (local.get 1)))))
      (func (export "dot_add") (param i32 i32 i32) (result i32)
        (i32x4.extract_lane 3 (i32x4.relaxed_dot_i8x16_i7x16_add_s
          (i8x16.splat (local.get 0)) (i8x16.splat (local.get 1)) (i32x4.splat (local.get 2)))))
      (func (export "swizzle") (param i32) (result i32)
        (i8x16.extract_lane_u 0 (i8x16.relaxed_swizzle
          (v128.const i8x16 9 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15) (i8x16.splat (local.get 0)))))
      (func (export "trunc") (param f32) (result i32)
        (i32x4.extract_lane 0 (i32x4.relaxed_trunc_f32x4_s (f32x4.splat (local.get 0))))))"#;
    let mut seen = Vec::new();
    for cpu in [CpuFeatures::Native, CpuFeatures::Baseline] {
        let engine = Engine::new(Config::new().cpu_features(cpu)).expect("engine");
        let module = Module::new(&engine, RELAXED).expect("compiles");
        let mut store = Store::new(&engine, ());
        let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
        // 1 + 2^-23 squared is 1 + 2^-22 + 2^-46: fused, minus 1 + 2^-22, leaves 2^-46
        // (unfused, the square rounds to 1 + 2^-22 and the result is 0).
        let x = 1.0f32 + f32::EPSILON;
        let madd = i
            .get_typed_func::<(f32, f32, f32), f32>(&store, "madd")
            .expect("madd")
            .call(&mut store, (x, x, -(1.0 + 2.0 * f32::EPSILON)))
            .expect("madd runs");
        assert_eq!(madd, 2f32.powi(-46), "{cpu:?}");
        let y = 1.0f64 + f64::EPSILON;
        let nmadd = i
            .get_typed_func::<(f64, f64, f64), f64>(&store, "nmadd")
            .expect("nmadd")
            .call(&mut store, (y, y, 1.0 + 2.0 * f64::EPSILON))
            .expect("nmadd runs");
        assert_eq!(nmadd, -(2f64.powi(-104)), "{cpu:?}");
        let dot = i
            .get_typed_func::<(i32, i32), i32>(&store, "dot")
            .expect("dot");
        // -128 * -128 twice is 32768, which wraps to -32768 in an i16 lane.
        assert_eq!(dot.call(&mut store, (-128, -128)).expect("dot"), -32768);
        assert_eq!(
            dot.call(&mut store, (-3, 0x81)).expect("dot"),
            762,
            "{cpu:?}"
        );
        let dot_add = i
            .get_typed_func::<(i32, i32, i32), i32>(&store, "dot_add")
            .expect("dot_add");
        assert_eq!(
            dot_add.call(&mut store, (5, 7, 1000)).expect("dot_add"),
            1140
        );
        let swizzle = i
            .get_typed_func::<i32, i32>(&store, "swizzle")
            .expect("swizzle");
        assert_eq!(swizzle.call(&mut store, 0).expect("swizzle"), 9);
        assert_eq!(swizzle.call(&mut store, 16).expect("swizzle"), 0);
        assert_eq!(swizzle.call(&mut store, 0x80).expect("swizzle"), 0);
        let trunc = i
            .get_typed_func::<f32, i32>(&store, "trunc")
            .expect("trunc");
        assert_eq!(trunc.call(&mut store, 3e9).expect("trunc"), i32::MAX);
        assert_eq!(trunc.call(&mut store, f32::NAN).expect("trunc"), 0);
        seen.push((madd.to_bits(), nmadd.to_bits()));
    }
    assert_eq!(seen[0], seen[1]);
}
