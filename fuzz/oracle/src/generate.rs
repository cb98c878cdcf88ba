//! wasm-smith configurations: Kiln's feature set (Wasm 2.0, fixed-width SIMD and the Wasm
//! 3.0 proposals it implements) for the module-running checks, and every proposal
//! wasm-smith knows for the validation check.

use arbitrary::{Arbitrary, Result, Unstructured};
use wasm_smith::{Config, Module};
use wasmparser::WasmFeatures;

/// Kiln's feature set, as wasmparser names it.
pub(crate) fn kiln_features() -> WasmFeatures {
    WasmFeatures::WASM2
        | WasmFeatures::SIMD
        | WasmFeatures::RELAXED_SIMD
        | WasmFeatures::EXTENDED_CONST
        | WasmFeatures::TAIL_CALL
        | WasmFeatures::MULTI_MEMORY
        | WasmFeatures::MEMORY64
        | WasmFeatures::FUNCTION_REFERENCES
}

/// Turns off every proposal Kiln does not implement and turns on all of Wasm 2.0 + SIMD
/// and what Kiln implements of Wasm 3.0.
fn kiln_proposals(c: &mut Config) {
    c.bulk_memory_enabled = true;
    c.reference_types_enabled = true;
    c.multi_value_enabled = true;
    c.saturating_float_to_int_enabled = true;
    c.sign_extension_ops_enabled = true;
    c.simd_enabled = true;
    c.extended_const_enabled = true;
    c.relaxed_simd_enabled = true;
    c.tail_call_enabled = true;
    c.memory64_enabled = true;
    c.allow_floats = true;

    c.threads_enabled = false;
    c.shared_everything_threads_enabled = false;
    c.acquire_release_atomics_enabled = false;
    // wasm-smith generates typed function references only together with GC, so the
    // generated modules have none (the spec suite and tests cover them).
    c.gc_enabled = false;
    c.custom_descriptors_enabled = false;
    c.multibyte_array_access_enabled = false;
    c.exceptions_enabled = false;
    c.wide_arithmetic_enabled = false;
    c.custom_page_sizes_enabled = false;
    c.compact_imports_enabled = false;
    c.max_memories = c.max_memories.min(3);
    c.max_tags = 0;
}

/// Modules for the differential check: no imports, everything exported, at least one
/// function, small, NaNs canonicalized after every float operation (see
/// `differential`'s docs), traps sometimes avoided.
pub(crate) fn differential_config(u: &mut Unstructured<'_>) -> Result<Config> {
    let mut c = Config::default();
    kiln_proposals(&mut c);
    c.max_imports = 0;
    c.export_everything = true;
    c.allow_start_export = true;
    // wasm-smith makes functions only of types it made first.
    c.min_types = 1;
    c.min_funcs = u.int_in_range(1..=4)?;
    c.max_funcs = u.int_in_range(c.min_funcs..=8)?;
    c.max_instructions = u.int_in_range(10..=120)?;
    c.max_types = 12;
    c.max_globals = u.int_in_range(0..=8)?;
    c.max_tables = u.int_in_range(0..=2)?;
    c.max_table_elements = 64;
    c.max_elements = 16;
    c.max_element_segments = 4;
    c.max_data_segments = 4;
    c.max_memory32_bytes = 4 * 65536;
    c.max_memory64_bytes = 4 * 65536;
    c.max_nesting_depth = 6;
    c.canonicalize_nans = true;
    c.disallow_traps = u.ratio(1, 3)?;
    c.generate_custom_sections = false;
    Ok(c)
}

/// Modules for the limits check: like the differential ones, but with memories that may
/// start above the limit, and traps avoided more often so that loops run long.
pub(crate) fn limits_config(u: &mut Unstructured<'_>) -> Result<Config> {
    let mut c = differential_config(u)?;
    c.max_memory32_bytes = u.int_in_range(1..=32)? * 65536;
    c.max_memory64_bytes = c.max_memory32_bytes.into();
    c.disallow_traps = u.ratio(2, 3)?;
    c.max_nesting_depth = 10;
    Ok(c)
}

/// Modules Kiln must compile: its feature set, imports allowed, sizes from the input.
pub(crate) fn kiln_config(u: &mut Unstructured<'_>) -> Result<Config> {
    let mut c = Config::default();
    kiln_proposals(&mut c);
    c.max_imports = u.int_in_range(0..=8)?;
    c.min_types = 1;
    c.min_funcs = u.int_in_range(0..=4)?;
    c.max_funcs = u.int_in_range(c.min_funcs..=16)?;
    c.max_instructions = u.int_in_range(0..=300)?;
    c.max_types = 20;
    c.max_globals = 16;
    c.max_tables = u.int_in_range(0..=4)?;
    c.max_table_elements = 1000;
    c.max_elements = 64;
    c.max_element_segments = 8;
    c.max_data_segments = 8;
    c.max_exports = 32;
    c.max_memory32_bytes = u32::MAX as u64 + 1;
    c.max_memory64_bytes = u32::MAX as u128 + 1;
    c.min_uleb_size = u.int_in_range(0..=5)?;
    c.canonicalize_nans = u.arbitrary()?;
    c.disallow_traps = u.arbitrary()?;
    c.allow_start_export = u.arbitrary()?;
    c.generate_custom_sections = u.arbitrary()?;
    Ok(c)
}

/// Modules with any proposals wasm-smith can generate (chosen by the input), including
/// the not-yet-standard ones, with bounded sizes.
pub(crate) fn any_proposals_config(u: &mut Unstructured<'_>) -> Result<Config> {
    let mut c = Config::arbitrary(u)?;
    c.wide_arithmetic_enabled = u.arbitrary()?;
    c.custom_page_sizes_enabled = u.arbitrary()?;
    c.max_types = c.max_types.min(30);
    c.max_imports = c.max_imports.min(10);
    c.max_tags = c.max_tags.min(10);
    c.max_funcs = c.max_funcs.min(16);
    c.max_globals = c.max_globals.min(16);
    c.max_exports = c.max_exports.min(32);
    c.max_element_segments = c.max_element_segments.min(8);
    c.max_elements = c.max_elements.min(64);
    c.max_data_segments = c.max_data_segments.min(8);
    c.max_instructions = c.max_instructions.min(200);
    c.max_memories = c.max_memories.min(4);
    c.max_tables = c.max_tables.min(4);
    c.max_aliases = c.max_aliases.min(10);
    Ok(c)
}

/// Generates a module's bytes, or `None` when the input is too short to make one.
pub(crate) fn module(config: Config, u: &mut Unstructured<'_>) -> Option<Vec<u8>> {
    Module::new(config, u).ok().map(|m| m.to_bytes())
}

/// Damages a module a little: overwrites, inserts or deletes a few bytes, so that the
/// result is near-valid and exercises the decoder's and validator's error paths.
pub(crate) fn mutate(bytes: &mut Vec<u8>, u: &mut Unstructured<'_>) -> Result<()> {
    for _ in 0..u.int_in_range(1..=4)? {
        if bytes.is_empty() {
            return Ok(());
        }
        let at = u.choose_index(bytes.len())?;
        match u.int_in_range(0..=3)? {
            0 | 1 => bytes[at] = u.arbitrary()?,
            2 => bytes.insert(at, u.arbitrary()?),
            _ => {
                bytes.remove(at);
            }
        }
    }
    Ok(())
}
