//! Executable memory for compiled code, and the process-wide registry that maps a program
//! counter back to the code (for traps and backtraces).

use super::libcalls;
use super::mmap::Mmap;
use super::trap_table::TrapTable;
use kiln_frontend::{FuncIndex, Names};
use kiln_jit::{
    CodePlacement, CompiledFunction, InlinedFrames, LibCall, RelocTarget, TrapKind, PLACEMENT_LINE,
};
use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, RwLock};

/// What a range of code is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symbol {
    /// A wasm function.
    Wasm(FuncIndex),
    /// A host-to-wasm trampoline.
    ArrayTrampoline,
    /// A wasm-to-host trampoline.
    HostTrampoline,
}

#[derive(Debug)]
struct FunctionLoc {
    start: usize,
    end: usize,
    symbol: Symbol,
    /// Functions inlined into this one (profile-guided code, never in artifacts).
    inlined: Option<Box<InlinedFrames>>,
}

/// Published (read-execute) machine code with its trap table.
#[derive(Debug)]
pub struct CodeMemory {
    mmap: Mmap,
    functions: Vec<FunctionLoc>,
    traps: TrapTable,
    /// Bytes of text (functions and the padding between them) from the start.
    text_len: usize,
    /// Absolute libcall addresses patched into the code: `(offset, routine, addend)`.
    libcalls: Vec<(usize, LibCall, i64)>,
    /// The module's names, shared with its `ModuleInfo`.
    names: Arc<Names>,
}

/// Where everything lies in a code memory's text: what an artifact records so that
/// the text can be used again ([`CodeMemory::load`]) without the compiled functions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeLayout {
    /// Length of the text in bytes.
    pub len: usize,
    /// `(start, end, symbol)` of each function, in publishing order.
    pub functions: Vec<(usize, usize, Symbol)>,
    /// Each trapping instruction.
    pub traps: TrapTable,
    /// `(offset, routine, addend)` of each absolute libcall address to patch in.
    pub libcalls: Vec<(usize, LibCall, i64)>,
    /// `(function position, frames)`: the bodies inlined into each function that has
    /// any, by the function's position in `functions` (ascending).
    pub inlined: Vec<(usize, InlinedFrames)>,
}

/// Text to load: bytes to copy, or (preferably) a page-aligned range of a file that is
/// exclusively ours (see `ArtifactFile::mappable`), mapped without copying.
#[derive(Debug, Clone, Copy)]
pub enum CodeSource<'a> {
    /// Copy these bytes.
    Bytes(&'a [u8]),
    /// Map `bytes.len()` bytes of `file` at `offset`; `bytes` are the same contents,
    /// copied instead if the file cannot be mapped executable (a `noexec` mount).
    File {
        /// The file.
        file: &'a std::fs::File,
        /// Where the text starts in it.
        offset: u64,
        /// The text.
        bytes: &'a [u8],
    },
}

/// A frame of a backtrace, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameSymbol {
    /// Function index in its module.
    pub func: FuncIndex,
    /// The function's name from the name section.
    pub func_name: Option<String>,
    /// The module's name from the name section.
    pub module_name: Option<String>,
    /// The pc's offset from the start of the function's machine code.
    pub code_offset: usize,
}

impl CodeMemory {
    /// Copies `functions` into fresh executable memory, patches their libcall
    /// relocations, and registers the code for trap lookups.
    /// Each function starts where `placement` says (see `CodePlacement`).
    pub fn publish(
        functions: &[(&CompiledFunction, Symbol)],
        names: Arc<Names>,
        placement: CodePlacement,
    ) -> io::Result<Arc<Self>> {
        let mut size = 0usize;
        let mut starts = Vec::with_capacity(functions.len());
        for (f, _) in functions {
            size = start_of(size, f, placement);
            starts.push(size);
            size += f.code.len();
        }
        let mut mmap = Mmap::reserve_code(size.max(1))?;
        let len = mmap.len();
        mmap.make_accessible(0, len)?;
        let mut locs = Vec::with_capacity(functions.len());
        let mut traps = Vec::new();
        let mut libcalls = Vec::new();
        for ((f, symbol), &start) in functions.iter().zip(&starts) {
            // SAFETY: `[start, start + code.len())` lies within the fresh read-write
            // mapping (sizes computed above) and nothing else refers to it yet.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    f.code.as_ptr(),
                    mmap.as_ptr().add(start),
                    f.code.len(),
                );
            }
            for r in &f.relocs {
                let at = start + r.offset as usize;
                match r.target {
                    RelocTarget::LibCall(lc) => {
                        assert!(
                            at + 8 <= start + f.code.len(),
                            "relocation inside the function"
                        );
                        patch_libcall(&mut mmap, at, lc, r.addend)?;
                        libcalls.push((at, lc, r.addend));
                    }
                    RelocTarget::Function(_) | RelocTarget::Own => {
                        let callee_start = match r.target {
                            RelocTarget::Function(callee) => {
                                *starts.get(callee.index()).ok_or_else(|| {
                                    io::Error::other(format!("call to unknown function {callee:?}"))
                                })?
                            }
                            _ => start,
                        };
                        // Both ends lie in this one mapping, far below 2 GiB apart.
                        let value = (callee_start as i64 - at as i64).wrapping_add(r.addend);
                        let value = i32::try_from(value)
                            .map_err(|_| io::Error::other("code larger than 2 GiB"))?;
                        assert!(
                            at + 4 <= start + f.code.len(),
                            "relocation inside the function"
                        );
                        // SAFETY: `at .. at + 4` is inside this function's code
                        // (asserted), in our writable mapping; the write may be unaligned.
                        unsafe { mmap.as_ptr().add(at).cast::<i32>().write_unaligned(value) };
                    }
                }
            }
            if start + f.code.len() > u32::MAX as usize {
                return Err(io::Error::other("a module's code is larger than 4 GiB"));
            }
            // Every offset in the function fits in a u32 (checked just above).
            traps.extend(
                f.traps
                    .iter()
                    .map(|t| ((start + t.offset as usize) as u32, t.kind)),
            );
            locs.push(FunctionLoc {
                start,
                end: start + f.code.len(),
                symbol: *symbol,
                inlined: (!f.inlined.is_empty()).then(|| Box::new(f.inlined.clone())),
            });
        }
        mmap.make_executable(0, len)?;
        let traps = TrapTable::new(traps);
        let code = Arc::new(CodeMemory {
            mmap,
            functions: locs,
            traps,
            text_len: size,
            libcalls,
            names,
        });
        register(&code);
        Ok(code)
    }

    /// Publishes text laid out as `layout` says, from an artifact: mapped from its file
    /// when `source` allows and no libcall needs patching, otherwise with only the
    /// patched pages (or, from bytes, all of it) copied. Libcall addresses are patched
    /// before the pages become executable. A layout that does not fit the text is an
    /// `InvalidData` error, never an out-of-bounds write.
    pub fn load(
        source: CodeSource<'_>,
        layout: CodeLayout,
        names: Arc<Names>,
    ) -> io::Result<Arc<Self>> {
        let bytes = match source {
            CodeSource::Bytes(b) | CodeSource::File { bytes: b, .. } => b,
        };
        check_layout(&layout, bytes.len())?;
        let mapped = match source {
            CodeSource::File { file, offset, .. } if !bytes.is_empty() => {
                map_text(file, offset, bytes.len(), &layout.libcalls).ok()
            }
            _ => None,
        };
        let mmap = match mapped {
            Some(m) => m,
            None => {
                let mut mmap = Mmap::reserve_code(bytes.len().max(1))?;
                let len = mmap.len();
                mmap.make_accessible(0, len)?;
                // SAFETY: the fresh read-write mapping is at least `bytes.len()` long
                // and nothing else refers to it yet.
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), mmap.as_ptr(), bytes.len())
                };
                for &(at, lc, addend) in &layout.libcalls {
                    patch_libcall(&mut mmap, at, lc, addend)?;
                }
                mmap.make_executable(0, len)?;
                mmap
            }
        };
        let mut functions: Vec<FunctionLoc> = layout
            .functions
            .into_iter()
            .map(|(start, end, symbol)| FunctionLoc {
                start,
                end,
                symbol,
                inlined: None,
            })
            .collect();
        for (i, frames) in layout.inlined {
            // Checked with the rest of the layout.
            if let Some(f) = functions.get_mut(i) {
                f.inlined = Some(Box::new(frames));
            }
        }
        let code = Arc::new(CodeMemory {
            mmap,
            functions,
            traps: layout.traps,
            text_len: layout.len,
            libcalls: layout.libcalls,
            names,
        });
        register(&code);
        Ok(code)
    }

    /// The layout of this code's text, for an artifact.
    pub fn layout(&self) -> CodeLayout {
        CodeLayout {
            len: self.text_len(),
            functions: self
                .functions
                .iter()
                .map(|f| (f.start, f.end, f.symbol))
                .collect(),
            traps: self.traps.clone(),
            libcalls: self.libcalls.clone(),
            inlined: self
                .functions
                .iter()
                .enumerate()
                .filter_map(|(i, f)| Some((i, (**f.inlined.as_ref()?).clone())))
                .collect(),
        }
    }

    /// A copy of the text, with the process-specific libcall addresses zeroed (so the
    /// same module gives the same bytes in every process).
    pub fn text(&self) -> Vec<u8> {
        let len = self.text_len();
        // SAFETY: `[0, len)` lies within the published mapping, which is readable and
        // never written after publishing.
        let mut text = unsafe { std::slice::from_raw_parts(self.mmap.as_ptr(), len) }.to_vec();
        for &(at, _, _) in &self.libcalls {
            text[at..at + 8].fill(0);
        }
        text
    }

    /// Bytes of text: what `layout` and `text` describe.
    pub fn text_len(&self) -> usize {
        self.text_len
    }

    /// Address of the `i`th published function.
    pub fn function_address(&self, i: usize) -> *const u8 {
        // SAFETY: `start` is within the mapping by construction.
        unsafe { self.mmap.as_ptr().add(self.functions[i].start) }
    }

    /// Each function's address, size and name (`module::name`, or `wasm-function[i]`),
    /// for profilers.
    pub fn symbols(&self) -> impl Iterator<Item = (usize, usize, String)> + '_ {
        let base = self.mmap.as_ptr() as usize;
        let module = self.names.module.as_deref().unwrap_or("wasm");
        self.functions.iter().map(move |f| {
            let name = match f.symbol {
                Symbol::Wasm(i) => match self.names.func(i) {
                    Some(n) => format!("{module}::{n}"),
                    None => format!("{module}::wasm-function[{}]", i.as_u32()),
                },
                Symbol::ArrayTrampoline => "kiln::array-to-wasm-trampoline".to_string(),
                Symbol::HostTrampoline => "kiln::wasm-to-host-trampoline".to_string(),
            };
            (base + f.start, f.end - f.start, name)
        })
    }

    fn contains(&self, pc: usize) -> bool {
        let start = self.mmap.as_ptr() as usize;
        pc >= start && pc < start + self.mmap.len()
    }

    fn trap_at(&self, pc: usize) -> Option<TrapKind> {
        let off = pc - self.mmap.as_ptr() as usize;
        self.traps.lookup(u32::try_from(off).ok()?)
    }

    /// The function containing `pc`, and `pc`'s offset into its code.
    fn symbol_at(&self, pc: usize) -> Option<(&FunctionLoc, usize)> {
        let off = pc - self.mmap.as_ptr() as usize;
        let i = self.functions.partition_point(|f| f.start <= off);
        let f = self.functions.get(i.checked_sub(1)?)?;
        (off < f.end).then_some((f, off - f.start))
    }
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        unregister(self.mmap.as_ptr() as usize);
    }
}

/// Registered code by start address. A `CodeMemory` unregisters itself before it is
/// freed, so the raw pointers here are valid while present.
struct Registry(BTreeMap<usize, *const CodeMemory>);

// SAFETY: the pointers are only dereferenced under the lock, while registered, and
// `CodeMemory` is `Sync` (immutable after publishing).
unsafe impl Send for Registry {}
// SAFETY: as above.
unsafe impl Sync for Registry {}

static REGISTRY: RwLock<Registry> = RwLock::new(Registry(BTreeMap::new()));

/// Writes the address of `lc` plus `addend` at `at`.
fn patch_libcall(mmap: &mut Mmap, at: usize, lc: LibCall, addend: i64) -> io::Result<()> {
    let target = libcalls::address(lc)
        .ok_or_else(|| io::Error::other(format!("no {lc:?} routine on this host")))?;
    let value = (target as i64).wrapping_add(addend);
    assert!(at + 8 <= mmap.len(), "relocation inside the mapping");
    // SAFETY: `at .. at + 8` is inside the mapping (asserted), which the caller has made
    // writable and which nothing executes yet; the write may be unaligned.
    unsafe { mmap.as_ptr().add(at).cast::<i64>().write_unaligned(value) };
    Ok(())
}

/// Maps `len` bytes of text from `file` at `offset`, patches `libcalls` into private
/// copies of their pages, and makes it executable. Fails on a `noexec` mount.
fn map_text(
    file: &std::fs::File,
    offset: u64,
    len: usize,
    libcalls: &[(usize, LibCall, i64)],
) -> io::Result<Mmap> {
    let mut mmap = Mmap::map_file_code(file, offset, len)?;
    let all = mmap.len();
    if !libcalls.is_empty() {
        mmap.make_accessible(0, all)?;
        for &(at, lc, addend) in libcalls {
            patch_libcall(&mut mmap, at, lc, addend)?;
        }
    }
    mmap.make_executable(0, all)?;
    Ok(mmap)
}

/// Refuses a layout whose functions, trap sites or relocations leave `len` bytes of
/// text, or whose functions are out of order.
fn check_layout(layout: &CodeLayout, len: usize) -> io::Result<()> {
    let bad =
        |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("code layout: {what}"));
    if layout.len != len {
        return Err(bad("text length differs"));
    }
    let mut end = 0;
    for &(s, e, _) in &layout.functions {
        if s < end || e < s || e > len {
            return Err(bad("function outside the text or out of order"));
        }
        end = e;
    }
    if !layout.traps.is_valid_for(len) {
        return Err(bad(
            "trap site outside the text, out of order or of no kind",
        ));
    }
    if layout
        .libcalls
        .iter()
        .any(|r| r.0.checked_add(8).is_none_or(|e| e > len))
    {
        return Err(bad("relocation outside the text"));
    }
    let mut last = None;
    for (i, frames) in &layout.inlined {
        if last.is_some_and(|l| *i <= l) {
            return Err(bad("inlined frames out of order"));
        }
        last = Some(*i);
        let Some(&(start, end, _)) = layout.functions.get(*i) else {
            return Err(bad("inlined frames of no function"));
        };
        if !inlined_frames_fit(frames, end - start) {
            return Err(bad("inlined frames outside their function or malformed"));
        }
    }
    Ok(())
}

/// Whether `frames` describe code of `len` bytes: every range inside it, sorted and
/// disjoint, naming an inlining; every inlining's parent an earlier one (or none).
fn inlined_frames_fit(frames: &InlinedFrames, len: usize) -> bool {
    let n = frames.sites.len() as u64;
    let sites_ok = frames
        .sites
        .iter()
        .enumerate()
        .all(|(i, &(_, parent))| parent == u32::MAX || (parent as usize) < i);
    let mut end = 0u32;
    let ranges_ok = frames.ranges.iter().all(|&(s, e, site)| {
        let ok = s >= end && s < e && (e as usize) <= len && u64::from(site) < n;
        end = e;
        ok
    });
    sites_ok && ranges_ok
}

fn register(code: &Arc<CodeMemory>) {
    let mut reg = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    reg.0.insert(code.mmap.as_ptr() as usize, Arc::as_ptr(code));
}

fn unregister(start: usize) {
    let mut reg = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    reg.0.remove(&start);
}

fn with_code<R>(pc: usize, f: impl FnOnce(&CodeMemory) -> R) -> Option<R> {
    let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    let (_, &code) = reg.0.range(..=pc).next_back()?;
    // SAFETY: registered pointers are live (see `Registry`), and the read lock keeps
    // `unregister` (called before the memory is freed) from running concurrently.
    let code = unsafe { &*code };
    code.contains(pc).then(|| f(code))
}

/// Whether `pc` lies in generated code.
pub fn is_generated_code(pc: usize) -> bool {
    with_code(pc, |_| ()).is_some()
}

/// The trap kind of the instruction at `pc`, if it is a registered trap site.
pub fn lookup_trap(pc: usize) -> Option<TrapKind> {
    with_code(pc, |c| c.trap_at(pc)).flatten()
}

/// The wasm function containing `pc`, for backtraces. Trampolines give `None`.
pub fn lookup_frame(pc: usize) -> Option<FrameSymbol> {
    lookup_frames(pc).pop()
}

/// The wasm frames at `pc`, innermost first: the functions inlined there (if any),
/// then the function whose code it is. Empty for trampolines and other code.
pub fn lookup_frames(pc: usize) -> Vec<FrameSymbol> {
    with_code(pc, |c| {
        let Some((loc, code_offset)) = c.symbol_at(pc) else {
            return Vec::new();
        };
        let Symbol::Wasm(func) = loc.symbol else {
            return Vec::new();
        };
        let frame = |func: FuncIndex| FrameSymbol {
            func,
            func_name: c.names.func(func).map(str::to_owned),
            module_name: c.names.module.clone(),
            code_offset,
        };
        let mut frames: Vec<FrameSymbol> = match (&loc.inlined, u32::try_from(code_offset)) {
            (Some(inlined), Ok(off)) => inlined.at(off).into_iter().map(frame).collect(),
            _ => Vec::new(),
        };
        frames.push(frame(func));
        frames
    })
    .unwrap_or_default()
}

/// Where a function goes when the code before it ends at `end`.
fn start_of(end: usize, f: &CompiledFunction, placement: CodePlacement) -> usize {
    const LINE: usize = PLACEMENT_LINE as usize;
    // What the code needs (constant-pool alignment; Cranelift's x64 minimum is 1 byte).
    let required = (f.alignment as usize).max(1);
    let offset = match placement {
        CodePlacement::Packed => None,
        CodePlacement::Loops => f.loop_placement.map(|o| o as usize),
        CodePlacement::Offset(o) => Some((o as usize % LINE).next_multiple_of(required) % LINE),
    };
    match offset {
        // Function entries at 16-byte boundaries, as compilers lay out code.
        None => end.next_multiple_of(required.max(16)),
        // The first address at or after `end` that lies `offset` past a line boundary
        // (a wider alignment than a line wins).
        Some(offset) => {
            let at = end + (offset + LINE - end % LINE) % LINE;
            at.next_multiple_of(required)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn func(alignment: u32, loop_placement: Option<u32>) -> CompiledFunction {
        CompiledFunction {
            code: vec![0xc3],
            alignment,
            loop_placement,
            ..Default::default()
        }
    }

    #[test]
    fn placements() {
        let plain = func(16, None);
        let looped = func(16, Some(48));
        for end in [0usize, 1, 16, 60, 64, 100] {
            let packed = end.next_multiple_of(16);
            assert_eq!(start_of(end, &plain, CodePlacement::Packed), packed);
            assert_eq!(start_of(end, &looped, CodePlacement::Packed), packed);
            assert_eq!(start_of(end, &plain, CodePlacement::Loops), packed);
            let at = start_of(end, &looped, CodePlacement::Loops);
            assert!(at >= end && at % 64 == 48 && at - end < 64, "{end} -> {at}");
            let at = start_of(end, &plain, CodePlacement::Offset(20));
            assert!(at >= end && at % 64 == 32 && at - end < 64, "{end} -> {at}");
            let byte = func(1, Some(37));
            let at = start_of(end, &byte, CodePlacement::Loops);
            assert!(at >= end && at % 64 == 37 && at - end < 64, "{end} -> {at}");
            let at = start_of(end, &byte, CodePlacement::Offset(70));
            assert!(at >= end && at % 64 == 6 && at - end < 64, "{end} -> {at}");
        }
        // A wider alignment than the offset allows wins.
        let wide = func(64, None);
        assert_eq!(start_of(1, &wide, CodePlacement::Offset(16)), 64);
    }
}
