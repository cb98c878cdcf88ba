//! Relaxed SIMD (Wasm 3.0), deterministically. The spec lets each relaxed operator give
//! one of several results; Kiln always gives the same one, on every host and with any
//! CPU features, so a module computes the same bits wherever it runs (the choices of
//! Wasmtime's `relaxed_simd_deterministic`):
//!
//! | operators | result |
//! | --- | --- |
//! | `i8x16.relaxed_swizzle` | `i8x16.swizzle` (an index past 15 selects 0) |
//! | `i32x4.relaxed_trunc_*` | the `trunc_sat` operator of the same shape |
//! | `f32x4`/`f64x2` `relaxed_madd`, `relaxed_nmadd` | fused: `a * b + c` and `-(a * b) + c` rounded once (Cranelift's `fma`: the instruction with FMA, a correctly rounded routine without) |
//! | `*.relaxed_laneselect` | `v128.bitselect` (bit by bit) |
//! | `f32x4`/`f64x2` `relaxed_min`, `relaxed_max` | `min`, `max` (NaN propagates, -0 < +0) |
//! | `i16x8.relaxed_q15mulr_s` | `i16x8.q15mulr_sat_s` |
//! | `i16x8.relaxed_dot_i8x16_i7x16_s` | both operands signed, each pair of products added with wrapping |
//! | `i32x4.relaxed_dot_i8x16_i7x16_add_s` | that, its pairs added (signed) into `i32` lanes, plus `c` (wrapping) |

use super::{FuncTranslator, Result};
use cranelift_codegen::ir::types::*;
use cranelift_codegen::ir::{InstBuilder, Type, Value};
use cranelift_frontend::FunctionBuilder;

impl FuncTranslator<'_, '_> {
    pub(crate) fn visit_i8x16_relaxed_swizzle(&mut self) -> Result {
        self.visit_i8x16_swizzle()
    }

    pub(crate) fn visit_i32x4_relaxed_trunc_f32x4_s(&mut self) -> Result {
        self.visit_i32x4_trunc_sat_f32x4_s()
    }

    pub(crate) fn visit_i32x4_relaxed_trunc_f32x4_u(&mut self) -> Result {
        self.visit_i32x4_trunc_sat_f32x4_u()
    }

    pub(crate) fn visit_i32x4_relaxed_trunc_f64x2_s_zero(&mut self) -> Result {
        self.visit_i32x4_trunc_sat_f64x2_s_zero()
    }

    pub(crate) fn visit_i32x4_relaxed_trunc_f64x2_u_zero(&mut self) -> Result {
        self.visit_i32x4_trunc_sat_f64x2_u_zero()
    }

    pub(crate) fn visit_f32x4_relaxed_madd(&mut self) -> Result {
        self.fused(F32X4, false)
    }

    pub(crate) fn visit_f32x4_relaxed_nmadd(&mut self) -> Result {
        self.fused(F32X4, true)
    }

    pub(crate) fn visit_f64x2_relaxed_madd(&mut self) -> Result {
        self.fused(F64X2, false)
    }

    pub(crate) fn visit_f64x2_relaxed_nmadd(&mut self) -> Result {
        self.fused(F64X2, true)
    }

    pub(crate) fn visit_i8x16_relaxed_laneselect(&mut self) -> Result {
        self.visit_v128_bitselect()
    }

    pub(crate) fn visit_i16x8_relaxed_laneselect(&mut self) -> Result {
        self.visit_v128_bitselect()
    }

    pub(crate) fn visit_i32x4_relaxed_laneselect(&mut self) -> Result {
        self.visit_v128_bitselect()
    }

    pub(crate) fn visit_i64x2_relaxed_laneselect(&mut self) -> Result {
        self.visit_v128_bitselect()
    }

    pub(crate) fn visit_f32x4_relaxed_min(&mut self) -> Result {
        self.visit_f32x4_min()
    }

    pub(crate) fn visit_f32x4_relaxed_max(&mut self) -> Result {
        self.visit_f32x4_max()
    }

    pub(crate) fn visit_f64x2_relaxed_min(&mut self) -> Result {
        self.visit_f64x2_min()
    }

    pub(crate) fn visit_f64x2_relaxed_max(&mut self) -> Result {
        self.visit_f64x2_max()
    }

    pub(crate) fn visit_i16x8_relaxed_q15mulr_s(&mut self) -> Result {
        self.visit_i16x8_q15mulr_sat_s()
    }

    pub(crate) fn visit_i16x8_relaxed_dot_i8x16_i7x16_s(&mut self) -> Result {
        self.vbin(I8X16, dot_i8x16);
        Ok(())
    }

    pub(crate) fn visit_i32x4_relaxed_dot_i8x16_i7x16_add_s(&mut self) -> Result {
        let c = self.pop_v(I32X4);
        let (x, y) = self.pop2_v(I8X16);
        let dot = dot_i8x16(&mut self.b, x, y);
        let (lo, hi) = (self.b.ins().swiden_low(dot), self.b.ins().swiden_high(dot));
        let sums = self.b.ins().iadd_pairwise(lo, hi);
        let v = self.b.ins().iadd(sums, c);
        self.push(v);
        Ok(())
    }

    /// `a * b + c` (or `-(a * b) + c`) with one rounding, lane-wise.
    fn fused(&mut self, ty: Type, negate: bool) -> Result {
        let c = self.pop_v(ty);
        let (a, b) = self.pop2_v(ty);
        let a = if negate { self.b.ins().fneg(a) } else { a };
        let v = self.b.ins().fma(a, b, c);
        self.push(v);
        Ok(())
    }
}

/// Lane `i` of the `i16x8` result is `x[2i] * y[2i] + x[2i+1] * y[2i+1]`, bytes signed,
/// the sum wrapping.
fn dot_i8x16(b: &mut FunctionBuilder<'_>, x: Value, y: Value) -> Value {
    let (xl, yl) = (b.ins().swiden_low(x), b.ins().swiden_low(y));
    let (xh, yh) = (b.ins().swiden_high(x), b.ins().swiden_high(y));
    let lo = b.ins().imul(xl, yl);
    let hi = b.ins().imul(xh, yh);
    b.ins().iadd_pairwise(lo, hi)
}
