//! cargo-fuzz target: see `kiln_fuzz_oracle::Target::Differential`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kiln_fuzz_oracle::fuzz(kiln_fuzz_oracle::Target::Differential, data);
});
