//! Compiled modules as files: `Module::serialize`, `Module::deserialize` and
//! `Module::deserialize_file`.
//!
//! # Format (version [`FORMAT_VERSION`])
//! ```text
//! magic "\0kilnart" | format version u32 | file length u64 | Kiln version and build
//! | fingerprint
//! | section table (offset, length) × 5
//! | META   the module's description (types, imports, exports, segments, names)
//! | LAYOUT where each function, trampoline, trap site, libcall relocation and inlined
//!          body (profile-guided code) lies in CODE
//! | DATA   the data segments instantiation may still read
//! | IMAGE  the memory's initial contents, page-aligned (or empty)
//! | CODE   the machine code, page-aligned, exactly as published
//! | MAC    keyed BLAKE3 of everything before it (32 bytes)
//! ```
//! Loading checks, in order: the magic, the format version, Kiln's version and build,
//! the fingerprint (every setting that decides generated code, CPU features
//! included), then the MAC over the whole file, and only then decodes anything else.
//! Each failure is an [`ArtifactError`] naming its [`ArtifactRefusal`]; nothing of a
//! refused artifact is executed. A file that only its owner (this process's user) can
//! write is memory-mapped, and its code and memory image are used from the mapping
//! (see `vm::ArtifactFile`); anything else is read and copied.

mod codec;
mod info;
mod key;

pub use crate::artifact_error::{ArtifactError, ArtifactRefusal};
pub use key::{ArtifactKey, KEY_FILE};

use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::module::{Module, TrampolineSlots};
use crate::vm::{ArtifactFile, CodeLayout, CodeMemory, CodeSource, MemoryImage, Symbol, TrapTable};
use codec::{Malformed, Reader, Writer};
use kiln_frontend::{DataSegmentKind, FuncIndex};
use kiln_jit::LibCall;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// The first bytes of every artifact.
pub const MAGIC: [u8; 8] = *b"\0kilnart";

/// The artifact format this Kiln writes and reads (7: memory and table types carry
/// their index type, table limits are 64-bit, and the growth builtins take 64-bit
/// sizes).
pub const FORMAT_VERSION: u32 = 7;

/// Kiln's version and build: artifacts load only in the build that wrote them.
pub const KILN_BUILD: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("KILN_BUILD_ID"));

const MAC_LEN: usize = 32;
const SECTIONS: usize = 5;
/// File alignment of IMAGE and CODE, so they can be mapped.
const ALIGN: usize = 4096;

/// Whether `bytes` start like an artifact (rather than a wasm module).
pub fn is_artifact(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

fn refuse(reason: ArtifactRefusal, detail: impl Into<String>) -> Error {
    Error::new(ErrorKind::IncompatibleArtifact(ArtifactError::new(
        reason, detail,
    )))
}

fn malformed(m: Malformed, section: &str) -> Error {
    let reason = if m.what == "truncated" {
        ArtifactRefusal::Truncated
    } else {
        ArtifactRefusal::Malformed
    };
    refuse(
        reason,
        format!("{section}: {} at byte {}", m.what, m.offset),
    )
}

impl Module {
    /// The compiled module as bytes that [`Module::deserialize`] loads again, in
    /// this build of Kiln with an engine of the same settings and key (see
    /// [`crate::Config::artifact_key`]), without compiling.
    ///
    /// A module of a lazy or tiered engine (`Config::strategy`) has no complete code to
    /// write: that is `ErrorKind::Unsupported`.
    pub fn serialize(&self) -> Result<Vec<u8>> {
        let inner = &self.0;
        if inner.lazy.is_some() {
            return Err(Error::new(crate::ErrorKind::Unsupported(format!(
                "a module compiled with strategy `{}` cannot be serialized: its functions \
                 are compiled as they are called (serialize from an Eager engine)",
                inner.engine.config().strategy.name()
            ))));
        }
        let engine = &inner.engine;
        let info = &inner.info;
        // DATA: the segments instantiation may read. With a memory image, the active
        // segments are in the image (and dropped at instantiation).
        let mut data = Vec::new();
        let mut ranges: Vec<Range<usize>> = Vec::with_capacity(info.datas.len());
        for (i, seg) in info.datas.iter().enumerate() {
            let needed =
                inner.memory_image.is_none() || matches!(seg.kind, DataSegmentKind::Passive);
            if needed {
                let bytes = info.data_bytes(kiln_frontend::DataIndex::from_u32(i as u32));
                ranges.push(data.len()..data.len() + bytes.len());
                data.extend_from_slice(bytes);
            } else {
                ranges.push(0..0);
            }
        }
        let mut meta = Writer::default();
        info::encode(&mut meta, info, &ranges);
        // IMAGE: the memory image without its zero pages at either end.
        let (image, image_at) = match &inner.memory_image {
            Some(image) => {
                let all = image.contents()?;
                let page = crate::vm::mmap::page_size();
                let nonzero = |p: &[u8]| p.iter().any(|&b| b != 0);
                let first = all.chunks(page).position(nonzero);
                let last = all.chunks(page).rposition(nonzero);
                match (first, last) {
                    (Some(f), Some(l)) => (
                        all[f * page..(l + 1) * page].to_vec(),
                        image.at() + f * page,
                    ),
                    _ => (Vec::new(), 0),
                }
            }
            None => (Vec::new(), 0),
        };
        let mut layout = Writer::default();
        encode_layout(&mut layout, &inner.code.layout(), &inner.trampolines);
        layout.len(image_at);
        layout.seq(&inner.inlined, |w, (f, digest)| {
            w.u32(*f);
            w.buf.extend_from_slice(digest);
        });
        let text = inner.code.text();

        let mut head = Writer::default();
        head.buf.extend_from_slice(&MAGIC);
        head.u32(FORMAT_VERSION);
        let total_at = head.buf.len();
        head.u64(0);
        head.str(KILN_BUILD);
        head.seq(engine.fingerprint(), |w, (k, v)| {
            w.str(k);
            w.str(v);
        });
        let table_at = head.buf.len();
        let mut at = table_at + SECTIONS * 16;
        let mut table = Vec::with_capacity(SECTIONS);
        for (len, align) in [
            (meta.buf.len(), 8),
            (layout.buf.len(), 8),
            (data.len(), 8),
            (image.len(), ALIGN),
            (text.len(), ALIGN),
        ] {
            at = at.next_multiple_of(align);
            table.push((at, len));
            at += len;
        }
        let mut out = head.buf;
        for &(offset, len) in &table {
            out.extend_from_slice(&(offset as u64).to_le_bytes());
            out.extend_from_slice(&(len as u64).to_le_bytes());
        }
        for ((offset, _), bytes) in table
            .iter()
            .zip([&meta.buf, &layout.buf, &data, &image, &text])
        {
            out.resize(*offset, 0);
            out.extend_from_slice(bytes);
        }
        let total = (out.len() + MAC_LEN) as u64;
        out[total_at..total_at + 8].copy_from_slice(&total.to_le_bytes());
        let mac = mac(engine.artifact_key(), &out);
        out.extend_from_slice(mac.as_bytes());
        Ok(out)
    }

    /// Loads an artifact [`Module::serialize`] wrote. Refuses (with
    /// [`ErrorKind::IncompatibleArtifact`]) anything another build, other settings or
    /// another key wrote, and anything changed since; the code is copied into fresh
    /// executable memory.
    pub fn deserialize(engine: &Engine, bytes: &[u8]) -> Result<Module> {
        load(engine, bytes, None, false)
    }

    /// [`Module::deserialize`] from a file, memory-mapped: when only this user can
    /// change the file, its code and memory image are used from the mapping without
    /// copying (only pages holding a libcall address are copied, to patch them).
    pub fn deserialize_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Module> {
        let path = path.as_ref();
        let file = ArtifactFile::open(path, engine.config().max_module_size.saturating_mul(16))
            .map_err(|e| refuse(ArtifactRefusal::Io, format!("{}: {e}", path.display())))?;
        load(engine, file.bytes(), file.mappable(), false)
    }
}

/// An artifact file's identity: device, inode, size, and modification and change
/// times (`st_ctime` changes with every write and cannot be set back but by root).
pub(crate) type FileIdentity = [u64; 7];

pub(crate) fn identity(meta: &std::fs::Metadata) -> FileIdentity {
    use std::os::unix::fs::MetadataExt;
    [
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime() as u64,
        meta.mtime_nsec() as u64,
        meta.ctime() as u64,
        meta.ctime_nsec() as u64,
    ]
}

/// `deserialize_file` for the code cache: when the file is mapped (ours alone) and
/// its identity is `verified` (the identity it had when its MAC last matched, from a
/// record the cache authenticated), the MAC is not computed again: the file has not
/// changed since. Returns the module and the file's identity.
pub(crate) fn load_cached_file(
    engine: &Engine,
    path: &Path,
    verified: Option<FileIdentity>,
) -> Result<(Module, FileIdentity, bool)> {
    let file = ArtifactFile::open(path, engine.config().max_module_size.saturating_mul(16))
        .map_err(|e| refuse(ArtifactRefusal::Io, format!("{}: {e}", path.display())))?;
    let id = identity(file.metadata());
    let trusted = file.mappable().is_some() && verified == Some(id);
    let module = load(engine, file.bytes(), file.mappable(), trusted)?;
    Ok((module, id, trusted))
}

/// The checks and the decoding, from `bytes` (the whole file), mapping from `file`
/// when given (it holds the same bytes).
/// `mac_verified`: the MAC was checked before and the file is unchanged since (see
/// `load_cached_file`); every other check still runs.
fn load(
    engine: &Engine,
    bytes: &[u8],
    file: Option<&std::fs::File>,
    mac_verified: bool,
) -> Result<Module> {
    if !is_artifact(bytes) {
        return Err(refuse(
            ArtifactRefusal::NotAnArtifact,
            "no artifact magic at the start",
        ));
    }
    let mut r = Reader::new(&bytes[MAGIC.len()..]);
    let header = |m: Malformed| malformed(m, "header");
    let version = r.u32("truncated").map_err(header)?;
    if version != FORMAT_VERSION {
        return Err(refuse(
            ArtifactRefusal::FormatVersion,
            format!("format {version}; this Kiln reads format {FORMAT_VERSION}"),
        ));
    }
    let total = r.u64("truncated").map_err(header)?;
    if total != bytes.len() as u64 {
        return Err(refuse(
            ArtifactRefusal::Truncated,
            format!("{} bytes long; the artifact says {total}", bytes.len()),
        ));
    }
    let build = r.str("Kiln version").map_err(header)?;
    if build != KILN_BUILD {
        return Err(refuse(
            ArtifactRefusal::KilnVersion,
            format!("written by Kiln {build}; this is Kiln {KILN_BUILD}"),
        ));
    }
    let fingerprint = r
        .seq(16, "fingerprint", |r| {
            Ok((r.str("setting")?, r.str("setting value")?))
        })
        .map_err(header)?;
    check_fingerprint(&fingerprint, engine.fingerprint())?;
    let mut table = [(0usize, 0usize); SECTIONS];
    for entry in &mut table {
        *entry = (
            r.usize("truncated").map_err(header)?,
            r.usize("truncated").map_err(header)?,
        );
    }
    if bytes.len() < MAC_LEN {
        return Err(refuse(ArtifactRefusal::Truncated, "no room for the MAC"));
    }
    let (body, recorded) = bytes.split_at(bytes.len() - MAC_LEN);
    if !mac_verified {
        check_mac(engine, body, recorded, file)?;
    }
    let section = |i: usize| -> Result<&[u8]> {
        let (offset, len) = table[i];
        offset
            .checked_add(len)
            .and_then(|end| body.get(offset..end))
            .ok_or_else(|| {
                refuse(
                    ArtifactRefusal::Truncated,
                    format!("section {i} past the end"),
                )
            })
    };
    let (meta, layout, data, image, text) = (
        section(0)?,
        section(1)?,
        section(2)?,
        section(3)?,
        section(4)?,
    );

    let mut r = Reader::new(meta);
    let info = info::decode(&mut r, Arc::from(data)).map_err(|m| malformed(m, "metadata"))?;
    r.finish("trailing bytes")
        .map_err(|m| malformed(m, "metadata"))?;
    let mut r = Reader::new(layout);
    let (code_layout, trampolines) = decode_layout(&mut r, file.map(|f| (f, table[1].0)))
        .map_err(|m| malformed(m, "code layout"))?;
    let image_at = r
        .usize("image placement")
        .map_err(|m| malformed(m, "code layout"))?;
    let digests = decode_inlined(&mut r, &info).map_err(|m| malformed(m, "code layout"))?;
    r.finish("trailing bytes")
        .map_err(|m| malformed(m, "code layout"))?;
    check_pieces(&info, &code_layout, &trampolines)?;

    let page_ok = |offset: usize| offset.is_multiple_of(crate::vm::mmap::page_size());
    let source = match file {
        Some(file) if page_ok(table[4].0) => CodeSource::File {
            file,
            offset: table[4].0 as u64,
            bytes: text,
        },
        _ => CodeSource::Bytes(text),
    };
    let code = CodeMemory::load(source, code_layout, info.names.clone())
        .map_err(|e| refuse(ArtifactRefusal::Malformed, e.to_string()))?;
    let memory_image = if image.is_empty() {
        None
    } else {
        let mapped = match file {
            Some(file) if page_ok(table[3].0) && page_ok(image.len()) => {
                MemoryImage::from_file(file.try_clone()?, table[3].0 as u64, image.len()).ok()
            }
            _ => None,
        };
        let image = match mapped {
            Some(m) => m,
            None => MemoryImage::new(image.len(), [(0, image)])?,
        };
        Some(
            image
                .placed_at(image_at)
                .map_err(|e| refuse(ArtifactRefusal::Malformed, e.to_string()))?,
        )
    };
    let inlined = crate::inlined::Inlined {
        digests,
        bodies: None,
    };
    Module::assemble(
        engine,
        info,
        code,
        trampolines,
        memory_image,
        false,
        inlined,
    )
}

/// The inlined imports: function indices of imports, increasing, each with a digest.
fn decode_inlined(
    r: &mut Reader<'_>,
    info: &kiln_frontend::ModuleInfo,
) -> codec::Decoded<Vec<(u32, [u8; 32])>> {
    let digests = r.seq(36, "inlined imports", |r| {
        let f = r.u32("inlined import")?;
        let mut d = [0u8; 32];
        d.copy_from_slice(r.bytes(32, "inlined import digest")?);
        Ok((f, d))
    })?;
    let imported = |f: u32| f < info.num_imported_funcs;
    let increasing = digests.windows(2).all(|w| w[0].0 < w[1].0);
    if !increasing || !digests.iter().all(|&(f, _)| imported(f)) {
        return r.fail("inlined imports");
    }
    Ok(digests)
}

/// The MAC of `bytes`: keyed BLAKE3, on all cores for large artifacts.
fn mac(key: &ArtifactKey, bytes: &[u8]) -> blake3::Hash {
    let mut h = blake3::Hasher::new_keyed(&key.0);
    if bytes.len() >= RAYON_FROM {
        h.update_rayon(bytes);
    } else {
        h.update(bytes);
    }
    h.finalize()
}

/// Refuses `body` unless `recorded` is its MAC under the engine's key.
fn check_mac(
    engine: &Engine,
    body: &[u8],
    recorded: &[u8],
    file: Option<&std::fs::File>,
) -> Result<()> {
    // A large mapped file is hashed by reading it: its pages then stay out of this
    // process's resident set until code or data are actually used.
    let expected = match file {
        Some(f) if body.len() >= READ_TO_HASH => file_mac(engine.artifact_key(), f, body.len())
            .map_err(|e| refuse(ArtifactRefusal::Io, e.to_string()))?,
        _ => mac(engine.artifact_key(), body),
    };
    // `blake3::Hash`'s equality is constant-time.
    if blake3::Hash::from_slice(recorded).ok() != Some(expected) {
        return Err(refuse(
            ArtifactRefusal::Mac,
            "the file was not written with this engine's key, or was modified or truncated",
        ));
    }
    Ok(())
}

/// From this size on, hashing uses every core (below it, waking threads costs more
/// than it saves).
const RAYON_FROM: usize = 1 << 20;

/// From this size on, a mapped artifact is hashed by reading rather than through the
/// mapping.
const READ_TO_HASH: usize = 16 << 20;

/// The MAC of the first `len` bytes of `file`, read in chunks.
fn file_mac(key: &ArtifactKey, file: &std::fs::File, len: usize) -> std::io::Result<blake3::Hash> {
    use std::os::unix::fs::FileExt;
    const CHUNK: usize = 4 << 20;
    let mut h = blake3::Hasher::new_keyed(&key.0);
    let mut buf = vec![0; CHUNK.min(len)];
    let mut at = 0;
    while at < len {
        let n = CHUNK.min(len - at);
        file.read_exact_at(&mut buf[..n], at as u64)?;
        if n >= RAYON_FROM {
            h.update_rayon(&buf[..n]);
        } else {
            h.update(&buf[..n]);
        }
        at += n;
    }
    Ok(h.finalize())
}

/// Compares an artifact's fingerprint with the engine's, naming the first difference.
fn check_fingerprint(artifact: &[(&str, &str)], engine: &[(String, String)]) -> Result<()> {
    // Kiln's own settings first (they name what the user chose), then CPU features.
    let rank = |n: &str| match n {
        _ if n.starts_with("kiln.") => 0,
        _ if n.starts_with("cpu.") => 1,
        _ => 2,
    };
    let mut ordered: Vec<_> = engine.iter().collect();
    ordered.sort_by_key(|(n, _)| rank(n));
    for (name, value) in ordered {
        let theirs = artifact.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        if theirs != Some(value.as_str()) {
            let reason = if name.starts_with("cpu.") {
                ArtifactRefusal::CpuFeatures
            } else {
                ArtifactRefusal::Settings
            };
            let theirs = theirs.unwrap_or("(absent)");
            return Err(refuse(
                reason,
                format!("`{name}` is {theirs} in the artifact and {value} in this engine"),
            ));
        }
    }
    if let Some((name, value)) = artifact
        .iter()
        .find(|(n, _)| !engine.iter().any(|(e, _)| e == n))
    {
        return Err(refuse(
            ArtifactRefusal::Settings,
            format!("`{name}` is {value} in the artifact and absent in this engine"),
        ));
    }
    if artifact.len() != engine.len() {
        return Err(refuse(
            ArtifactRefusal::Settings,
            "the artifact records settings this engine does not have",
        ));
    }
    Ok(())
}

fn encode_layout(w: &mut Writer, layout: &CodeLayout, trampolines: &TrampolineSlots) {
    w.len(layout.len);
    w.seq(&layout.functions, |w, &(start, end, symbol)| {
        w.len(start);
        w.len(end);
        match symbol {
            Symbol::Wasm(f) => {
                w.u8(0);
                w.u32(f.as_u32());
            }
            Symbol::ArrayTrampoline => {
                w.u8(1);
                w.u32(0);
            }
            Symbol::HostTrampoline => {
                w.u8(2);
                w.u32(0);
            }
        }
    });
    // Trap sites as two arrays: u32 offsets, then one byte of kind each.
    w.len(layout.traps.len());
    w.buf.extend_from_slice(layout.traps.bytes());
    w.seq(&layout.libcalls, |w, &(offset, lc, addend)| {
        w.len(offset);
        let index = LibCall::ALL
            .iter()
            .position(|l| *l == lc)
            .unwrap_or(usize::MAX);
        w.u8(u8::try_from(index).unwrap_or(u8::MAX));
        w.u64(addend as u64);
    });
    w.seq(&trampolines.array, |w, t| w.opt_u64(t.map(u64::from)));
    w.seq(&trampolines.host, |w, t| w.opt_u64(t.map(u64::from)));
    w.seq(&layout.inlined, |w, (i, frames)| {
        w.len(*i);
        w.seq(&frames.sites, |w, &(f, parent)| {
            w.u32(f.as_u32());
            w.u32(parent);
        });
        w.seq(&frames.ranges, |w, &(start, end, site)| {
            w.u32(start);
            w.u32(end);
            w.u32(site);
        });
    });
}

/// Trap tables at least this long (bytes) are mapped from the artifact file, not copied.
const MAP_TRAPS_FROM: usize = 64 << 10;

/// Decodes the LAYOUT section that `r` reads. With `mapped` (the artifact file, and
/// where the section starts in it), the trap table is used in place from the file's
/// pages rather than copied.
fn decode_layout(
    r: &mut Reader<'_>,
    mapped: Option<(&std::fs::File, usize)>,
) -> codec::Decoded<(CodeLayout, TrampolineSlots)> {
    let len = r.usize("text length")?;
    let functions = r.seq(21, "functions", |r| {
        let start = r.usize("function start")?;
        let end = r.usize("function end")?;
        let tag = r.u8("symbol")?;
        let index = r.u32("symbol")?;
        let symbol = match tag {
            0 => Symbol::Wasm(FuncIndex::from_u32(index)),
            1 => Symbol::ArrayTrampoline,
            2 => Symbol::HostTrampoline,
            _ => return r.fail("symbol"),
        };
        Ok((start, end, symbol))
    })?;
    let n = r.count(5, "trap sites")?;
    let at = r.position();
    // Checked with the rest of the layout (`CodeMemory::load`).
    let sites = r.bytes(n * 5, "trap sites")?;
    // A small table is cheaper to copy than to map.
    let in_file = mapped
        .filter(|_| sites.len() >= MAP_TRAPS_FROM)
        .and_then(|(file, section)| {
            TrapTable::map(file, u64::try_from(section + at).ok()?, n).ok()
        });
    let traps = match in_file {
        Some(traps) => traps,
        None => TrapTable::from_bytes(n, sites).or_else(|_| r.fail("trap sites"))?,
    };
    let libcalls = r.seq(17, "libcalls", |r| {
        let offset = r.usize("libcall offset")?;
        let lc = r.u8("libcall")?;
        let addend = r.u64("libcall addend")? as i64;
        match LibCall::ALL.get(lc as usize) {
            Some(l) => Ok((offset, *l, addend)),
            None => r.fail("libcall"),
        }
    })?;
    let slot = |r: &mut Reader<'_>| match r.opt_u64("trampoline")? {
        Some(t) => Ok(Some(u32::try_from(t).or_else(|_| r.fail("trampoline"))?)),
        None => Ok(None),
    };
    let array = r.seq(9, "array trampolines", slot)?;
    let host = r.seq(9, "host trampolines", slot)?;
    let trampolines = TrampolineSlots { array, host };
    // Checked with the rest of the layout (`CodeMemory::load`).
    let inlined = r.seq(3, "inlined frames", |r| {
        let i = r.usize("inlined function")?;
        let sites = r.seq(8, "inlinings", |r| {
            let f = FuncIndex::from_u32(r.u32("inlined function")?);
            Ok((f, r.u32("inlining parent")?))
        })?;
        let ranges = r.seq(12, "inlined ranges", |r| {
            Ok((
                r.u32("inlined range")?,
                r.u32("inlined range")?,
                r.u32("inlined range")?,
            ))
        })?;
        Ok((i, kiln_jit::InlinedFrames { sites, ranges }))
    })?;
    Ok((
        CodeLayout {
            len,
            functions,
            traps,
            libcalls,
            inlined,
        },
        trampolines,
    ))
}

/// The code holds each defined function (as itself, in order), then the array
/// trampolines, then the wasm-to-host trampolines, and every type's slots name one of
/// the right kind.
fn check_pieces(
    info: &kiln_frontend::ModuleInfo,
    layout: &CodeLayout,
    trampolines: &TrampolineSlots,
) -> Result<()> {
    let bad = |what: &str| refuse(ArtifactRefusal::Malformed, format!("code layout: {what}"));
    let n = info.num_defined_funcs() as usize;
    let arrays = TrampolineSlots::count(&trampolines.array);
    let hosts = TrampolineSlots::count(&trampolines.host);
    if trampolines.array.len() != info.types.len() || trampolines.host.len() != info.types.len() {
        return Err(bad("trampolines"));
    }
    if layout.functions.len() != n + arrays + hosts {
        return Err(bad("not the functions and trampolines the module needs"));
    }
    for (i, &(_, _, symbol)) in layout.functions.iter().enumerate() {
        let expected = if i < n {
            Symbol::Wasm(FuncIndex::from_u32(i as u32 + info.num_imported_funcs))
        } else if i < n + arrays {
            Symbol::ArrayTrampoline
        } else {
            Symbol::HostTrampoline
        };
        if symbol != expected {
            return Err(bad("functions out of order"));
        }
    }
    Ok(())
}
