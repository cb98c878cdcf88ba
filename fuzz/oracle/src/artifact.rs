//! Artifacts: `Module::serialize` and `Module::deserialize` on intact and damaged files.
//!
//! A wasm-smith module (as for `differential`: Kiln's feature set, no imports, everything
//! exported) is compiled on one of the [`ArtifactEngine`] configurations (all with fuel
//! on and the oracle's fixed key, [`ARTIFACT_KEY`]) and serialized. Then:
//!
//! - **Round trip.** The intact artifact loads, into a second engine with the same
//!   settings and key or (for a quarter of the inputs) into the engine that compiled it;
//!   the loaded module serializes to the same bytes, has the same imports and exports,
//!   and behaves exactly as the compiled one: both are instantiated and every exported
//!   function is called with zero arguments under [`ARTIFACT_FUEL`], in the same order,
//!   and every call must return the same values (bit for bit) or trap with the same code
//!   and backtrace, leaving the same fuel and the same exported memories, globals and
//!   tables. (A stack overflow on either side ends the comparison: how deep the host
//!   stack is at the call is not the artifact's doing.)
//! - **Raw mutations** (mode A). A few input-chosen mutations (bit flips, overwritten
//!   bytes and integers, truncation, extension, insertion, deletion, splices) anywhere in
//!   the artifact, then `Module::deserialize`. It must refuse the result with
//!   `ErrorKind::IncompatibleArtifact`, unless the bytes are unchanged after all; then it
//!   must load and behave as above. A panic, another error kind, or a changed artifact
//!   that loads is a failure.
//! - **Authentic mutations** (mode B), to reach the decoder behind the MAC: mutations of
//!   the header, the section table, META and LAYOUT only (never DATA, IMAGE or CODE,
//!   though a shifted section table may make the loader read any bytes as any section),
//!   insertions and deletions optionally with the section table fixed to match; then the
//!   file-length field is fixed if the length changed and the MAC recomputed with the key,
//!   so the file is authentic. `Module::deserialize` must not panic; it may load the
//!   module or return any error. A module loaded this way is never instantiated (its
//!   code could be anything): only its imports and exports are listed and it is
//!   serialized again, neither of which may panic.

use crate::value::{fnv1a, Value};
use crate::{engines, generate, panic_message, split_args, watchdog, Failure, Target};
use arbitrary::Unstructured;
use kiln::{
    ArtifactRefusal, ErrorKind, Extern, ExternType, Instance, Module, Store, StoreLimits, TrapCode,
    Val,
};
use std::collections::BTreeMap;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// The key of every engine the artifact check uses (`Config::artifact_key`); mode B
/// recomputes the MAC with it.
pub const ARTIFACT_KEY: [u8; 32] = *b"kiln fuzz: artifact target key!!";
/// Fuel given to both modules before instantiation and before every call.
pub const ARTIFACT_FUEL: u64 = 100_000;
/// Bytes any one memory may have (growth past it returns -1).
const MEMORY_LIMIT: u64 = 1 << 20;
/// Elements any one table may have.
const TABLE_LIMIT: u32 = 10_000;
/// A call that has not returned after this long, with fuel on, is a hang.
const HANG: Duration = Duration::from_secs(30);
/// The MAC at the end of every artifact.
const MAC_LEN: usize = 32;
/// The file-length field: after the 8-byte magic and the `u32` format version.
const LENGTH_FIELD: Range<usize> = 12..20;
/// The section table's entries (`u64` offset, `u64` length) and their names.
const SECTIONS: [&str; 5] = ["META", "LAYOUT", "DATA", "IMAGE", "CODE"];
const TABLE_LEN: usize = SECTIONS.len() * 16;
/// Mutated artifacts tried per input, at most.
const MAX_ROUNDS: u32 = 8;

/// The Kiln configurations artifacts are written and read with: all with fuel on and
/// [`ARTIFACT_KEY`], differing in what the code and the artifact contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactEngine {
    /// Default settings (a copy-on-write memory image: an IMAGE section).
    Default,
    /// `memory_init_cow(false)`: no IMAGE; active data segments in DATA.
    NoImage,
    /// The SSE2 baseline: float rounding through libcalls, so LAYOUT has relocations.
    Baseline,
    /// `OptLevel::None` with `CodePlacement::Packed`.
    Unoptimized,
}

impl ArtifactEngine {
    /// All configurations.
    pub const ALL: [ArtifactEngine; 4] = [
        ArtifactEngine::Default,
        ArtifactEngine::NoImage,
        ArtifactEngine::Baseline,
        ArtifactEngine::Unoptimized,
    ];
}

/// What an artifact run did.
#[derive(Debug, Default, Clone)]
pub struct ArtifactReport {
    /// A module was generated from the input.
    pub generated: bool,
    /// The artifact's size.
    pub artifact_bytes: usize,
    /// Calls whose outcomes were compared between the compiled and the loaded module
    /// (and agreed).
    pub calls: usize,
    /// Comparisons ended early by a stack overflow.
    pub inconclusive: usize,
    /// Raw-mutated artifacts tried (mode A).
    pub raw: usize,
    /// Of those, ones whose mutations left the bytes as they were (they loaded).
    pub raw_unchanged: usize,
    /// Mode A refusals by `ArtifactRefusal`.
    pub raw_refusals: BTreeMap<String, usize>,
    /// Authentic mutated artifacts tried (mode B).
    pub authentic: usize,
    /// Of those, ones that loaded.
    pub authentic_loaded: usize,
    /// Mode B errors by `ArtifactRefusal` (malformed ones with the part that did not
    /// decode) or, for other errors, by error kind.
    pub authentic_errors: BTreeMap<String, usize>,
}

/// Generates a module from `data`, compiles and serializes it, and checks the round
/// trip and mutated artifacts (see the module docs).
pub fn artifact(data: &[u8]) -> Result<ArtifactReport, Failure> {
    match prepare(data) {
        Some((engine, wasm, mutation_data)) => check_artifact(engine, &wasm, mutation_data),
        None => Ok(ArtifactReport::default()),
    }
}

/// The engine and module `artifact` checks for `data`, and the bytes the mutations
/// come from.
pub(crate) fn prepare(data: &[u8]) -> Option<(ArtifactEngine, Vec<u8>, &[u8])> {
    let (module_data, mutation_data) = split_args(data, 256);
    let mut u = Unstructured::new(module_data);
    let engine = *u.choose(&ArtifactEngine::ALL).ok()?;
    let config = generate::differential_config(&mut u).ok()?;
    Some((engine, generate::module(config, &mut u)?, mutation_data))
}

/// Compiles `wasm` on the `variant` engine, serializes it, and checks the round trip
/// and the mutated artifacts `mutation_data` describes (with no data: the round trip
/// and one raw mutation).
pub fn check_artifact(
    variant: ArtifactEngine,
    wasm: &[u8],
    mutation_data: &[u8],
) -> Result<ArtifactReport, Failure> {
    let fail = |m: String| Failure::new(Target::Artifact, m, Some(wasm));
    let mut report = ArtifactReport {
        generated: true,
        ..ArtifactReport::default()
    };
    let compiler = engines::kiln_artifact(variant, false).map_err(fail)?;
    let original = Module::new(compiler, wasm).map_err(|e| {
        fail(format!(
            "Kiln refuses a generated module of Kiln's feature set on the {variant:?} engine: {e}"
        ))
    })?;
    let artifact = original
        .serialize()
        .map_err(|e| fail(format!("cannot serialize the module: {e}")))?;
    report.artifact_bytes = artifact.len();
    let layout = Layout::parse(&artifact).ok_or_else(|| {
        fail(format!(
            "the {}-byte artifact Kiln wrote does not have the documented layout (magic, \
             version, length, build, fingerprint, section table, sections, MAC)",
            artifact.len()
        ))
    })?;

    let mut u = Unstructured::new(mutation_data);
    let loader = if u.ratio(1, 4).unwrap_or(false) {
        compiler
    } else {
        engines::kiln_artifact(variant, true).map_err(fail)?
    };
    let ctx = Context {
        variant,
        original: &original,
        artifact: &artifact,
        layout: &layout,
        loader,
    };

    // The round trip.
    let what = "the intact artifact";
    let loaded = match deserialize(loader, &artifact, what).map_err(fail)? {
        Ok(m) => m,
        Err(e) => return Err(fail(format!("{what} is refused: {e}"))),
    };
    match catch_unwind(AssertUnwindSafe(|| loaded.serialize())) {
        Ok(Ok(again)) if again == artifact => {}
        Ok(Ok(again)) => {
            return Err(fail(format!(
                "the module loaded from {what} serializes to other bytes ({} bytes, first \
                 difference {})",
                again.len(),
                first_difference(&artifact, &again, &layout)
            )))
        }
        Ok(Err(e)) => return Err(fail(format!("the module loaded from {what}: {e}"))),
        Err(p) => {
            return Err(fail(format!(
                "serializing the module loaded from {what} panicked: {}",
                panic_message(&*p)
            )))
        }
    }
    compare_behaviour(&ctx, &loaded, what, &mut report).map_err(fail)?;
    drop(loaded);

    let rounds = u.int_in_range(1..=MAX_ROUNDS).unwrap_or(1);
    for round in 0..rounds {
        if round > 0 && u.is_empty() {
            break;
        }
        if u.ratio(1, 2).unwrap_or(true) {
            raw_round(&ctx, &mut u, &mut report).map_err(fail)?;
        } else {
            authentic_round(&ctx, &mut u, &mut report).map_err(fail)?;
        }
    }
    Ok(report)
}

/// What every round needs.
struct Context<'a> {
    variant: ArtifactEngine,
    original: &'a Module,
    artifact: &'a [u8],
    layout: &'a Layout,
    loader: &'a kiln::Engine,
}

/// `Module::deserialize`, with a panic reported as `Err` naming `what` was loaded.
fn deserialize(
    engine: &kiln::Engine,
    bytes: &[u8],
    what: &str,
) -> Result<kiln::Result<Module>, String> {
    catch_unwind(AssertUnwindSafe(|| Module::deserialize(engine, bytes))).map_err(|p| {
        format!(
            "Module::deserialize panicked on {what} ({} bytes): {}",
            bytes.len(),
            panic_message(&*p)
        )
    })
}

/// Mode A: raw mutations; refused, or unchanged and then loaded and alike.
fn raw_round(
    ctx: &Context<'_>,
    u: &mut Unstructured<'_>,
    report: &mut ArtifactReport,
) -> Result<(), String> {
    let mut bytes = ctx.artifact.to_vec();
    let mut done = Vec::new();
    for _ in 0..u.int_in_range(1..=4u32).unwrap_or(1) {
        done.push(raw_mutation(&mut bytes, ctx.layout, u));
    }
    report.raw += 1;
    let unchanged = bytes == ctx.artifact;
    let what = format!(
        "the {}-byte artifact ({:?} engine) with {}",
        ctx.artifact.len(),
        ctx.variant,
        done.join("; ")
    );
    match deserialize(ctx.loader, &bytes, &what)? {
        Ok(module) if unchanged => {
            report.raw_unchanged += 1;
            compare_behaviour(ctx, &module, &what, report)
        }
        Ok(_) => Err(format!(
            "{what} ({} bytes, first difference {}) was loaded: a changed artifact must be \
             refused",
            bytes.len(),
            first_difference(ctx.artifact, &bytes, ctx.layout)
        )),
        Err(e) if unchanged => Err(format!(
            "{what} (byte for byte the intact artifact) is refused: {e}"
        )),
        Err(e) => match e.kind() {
            ErrorKind::IncompatibleArtifact(a) => {
                *report
                    .raw_refusals
                    .entry(format!("{:?}", a.reason()))
                    .or_default() += 1;
                Ok(())
            }
            other => Err(format!(
                "{what} is refused with an error that is not IncompatibleArtifact: {e} \
                 ({other:?})"
            )),
        },
    }
}

/// Mode B: authentic mutations; `deserialize` must not panic.
fn authentic_round(
    ctx: &Context<'_>,
    u: &mut Unstructured<'_>,
    report: &mut ArtifactReport,
) -> Result<(), String> {
    let mut bytes = ctx.artifact.to_vec();
    let mut now = ctx.layout.clone();
    let mut done = Vec::new();
    for _ in 0..u.int_in_range(1..=4u32).unwrap_or(1) {
        done.push(authentic_mutation(&mut bytes, &mut now, u));
    }
    if bytes.len() != ctx.artifact.len() {
        set_length(&mut bytes);
        done.push(format!("the length field set to {}", bytes.len()));
    }
    seal(&mut bytes);
    report.authentic += 1;
    let unchanged = bytes == ctx.artifact;
    let what = format!(
        "the {}-byte artifact ({:?} engine) with {}, MAC recomputed ({} bytes now)",
        ctx.artifact.len(),
        ctx.variant,
        done.join("; "),
        bytes.len()
    );
    match deserialize(ctx.loader, &bytes, &what)? {
        Ok(module) => {
            report.authentic_loaded += 1;
            if unchanged {
                return compare_behaviour(ctx, &module, &what, report);
            }
            // Never instantiated: its code could be anything. Describing it and
            // serializing it again must not panic.
            catch_unwind(AssertUnwindSafe(move || {
                let imports = module.imports().count();
                let exports = module.exports().count();
                let _ = module.serialize();
                drop(module);
                (imports, exports)
            }))
            .map(drop)
            .map_err(|p| {
                format!(
                    "{what} loaded, and then listing its imports and exports, serializing \
                     or dropping it panicked: {}",
                    panic_message(&*p)
                )
            })
        }
        Err(e) if unchanged => Err(format!(
            "{what} (byte for byte the intact artifact) is refused: {e}"
        )),
        Err(e) => {
            let key = match e.kind() {
                // Malformed ones by the part that did not decode (`metadata`, `code
                // layout`, ...): how far behind the MAC the mutation got.
                ErrorKind::IncompatibleArtifact(a) => match a.reason() {
                    ArtifactRefusal::Malformed => {
                        let part = a.detail().split(':').next().unwrap_or_default();
                        format!("Malformed ({part})")
                    }
                    reason => format!("{reason:?}"),
                },
                other => {
                    let name = format!("{other:?}");
                    let end = name.find('(').unwrap_or(name.len());
                    format!("error kind {}", &name[..end])
                }
            };
            *report.authentic_errors.entry(key).or_default() += 1;
            Ok(())
        }
    }
}

/// Writes the file's length into its length field.
fn set_length(bytes: &mut [u8]) {
    let len = bytes.len() as u64;
    write_u64(bytes, LENGTH_FIELD.start, len);
}

/// Writes the MAC of everything before the last [`MAC_LEN`] bytes into them.
fn seal(bytes: &mut [u8]) {
    if let Some(body) = bytes.len().checked_sub(MAC_LEN) {
        let mac = blake3::keyed_hash(&ARTIFACT_KEY, &bytes[..body]);
        bytes[body..].copy_from_slice(mac.as_bytes());
    }
}

/// Where the parts of an artifact lie (see `runtime/src/artifact/mod.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Layout {
    /// Where the section table starts (everything before it is the header).
    table_at: usize,
    /// `(offset, length)` of META, LAYOUT, DATA, IMAGE and CODE.
    sections: [(usize, usize); 5],
    /// The file's length.
    len: usize,
}

/// A part of an artifact, for choosing where to mutate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Magic, format version, length, Kiln build, fingerprint.
    Header,
    /// The section table.
    Table,
    /// A section, by its index in the table.
    Section(usize),
    /// The MAC.
    Mac,
    /// Anywhere at all.
    Anywhere,
}

/// Where mode A mutates (repeated entries are weights).
const RAW_PARTS: [Part; 11] = [
    Part::Anywhere,
    Part::Anywhere,
    Part::Anywhere,
    Part::Header,
    Part::Header,
    Part::Table,
    Part::Section(0),
    Part::Section(1),
    Part::Section(2),
    Part::Section(4),
    Part::Mac,
];

/// Where mode B mutates (repeated entries are weights): never DATA, IMAGE, CODE or
/// the MAC.
const AUTHENTIC_PARTS: [Part; 10] = [
    Part::Header,
    Part::Table,
    Part::Table,
    Part::Section(0),
    Part::Section(0),
    Part::Section(0),
    Part::Section(0),
    Part::Section(1),
    Part::Section(1),
    Part::Section(1),
];

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(8)?)?;
    let mut a = [0; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// Writes `v` at `at` if it fits.
fn write_u64(bytes: &mut [u8], at: usize, v: u64) {
    if let Some(b) = at.checked_add(8).and_then(|end| bytes.get_mut(at..end)) {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

impl Layout {
    /// Reads the header and section table as Kiln writes them: `None` if they do not
    /// parse or a section lies outside the body.
    fn parse(bytes: &[u8]) -> Option<Layout> {
        let len = bytes.len();
        if usize::try_from(read_u64(bytes, LENGTH_FIELD.start)?).ok()? != len {
            return None;
        }
        let skip_str = |at: usize| -> Option<usize> {
            let n = usize::try_from(read_u64(bytes, at)?).ok()?;
            at.checked_add(8)?.checked_add(n)
        };
        let mut at = skip_str(LENGTH_FIELD.end)?;
        let settings = read_u64(bytes, at)?;
        at += 8;
        for _ in 0..settings.checked_mul(2)? {
            at = skip_str(at)?;
        }
        let table_at = at;
        let body = len.checked_sub(MAC_LEN)?;
        let mut sections = [(0, 0); 5];
        for (i, s) in sections.iter_mut().enumerate() {
            let offset = usize::try_from(read_u64(bytes, table_at + 16 * i)?).ok()?;
            let length = usize::try_from(read_u64(bytes, table_at + 16 * i + 8)?).ok()?;
            if offset < table_at + TABLE_LEN || offset.checked_add(length)? > body {
                return None;
            }
            *s = (offset, length);
        }
        if sections.windows(2).any(|w| w[0].0 + w[0].1 > w[1].0) {
            return None;
        }
        Some(Layout {
            table_at,
            sections,
            len,
        })
    }

    /// The bytes of `part`.
    fn range(&self, part: Part) -> Range<usize> {
        match part {
            Part::Header => 0..self.table_at,
            Part::Table => self.table_at..self.table_at + TABLE_LEN,
            Part::Section(i) => {
                let (offset, len) = self.sections[i];
                offset..offset + len
            }
            Part::Mac => self.len.saturating_sub(MAC_LEN)..self.len,
            Part::Anywhere => 0..self.len,
        }
    }

    /// Names the byte at `at`, e.g. `META+0x1c`.
    fn name(&self, at: usize) -> String {
        let part = if at >= self.len {
            return format!("{at:#x} (past the end)");
        } else if at >= self.len.saturating_sub(MAC_LEN) {
            Part::Mac
        } else if at < self.table_at {
            Part::Header
        } else if at < self.table_at + TABLE_LEN {
            Part::Table
        } else {
            match (0..SECTIONS.len())
                .rev()
                .find(|&i| self.sections[i].0 <= at && at < self.range(Part::Section(i)).end)
            {
                Some(i) => Part::Section(i),
                None => return format!("{at:#x} (padding)"),
            }
        };
        let name = match part {
            Part::Header => "header",
            Part::Table => "section table",
            Part::Section(i) => SECTIONS[i],
            Part::Mac => "MAC",
            Part::Anywhere => "file",
        };
        format!("{at:#x} ({name}+{:#x})", at - self.range(part).start)
    }

    /// Records that `delta` bytes were inserted (or, negative, deleted) at `at` in
    /// `part` (the header or META or LAYOUT): what follows moves, and `part` grows or
    /// shrinks. With `fix_table`, the section table in `bytes` is changed to match
    /// (its entries adjusted by `delta`, whatever they hold now).
    fn shift(&mut self, bytes: &mut [u8], part: Part, delta: isize, fix_table: bool) {
        self.len = self.len.wrapping_add_signed(delta);
        let moved: Range<usize> = match part {
            Part::Header => {
                self.table_at = self.table_at.wrapping_add_signed(delta);
                0..SECTIONS.len()
            }
            Part::Section(i) => {
                self.sections[i].1 = self.sections[i].1.wrapping_add_signed(delta);
                if fix_table {
                    adjust_u64(bytes, self.table_at + 16 * i + 8, delta);
                }
                i + 1..SECTIONS.len()
            }
            _ => 0..0,
        };
        for j in moved {
            self.sections[j].0 = self.sections[j].0.wrapping_add_signed(delta);
            if fix_table {
                adjust_u64(bytes, self.table_at + 16 * j, delta);
            }
        }
    }
}

/// Adds `delta` to the `u64` at `at`, if there is one.
fn adjust_u64(bytes: &mut [u8], at: usize, delta: isize) {
    if let Some(v) = read_u64(bytes, at) {
        write_u64(bytes, at, v.wrapping_add_signed(delta as i64));
    }
}

/// Integers worth writing over counts, lengths, offsets and indices.
const INTERESTING: [u64; 26] = [
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    16,
    31,
    0x7f,
    0x80,
    0xff,
    0x100,
    0xfff,
    0x1000,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX - 7,
    u64::MAX - 1,
    u64::MAX,
];

/// A position in `range` (which must not be empty).
fn pos_in(u: &mut Unstructured<'_>, range: &Range<usize>) -> usize {
    range.start + u.choose_index(range.len()).unwrap_or(0)
}

/// A position in `range` or just past it, for insertions.
fn gap_in(u: &mut Unstructured<'_>, range: &Range<usize>) -> usize {
    range.start + u.choose_index(range.len() + 1).unwrap_or(0)
}

/// An integer of `width` bytes for `bytes[at..]`: an interesting one, a property of the
/// artifact, or the one there plus or minus a little.
fn interesting(
    u: &mut Unstructured<'_>,
    bytes: &[u8],
    layout: &Layout,
    at: usize,
    width: usize,
) -> u64 {
    let current = {
        let mut a = [0u8; 8];
        let n = width.min(bytes.len().saturating_sub(at));
        a[..n].copy_from_slice(&bytes[at..at + n]);
        u64::from_le_bytes(a)
    };
    match u.int_in_range(0..=3u8).unwrap_or(0) {
        0 | 1 => *u.choose(&INTERESTING).unwrap_or(&0),
        2 => {
            // Offsets and lengths of the file and its sections, and (for LAYOUT's
            // offsets into CODE) a section's last few bytes.
            let (offset, len) = layout.sections[u.choose_index(SECTIONS.len()).unwrap_or(0)];
            let back = u.int_in_range(1..=8usize).unwrap_or(1);
            *u.choose(&[
                layout.len as u64,
                layout.table_at as u64,
                offset as u64,
                len as u64,
                (offset + len) as u64,
                len.saturating_sub(back) as u64,
            ])
            .unwrap_or(&0)
        }
        _ => {
            let delta: i8 = u.int_in_range(-16..=16).unwrap_or(1);
            current.wrapping_add_signed(i64::from(delta))
        }
    }
}

/// Writes the low `width` bytes of `v` at `at`, as far as `end`, and says what it wrote.
fn write_int(bytes: &mut [u8], at: usize, width: usize, v: u64, end: usize) -> String {
    let n = width.min(end.saturating_sub(at));
    let le = v.to_le_bytes();
    bytes[at..at + n].copy_from_slice(&le[..n]);
    let mut written = [0; 8];
    written[..n].copy_from_slice(&le[..n]);
    format!("{n}-byte integer set to {:#x}", u64::from_le_bytes(written))
}

/// Applies one raw mutation somewhere in `bytes` and says what it did.
fn raw_mutation(bytes: &mut Vec<u8>, layout: &Layout, u: &mut Unstructured<'_>) -> String {
    let part = *u.choose(&RAW_PARTS).unwrap_or(&Part::Anywhere);
    // The parts are where they were in the intact artifact; earlier mutations may have
    // moved or cut them, so clamp (and fall back to the whole file).
    let len = bytes.len();
    let mut range = layout.range(part);
    range = range.start.min(len)..range.end.min(len);
    if range.is_empty() {
        range = 0..len;
    }
    let op = u.int_in_range(0..=8u8).unwrap_or(0);
    if range.is_empty() {
        let n = u.int_in_range(1..=64usize).unwrap_or(1);
        bytes.resize(n, 0);
        return format!("{n} zero bytes appended to nothing");
    }
    let at = pos_in(u, &range);
    let place = layout.name(at);
    match op {
        0 => {
            let bit = u.int_in_range(0..=7u8).unwrap_or(0);
            bytes[at] ^= 1 << bit;
            format!("bit {bit} flipped at {place}")
        }
        1 => {
            let v: u8 = u.arbitrary().unwrap_or(0);
            let old = std::mem::replace(&mut bytes[at], v);
            format!("byte {old:#04x} set to {v:#04x} at {place}")
        }
        2 => {
            let n = u.int_in_range(1..=32usize).unwrap_or(1).min(len - at);
            for b in &mut bytes[at..at + n] {
                *b = u.arbitrary().unwrap_or(0);
            }
            format!("{n} bytes overwritten at {place}")
        }
        3 => {
            let width = *u.choose(&[1usize, 2, 4, 8]).unwrap_or(&8);
            let v = interesting(u, bytes, layout, at, width);
            let written = write_int(bytes, at, width, v, len);
            format!("{written} at {place}")
        }
        4 => {
            bytes.truncate(at);
            format!("cut to {at} bytes (at {place})")
        }
        5 => {
            let n = u.int_in_range(1..=64usize).unwrap_or(1);
            let zeros = u.arbitrary().unwrap_or(true);
            for _ in 0..n {
                bytes.push(if zeros { 0 } else { u.arbitrary().unwrap_or(0) });
            }
            format!("{n} bytes appended")
        }
        6 => {
            let at = gap_in(u, &range);
            let n = u.int_in_range(1..=16usize).unwrap_or(1);
            let new: Vec<u8> = (0..n).map(|_| u.arbitrary().unwrap_or(0)).collect();
            bytes.splice(at..at, new);
            format!("{n} bytes inserted at {}", layout.name(at))
        }
        7 => {
            let n = u.int_in_range(1..=16usize).unwrap_or(1).min(len - at);
            bytes.drain(at..at + n);
            format!("{n} bytes deleted at {place}")
        }
        _ => {
            let from = u.choose_index(len).unwrap_or(0);
            let n = u
                .int_in_range(1..=64usize)
                .unwrap_or(1)
                .min(len - from)
                .min(len - at);
            let chunk = bytes[from..from + n].to_vec();
            bytes[at..at + n].copy_from_slice(&chunk);
            format!("{n} bytes copied from {} to {place}", layout.name(from))
        }
    }
}

/// Applies one mutation to the header, the section table, META or LAYOUT (as `now`
/// locates them, kept up to date) and says what it did.
fn authentic_mutation(bytes: &mut Vec<u8>, now: &mut Layout, u: &mut Unstructured<'_>) -> String {
    let part = *u.choose(&AUTHENTIC_PARTS).unwrap_or(&Part::Section(0));
    let range = now.range(part);
    // The table is rewritten in place, never resized.
    let resizable = part != Part::Table;
    let op = u.int_in_range(0..=6u8).unwrap_or(0);
    if range.is_empty() || (resizable && op == 4) {
        if !resizable {
            return "nothing (an empty part)".to_string();
        }
        // Insert: 1 to 16 bytes, or a copy of up to 64 bytes of the same part.
        let at = gap_in(u, &range);
        let place = now.name(at);
        let new: Vec<u8> = if !range.is_empty() && u.arbitrary().unwrap_or(false) {
            let from = pos_in(u, &range);
            let n = u
                .int_in_range(1..=64usize)
                .unwrap_or(1)
                .min(range.end - from);
            bytes[from..from + n].to_vec()
        } else {
            let n = u.int_in_range(1..=16usize).unwrap_or(1);
            (0..n).map(|_| u.arbitrary().unwrap_or(0)).collect()
        };
        let n = new.len();
        bytes.splice(at..at, new);
        let fix = u.ratio(3, 4).unwrap_or(true);
        now.shift(bytes, part, n as isize, fix);
        return format!("{n} bytes inserted at {place}{}", table_note(fix));
    }
    let at = pos_in(u, &range);
    let place = now.name(at);
    match op {
        0 => {
            let bit = u.int_in_range(0..=7u8).unwrap_or(0);
            bytes[at] ^= 1 << bit;
            format!("bit {bit} flipped at {place}")
        }
        1 => {
            let v: u8 = u.arbitrary().unwrap_or(0);
            let old = std::mem::replace(&mut bytes[at], v);
            format!("byte {old:#04x} set to {v:#04x} at {place}")
        }
        2 => {
            let n = u.int_in_range(1..=16usize).unwrap_or(1).min(range.end - at);
            for b in &mut bytes[at..at + n] {
                *b = u.arbitrary().unwrap_or(0);
            }
            format!("{n} bytes overwritten at {place}")
        }
        5 if resizable => {
            let n = u.int_in_range(1..=16usize).unwrap_or(1).min(range.end - at);
            bytes.drain(at..at + n);
            let fix = u.ratio(3, 4).unwrap_or(true);
            now.shift(bytes, part, -(n as isize), fix);
            format!("{n} bytes deleted at {place}{}", table_note(fix))
        }
        6 => {
            // Copy a chunk of the same part over `at`: e.g. one entry over another.
            let from = pos_in(u, &range);
            let n = u
                .int_in_range(1..=32usize)
                .unwrap_or(1)
                .min(range.end - from)
                .min(range.end - at);
            let chunk = bytes[from..from + n].to_vec();
            bytes[at..at + n].copy_from_slice(&chunk);
            format!("{n} bytes copied from {} to {place}", now.name(from))
        }
        _ => {
            // Counts, lengths, offsets and indices are fixed-width little-endian.
            let width = *u.choose(&[1usize, 2, 4, 8, 8]).unwrap_or(&8);
            let v = interesting(u, bytes, now, at, width);
            let written = write_int(bytes, at, width, v, range.end);
            format!("{written} at {place}")
        }
    }
}

fn table_note(fixed: bool) -> &'static str {
    if fixed {
        ", the section table adjusted"
    } else {
        ", the section table left as it was"
    }
}

/// The first byte where `a` and `b` differ, named by `layout`.
fn first_difference(a: &[u8], b: &[u8], layout: &Layout) -> String {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(at) => format!("at {}", layout.name(at)),
        None if a.len() == b.len() => "nowhere".to_string(),
        None => format!("in length: {} vs {} bytes", a.len(), b.len()),
    }
}

/// What a call (or instantiation) did.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Returned(Vec<Value>),
    /// The trap code and the backtrace (function index, name, code offset).
    Trapped(TrapCode, Vec<(u32, Option<String>, usize)>),
    /// A non-trap error, by its message.
    Failed(String),
}

impl Outcome {
    fn of(r: kiln::Result<Vec<Value>>) -> Outcome {
        match r {
            Ok(v) => Outcome::Returned(v),
            Err(e) => match e.as_trap() {
                Some(t) => Outcome::Trapped(
                    t.code(),
                    t.backtrace()
                        .iter()
                        .map(|f| (f.func_index, f.func_name.clone(), f.code_offset))
                        .collect(),
                ),
                None => Outcome::Failed(e.to_string()),
            },
        }
    }

    fn stack_overflow(&self) -> bool {
        matches!(self, Outcome::Trapped(TrapCode::StackOverflow, _))
    }
}

/// A store with the check's limits and fuel.
fn store(module: &Module) -> Result<Store<()>, String> {
    let mut store = Store::new(module.engine(), ());
    store.limiter(
        StoreLimits::new()
            .memory_size(MEMORY_LIMIT)
            .table_elements(TABLE_LIMIT),
    );
    refuel(&mut store)?;
    Ok(store)
}

fn refuel(store: &mut Store<()>) -> Result<(), String> {
    store
        .set_fuel(ARTIFACT_FUEL)
        .map_err(|e| format!("cannot set fuel: {e}"))
}

/// Fuel left and every exported memory (length and hash), global and table (size and
/// which elements are null), in words.
fn state(store: &Store<()>, instance: &Instance) -> Vec<String> {
    let fuel = match store.get_fuel() {
        Ok(f) => format!("fuel {f}"),
        Err(e) => format!("fuel unknown: {e}"),
    };
    let mut out = vec![fuel];
    for (name, ext) in instance.exports(store) {
        out.push(match ext {
            Extern::Func(_) => continue,
            Extern::Memory(m) => {
                let d = m.data(store);
                format!("memory {name}: {} bytes, hash {:#018x}", d.len(), fnv1a(d))
            }
            Extern::Global(g) => format!("global {name}: {}", Value::from_kiln(&g.get(store))),
            Extern::Table(t) => {
                let nulls: String = (0..t.size(store))
                    .map(|i| match t.get(store, i).map(|v| Value::from_kiln(&v)) {
                        Some(Value::FuncRef { null } | Value::ExternRef { null }) => {
                            if null {
                                '0'
                            } else {
                                '1'
                            }
                        }
                        _ => '?',
                    })
                    .collect();
                format!("table {name}: [{nulls}]")
            }
        });
    }
    out
}

/// The compiled module and the one loaded from its artifact (`what`) must have the same
/// imports and exports and, instantiated side by side, behave the same (see the module
/// docs).
fn compare_behaviour(
    ctx: &Context<'_>,
    loaded: &Module,
    what: &str,
    report: &mut ArtifactReport,
) -> Result<(), String> {
    let original = ctx.original;
    let exports = |m: &Module| -> Vec<(String, ExternType)> {
        m.exports().map(|(n, t)| (n.to_string(), t)).collect()
    };
    let imports = |m: &Module| -> Vec<(String, String, ExternType)> {
        m.imports()
            .map(|(m, n, t)| (m.to_string(), n.to_string(), t))
            .collect()
    };
    if exports(original) != exports(loaded) {
        return Err(format!(
            "the module loaded from {what} exports {:?}; the compiled one {:?}",
            exports(loaded),
            exports(original)
        ));
    }
    if imports(original) != imports(loaded) {
        return Err(format!(
            "the module loaded from {what} imports {:?}; the compiled one {:?}",
            imports(loaded),
            imports(original)
        ));
    }
    if original.imports().next().is_some() {
        // Nothing to instantiate it with (generated modules import nothing).
        return Ok(());
    }
    let differ = |when: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
        format!(
            "after {when}, the module loaded from {what} differs from the compiled one: \
             loaded {b:?}, compiled {a:?}"
        )
    };
    let (mut sa, mut sb) = (store(original)?, store(loaded)?);
    let (ia, ib) = {
        let _hang = watchdog::arm(HANG, || "artifact: instantiation".to_string());
        (
            Instance::new(&mut sa, original, &[]),
            Instance::new(&mut sb, loaded, &[]),
        )
    };
    let (ia, ib) = match (ia, ib) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            let a = Outcome::of(a.map(|_| Vec::new()));
            let b = Outcome::of(b.map(|_| Vec::new()));
            if a.stack_overflow() || b.stack_overflow() {
                report.inconclusive += 1;
            } else if a != b {
                return Err(differ("instantiation", &a, &b));
            }
            return Ok(());
        }
    };
    let (a, b) = (state(&sa, &ia), state(&sb, &ib));
    if a != b {
        return Err(differ("instantiation", &a, &b));
    }
    for (name, ty) in original.exports() {
        let ExternType::Func(ty) = ty else { continue };
        let args: Vec<Val> = ty.params().iter().map(|t| Val::default_for(*t)).collect();
        let results = ty.results().len();
        let what_call = format!("call {name}");
        let call = |store: &mut Store<()>, instance: &Instance| -> Result<Outcome, String> {
            refuel(store)?;
            let f = instance
                .get_func(&*store, name)
                .ok_or_else(|| format!("export {name} is not a function"))?;
            let mut out = vec![Val::I32(0); results];
            let _hang = watchdog::arm(HANG, || format!("artifact: {what_call}"));
            let r = f.call(&mut *store, &args, &mut out);
            Ok(Outcome::of(
                r.map(|()| out.iter().map(Value::from_kiln).collect()),
            ))
        };
        let a = call(&mut sa, &ia)?;
        let b = call(&mut sb, &ib)?;
        if a.stack_overflow() || b.stack_overflow() {
            report.inconclusive += 1;
            return Ok(());
        }
        if a != b {
            return Err(differ(&what_call, &a, &b));
        }
        report.calls += 1;
        let (a, b) = (state(&sa, &ia), state(&sb, &ib));
        if a != b {
            return Err(differ(&what_call, &a, &b));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAT: &str = r#"(module
      (memory (export "m") 1)
      (data (i32.const 8) "artifact")
      (data "passive")
      (table (export "t") 2 funcref)
      (elem (i32.const 0) $f)
      (global (export "g") (mut i32) (i32.const 5))
      (func $f (export "f") (param i32) (result i32)
        (global.set 0 (i32.add (global.get 0) (i32.const 1)))
        (i32.add (local.get 0) (i32.load8_u (i32.const 8))))
      (func (export "floor") (param f64) (result f64) (f64.floor (local.get 0)))
      (func (export "boom") (unreachable)))"#;

    fn artifact_of(variant: ArtifactEngine) -> (Module, Vec<u8>) {
        let engine = engines::kiln_artifact(variant, false).expect("engine");
        let module = Module::new(engine, WAT).expect("compiles");
        let bytes = module.serialize().expect("serializes");
        (module, bytes)
    }

    #[test]
    fn the_layout_parses_and_the_parts_tile_the_file() {
        for variant in ArtifactEngine::ALL {
            let (_, bytes) = artifact_of(variant);
            let layout = Layout::parse(&bytes).expect("parses");
            assert_eq!(layout.len, bytes.len());
            assert!(layout.table_at > LENGTH_FIELD.end);
            assert_eq!(layout.range(Part::Section(0)).start % 8, 0);
            assert_eq!(layout.range(Part::Section(4)).start % 4096, 0);
            assert!(layout.range(Part::Section(4)).end <= bytes.len() - MAC_LEN);
            assert!(layout.name(layout.sections[1].0 + 3).contains("LAYOUT+0x3"));
            assert!(layout.name(bytes.len() - 1).contains("MAC+0x1f"));
            assert!(layout.name(0).contains("header+0x0"));
        }
    }

    #[test]
    fn resealing_gives_an_authentic_artifact_and_reaches_the_decoder() {
        let (_, bytes) = artifact_of(ArtifactEngine::Default);
        let layout = Layout::parse(&bytes).expect("parses");
        let engine = engines::kiln_artifact(ArtifactEngine::Default, true).expect("engine");
        // The MAC recomputed over unchanged bytes is the MAC Kiln wrote.
        let mut same = bytes.clone();
        same[bytes.len() - 1] ^= 1;
        seal(&mut same);
        assert_eq!(same, bytes);
        // A META count set far too high: authentic, so refused as malformed, not by MAC.
        let mut bad = bytes.clone();
        write_u64(&mut bad, layout.sections[0].0, u64::MAX / 2);
        let refused = |b: &[u8]| match Module::deserialize(engine, b) {
            Ok(_) => panic!("loaded"),
            Err(e) => match e.kind() {
                ErrorKind::IncompatibleArtifact(a) => a.reason(),
                other => panic!("{other:?}"),
            },
        };
        assert_eq!(refused(&bad), kiln::ArtifactRefusal::Mac);
        seal(&mut bad);
        assert_eq!(refused(&bad), kiln::ArtifactRefusal::Malformed);
        // Bytes inserted into META with the table adjusted and the length fixed: the
        // sections are found again, and META's trailing bytes are refused.
        let mut grown = bytes.clone();
        let mut now = layout.clone();
        let end = layout.range(Part::Section(0)).end;
        grown.splice(end..end, [0u8; 3]);
        now.shift(&mut grown, Part::Section(0), 3, true);
        set_length(&mut grown);
        assert_eq!(Layout::parse(&grown), Some(now));
        seal(&mut grown);
        assert_eq!(refused(&grown), kiln::ArtifactRefusal::Malformed);
    }

    #[test]
    fn every_engine_round_trips_a_module_with_data_tables_traps_and_libcalls() {
        let wasm = wat::parse_str(WAT).expect("wat");
        for variant in ArtifactEngine::ALL {
            let report = check_artifact(variant, &wasm, &[]).expect("passes");
            assert_eq!(report.calls, 3, "{variant:?}: {report:?}");
            assert_eq!(report.raw, 1);
        }
    }
}
