//! `Module`: a compiled module, shareable between stores of its engine.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::inlined::{ImportInlines, Inlined};
use crate::source;
use crate::tiering::LazyCode;
use crate::types::{FuncType, GlobalType, MemoryType, TableType};
use crate::vm::{CodeMemory, MemoryImage, Symbol};
use kiln_frontend::{
    ConstExpr, DataIndex, DataSegmentKind, DefinedFuncIndex, EntityIndex, FuncIndex, HeapType,
    ModuleInfo, ValType, WASM_PAGE_SIZE,
};
use kiln_jit::VmOffsets;
use std::sync::Arc;

pub(crate) struct ModuleInner {
    pub(crate) engine: Engine,
    /// What the engine compiled, shareable with its code cache (which must not hold
    /// the engine itself).
    pub(crate) compiled: Arc<CompiledParts>,
}

impl std::ops::Deref for ModuleInner {
    type Target = CompiledParts;

    fn deref(&self) -> &CompiledParts {
        &self.compiled
    }
}

/// A compiled module without its engine.
pub(crate) struct CompiledParts {
    pub(crate) info: ModuleInfo,
    pub(crate) offsets: VmOffsets,
    /// Keeps the code mapped while any instance or function of the module lives.
    pub(crate) code: Arc<CodeMemory>,
    /// Engine-wide signature ids by `TypeIndex`.
    pub(crate) type_ids: Vec<u32>,
    /// Entry of each defined function (wasm convention).
    pub(crate) func_code: Vec<usize>,
    /// Array-call trampoline by `TypeIndex`, for types of defined functions.
    pub(crate) array_trampolines: Vec<Option<usize>>,
    /// The defined memory's contents after its active data segments, when instances
    /// map it instead of copying the segments (see [`memory_image`]).
    pub(crate) memory_image: Option<MemoryImage>,
    /// Where each type's trampolines sit in the code: what an artifact records.
    pub(crate) trampolines: TrampolineSlots,
    /// With `Strategy::Lazy` or `Tiered`: the functions' replaceable code (`code` then
    /// holds only the trampolines, and `func_code` is empty).
    pub(crate) lazy: Option<LazyCode>,
    /// The imports whose host function bodies the code inlined (`Linker::module`):
    /// instantiation takes only the same bodies for them.
    pub(crate) inlined: Vec<(u32, [u8; 32])>,
}

impl CompiledParts {
    /// The digest of the body inlined for imported function `f`, if any.
    pub(crate) fn inlined_digest(&self, f: FuncIndex) -> Option<[u8; 32]> {
        self.inlined
            .iter()
            .find(|(i, _)| *i == f.as_u32())
            .map(|(_, d)| *d)
    }
}

impl crate::tiering::Replaceable for CompiledParts {
    fn info(&self) -> &ModuleInfo {
        &self.info
    }

    fn lazy(&self) -> Option<&LazyCode> {
        self.lazy.as_ref()
    }
}

/// Where a module's trampolines sit among its code's functions. The code holds the
/// defined functions in order, then the array (host-to-wasm) trampolines, then the
/// wasm-to-host trampolines; for each `TypeIndex`, `array` and `host` give the index of
/// its trampoline within its group, if the module has one of that kind for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TrampolineSlots {
    pub(crate) array: Vec<Option<u32>>,
    pub(crate) host: Vec<Option<u32>>,
}

impl TrampolineSlots {
    /// How many trampolines the group whose slots are `slots` holds (indices are
    /// dense from 0).
    pub(crate) fn count(slots: &[Option<u32>]) -> usize {
        slots.iter().flatten().max().map_or(0, |&m| m as usize + 1)
    }
}

/// A compiled module. Cheap to clone.
#[derive(Clone)]
pub struct Module(pub(crate) Arc<ModuleInner>);

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("name", &self.name())
            .finish()
    }
}

/// The type of an import or export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternType {
    /// A function.
    Func(FuncType),
    /// A table.
    Table(TableType),
    /// A memory.
    Memory(MemoryType),
    /// A global.
    Global(GlobalType),
}

impl Module {
    /// Compiles a module from its binary or text form. Bytes that are neither (no
    /// `\0asm` magic, and not text starting with `(`) are refused without parsing.
    pub fn new(engine: &Engine, bytes: impl AsRef<[u8]>) -> Result<Module> {
        let bytes = bytes.as_ref();
        check_size(engine, bytes.len() as u64)?;
        Module::from_binary(engine, &source::to_binary(bytes, false)?)
    }

    /// Compiles a module from a file: binary, or text if the name ends in `.wat` or the
    /// contents look like text. Only a regular file of at most `Config::max_module_size`
    /// bytes is read; anything else is refused before reading.
    ///
    /// With a code cache on disk, a file seen before (the same path, device, inode,
    /// size, and modification and change times) is found without reading it.
    pub fn from_file(engine: &Engine, path: impl AsRef<std::path::Path>) -> Result<Module> {
        Module::file_until(engine, path.as_ref(), None, &ImportInlines::default())
    }

    /// Compiles a module from its binary form.
    pub fn from_binary(engine: &Engine, bytes: &[u8]) -> Result<Module> {
        Module::compile(engine, bytes, None, &ImportInlines::default())
    }

    /// Compiles a module (binary or text) unless `deadline` passes first: then the
    /// error is the `Interrupted` trap, as for a guest that runs past its deadline.
    /// Compilation looks at the deadline between phases and before each function, so
    /// it stops within one function's compile time of it.
    pub fn new_until(
        engine: &Engine,
        bytes: impl AsRef<[u8]>,
        deadline: std::time::Instant,
    ) -> Result<Module> {
        let bytes = bytes.as_ref();
        check_size(engine, bytes.len() as u64)?;
        Module::compile(
            engine,
            &source::to_binary(bytes, false)?,
            Some(deadline),
            &ImportInlines::default(),
        )
    }

    /// `from_file` with a deadline, as `new_until`.
    pub fn from_file_until(
        engine: &Engine,
        path: impl AsRef<std::path::Path>,
        deadline: std::time::Instant,
    ) -> Result<Module> {
        Module::file_until(
            engine,
            path.as_ref(),
            Some(deadline),
            &ImportInlines::default(),
        )
    }

    /// `from_file` (with a deadline), inlining the bodies of `inlines` at calls to the
    /// imports they match.
    pub(crate) fn file_until(
        engine: &Engine,
        path: &std::path::Path,
        deadline: Option<std::time::Instant>,
        inlines: &ImportInlines,
    ) -> Result<Module> {
        let salt = inlines.salt();
        let seen = engine
            .cache()
            .and_then(|c| Some((c, c.file_identity(engine, path, &salt)?)));
        if let Some(module) = seen
            .as_ref()
            .and_then(|(cache, id)| cache.load_seen_file(engine, id))
        {
            return Ok(module);
        }
        let bytes = source::read_module_file(path, engine.config().max_module_size)?;
        let text = path.extension().is_some_and(|e| e == "wat");
        let binary = source::to_binary(&bytes, text)?;
        let module = Module::compile(engine, &binary, deadline, inlines)?;
        if let Some((cache, id)) = seen {
            cache.remember_file(engine, path, &id, &binary, &salt);
        }
        Ok(module)
    }

    /// Compiles `bytes` (binary), or finds them in the engine's code cache, inlining
    /// the bodies of `inlines` at calls to the imports they match.
    pub(crate) fn compile(
        engine: &Engine,
        bytes: &[u8],
        deadline: Option<std::time::Instant>,
        inlines: &ImportInlines,
    ) -> Result<Module> {
        check_size(engine, bytes.len() as u64)?;
        match engine.cache() {
            Some(cache) => cache.get_or_compile(engine, bytes, &inlines.salt(), || {
                Module::compile_uncached(engine, bytes, deadline, inlines)
            }),
            None => Module::compile_uncached(engine, bytes, deadline, inlines),
        }
    }

    fn compile_uncached(
        engine: &Engine,
        bytes: &[u8],
        deadline: Option<std::time::Instant>,
        inlines: &ImportInlines,
    ) -> Result<Module> {
        let late = || deadline.is_some_and(|d| std::time::Instant::now() >= d);
        if late() {
            return Err(crate::TrapCode::Interrupted.into());
        }
        let info = kiln_frontend::parse_with_limits(
            bytes,
            engine.config().wasm_features,
            &engine.config().module_limits,
        )?;
        if late() {
            return Err(crate::TrapCode::Interrupted.into());
        }
        let lazy = !matches!(engine.config().strategy, crate::Strategy::Eager(_));
        let inlined = inlines.for_module(&info);
        let compiled = if lazy {
            engine.compiler().compile_trampolines(&info)?
        } else {
            let guidance = engine.module_guidance(&info, bytes)?;
            engine.compiler().compile_module_guided(
                &info,
                deadline,
                guidance.as_ref(),
                inlined.bodies.as_deref(),
            )?
        };
        let mut pieces =
            Vec::with_capacity(compiled.functions.len() + compiled.array_trampolines.len());
        for (i, f) in compiled.functions.iter().enumerate() {
            let index = info.func_index(DefinedFuncIndex::from_u32(i as u32));
            pieces.push((f, Symbol::Wasm(index)));
        }
        for t in &compiled.array_trampolines {
            pieces.push((t, Symbol::ArrayTrampoline));
        }
        for t in &compiled.host_trampolines {
            pieces.push((t, Symbol::HostTrampoline));
        }
        let code =
            CodeMemory::publish(&pieces, info.names.clone(), engine.config().code_placement)?;
        let memory_image = if engine.config().memory_init_cow {
            memory_image(&info)
        } else {
            None
        };
        if lazy {
            engine.check_saved_profile(bytes)?;
        }
        let module = Module::assemble(
            engine,
            info,
            code,
            TrampolineSlots {
                array: compiled.array_trampoline_of_type,
                host: compiled.host_trampoline_of_type,
            },
            memory_image,
            lazy,
            inlined,
        )?;
        engine.optimize_ahead(&module.0.compiled);
        Ok(module)
    }

    /// A module from its published code: `code` holds the defined functions in order
    /// (none if `lazy`: they are compiled as they are called), then the trampolines
    /// that `trampolines` places.
    pub(crate) fn assemble(
        engine: &Engine,
        info: ModuleInfo,
        code: Arc<CodeMemory>,
        trampolines: TrampolineSlots,
        memory_image: Option<MemoryImage>,
        lazy: bool,
        inlined: Inlined,
    ) -> Result<Module> {
        if engine.config().perf_map {
            crate::perf_map::record(&code)?;
        }
        let n = if lazy {
            0
        } else {
            info.num_defined_funcs() as usize
        };
        let func_code = (0..n).map(|i| code.function_address(i) as usize).collect();
        let lazy = lazy.then(|| {
            let first = if engine.config().strategy == crate::Strategy::Tiered {
                kiln_jit::Tier::Baseline
            } else {
                kiln_jit::Tier::Optimized
            };
            let config = engine.config();
            LazyCode::new(
                &info,
                first,
                config.code_placement,
                config.perf_map,
                inlined.bodies.clone(),
            )
        });
        let array_trampolines = trampolines
            .array
            .iter()
            .map(|t| t.map(|t| code.function_address(n + t as usize) as usize))
            .collect();
        let type_ids = canonical_type_ids(engine, &info.types);
        Ok(Module::from_parts(
            engine,
            Arc::new(CompiledParts {
                offsets: engine.compiler().offsets(&info),
                info,
                code,
                type_ids,
                func_code,
                array_trampolines,
                memory_image,
                trampolines,
                lazy,
                inlined: inlined.digests,
            }),
        ))
    }

    /// The module of `compiled` in `engine`. The engine is offered the module's
    /// wasm-to-host trampolines, so that host functions linked to it need no code of
    /// their own.
    pub(crate) fn from_parts(engine: &Engine, compiled: Arc<CompiledParts>) -> Module {
        let slots = &compiled.trampolines;
        let hosts_at = compiled.func_code.len() + TrampolineSlots::count(&slots.array);
        for (&id, t) in compiled.type_ids.iter().zip(&slots.host) {
            if let Some(t) = t {
                engine.offer_host_trampoline(id, &compiled.code, hosts_at + *t as usize);
            }
        }
        Module(Arc::new(ModuleInner {
            engine: engine.clone(),
            compiled,
        }))
    }

    /// The imports whose host function bodies this module's code runs inline
    /// (`Linker::module` with `Linker::func_inline`), as `(module, name)`.
    pub fn inlined_imports(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let info = &self.0.info;
        info.imports.iter().filter_map(move |imp| match imp.index {
            EntityIndex::Func(f) if self.0.inlined_digest(f).is_some() => {
                Some((imp.module.as_str(), imp.name.as_str()))
            }
            _ => None,
        })
    }

    /// The module's name from its name section.
    pub fn name(&self) -> Option<&str> {
        self.0.info.names.module.as_deref()
    }

    /// The engine it was compiled for.
    pub fn engine(&self) -> &Engine {
        &self.0.engine
    }

    /// The type of entity `e`, with signatures by engine-wide id.
    fn entity_type(&self, e: EntityIndex) -> ExternType {
        let (m, info) = (&self.0, &self.0.info);
        match e {
            EntityIndex::Func(f) => ExternType::Func(
                self.0
                    .engine
                    .func_type(m.type_ids[info.funcs[f.index()].index()]),
            ),
            EntityIndex::Table(t) => {
                ExternType::Table(TableType(m.canonical_table(info.tables[t.index()])))
            }
            EntityIndex::Memory(m) => ExternType::Memory(MemoryType(info.memories[m.index()])),
            EntityIndex::Global(g) => ExternType::Global(GlobalType::from_frontend(
                m.canonical_global(info.globals[g.index()]),
            )),
        }
    }

    /// `(module, name, type)` of each import, in order.
    pub fn imports(&self) -> impl Iterator<Item = (&str, &str, ExternType)> + '_ {
        self.0.info.imports.iter().map(|i| {
            (
                i.module.as_str(),
                i.name.as_str(),
                self.entity_type(i.index),
            )
        })
    }

    /// `(name, type)` of each export, in order.
    pub fn exports(&self) -> impl Iterator<Item = (&str, ExternType)> + '_ {
        self.0
            .info
            .exports
            .iter()
            .map(|e| (e.name.as_str(), self.entity_type(e.index)))
    }

    pub(crate) fn func_type(&self, f: FuncIndex) -> &FuncType {
        self.0.info.func_type(f)
    }
}

/// Engine-wide ids of a module's signatures. A signature that refers to others (typed
/// function references) is registered with each reference replaced by the referred
/// signature's engine id, so two modules' structurally equal signatures get the same id
/// (the spec's canonicalization, for rec groups of one type: the only ones without GC,
/// where a signature can name only earlier ones). A reference to itself or a later
/// signature needs GC's rec groups, which validation refuses; it would be
/// [`HeapType::SELF`].
fn canonical_type_ids(engine: &Engine, types: &[FuncType]) -> Vec<u32> {
    let mut ids: Vec<u32> = Vec::with_capacity(types.len());
    for t in types {
        let canonical = t.map_concrete(|j| engine_type_id(&ids, j));
        ids.push(engine.type_id(&canonical));
    }
    ids
}

/// The engine id of module type `t`, given the ids of the module's types so far
/// ([`HeapType::SELF`] for one not registered yet).
fn engine_type_id(ids: &[u32], t: u32) -> u32 {
    ids.get(t as usize).copied().unwrap_or(HeapType::SELF)
}

impl CompiledParts {
    /// `v` with the module's type indices replaced by engine-wide signature ids: the
    /// form every store entity's type and the API's types take.
    pub(crate) fn canonical_val(&self, v: ValType) -> ValType {
        v.map_concrete(|t| engine_type_id(&self.type_ids, t))
    }

    /// A table type of the module, canonical (see [`Self::canonical_val`]).
    pub(crate) fn canonical_table(&self, t: kiln_frontend::TableType) -> kiln_frontend::TableType {
        let ValType::Ref(element) = self.canonical_val(ValType::Ref(t.element)) else {
            return t;
        };
        kiln_frontend::TableType { element, ..t }
    }

    /// A global type of the module, canonical (see [`Self::canonical_val`]).
    pub(crate) fn canonical_global(
        &self,
        g: kiln_frontend::GlobalType,
    ) -> kiln_frontend::GlobalType {
        kiln_frontend::GlobalType {
            content: self.canonical_val(g.content),
            ..g
        }
    }
}

fn check_size(engine: &Engine, size: u64) -> Result<()> {
    let max = engine.config().max_module_size;
    if size > max {
        return Err(Error::msg(format!(
            "the module is {size} bytes, more than the limit of {max} bytes \
             (Config::max_module_size)"
        )));
    }
    Ok(())
}

/// A copy-on-write image of the module's memory after its active data segments, when
/// mapping it at instantiation is indistinguishable from applying the segments:
/// - the module defines its one memory (nothing else can see it before instantiation);
/// - every active data segment has a constant offset and fits the memory's initial
///   size, so applying them cannot fail;
/// - the module imports no table. Instantiation applies element segments before data
///   segments, and if one fails, functions already written to an *imported* table would
///   show the memory without its data; with no imported table, a failed instantiation
///   leaves nothing that can reach the memory.
fn memory_image(info: &ModuleInfo) -> Option<MemoryImage> {
    if info.num_imported_memories != 0 || info.memories.len() != 1 || info.num_imported_tables != 0
    {
        return None;
    }
    let size = info.memories[0].minimum.saturating_mul(WASM_PAGE_SIZE);
    let mut segments = Vec::new();
    let mut end = 0u64;
    for (i, seg) in info.datas.iter().enumerate() {
        let DataSegmentKind::Active { offset, .. } = &seg.kind else {
            continue;
        };
        // An i32 offset for a 32-bit memory, an i64 one for a 64-bit memory.
        let offset = match *offset {
            ConstExpr::I32(o) => u64::from(o as u32),
            ConstExpr::I64(o) => o as u64,
            _ => return None,
        };
        let bytes = info.data_bytes(DataIndex::from_u32(i as u32));
        let seg_end = offset.checked_add(bytes.len() as u64)?;
        if seg_end > size {
            return None;
        }
        if !bytes.is_empty() {
            end = end.max(seg_end);
            segments.push((offset as usize, bytes));
        }
    }
    if segments.is_empty() {
        return None;
    }
    // The image is an optimization: when the process is out of file descriptors (each
    // image holds one), instances copy the segments instead.
    MemoryImage::new(end as usize, segments).ok()
}
