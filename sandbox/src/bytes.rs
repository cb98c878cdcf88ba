//! Bytes in and out of the guest: the calling convention of
//! [`crate::Sandbox::call_bytes`].
//!
//! The guest exports:
//! - its linear memory as `memory`;
//! - an allocator, the first of: `alloc(len: i32) -> i32`, `malloc(len: i32) -> i32`,
//!   `cabi_realloc(old_ptr: i32, old_len: i32, align: i32, new_len: i32) -> i32`
//!   (called as `cabi_realloc(0, 0, 1, len)`);
//! - the function, `func(ptr: i32, len: i32) -> i64` returning `(out_ptr << 32) |
//!   out_len`, or `func(ptr: i32, len: i32) -> (i32, i32)` returning `(out_ptr,
//!   out_len)` (multi-value);
//! - optionally a deallocator, the first of `dealloc(ptr: i32, len: i32)` and
//!   `free(ptr: i32)`.
//!
//! The host allocates `input.len()` bytes with the allocator, copies the input there,
//! calls `func(ptr, len)` (the input buffer then belongs to the guest), copies
//! `out_len` bytes at `out_ptr` out, and frees that output buffer with the deallocator
//! if there is one (so the output must be a buffer the guest allocated, when it exports
//! a deallocator). Pointers and lengths are unsigned. Each of these calls is one entry
//! into the guest, with its own fuel and timeout. A null pointer for a non-empty input
//! is [`Error::Abi`]; a buffer outside the memory is [`Error::OutOfBounds`].

use crate::backend::Backend;
use crate::error::Error;
use crate::value::{signature, Val, ValType};

use ValType::{I32, I64};

/// The allocators tried, in order, with their parameter counts.
const ALLOCATORS: [(&str, &[ValType]); 3] = [
    ("alloc", &[I32]),
    ("malloc", &[I32]),
    ("cabi_realloc", &[I32, I32, I32, I32]),
];

/// The deallocators tried, in order.
const DEALLOCATORS: [(&str, &[ValType]); 2] = [("dealloc", &[I32, I32]), ("free", &[I32])];

/// The first export of `candidates` with its parameters and one `i32` result (or no
/// result, for a deallocator).
fn find(
    b: &mut Backend,
    candidates: &[(&'static str, &'static [ValType])],
    results: &[ValType],
) -> Option<&'static str> {
    candidates.iter().find_map(|&(name, params)| {
        let (p, r) = b.signature(name)?;
        (p == params && r == results).then_some(name)
    })
}

fn as_u32(v: Option<&Val>) -> Option<u32> {
    v.and_then(Val::i32).map(|x| x as u32)
}

/// Calls `func` with `input` under the convention above.
pub(crate) fn call_bytes(b: &mut Backend, func: &str, input: &[u8]) -> Result<Vec<u8>, Error> {
    let len = u32::try_from(input.len()).map_err(|_| {
        Error::Abi(format!(
            "an input of {} bytes does not fit a 32-bit memory",
            input.len()
        ))
    })?;
    // The function's shape first: nothing is allocated for a call that cannot be made.
    let packed = match b.signature(func) {
        None => return Err(Error::Export(format!("no exported function `{func}`"))),
        Some((p, r)) if p == [I32, I32] && r == [I64] => true,
        Some((p, r)) if p == [I32, I32] && r == [I32, I32] => false,
        Some((p, r)) => {
            return Err(Error::Type(format!(
                "`{func}` is {}; call_bytes needs (i32, i32) -> (i64) or (i32, i32) -> (i32, i32): \
                 (input pointer, length) -> output pointer and length",
                signature(&p, &r)
            )))
        }
    };
    let alloc = find(b, &ALLOCATORS, &[I32]).ok_or_else(|| {
        Error::Export(
            "call_bytes needs an allocator export: `alloc(len: i32) -> i32`, \
             `malloc(len: i32) -> i32` or `cabi_realloc(i32, i32, i32, i32) -> i32`"
                .into(),
        )
    })?;
    let len_val = Val::I32(len as i32);
    let args: Vec<Val> = if alloc == "cabi_realloc" {
        vec![Val::I32(0), Val::I32(0), Val::I32(1), len_val]
    } else {
        vec![len_val]
    };
    let ptr = as_u32(b.call_dynamic(alloc, &args)?.first())
        .ok_or_else(|| Error::Abi(format!("`{alloc}` returned no i32")))?;
    if ptr == 0 && len > 0 {
        return Err(Error::Abi(format!(
            "`{alloc}({len})` returned a null pointer (the guest is out of memory?)"
        )));
    }
    if len > 0 {
        b.write_memory(u64::from(ptr), input)?;
    }

    let out = b.call_dynamic(func, &[Val::I32(ptr as i32), len_val])?;
    let (out_ptr, out_len) = if packed {
        let v = out
            .first()
            .and_then(Val::i64)
            .ok_or_else(|| Error::Abi(format!("`{func}` returned no i64")))?;
        ((v as u64 >> 32) as u32, v as u32)
    } else {
        match (as_u32(out.first()), as_u32(out.get(1))) {
            (Some(p), Some(l)) => (p, l),
            _ => return Err(Error::Abi(format!("`{func}` returned no (i32, i32)"))),
        }
    };
    let bytes = b.read_memory(u64::from(out_ptr), u64::from(out_len))?;

    match find(b, &DEALLOCATORS, &[]) {
        Some("dealloc") => {
            b.call_dynamic(
                "dealloc",
                &[Val::I32(out_ptr as i32), Val::I32(out_len as i32)],
            )?;
        }
        Some(free) => {
            b.call_dynamic(free, &[Val::I32(out_ptr as i32)])?;
        }
        None => {}
    }
    Ok(bytes)
}

/// `call_bytes` with UTF-8 in and out.
pub(crate) fn call_string(b: &mut Backend, func: &str, input: &str) -> Result<String, Error> {
    let bytes = call_bytes(b, func, input.as_bytes())?;
    String::from_utf8(bytes).map_err(|e| {
        Error::Abi(format!(
            "`{func}` returned {} bytes that are not UTF-8: {}",
            e.as_bytes().len(),
            e.utf8_error()
        ))
    })
}
