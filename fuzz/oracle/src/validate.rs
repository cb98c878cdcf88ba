//! Validation agreement: Kiln accepts exactly what wasmparser accepts with Kiln's feature
//! set, and names a missing proposal only for modules some proposal makes valid.

use crate::generate;
use crate::{engines, Failure, Target};
use arbitrary::Unstructured;
use kiln_frontend::{ErrorKind as FrontendKind, Features};
use wasmparser::{Validator, WasmFeatures};

/// Checks validation agreement on a module made from `data`: the raw bytes, a wasm-smith
/// module with Kiln's feature set, one with any proposals, or one of those damaged a
/// little. The check runs with SIMD on or off (Kiln's `Features::simd`), also chosen by
/// the input.
pub fn validate(data: &[u8]) -> Result<(), Failure> {
    match prepare(data) {
        Some((bytes, simd)) => check_validate(&bytes, simd),
        None => Ok(()),
    }
}

/// The module `validate` checks for `data`, and whether SIMD is on.
pub(crate) fn prepare(data: &[u8]) -> Option<(Vec<u8>, bool)> {
    let mut u = Unstructured::new(data);
    let (Ok(mode), Ok(simd)) = (u.int_in_range(0u8..=4), u.ratio(7u8, 8)) else {
        return None;
    };
    let bytes = match mode {
        0 => u.take_rest().to_vec(),
        1 => {
            let c = generate::kiln_config(&mut u).ok()?;
            generate::module(c, &mut u)?
        }
        _ => {
            let c = generate::any_proposals_config(&mut u).ok()?;
            let mut b = generate::module(c, &mut u)?;
            if mode == 4 {
                generate::mutate(&mut b, &mut u).ok()?;
            }
            b
        }
    };
    Some((bytes, simd))
}

/// Kiln's frontend (with SIMD as given) and runtime must agree with wasmparser on `bytes`.
pub fn check_validate(bytes: &[u8], simd: bool) -> Result<(), Failure> {
    let fail = |m: String| Failure::new(Target::Validate, m, Some(bytes));
    // Kiln's feature set, with SIMD (and so relaxed SIMD) as given.
    let mut features = generate::kiln_features();
    features.set(WasmFeatures::SIMD, simd);
    features.set(WasmFeatures::RELAXED_SIMD, simd);
    let reference = Validator::new_with_features(features).validate_all(bytes);
    let kiln = kiln_frontend::parse(
        bytes,
        Features {
            simd,
            ..Features::default()
        },
    );
    let what = if simd {
        "Wasm 2.0 + SIMD + Kiln's Wasm 3.0 proposals"
    } else {
        "Wasm 2.0 + Kiln's Wasm 3.0 proposals without SIMD"
    };
    let err = match (reference, kiln) {
        (Ok(_), Ok(_)) => return Ok(()),
        (Ok(_), Err(e)) => {
            return Err(fail(format!(
                "wasmparser accepts the module as {what}, Kiln refuses it: {e}"
            )))
        }
        (Err(r), Ok(_)) => {
            return Err(fail(format!(
                "Kiln accepts a module wasmparser refuses as {what}: {r}"
            )))
        }
        (Err(_), Err(e)) => e,
    };
    let valid_somehow = Validator::new_with_features(WasmFeatures::all())
        .validate_all(bytes)
        .is_ok();
    let unsupported = matches!(err.kind(), FrontendKind::Unsupported { .. });
    if valid_somehow && !unsupported {
        return Err(fail(format!(
            "the module is valid with every proposal enabled, but Kiln does not call it \
             unsupported: {err}"
        )));
    }
    if !valid_somehow && unsupported {
        return Err(fail(format!(
            "the module is invalid even with every proposal enabled, but Kiln calls it \
             unsupported: {err}"
        )));
    }
    // The runtime must report the same kind (only for binaries: `Module::new` reads other
    // bytes as text). It refuses before compiling anything, so this is cheap.
    if simd && bytes.starts_with(b"\0asm") {
        let engine = engines::kiln_compile(crate::CompileEngine::Default).map_err(fail)?;
        match kiln::Module::new(engine, bytes) {
            Ok(_) => {
                return Err(fail(
                    "kiln::Module::new accepts a module its frontend refuses".to_string(),
                ))
            }
            Err(e) => {
                let rt_unsupported = matches!(e.kind(), kiln::ErrorKind::Unsupported(_));
                if rt_unsupported != unsupported {
                    return Err(fail(format!(
                        "the frontend says `{err}` but kiln::Module::new says `{e}` ({:?})",
                        e.kind()
                    )));
                }
            }
        }
    }
    Ok(())
}
