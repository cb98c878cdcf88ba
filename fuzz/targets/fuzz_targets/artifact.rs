//! cargo-fuzz target: see `kiln_fuzz_oracle::Target::Artifact`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kiln_fuzz_oracle::fuzz(kiln_fuzz_oracle::Target::Artifact, data);
});
