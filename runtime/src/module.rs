//! `Module`: a compiled module, shareable between stores of its engine.

use crate::engine::Engine;
use crate::error::Result;
use crate::types::{FuncType, GlobalType, MemoryType, TableType};
use crate::vm::{CodeMemory, Symbol};
use kiln_frontend::{DefinedFuncIndex, EntityIndex, Features, FuncIndex, ModuleInfo};
use kiln_jit::VmOffsets;
use std::sync::Arc;

pub(crate) struct ModuleInner {
    pub(crate) engine: Engine,
    pub(crate) info: ModuleInfo,
    pub(crate) offsets: VmOffsets,
    /// Keeps the code mapped while any instance or function of the module lives.
    #[allow(dead_code, reason = "owned to keep the code mapped")]
    pub(crate) code: Arc<CodeMemory>,
    /// Engine-wide signature ids by `TypeIndex`.
    pub(crate) type_ids: Vec<u32>,
    /// Entry of each defined function (wasm convention).
    pub(crate) func_code: Vec<usize>,
    /// Array-call trampoline by `TypeIndex`, for types of defined functions.
    pub(crate) array_trampolines: Vec<Option<usize>>,
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
    /// Compiles a module from its binary or text form.
    pub fn new(engine: &Engine, bytes: impl AsRef<[u8]>) -> Result<Module> {
        let bytes = bytes.as_ref();
        if bytes.starts_with(b"\0asm") {
            return Module::from_binary(engine, bytes);
        }
        let binary = wat::parse_bytes(bytes)
            .map_err(|e| kiln_frontend::Error::invalid(format!("text format: {e}"), 0))?;
        Module::from_binary(engine, &binary)
    }

    /// Compiles a module from a file (binary or text).
    pub fn from_file(engine: &Engine, path: impl AsRef<std::path::Path>) -> Result<Module> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot read `{}`: {e}", path.display()))
        })?;
        Module::new(engine, bytes)
    }

    /// Compiles a module from its binary form.
    pub fn from_binary(engine: &Engine, bytes: &[u8]) -> Result<Module> {
        let info = kiln_frontend::parse(bytes, Features::default())?;
        let compiled = engine.compiler().compile_module(&info)?;
        let mut pieces =
            Vec::with_capacity(compiled.functions.len() + compiled.array_trampolines.len());
        for (i, f) in compiled.functions.iter().enumerate() {
            let index = info.func_index(DefinedFuncIndex::from_u32(i as u32));
            pieces.push((f, Symbol::Wasm(index)));
        }
        for t in &compiled.array_trampolines {
            pieces.push((t, Symbol::ArrayTrampoline));
        }
        let code =
            CodeMemory::publish(&pieces, info.names.clone(), engine.config().code_placement)?;
        if engine.config().perf_map {
            crate::perf_map::record(&code)?;
        }
        let n = compiled.functions.len();
        let func_code = (0..n).map(|i| code.function_address(i) as usize).collect();
        let array_trampolines = compiled
            .array_trampoline_of_type
            .iter()
            .map(|t| t.map(|t| code.function_address(n + t as usize) as usize))
            .collect();
        let type_ids = info.types.iter().map(|t| engine.type_id(t)).collect();
        Ok(Module(Arc::new(ModuleInner {
            engine: engine.clone(),
            offsets: VmOffsets::new(&info),
            info,
            code,
            type_ids,
            func_code,
            array_trampolines,
        })))
    }

    /// The module's name from its name section.
    pub fn name(&self) -> Option<&str> {
        self.0.info.names.module.as_deref()
    }

    /// The engine it was compiled for.
    pub fn engine(&self) -> &Engine {
        &self.0.engine
    }

    fn entity_type(&self, e: EntityIndex) -> ExternType {
        let info = &self.0.info;
        match e {
            EntityIndex::Func(f) => ExternType::Func(info.func_type(f).clone()),
            EntityIndex::Table(t) => ExternType::Table(TableType(info.tables[t.index()])),
            EntityIndex::Memory(m) => ExternType::Memory(MemoryType(info.memories[m.index()])),
            EntityIndex::Global(g) => {
                ExternType::Global(GlobalType::from_frontend(info.globals[g.index()]))
            }
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
