//! The fuzz targets' checks on deterministic inputs: seeds 0..500 through differential,
//! validate, compile and artifact, and every 10th seed through limits. Each target is its
//! own test, so the harness runs them in parallel. A failing seed is replayed with
//! `kiln_fuzz_oracle::seed_input(seed)` (or saved as a regression file: the bytes are
//! exactly a fuzz input).

use kiln_fuzz_oracle::{seed_input, Failure, Target};
use std::time::Instant;

const SEEDS: u64 = 500;

/// Runs `check` on the seeds' inputs and fails listing every seed that failed.
fn run<R>(
    name: &str,
    seeds: impl Iterator<Item = u64>,
    mut check: impl FnMut(&[u8]) -> Result<R, Failure>,
    mut tally: impl FnMut(&R),
) {
    let start = Instant::now();
    let mut failures = Vec::new();
    let mut known = std::collections::BTreeMap::new();
    let mut n = 0;
    for seed in seeds {
        n += 1;
        match check(&seed_input(seed)) {
            Ok(r) => tally(&r),
            Err(Failure {
                known: Some(issue), ..
            }) => known
                .entry(format!("{issue:?}"))
                .or_insert_with(Vec::new)
                .push(seed),
            Err(f) => failures.push(format!("seed {seed}: {f}")),
        }
    }
    eprintln!("{name}: {n} seeds in {:.1?}", start.elapsed());
    for (issue, seeds) in known {
        eprintln!(
            "{name}: known issue {issue} on {} seeds, e.g. {:?}",
            seeds.len(),
            &seeds[..seeds.len().min(5)]
        );
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {n} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn caught<R>(target: Target, check: impl FnOnce() -> Result<R, Failure>) -> Result<R, Failure> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Failure {
            target,
            message: format!("panicked: {msg}"),
            wasm: None,
            known: None,
        })
    })
}

#[test]
fn differential_smoke() {
    let (mut generated, mut instantiated, mut calls, mut traps, mut inconclusive) = (0, 0, 0, 0, 0);
    run(
        "differential",
        0..SEEDS,
        |data| {
            caught(Target::Differential, || {
                kiln_fuzz_oracle::differential(data)
            })
        },
        |r| {
            generated += usize::from(r.generated);
            instantiated += usize::from(r.instantiated);
            calls += r.calls;
            traps += r.traps;
            inconclusive += r.inconclusive.len();
            if std::env::var_os("SMOKE_VERBOSE").is_some() {
                for why in &r.inconclusive {
                    eprintln!("inconclusive: {why}");
                }
            }
        },
    );
    eprintln!(
        "differential: {generated} modules, {instantiated} instantiated on both, {calls} calls \
         compared ({traps} trapped alike), {inconclusive} calls or instantiations inconclusive \
         (fuel/stack)"
    );
    assert!(
        generated as u64 > SEEDS * 9 / 10,
        "the generator should rarely give up"
    );
    assert!(calls > 0, "some calls should be compared");
}

#[test]
fn validate_smoke() {
    run(
        "validate",
        0..SEEDS,
        |data| Target::Validate.check(data),
        |_| {},
    );
}

#[test]
fn compile_smoke() {
    run(
        "compile",
        0..SEEDS,
        |data| Target::Compile.check(data),
        |_| {},
    );
}

#[test]
fn limits_smoke() {
    let (mut calls, mut fuel, mut interrupted, mut traps, mut refused) = (0, 0, 0, 0, 0);
    run(
        "limits",
        (0..SEEDS).step_by(10),
        |data| caught(Target::Limits, || kiln_fuzz_oracle::limits(data)),
        |r| {
            calls += r.calls;
            fuel += r.out_of_fuel;
            interrupted += r.interrupted;
            traps += r.other_traps;
            refused += r.refused_growths;
        },
    );
    eprintln!(
        "limits: {calls} calls: {fuel} out of fuel, {interrupted} interrupted, {traps} other \
         traps; {refused} refused memory growths"
    );
}

#[test]
fn artifact_smoke() {
    let mut total = kiln_fuzz_oracle::ArtifactReport::default();
    let mut generated = 0;
    run(
        "artifact",
        0..SEEDS,
        |data| caught(Target::Artifact, || kiln_fuzz_oracle::artifact(data)),
        |r| {
            generated += usize::from(r.generated);
            total.calls += r.calls;
            total.inconclusive += r.inconclusive;
            total.raw += r.raw;
            total.raw_unchanged += r.raw_unchanged;
            total.authentic += r.authentic;
            total.authentic_loaded += r.authentic_loaded;
            for (k, n) in &r.raw_refusals {
                *total.raw_refusals.entry(k.clone()).or_default() += n;
            }
            for (k, n) in &r.authentic_errors {
                *total.authentic_errors.entry(k.clone()).or_default() += n;
            }
        },
    );
    eprintln!(
        "artifact: {generated} modules round-tripped, {} calls compared ({} comparisons ended \
         by a stack overflow); {} raw mutations: {} left the bytes unchanged, refusals \
         {:?}; {} authentic mutations: {} loaded, errors {:?}",
        total.calls,
        total.inconclusive,
        total.raw,
        total.raw_unchanged,
        total.raw_refusals,
        total.authentic,
        total.authentic_loaded,
        total.authentic_errors
    );
    assert!(
        generated as u64 > SEEDS * 9 / 10,
        "the generator should rarely give up"
    );
    assert!(total.calls > 0, "some calls should be compared");
    assert!(
        total.raw_refusals.contains_key("Mac"),
        "raw mutations past the header should meet the MAC"
    );
    assert!(
        total
            .authentic_errors
            .keys()
            .any(|k| k.starts_with("Malformed")),
        "authentic mutations should reach the decoder behind the MAC"
    );
}

/// The inputs are fixed: the same seed gives the same bytes everywhere.
#[test]
fn seed_inputs_are_stable() {
    let a = seed_input(7);
    assert_eq!(a, seed_input(7));
    assert!((2048..=4096).contains(&a.len()));
    assert_ne!(a, seed_input(8));
}
