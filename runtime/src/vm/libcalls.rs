//! Routines Cranelift calls when the CPU lacks an instruction (e.g. `roundss` without
//! SSE4.1, `pshufb` without SSSE3). They follow Wasm semantics exactly: a NaN operand
//! gives a quiet (arithmetic) NaN, as the hardware instructions would.

use kiln_jit::LibCall;

/// Sets the quiet bit of a NaN, leaving other values alone.
fn quiet32(x: f32) -> f32 {
    if x.is_nan() {
        f32::from_bits(x.to_bits() | 0x0040_0000)
    } else {
        x
    }
}

fn quiet64(x: f64) -> f64 {
    if x.is_nan() {
        f64::from_bits(x.to_bits() | 0x0008_0000_0000_0000)
    } else {
        x
    }
}

extern "C" fn ceil_f32(x: f32) -> f32 {
    quiet32(x.ceil())
}
extern "C" fn ceil_f64(x: f64) -> f64 {
    quiet64(x.ceil())
}
extern "C" fn floor_f32(x: f32) -> f32 {
    quiet32(x.floor())
}
extern "C" fn floor_f64(x: f64) -> f64 {
    quiet64(x.floor())
}
extern "C" fn trunc_f32(x: f32) -> f32 {
    quiet32(x.trunc())
}
extern "C" fn trunc_f64(x: f64) -> f64 {
    quiet64(x.trunc())
}
extern "C" fn nearest_f32(x: f32) -> f32 {
    quiet32(x.round_ties_even())
}
extern "C" fn nearest_f64(x: f64) -> f64 {
    quiet64(x.round_ties_even())
}
extern "C" fn fma_f32(a: f32, b: f32, c: f32) -> f32 {
    quiet32(a.mul_add(b, c))
}
extern "C" fn fma_f64(a: f64, b: f64, c: f64) -> f64 {
    quiet64(a.mul_add(b, c))
}

/// The semantics of x86 `pshufb` on byte arrays: each output byte is `a[m & 15]`, or 0
/// when the mask byte's top bit is set.
fn pshufb_bytes(a: [u8; 16], m: [u8; 16]) -> [u8; 16] {
    std::array::from_fn(|i| {
        if m[i] & 0x80 != 0 {
            0
        } else {
            a[usize::from(m[i] & 0x0f)]
        }
    })
}

#[cfg(target_arch = "x86_64")]
#[allow(
    improper_ctypes_definitions,
    reason = "the SysV ABI passes __m128i in XMM registers, as Cranelift's libcall expects"
)]
extern "C" fn x86_pshufb(
    a: std::arch::x86_64::__m128i,
    m: std::arch::x86_64::__m128i,
) -> std::arch::x86_64::__m128i {
    // SAFETY: `__m128i` and `[u8; 16]` are both 16 bytes of plain data; every bit pattern
    // is valid for either.
    unsafe {
        let a = std::mem::transmute::<std::arch::x86_64::__m128i, [u8; 16]>(a);
        let m = std::mem::transmute::<std::arch::x86_64::__m128i, [u8; 16]>(m);
        std::mem::transmute::<[u8; 16], std::arch::x86_64::__m128i>(pshufb_bytes(a, m))
    }
}

/// The address generated code calls for `lc`, or `None` if this host has no such routine.
pub fn address(lc: LibCall) -> Option<usize> {
    Some(match lc {
        LibCall::CeilF32 => ceil_f32 as *const () as usize,
        LibCall::CeilF64 => ceil_f64 as *const () as usize,
        LibCall::FloorF32 => floor_f32 as *const () as usize,
        LibCall::FloorF64 => floor_f64 as *const () as usize,
        LibCall::TruncF32 => trunc_f32 as *const () as usize,
        LibCall::TruncF64 => trunc_f64 as *const () as usize,
        LibCall::NearestF32 => nearest_f32 as *const () as usize,
        LibCall::NearestF64 => nearest_f64 as *const () as usize,
        LibCall::FmaF32 => fma_f32 as *const () as usize,
        LibCall::FmaF64 => fma_f64 as *const () as usize,
        #[cfg(target_arch = "x86_64")]
        LibCall::X86Pshufb => x86_pshufb as *const () as usize,
        #[cfg(not(target_arch = "x86_64"))]
        LibCall::X86Pshufb => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_quiets_nans() {
        let snan = f32::from_bits(0x7fa0_0000);
        assert_eq!(ceil_f32(snan).to_bits(), 0x7fe0_0000);
        assert_eq!(
            nearest_f64(f64::from_bits(0xfff4_0000_0000_0000)).to_bits(),
            0xfffc_0000_0000_0000
        );
        assert_eq!(nearest_f32(2.5), 2.0);
        assert_eq!(trunc_f64(-1.5), -1.0);
    }

    #[test]
    fn pshufb_selects_and_zeroes() {
        let a: [u8; 16] = std::array::from_fn(|i| i as u8 * 10);
        let mut m = [0u8; 16];
        m[0] = 3;
        m[1] = 0x80;
        m[2] = 0x1f;
        let r = pshufb_bytes(a, m);
        assert_eq!(&r[..3], &[30, 0, 150]);
    }
}
