//! Integer and float arithmetic, comparisons and conversions.
//!
//! Cranelift's operators already have Wasm's semantics where it matters: division traps
//! on zero and signed overflow, `srem` of `MIN % -1` is 0, shifts and rotates take the
//! count modulo the width, `fmin`/`fmax` propagate NaN and order -0 below +0, and the
//! trapping float-to-int conversions trap on NaN and on out-of-range values. Each line
//! below therefore maps one Wasm operator to its Cranelift counterpart.

use super::{FuncTranslator, Result};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F32, F64, I16, I32, I64, I8};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData};

macro_rules! lower {
    ($($visit:ident => $how:ident $args:tt;)*) => {
        impl FuncTranslator<'_, '_> {
            $(
                pub(crate) fn $visit(&mut self) -> Result {
                    lower!(@$how self $args);
                    Ok(())
                }
            )*
        }
    };
    // `x op y` with a Cranelift binary instruction.
    (@bin $s:ident ($op:ident)) => { $s.binop(|b, x, y| b.ins().$op(x, y)) };
    // `op x` with a Cranelift unary instruction.
    (@un $s:ident ($op:ident)) => { $s.unop(|b, x| b.ins().$op(x)) };
    // A conversion instruction that takes the result type.
    (@conv $s:ident ($op:ident, $ty:ident)) => { $s.unop(|b, x| b.ins().$op($ty, x)) };
    // Integer comparison producing an i32 0/1.
    (@icmp $s:ident ($cc:ident)) => {
        $s.binop(|b, x, y| {
            let c = b.ins().icmp(IntCC::$cc, x, y);
            b.ins().uextend(I32, c)
        })
    };
    // Float comparison producing an i32 0/1.
    (@fcmp $s:ident ($cc:ident)) => {
        $s.binop(|b, x, y| {
            let c = b.ins().fcmp(FloatCC::$cc, x, y);
            b.ins().uextend(I32, c)
        })
    };
    // `x == 0`.
    (@eqz $s:ident ()) => {
        $s.unop(|b, x| {
            let c = b.ins().icmp_imm_s(IntCC::Equal, x, 0);
            b.ins().uextend(I32, c)
        })
    };
    // Sign-extend the low `$narrow` bits of a `$wide` value.
    (@sext $s:ident ($narrow:ident, $wide:ident)) => {
        $s.unop(|b, x| {
            let n = b.ins().ireduce($narrow, x);
            b.ins().sextend($wide, n)
        })
    };
    // Reinterpret the bits as another type.
    (@bitcast $s:ident ($ty:ident)) => {
        $s.unop(|b, x| b.ins().bitcast($ty, MemFlagsData::new(), x))
    };
}

lower! {
    visit_i32_eqz => eqz();
    visit_i32_eq => icmp(Equal);
    visit_i32_ne => icmp(NotEqual);
    visit_i32_lt_s => icmp(SignedLessThan);
    visit_i32_lt_u => icmp(UnsignedLessThan);
    visit_i32_gt_s => icmp(SignedGreaterThan);
    visit_i32_gt_u => icmp(UnsignedGreaterThan);
    visit_i32_le_s => icmp(SignedLessThanOrEqual);
    visit_i32_le_u => icmp(UnsignedLessThanOrEqual);
    visit_i32_ge_s => icmp(SignedGreaterThanOrEqual);
    visit_i32_ge_u => icmp(UnsignedGreaterThanOrEqual);
    visit_i64_eqz => eqz();
    visit_i64_eq => icmp(Equal);
    visit_i64_ne => icmp(NotEqual);
    visit_i64_lt_s => icmp(SignedLessThan);
    visit_i64_lt_u => icmp(UnsignedLessThan);
    visit_i64_gt_s => icmp(SignedGreaterThan);
    visit_i64_gt_u => icmp(UnsignedGreaterThan);
    visit_i64_le_s => icmp(SignedLessThanOrEqual);
    visit_i64_le_u => icmp(UnsignedLessThanOrEqual);
    visit_i64_ge_s => icmp(SignedGreaterThanOrEqual);
    visit_i64_ge_u => icmp(UnsignedGreaterThanOrEqual);

    visit_f32_eq => fcmp(Equal);
    visit_f32_ne => fcmp(NotEqual);
    visit_f32_lt => fcmp(LessThan);
    visit_f32_gt => fcmp(GreaterThan);
    visit_f32_le => fcmp(LessThanOrEqual);
    visit_f32_ge => fcmp(GreaterThanOrEqual);
    visit_f64_eq => fcmp(Equal);
    visit_f64_ne => fcmp(NotEqual);
    visit_f64_lt => fcmp(LessThan);
    visit_f64_gt => fcmp(GreaterThan);
    visit_f64_le => fcmp(LessThanOrEqual);
    visit_f64_ge => fcmp(GreaterThanOrEqual);

    visit_i32_clz => un(clz);
    visit_i32_ctz => un(ctz);
    visit_i32_popcnt => un(popcnt);
    visit_i32_add => bin(iadd);
    visit_i32_sub => bin(isub);
    visit_i32_mul => bin(imul);
    visit_i32_div_s => bin(sdiv);
    visit_i32_div_u => bin(udiv);
    visit_i32_rem_s => bin(srem);
    visit_i32_rem_u => bin(urem);
    visit_i32_and => bin(band);
    visit_i32_or => bin(bor);
    visit_i32_xor => bin(bxor);
    visit_i32_shl => bin(ishl);
    visit_i32_shr_s => bin(sshr);
    visit_i32_shr_u => bin(ushr);
    visit_i32_rotl => bin(rotl);
    visit_i32_rotr => bin(rotr);
    visit_i64_clz => un(clz);
    visit_i64_ctz => un(ctz);
    visit_i64_popcnt => un(popcnt);
    visit_i64_add => bin(iadd);
    visit_i64_sub => bin(isub);
    visit_i64_mul => bin(imul);
    visit_i64_div_s => bin(sdiv);
    visit_i64_div_u => bin(udiv);
    visit_i64_rem_s => bin(srem);
    visit_i64_rem_u => bin(urem);
    visit_i64_and => bin(band);
    visit_i64_or => bin(bor);
    visit_i64_xor => bin(bxor);
    visit_i64_shl => bin(ishl);
    visit_i64_shr_s => bin(sshr);
    visit_i64_shr_u => bin(ushr);
    visit_i64_rotl => bin(rotl);
    visit_i64_rotr => bin(rotr);

    visit_f32_abs => un(fabs);
    visit_f32_neg => un(fneg);
    visit_f32_ceil => un(ceil);
    visit_f32_floor => un(floor);
    visit_f32_trunc => un(trunc);
    visit_f32_nearest => un(nearest);
    visit_f32_sqrt => un(sqrt);
    visit_f32_add => bin(fadd);
    visit_f32_sub => bin(fsub);
    visit_f32_mul => bin(fmul);
    visit_f32_div => bin(fdiv);
    visit_f32_min => bin(fmin);
    visit_f32_max => bin(fmax);
    visit_f32_copysign => bin(fcopysign);
    visit_f64_abs => un(fabs);
    visit_f64_neg => un(fneg);
    visit_f64_ceil => un(ceil);
    visit_f64_floor => un(floor);
    visit_f64_trunc => un(trunc);
    visit_f64_nearest => un(nearest);
    visit_f64_sqrt => un(sqrt);
    visit_f64_add => bin(fadd);
    visit_f64_sub => bin(fsub);
    visit_f64_mul => bin(fmul);
    visit_f64_div => bin(fdiv);
    visit_f64_min => bin(fmin);
    visit_f64_max => bin(fmax);
    visit_f64_copysign => bin(fcopysign);

    visit_i32_wrap_i64 => conv(ireduce, I32);
    visit_i32_trunc_f32_s => conv(fcvt_to_sint, I32);
    visit_i32_trunc_f32_u => conv(fcvt_to_uint, I32);
    visit_i32_trunc_f64_s => conv(fcvt_to_sint, I32);
    visit_i32_trunc_f64_u => conv(fcvt_to_uint, I32);
    visit_i64_extend_i32_s => conv(sextend, I64);
    visit_i64_extend_i32_u => conv(uextend, I64);
    visit_i64_trunc_f32_s => conv(fcvt_to_sint, I64);
    visit_i64_trunc_f32_u => conv(fcvt_to_uint, I64);
    visit_i64_trunc_f64_s => conv(fcvt_to_sint, I64);
    visit_i64_trunc_f64_u => conv(fcvt_to_uint, I64);
    visit_f32_convert_i32_s => conv(fcvt_from_sint, F32);
    visit_f32_convert_i32_u => conv(fcvt_from_uint, F32);
    visit_f32_convert_i64_s => conv(fcvt_from_sint, F32);
    visit_f32_convert_i64_u => conv(fcvt_from_uint, F32);
    visit_f32_demote_f64 => conv(fdemote, F32);
    visit_f64_convert_i32_s => conv(fcvt_from_sint, F64);
    visit_f64_convert_i32_u => conv(fcvt_from_uint, F64);
    visit_f64_convert_i64_s => conv(fcvt_from_sint, F64);
    visit_f64_convert_i64_u => conv(fcvt_from_uint, F64);
    visit_f64_promote_f32 => conv(fpromote, F64);
    visit_i32_reinterpret_f32 => bitcast(I32);
    visit_i64_reinterpret_f64 => bitcast(I64);
    visit_f32_reinterpret_i32 => bitcast(F32);
    visit_f64_reinterpret_i64 => bitcast(F64);

    visit_i32_extend8_s => sext(I8, I32);
    visit_i32_extend16_s => sext(I16, I32);
    visit_i64_extend8_s => sext(I8, I64);
    visit_i64_extend16_s => sext(I16, I64);
    visit_i64_extend32_s => sext(I32, I64);

    visit_i32_trunc_sat_f32_s => conv(fcvt_to_sint_sat, I32);
    visit_i32_trunc_sat_f32_u => conv(fcvt_to_uint_sat, I32);
    visit_i32_trunc_sat_f64_s => conv(fcvt_to_sint_sat, I32);
    visit_i32_trunc_sat_f64_u => conv(fcvt_to_uint_sat, I32);
    visit_i64_trunc_sat_f32_s => conv(fcvt_to_sint_sat, I64);
    visit_i64_trunc_sat_f32_u => conv(fcvt_to_uint_sat, I64);
    visit_i64_trunc_sat_f64_s => conv(fcvt_to_sint_sat, I64);
    visit_i64_trunc_sat_f64_u => conv(fcvt_to_uint_sat, I64);
}
