//! The proposals Kiln implements, and naming the one a refused module needs.

use wasmparser::{Validator, WasmFeatures};

/// Which optional Wasm features the frontend accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// Fixed-width SIMD (`v128`).
    pub simd: bool,
    /// Extended constant expressions (Wasm 3.0): `i32`/`i64` `add`, `sub` and `mul` in
    /// initializers and segment offsets.
    pub extended_const: bool,
    /// Relaxed SIMD (Wasm 3.0; needs `simd`).
    pub relaxed_simd: bool,
    /// Tail calls (Wasm 3.0): `return_call` and `return_call_indirect`.
    pub tail_call: bool,
    /// Multiple memories (Wasm 3.0): every memory instruction names its memory.
    pub multi_memory: bool,
    /// 64-bit memories and tables (Wasm 3.0): `i64` addresses and element indices.
    pub memory64: bool,
    /// Typed function references (Wasm 3.0): `(ref null? $t)`, `call_ref`,
    /// `ref.as_non_null`, `br_on_null`, `br_on_non_null`, non-nullable locals and
    /// tables with initializers.
    pub function_references: bool,
}

impl Default for Features {
    fn default() -> Self {
        Features {
            simd: true,
            extended_const: true,
            relaxed_simd: true,
            tail_call: true,
            multi_memory: true,
            memory64: true,
            function_references: true,
        }
    }
}

/// Proposals beyond Kiln's set, in the order they are tried when naming a refused module.
const OTHER_PROPOSALS: &[(WasmFeatures, &str)] = &[
    (WasmFeatures::SIMD, "fixed-width SIMD"),
    (WasmFeatures::TAIL_CALL, "tail calls"),
    (WasmFeatures::MEMORY64, "memory64"),
    (WasmFeatures::MULTI_MEMORY, "multi-memory"),
    (WasmFeatures::THREADS, "threads"),
    (
        WasmFeatures::EXTENDED_CONST,
        "extended constant expressions",
    ),
    (WasmFeatures::EXCEPTIONS, "exception handling"),
    (
        WasmFeatures::FUNCTION_REFERENCES,
        "typed function references",
    ),
    (WasmFeatures::WIDE_ARITHMETIC, "wide arithmetic"),
    (WasmFeatures::CUSTOM_PAGE_SIZES, "custom page sizes"),
    (WasmFeatures::MEMORY_CONTROL, "memory control"),
    (WasmFeatures::LEGACY_EXCEPTIONS, "legacy exception handling"),
    (
        WasmFeatures::SIMD.union(WasmFeatures::RELAXED_SIMD),
        "relaxed SIMD",
    ),
    (
        WasmFeatures::GC.union(WasmFeatures::FUNCTION_REFERENCES),
        "garbage collection (GC)",
    ),
    (
        WasmFeatures::MULTI_MEMORY.union(WasmFeatures::MEMORY64),
        "memory64 with multi-memory",
    ),
    (
        WasmFeatures::WASM3.union(WasmFeatures::WIDE_ARITHMETIC),
        "several Wasm 3.0 proposals",
    ),
];

impl Features {
    /// The wasmparser feature set matching `self`: Wasm 2.0, with SIMD and the Wasm 3.0
    /// proposals Kiln implements as configured.
    pub(crate) fn wasmparser(self) -> WasmFeatures {
        let mut f = WasmFeatures::WASM2;
        f.set(WasmFeatures::SIMD, self.simd);
        f.set(WasmFeatures::EXTENDED_CONST, self.extended_const);
        f.set(WasmFeatures::RELAXED_SIMD, self.simd && self.relaxed_simd);
        f.set(WasmFeatures::TAIL_CALL, self.tail_call);
        f.set(WasmFeatures::MULTI_MEMORY, self.multi_memory);
        f.set(WasmFeatures::MEMORY64, self.memory64);
        f.set(WasmFeatures::FUNCTION_REFERENCES, self.function_references);
        f
    }

    /// A module failed validation under `self`. If it validates once exactly one more
    /// proposal (or a known group) is enabled, name that proposal; if it needs some
    /// other combination, say so.
    ///
    /// A module invalid even with every proposal enabled is simply invalid: that one
    /// extra validation settles the common case (and a huge hostile module costs two
    /// validations, not one per proposal).
    pub(crate) fn name_missing_proposal(self, bytes: &[u8]) -> Option<&'static str> {
        let base = self.wasmparser();
        if Validator::new_with_features(WasmFeatures::all())
            .validate_all(bytes)
            .is_err()
        {
            return None;
        }
        OTHER_PROPOSALS
            .iter()
            .find_map(|&(extra, name)| {
                if base.contains(extra) {
                    return None;
                }
                Validator::new_with_features(base | extra)
                    .validate_all(bytes)
                    .is_ok()
                    .then_some(name)
            })
            // Valid with every proposal, but with none of the known ones or groups alone.
            .or(Some("a combination of later proposals"))
    }
}
