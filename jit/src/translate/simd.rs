//! Fixed-width SIMD (`v128`) on Cranelift vector types.
//!
//! A `v128` travels between operators in whatever vector type its producer gave it, and
//! is bitcast (free) to the type its consumer needs. Where values meet (block parameters,
//! locals, calls, returns) they are canonicalized to `i8x16`, the type of `v128` in
//! signatures and variables. Each line of the table maps one operator; the few that are
//! not one Cranelift instruction are written out below it.

use super::{FuncTranslator, Result};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::*;
use cranelift_codegen::ir::{ConstantData, Endianness, InstBuilder, MemFlagsData, Type, Value};
use kiln_frontend::wasmparser::{MemArg, V128};

/// Flags of a lane-preserving bitcast between vector types.
fn bitcast_flags() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

impl FuncTranslator<'_, '_> {
    /// `v` as a value of vector type `ty`.
    pub(crate) fn as_vector(&mut self, v: Value, ty: Type) -> Value {
        if self.b.func.dfg.value_type(v) == ty {
            v
        } else {
            self.b.ins().bitcast(ty, bitcast_flags(), v)
        }
    }

    /// `v` in its canonical type: vectors become `i8x16`, scalars are unchanged.
    pub(crate) fn canonical(&mut self, v: Value) -> Value {
        if self.b.func.dfg.value_type(v).is_vector() {
            self.as_vector(v, I8X16)
        } else {
            v
        }
    }

    /// Canonicalizes each of `values`.
    pub(crate) fn canonical_all(&mut self, values: &[Value]) -> Vec<Value> {
        values.iter().map(|&v| self.canonical(v)).collect()
    }

    pub(super) fn pop_v(&mut self, ty: Type) -> Value {
        let v = self.pop();
        self.as_vector(v, ty)
    }

    pub(super) fn pop2_v(&mut self, ty: Type) -> (Value, Value) {
        let b = self.pop_v(ty);
        let a = self.pop_v(ty);
        (a, b)
    }

    pub(super) fn vbin(
        &mut self,
        ty: Type,
        f: impl FnOnce(&mut cranelift_frontend::FunctionBuilder<'_>, Value, Value) -> Value,
    ) {
        let (a, b) = self.pop2_v(ty);
        let v = f(&mut self.b, a, b);
        self.push(v);
    }

    fn vun(
        &mut self,
        ty: Type,
        f: impl FnOnce(&mut cranelift_frontend::FunctionBuilder<'_>, Value) -> Value,
    ) {
        let a = self.pop_v(ty);
        let v = f(&mut self.b, a);
        self.push(v);
    }

    /// A vector constant of type `ty` from its 16 little-endian bytes.
    fn vconst(&mut self, ty: Type, bytes: [u8; 16]) -> Value {
        let c = self
            .b
            .func
            .dfg
            .constants
            .insert(ConstantData::from(bytes.to_vec()));
        self.b.ins().vconst(ty, c)
    }

    /// The scalar lane type's operand, narrowed from the wasm `i32` where lanes are
    /// narrower.
    fn lane_operand(&mut self, ty: Type, x: Value) -> Value {
        let lane = ty.lane_type();
        if lane.is_int() && lane.bits() < 32 {
            self.b.ins().ireduce(lane, x)
        } else {
            x
        }
    }

    fn splat(&mut self, ty: Type) -> Result {
        let x = self.pop();
        let x = self.lane_operand(ty, x);
        let v = self.b.ins().splat(ty, x);
        self.push(v);
        Ok(())
    }

    fn extract(&mut self, ty: Type, lane: u8, signed: Option<bool>) -> Result {
        let v = self.pop_v(ty);
        let x = self.b.ins().extractlane(v, lane);
        let x = match signed {
            Some(true) => self.b.ins().sextend(I32, x),
            Some(false) => self.b.ins().uextend(I32, x),
            None => x,
        };
        self.push(x);
        Ok(())
    }

    fn replace(&mut self, ty: Type, lane: u8) -> Result {
        let x = self.pop();
        let v = self.pop_v(ty);
        let x = self.lane_operand(ty, x);
        let r = self.b.ins().insertlane(v, x, lane);
        self.push(r);
        Ok(())
    }

    fn shift(
        &mut self,
        ty: Type,
        op: fn(cranelift_frontend::FuncInstBuilder<'_, '_>, Value, Value) -> Value,
    ) -> Result {
        let amount = self.pop();
        let v = self.pop_v(ty);
        let r = op(self.b.ins(), v, amount);
        self.push(r);
        Ok(())
    }

    fn icmp_v(&mut self, ty: Type, cc: IntCC) -> Result {
        self.vbin(ty, |b, x, y| b.ins().icmp(cc, x, y));
        Ok(())
    }

    fn fcmp_v(&mut self, ty: Type, cc: FloatCC) -> Result {
        self.vbin(ty, |b, x, y| b.ins().fcmp(cc, x, y));
        Ok(())
    }

    fn all_true(&mut self, ty: Type) -> Result {
        self.vun(ty, |b, x| {
            let t = b.ins().vall_true(x);
            b.ins().uextend(I32, t)
        });
        Ok(())
    }

    fn bitmask(&mut self, ty: Type) -> Result {
        self.vun(ty, |b, x| b.ins().vhigh_bits(I32, x));
        Ok(())
    }

    /// `extmul`: multiply the widened low or high halves.
    fn extmul(&mut self, ty: Type, high: bool, signed: bool) -> Result {
        self.vbin(ty, |b, x, y| {
            let (x, y) = match (high, signed) {
                (false, true) => (b.ins().swiden_low(x), b.ins().swiden_low(y)),
                (true, true) => (b.ins().swiden_high(x), b.ins().swiden_high(y)),
                (false, false) => (b.ins().uwiden_low(x), b.ins().uwiden_low(y)),
                (true, false) => (b.ins().uwiden_high(x), b.ins().uwiden_high(y)),
            };
            b.ins().imul(x, y)
        });
        Ok(())
    }

    /// `extadd_pairwise`: add adjacent lanes into lanes twice as wide.
    fn extadd_pairwise(&mut self, ty: Type, signed: bool) -> Result {
        self.vun(ty, |b, x| {
            let (lo, hi) = if signed {
                (b.ins().swiden_low(x), b.ins().swiden_high(x))
            } else {
                (b.ins().uwiden_low(x), b.ins().uwiden_high(x))
            };
            b.ins().iadd_pairwise(lo, hi)
        });
        Ok(())
    }

    fn widen(&mut self, ty: Type, high: bool, signed: bool) -> Result {
        self.vun(ty, |b, x| match (high, signed) {
            (false, true) => b.ins().swiden_low(x),
            (true, true) => b.ins().swiden_high(x),
            (false, false) => b.ins().uwiden_low(x),
            (true, false) => b.ins().uwiden_high(x),
        });
        Ok(())
    }

    /// `pmin`/`pmax`: `b < a ? b : a` and `a < b ? b : a`, lane-wise, NaN-oblivious.
    fn pseudo_minmax(&mut self, ty: Type, max: bool) -> Result {
        let int = ty.as_int();
        self.vbin(ty, |b, x, y| {
            let mask = if max {
                b.ins().fcmp(FloatCC::LessThan, x, y)
            } else {
                b.ins().fcmp(FloatCC::LessThan, y, x)
            };
            debug_assert_eq!(b.func.dfg.value_type(mask), int);
            let mask = b.ins().bitcast(ty, bitcast_flags(), mask);
            b.ins().bitselect(mask, y, x)
        });
        Ok(())
    }

    fn v_load_extend(
        &mut self,
        memarg: MemArg,
        op: fn(cranelift_frontend::FuncInstBuilder<'_, '_>, MemFlagsData, Value, i32) -> Value,
    ) -> Result {
        let (addr, off) = self.heap_address(&memarg, 8);
        let flags = self.heap_flags();
        let v = op(self.b.ins(), flags, addr, off);
        self.push(v);
        Ok(())
    }

    fn load_splat(&mut self, memarg: MemArg, ty: Type) -> Result {
        let lane = ty.lane_type();
        let (addr, off) = self.heap_address(&memarg, lane.bytes().into());
        let flags = self.heap_flags();
        let x = self.b.ins().load(lane, flags, addr, off);
        let v = self.b.ins().splat(ty, x);
        self.push(v);
        Ok(())
    }

    fn load_zero(&mut self, memarg: MemArg, ty: Type) -> Result {
        let lane = ty.lane_type();
        let (addr, off) = self.heap_address(&memarg, lane.bytes().into());
        let flags = self.heap_flags();
        let x = self.b.ins().load(lane, flags, addr, off);
        let v = self.b.ins().scalar_to_vector(ty, x);
        self.push(v);
        Ok(())
    }

    fn load_lane(&mut self, memarg: MemArg, lane: u8, ty: Type) -> Result {
        let v = self.pop_v(ty);
        let lt = ty.lane_type();
        let (addr, off) = self.heap_address(&memarg, lt.bytes().into());
        let flags = self.heap_flags();
        let x = self.b.ins().load(lt, flags, addr, off);
        let r = self.b.ins().insertlane(v, x, lane);
        self.push(r);
        Ok(())
    }

    fn store_lane(&mut self, memarg: MemArg, lane: u8, ty: Type) -> Result {
        let v = self.pop_v(ty);
        let lt = ty.lane_type();
        let (addr, off) = self.heap_address(&memarg, lt.bytes().into());
        let flags = self.heap_flags();
        let x = self.b.ins().extractlane(v, lane);
        self.b.ins().store(flags, x, addr, off);
        Ok(())
    }

    pub(crate) fn visit_v128_load(&mut self, memarg: MemArg) -> Result {
        let (addr, off) = self.heap_address(&memarg, 16);
        let flags = self.heap_flags();
        let v = self.b.ins().load(I8X16, flags, addr, off);
        self.push(v);
        Ok(())
    }

    pub(crate) fn visit_v128_store(&mut self, memarg: MemArg) -> Result {
        let v = self.pop();
        let (addr, off) = self.heap_address(&memarg, 16);
        let flags = self.heap_flags();
        self.b.ins().store(flags, v, addr, off);
        Ok(())
    }

    pub(crate) fn visit_v128_load8x8_s(&mut self, memarg: MemArg) -> Result {
        self.v_load_extend(memarg, |i, f, a, o| i.sload8x8(f, a, o))
    }
    pub(crate) fn visit_v128_load8x8_u(&mut self, memarg: MemArg) -> Result {
        self.v_load_extend(memarg, |i, f, a, o| i.uload8x8(f, a, o))
    }
    pub(crate) fn visit_v128_load16x4_s(&mut self, memarg: MemArg) -> Result {
        self.v_load_extend(memarg, |i, f, a, o| i.sload16x4(f, a, o))
    }
    pub(crate) fn visit_v128_load16x4_u(&mut self, memarg: MemArg) -> Result {
        self.v_load_extend(memarg, |i, f, a, o| i.uload16x4(f, a, o))
    }
    pub(crate) fn visit_v128_load32x2_s(&mut self, memarg: MemArg) -> Result {
        self.v_load_extend(memarg, |i, f, a, o| i.sload32x2(f, a, o))
    }
    pub(crate) fn visit_v128_load32x2_u(&mut self, memarg: MemArg) -> Result {
        self.v_load_extend(memarg, |i, f, a, o| i.uload32x2(f, a, o))
    }
    pub(crate) fn visit_v128_load8_splat(&mut self, memarg: MemArg) -> Result {
        self.load_splat(memarg, I8X16)
    }
    pub(crate) fn visit_v128_load16_splat(&mut self, memarg: MemArg) -> Result {
        self.load_splat(memarg, I16X8)
    }
    pub(crate) fn visit_v128_load32_splat(&mut self, memarg: MemArg) -> Result {
        self.load_splat(memarg, I32X4)
    }
    pub(crate) fn visit_v128_load64_splat(&mut self, memarg: MemArg) -> Result {
        self.load_splat(memarg, I64X2)
    }
    pub(crate) fn visit_v128_load32_zero(&mut self, memarg: MemArg) -> Result {
        self.load_zero(memarg, I32X4)
    }
    pub(crate) fn visit_v128_load64_zero(&mut self, memarg: MemArg) -> Result {
        self.load_zero(memarg, I64X2)
    }
    pub(crate) fn visit_v128_load8_lane(&mut self, memarg: MemArg, lane: u8) -> Result {
        self.load_lane(memarg, lane, I8X16)
    }
    pub(crate) fn visit_v128_load16_lane(&mut self, memarg: MemArg, lane: u8) -> Result {
        self.load_lane(memarg, lane, I16X8)
    }
    pub(crate) fn visit_v128_load32_lane(&mut self, memarg: MemArg, lane: u8) -> Result {
        self.load_lane(memarg, lane, I32X4)
    }
    pub(crate) fn visit_v128_load64_lane(&mut self, memarg: MemArg, lane: u8) -> Result {
        self.load_lane(memarg, lane, I64X2)
    }
    pub(crate) fn visit_v128_store8_lane(&mut self, memarg: MemArg, lane: u8) -> Result {
        self.store_lane(memarg, lane, I8X16)
    }
    pub(crate) fn visit_v128_store16_lane(&mut self, memarg: MemArg, lane: u8) -> Result {
        self.store_lane(memarg, lane, I16X8)
    }
    pub(crate) fn visit_v128_store32_lane(&mut self, memarg: MemArg, lane: u8) -> Result {
        self.store_lane(memarg, lane, I32X4)
    }
    pub(crate) fn visit_v128_store64_lane(&mut self, memarg: MemArg, lane: u8) -> Result {
        self.store_lane(memarg, lane, I64X2)
    }

    pub(crate) fn visit_v128_const(&mut self, value: V128) -> Result {
        let v = self.vconst(I8X16, *value.bytes());
        self.push(v);
        Ok(())
    }

    pub(crate) fn visit_i8x16_shuffle(&mut self, lanes: [u8; 16]) -> Result {
        let (a, b) = self.pop2_v(I8X16);
        let mask = self
            .b
            .func
            .dfg
            .immediates
            .push(ConstantData::from(lanes.to_vec()));
        let v = self.b.ins().shuffle(a, b, mask);
        self.push(v);
        Ok(())
    }

    pub(crate) fn visit_v128_bitselect(&mut self) -> Result {
        let c = self.pop_v(I8X16);
        let (a, b) = self.pop2_v(I8X16);
        let v = self.b.ins().bitselect(c, a, b);
        self.push(v);
        Ok(())
    }

    pub(crate) fn visit_v128_any_true(&mut self) -> Result {
        self.vun(I8X16, |b, x| {
            let t = b.ins().vany_true(x);
            b.ins().uextend(I32, t)
        });
        Ok(())
    }

    pub(crate) fn visit_i32x4_dot_i16x8_s(&mut self) -> Result {
        self.vbin(I16X8, |b, x, y| {
            let (xl, yl) = (b.ins().swiden_low(x), b.ins().swiden_low(y));
            let (xh, yh) = (b.ins().swiden_high(x), b.ins().swiden_high(y));
            let lo = b.ins().imul(xl, yl);
            let hi = b.ins().imul(xh, yh);
            b.ins().iadd_pairwise(lo, hi)
        });
        Ok(())
    }

    pub(crate) fn visit_i32x4_trunc_sat_f64x2_s_zero(&mut self) -> Result {
        let zero = self.vconst(I64X2, [0; 16]);
        self.vun(F64X2, |b, x| {
            let wide = b.ins().fcvt_to_sint_sat(I64X2, x);
            b.ins().snarrow(wide, zero)
        });
        Ok(())
    }

    pub(crate) fn visit_i32x4_trunc_sat_f64x2_u_zero(&mut self) -> Result {
        let zero = self.vconst(I64X2, [0; 16]);
        self.vun(F64X2, |b, x| {
            let wide = b.ins().fcvt_to_uint_sat(I64X2, x);
            b.ins().uunarrow(wide, zero)
        });
        Ok(())
    }

    pub(crate) fn visit_f64x2_convert_low_i32x4_s(&mut self) -> Result {
        self.vun(I32X4, |b, x| {
            let wide = b.ins().swiden_low(x);
            b.ins().fcvt_from_sint(F64X2, wide)
        });
        Ok(())
    }

    pub(crate) fn visit_f64x2_convert_low_i32x4_u(&mut self) -> Result {
        self.vun(I32X4, |b, x| {
            let wide = b.ins().uwiden_low(x);
            b.ins().fcvt_from_uint(F64X2, wide)
        });
        Ok(())
    }

    pub(crate) fn visit_v128_andnot(&mut self) -> Result {
        self.vbin(I8X16, |b, x, y| {
            let ny = b.ins().bnot(y);
            b.ins().band(x, ny)
        });
        Ok(())
    }
}

macro_rules! lower_simd {
    ($($visit:ident $(($($arg:ident: $argty:ty),*))? => $how:ident $args:tt;)*) => {
        impl FuncTranslator<'_, '_> {
            $(
                pub(crate) fn $visit(&mut self $($(, $arg: $argty)*)?) -> Result {
                    lower_simd!(@$how self $args)
                }
            )*
        }
    };
    (@bin $s:ident ($ty:ident, $op:ident)) => {{ $s.vbin($ty, |b, x, y| b.ins().$op(x, y)); Ok(()) }};
    (@un $s:ident ($ty:ident, $op:ident)) => {{ $s.vun($ty, |b, x| b.ins().$op(x)); Ok(()) }};
    (@conv $s:ident ($from:ident, $op:ident, $to:ident)) => {{ $s.vun($from, |b, x| b.ins().$op($to, x)); Ok(()) }};
    (@icmp $s:ident ($ty:ident, $cc:ident)) => { $s.icmp_v($ty, IntCC::$cc) };
    (@fcmp $s:ident ($ty:ident, $cc:ident)) => { $s.fcmp_v($ty, FloatCC::$cc) };
    (@splat $s:ident ($ty:ident)) => { $s.splat($ty) };
    (@extract $s:ident ($ty:ident, $lane:ident, $sign:expr)) => { $s.extract($ty, $lane, $sign) };
    (@replace $s:ident ($ty:ident, $lane:ident)) => { $s.replace($ty, $lane) };
    (@shift $s:ident ($ty:ident, $op:ident)) => { $s.shift($ty, |i, v, a| i.$op(v, a)) };
    (@all_true $s:ident ($ty:ident)) => { $s.all_true($ty) };
    (@bitmask $s:ident ($ty:ident)) => { $s.bitmask($ty) };
    (@extmul $s:ident ($ty:ident, $high:expr, $signed:expr)) => { $s.extmul($ty, $high, $signed) };
    (@extadd $s:ident ($ty:ident, $signed:expr)) => { $s.extadd_pairwise($ty, $signed) };
    (@widen $s:ident ($ty:ident, $high:expr, $signed:expr)) => { $s.widen($ty, $high, $signed) };
    (@pminmax $s:ident ($ty:ident, $max:expr)) => { $s.pseudo_minmax($ty, $max) };
}

lower_simd! {
    visit_i8x16_extract_lane_s(lane: u8) => extract(I8X16, lane, Some(true));
    visit_i8x16_extract_lane_u(lane: u8) => extract(I8X16, lane, Some(false));
    visit_i16x8_extract_lane_s(lane: u8) => extract(I16X8, lane, Some(true));
    visit_i16x8_extract_lane_u(lane: u8) => extract(I16X8, lane, Some(false));
    visit_i32x4_extract_lane(lane: u8) => extract(I32X4, lane, None);
    visit_i64x2_extract_lane(lane: u8) => extract(I64X2, lane, None);
    visit_f32x4_extract_lane(lane: u8) => extract(F32X4, lane, None);
    visit_f64x2_extract_lane(lane: u8) => extract(F64X2, lane, None);
    visit_i8x16_replace_lane(lane: u8) => replace(I8X16, lane);
    visit_i16x8_replace_lane(lane: u8) => replace(I16X8, lane);
    visit_i32x4_replace_lane(lane: u8) => replace(I32X4, lane);
    visit_i64x2_replace_lane(lane: u8) => replace(I64X2, lane);
    visit_f32x4_replace_lane(lane: u8) => replace(F32X4, lane);
    visit_f64x2_replace_lane(lane: u8) => replace(F64X2, lane);

    visit_i8x16_swizzle => bin(I8X16, swizzle);
    visit_i8x16_splat => splat(I8X16);
    visit_i16x8_splat => splat(I16X8);
    visit_i32x4_splat => splat(I32X4);
    visit_i64x2_splat => splat(I64X2);
    visit_f32x4_splat => splat(F32X4);
    visit_f64x2_splat => splat(F64X2);

    visit_i8x16_eq => icmp(I8X16, Equal);
    visit_i8x16_ne => icmp(I8X16, NotEqual);
    visit_i8x16_lt_s => icmp(I8X16, SignedLessThan);
    visit_i8x16_lt_u => icmp(I8X16, UnsignedLessThan);
    visit_i8x16_gt_s => icmp(I8X16, SignedGreaterThan);
    visit_i8x16_gt_u => icmp(I8X16, UnsignedGreaterThan);
    visit_i8x16_le_s => icmp(I8X16, SignedLessThanOrEqual);
    visit_i8x16_le_u => icmp(I8X16, UnsignedLessThanOrEqual);
    visit_i8x16_ge_s => icmp(I8X16, SignedGreaterThanOrEqual);
    visit_i8x16_ge_u => icmp(I8X16, UnsignedGreaterThanOrEqual);
    visit_i16x8_eq => icmp(I16X8, Equal);
    visit_i16x8_ne => icmp(I16X8, NotEqual);
    visit_i16x8_lt_s => icmp(I16X8, SignedLessThan);
    visit_i16x8_lt_u => icmp(I16X8, UnsignedLessThan);
    visit_i16x8_gt_s => icmp(I16X8, SignedGreaterThan);
    visit_i16x8_gt_u => icmp(I16X8, UnsignedGreaterThan);
    visit_i16x8_le_s => icmp(I16X8, SignedLessThanOrEqual);
    visit_i16x8_le_u => icmp(I16X8, UnsignedLessThanOrEqual);
    visit_i16x8_ge_s => icmp(I16X8, SignedGreaterThanOrEqual);
    visit_i16x8_ge_u => icmp(I16X8, UnsignedGreaterThanOrEqual);
    visit_i32x4_eq => icmp(I32X4, Equal);
    visit_i32x4_ne => icmp(I32X4, NotEqual);
    visit_i32x4_lt_s => icmp(I32X4, SignedLessThan);
    visit_i32x4_lt_u => icmp(I32X4, UnsignedLessThan);
    visit_i32x4_gt_s => icmp(I32X4, SignedGreaterThan);
    visit_i32x4_gt_u => icmp(I32X4, UnsignedGreaterThan);
    visit_i32x4_le_s => icmp(I32X4, SignedLessThanOrEqual);
    visit_i32x4_le_u => icmp(I32X4, UnsignedLessThanOrEqual);
    visit_i32x4_ge_s => icmp(I32X4, SignedGreaterThanOrEqual);
    visit_i32x4_ge_u => icmp(I32X4, UnsignedGreaterThanOrEqual);
    visit_i64x2_eq => icmp(I64X2, Equal);
    visit_i64x2_ne => icmp(I64X2, NotEqual);
    visit_i64x2_lt_s => icmp(I64X2, SignedLessThan);
    visit_i64x2_gt_s => icmp(I64X2, SignedGreaterThan);
    visit_i64x2_le_s => icmp(I64X2, SignedLessThanOrEqual);
    visit_i64x2_ge_s => icmp(I64X2, SignedGreaterThanOrEqual);
    visit_f32x4_eq => fcmp(F32X4, Equal);
    visit_f32x4_ne => fcmp(F32X4, NotEqual);
    visit_f32x4_lt => fcmp(F32X4, LessThan);
    visit_f32x4_gt => fcmp(F32X4, GreaterThan);
    visit_f32x4_le => fcmp(F32X4, LessThanOrEqual);
    visit_f32x4_ge => fcmp(F32X4, GreaterThanOrEqual);
    visit_f64x2_eq => fcmp(F64X2, Equal);
    visit_f64x2_ne => fcmp(F64X2, NotEqual);
    visit_f64x2_lt => fcmp(F64X2, LessThan);
    visit_f64x2_gt => fcmp(F64X2, GreaterThan);
    visit_f64x2_le => fcmp(F64X2, LessThanOrEqual);
    visit_f64x2_ge => fcmp(F64X2, GreaterThanOrEqual);

    visit_v128_not => un(I8X16, bnot);
    visit_v128_and => bin(I8X16, band);
    visit_v128_or => bin(I8X16, bor);
    visit_v128_xor => bin(I8X16, bxor);

    visit_i8x16_abs => un(I8X16, iabs);
    visit_i8x16_neg => un(I8X16, ineg);
    visit_i8x16_popcnt => un(I8X16, popcnt);
    visit_i8x16_all_true => all_true(I8X16);
    visit_i8x16_bitmask => bitmask(I8X16);
    visit_i8x16_narrow_i16x8_s => bin(I16X8, snarrow);
    visit_i8x16_narrow_i16x8_u => bin(I16X8, unarrow);
    visit_i8x16_shl => shift(I8X16, ishl);
    visit_i8x16_shr_s => shift(I8X16, sshr);
    visit_i8x16_shr_u => shift(I8X16, ushr);
    visit_i8x16_add => bin(I8X16, iadd);
    visit_i8x16_add_sat_s => bin(I8X16, sadd_sat);
    visit_i8x16_add_sat_u => bin(I8X16, uadd_sat);
    visit_i8x16_sub => bin(I8X16, isub);
    visit_i8x16_sub_sat_s => bin(I8X16, ssub_sat);
    visit_i8x16_sub_sat_u => bin(I8X16, usub_sat);
    visit_i8x16_min_s => bin(I8X16, smin);
    visit_i8x16_min_u => bin(I8X16, umin);
    visit_i8x16_max_s => bin(I8X16, smax);
    visit_i8x16_max_u => bin(I8X16, umax);
    visit_i8x16_avgr_u => bin(I8X16, avg_round);

    visit_i16x8_extadd_pairwise_i8x16_s => extadd(I8X16, true);
    visit_i16x8_extadd_pairwise_i8x16_u => extadd(I8X16, false);
    visit_i16x8_abs => un(I16X8, iabs);
    visit_i16x8_neg => un(I16X8, ineg);
    visit_i16x8_q15mulr_sat_s => bin(I16X8, sqmul_round_sat);
    visit_i16x8_all_true => all_true(I16X8);
    visit_i16x8_bitmask => bitmask(I16X8);
    visit_i16x8_narrow_i32x4_s => bin(I32X4, snarrow);
    visit_i16x8_narrow_i32x4_u => bin(I32X4, unarrow);
    visit_i16x8_extend_low_i8x16_s => widen(I8X16, false, true);
    visit_i16x8_extend_high_i8x16_s => widen(I8X16, true, true);
    visit_i16x8_extend_low_i8x16_u => widen(I8X16, false, false);
    visit_i16x8_extend_high_i8x16_u => widen(I8X16, true, false);
    visit_i16x8_shl => shift(I16X8, ishl);
    visit_i16x8_shr_s => shift(I16X8, sshr);
    visit_i16x8_shr_u => shift(I16X8, ushr);
    visit_i16x8_add => bin(I16X8, iadd);
    visit_i16x8_add_sat_s => bin(I16X8, sadd_sat);
    visit_i16x8_add_sat_u => bin(I16X8, uadd_sat);
    visit_i16x8_sub => bin(I16X8, isub);
    visit_i16x8_sub_sat_s => bin(I16X8, ssub_sat);
    visit_i16x8_sub_sat_u => bin(I16X8, usub_sat);
    visit_i16x8_mul => bin(I16X8, imul);
    visit_i16x8_min_s => bin(I16X8, smin);
    visit_i16x8_min_u => bin(I16X8, umin);
    visit_i16x8_max_s => bin(I16X8, smax);
    visit_i16x8_max_u => bin(I16X8, umax);
    visit_i16x8_avgr_u => bin(I16X8, avg_round);
    visit_i16x8_extmul_low_i8x16_s => extmul(I8X16, false, true);
    visit_i16x8_extmul_high_i8x16_s => extmul(I8X16, true, true);
    visit_i16x8_extmul_low_i8x16_u => extmul(I8X16, false, false);
    visit_i16x8_extmul_high_i8x16_u => extmul(I8X16, true, false);

    visit_i32x4_extadd_pairwise_i16x8_s => extadd(I16X8, true);
    visit_i32x4_extadd_pairwise_i16x8_u => extadd(I16X8, false);
    visit_i32x4_abs => un(I32X4, iabs);
    visit_i32x4_neg => un(I32X4, ineg);
    visit_i32x4_all_true => all_true(I32X4);
    visit_i32x4_bitmask => bitmask(I32X4);
    visit_i32x4_extend_low_i16x8_s => widen(I16X8, false, true);
    visit_i32x4_extend_high_i16x8_s => widen(I16X8, true, true);
    visit_i32x4_extend_low_i16x8_u => widen(I16X8, false, false);
    visit_i32x4_extend_high_i16x8_u => widen(I16X8, true, false);
    visit_i32x4_shl => shift(I32X4, ishl);
    visit_i32x4_shr_s => shift(I32X4, sshr);
    visit_i32x4_shr_u => shift(I32X4, ushr);
    visit_i32x4_add => bin(I32X4, iadd);
    visit_i32x4_sub => bin(I32X4, isub);
    visit_i32x4_mul => bin(I32X4, imul);
    visit_i32x4_min_s => bin(I32X4, smin);
    visit_i32x4_min_u => bin(I32X4, umin);
    visit_i32x4_max_s => bin(I32X4, smax);
    visit_i32x4_max_u => bin(I32X4, umax);
    visit_i32x4_extmul_low_i16x8_s => extmul(I16X8, false, true);
    visit_i32x4_extmul_high_i16x8_s => extmul(I16X8, true, true);
    visit_i32x4_extmul_low_i16x8_u => extmul(I16X8, false, false);
    visit_i32x4_extmul_high_i16x8_u => extmul(I16X8, true, false);

    visit_i64x2_abs => un(I64X2, iabs);
    visit_i64x2_neg => un(I64X2, ineg);
    visit_i64x2_all_true => all_true(I64X2);
    visit_i64x2_bitmask => bitmask(I64X2);
    visit_i64x2_extend_low_i32x4_s => widen(I32X4, false, true);
    visit_i64x2_extend_high_i32x4_s => widen(I32X4, true, true);
    visit_i64x2_extend_low_i32x4_u => widen(I32X4, false, false);
    visit_i64x2_extend_high_i32x4_u => widen(I32X4, true, false);
    visit_i64x2_shl => shift(I64X2, ishl);
    visit_i64x2_shr_s => shift(I64X2, sshr);
    visit_i64x2_shr_u => shift(I64X2, ushr);
    visit_i64x2_add => bin(I64X2, iadd);
    visit_i64x2_sub => bin(I64X2, isub);
    visit_i64x2_mul => bin(I64X2, imul);
    visit_i64x2_extmul_low_i32x4_s => extmul(I32X4, false, true);
    visit_i64x2_extmul_high_i32x4_s => extmul(I32X4, true, true);
    visit_i64x2_extmul_low_i32x4_u => extmul(I32X4, false, false);
    visit_i64x2_extmul_high_i32x4_u => extmul(I32X4, true, false);

    visit_f32x4_ceil => un(F32X4, ceil);
    visit_f32x4_floor => un(F32X4, floor);
    visit_f32x4_trunc => un(F32X4, trunc);
    visit_f32x4_nearest => un(F32X4, nearest);
    visit_f32x4_abs => un(F32X4, fabs);
    visit_f32x4_neg => un(F32X4, fneg);
    visit_f32x4_sqrt => un(F32X4, sqrt);
    visit_f32x4_add => bin(F32X4, fadd);
    visit_f32x4_sub => bin(F32X4, fsub);
    visit_f32x4_mul => bin(F32X4, fmul);
    visit_f32x4_div => bin(F32X4, fdiv);
    visit_f32x4_min => bin(F32X4, fmin);
    visit_f32x4_max => bin(F32X4, fmax);
    visit_f32x4_pmin => pminmax(F32X4, false);
    visit_f32x4_pmax => pminmax(F32X4, true);
    visit_f64x2_ceil => un(F64X2, ceil);
    visit_f64x2_floor => un(F64X2, floor);
    visit_f64x2_trunc => un(F64X2, trunc);
    visit_f64x2_nearest => un(F64X2, nearest);
    visit_f64x2_abs => un(F64X2, fabs);
    visit_f64x2_neg => un(F64X2, fneg);
    visit_f64x2_sqrt => un(F64X2, sqrt);
    visit_f64x2_add => bin(F64X2, fadd);
    visit_f64x2_sub => bin(F64X2, fsub);
    visit_f64x2_mul => bin(F64X2, fmul);
    visit_f64x2_div => bin(F64X2, fdiv);
    visit_f64x2_min => bin(F64X2, fmin);
    visit_f64x2_max => bin(F64X2, fmax);
    visit_f64x2_pmin => pminmax(F64X2, false);
    visit_f64x2_pmax => pminmax(F64X2, true);

    visit_i32x4_trunc_sat_f32x4_s => conv(F32X4, fcvt_to_sint_sat, I32X4);
    visit_i32x4_trunc_sat_f32x4_u => conv(F32X4, fcvt_to_uint_sat, I32X4);
    visit_f32x4_convert_i32x4_s => conv(I32X4, fcvt_from_sint, F32X4);
    visit_f32x4_convert_i32x4_u => conv(I32X4, fcvt_from_uint, F32X4);
    visit_f32x4_demote_f64x2_zero => un(F64X2, fvdemote);
    visit_f64x2_promote_low_f32x4 => un(F32X4, fvpromote_low);
}
