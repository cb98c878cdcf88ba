//! `Instance` and instantiation, following the spec's order: check imports, allocate
//! state, initialize globals, apply element then data segments (stopping at the first
//! that traps), and run the start function. The `impl StoreOpaque` here holds
//! instantiation and export lookup.

use crate::error::{Error, Result};
use crate::externals::{Extern, Global, Memory, Table};
use crate::func::Func;
use crate::module::Module;
use crate::store::{
    AsContext, AsContextMut, FuncData, FuncKind, InstanceData, StoreId, StoreOpaque,
};
use crate::trap::{Trap, TrapCode};
use crate::typed::{TypedFunc, WasmParams, WasmResults};
use crate::types::limits_match;
use crate::vm::structs::VMFuncRef;
use crate::vm::{BuiltinHost, ValRaw, VmCtx, VmGlobal, VmMemory, VmTable};
use kiln_frontend::{
    ConstExpr, ConstOp, DataSegmentKind, DefinedFuncIndex, DefinedGlobalIndex, DefinedMemoryIndex,
    DefinedTableIndex, ElemItems, ElemSegmentKind, EntityIndex, GlobalIndex, TypeIndex,
};

/// An instance of a module in a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Instance {
    pub(crate) store: StoreId,
    pub(crate) index: usize,
}

/// Refuses a memory whose minimum is more than Kiln reserves for it, before anything is
/// created or the limiter is asked.
pub(crate) fn check_memory_fits(ty: &kiln_frontend::MemoryType, reservation: u64) -> Result<()> {
    let cap = crate::vm::linear_memory::page_cap(ty.memory64, reservation);
    if ty.minimum <= cap {
        return Ok(());
    }
    Err(Error::instantiation(format!(
        "memory minimum of {} pages exceeds the {cap} pages Kiln reserves for a {} memory \
         (Config::memory_reservation)",
        ty.minimum,
        if ty.memory64 { "64-bit" } else { "32-bit" }
    )))
}

fn incompatible(module: &str, name: &str, why: impl std::fmt::Display) -> Error {
    Error::link(format!(
        "incompatible import type for `{module}::{name}`: {why}"
    ))
}

impl Instance {
    /// Instantiates `module` with `imports`, one per import in order.
    pub fn new(
        mut store: impl AsContextMut,
        module: &Module,
        imports: &[Extern],
    ) -> Result<Instance> {
        let s = &mut store.as_context_mut().opaque;
        let instance = s.allocate_instance(module, imports)?;
        s.initialize_instance(instance)?;
        let start = module.0.info.start;
        let instance = Instance {
            store: s.id,
            index: instance,
        };
        if let Some(f) = start {
            let func = Func {
                store: s.id,
                index: s.instances[instance.index].funcs[f.index()],
            };
            func.call(&mut store, &[], &mut [])?;
        }
        Ok(instance)
    }

    /// The export called `name`.
    pub fn get_export(&self, store: impl AsContext, name: &str) -> Option<Extern> {
        let s = &store.as_context().opaque;
        if s.id != self.store {
            return None;
        }
        let data = &s.instances[self.index];
        let e = data.module.0.info.exports.iter().find(|e| e.name == name)?;
        Some(s.extern_of(self.index, e.index))
    }

    /// All exports, in order.
    pub fn exports(&self, store: impl AsContext) -> Vec<(String, Extern)> {
        let s = &store.as_context().opaque;
        let data = &s.instances[self.index];
        data.module
            .0
            .info
            .exports
            .iter()
            .map(|e| (e.name.clone(), s.extern_of(self.index, e.index)))
            .collect()
    }

    /// The exported function `name`.
    pub fn get_func(&self, store: impl AsContext, name: &str) -> Option<Func> {
        self.get_export(store, name)?.into_func()
    }

    /// What this instance's module compiled and (with `Strategy::Tiered`) what this
    /// instance counted: each function's calls and loop iterations, tier and compile
    /// times, and the tier-up timeline of the module (shared by all its instances).
    /// `None` for an eagerly compiled module, or a store that does not own `self`.
    pub fn profile(&self, store: impl AsContext) -> Option<kiln_profiler::Profile> {
        let s = &store.as_context().opaque;
        if s.id != self.store {
            return None;
        }
        let data = &s.instances[self.index];
        let module = &data.module.0;
        let lazy = module.lazy.as_ref()?;
        Some(lazy.profile(
            &module.info,
            s.engine.config().strategy.name(),
            |d| data.vmctx.func_counters(d).unwrap_or((0, 0)),
            |d| crate::tiering::feedback(lazy, &module.info, &data.vmctx, d),
        ))
    }

    /// The exported function `name`, typed.
    pub fn get_typed_func<P: WasmParams, R: WasmResults>(
        &self,
        store: impl AsContext,
        name: &str,
    ) -> Result<TypedFunc<P, R>> {
        let f = self
            .get_func(&store, name)
            .ok_or_else(|| Error::ty(format!("no exported function `{name}`")))?;
        f.typed(&store)
    }

    /// The exported memory `name`.
    pub fn get_memory(&self, store: impl AsContext, name: &str) -> Option<Memory> {
        self.get_export(store, name)?.into_memory()
    }

    /// The exported table `name`.
    pub fn get_table(&self, store: impl AsContext, name: &str) -> Option<Table> {
        self.get_export(store, name)?.into_table()
    }

    /// The exported global `name`.
    pub fn get_global(&self, store: impl AsContext, name: &str) -> Option<Global> {
        self.get_export(store, name)?.into_global()
    }
}

impl StoreOpaque {
    pub(crate) fn extern_of(&self, inst: usize, e: EntityIndex) -> Extern {
        let d = &self.instances[inst];
        let store = self.id;
        match e {
            EntityIndex::Func(f) => Extern::Func(Func {
                store,
                index: d.funcs[f.index()],
            }),
            EntityIndex::Table(t) => Extern::Table(Table {
                store,
                index: d.tables[t.index()],
            }),
            EntityIndex::Memory(m) => Extern::Memory(Memory {
                store,
                index: d.memories[m.index()],
            }),
            EntityIndex::Global(g) => Extern::Global(Global {
                store,
                index: d.globals[g.index()],
            }),
        }
    }

    fn check_imports(&self, module: &Module, imports: &[Extern]) -> Result<()> {
        let info = &module.0.info;
        if imports.len() != info.imports.len() {
            return Err(Error::link(format!(
                "the module has {} imports but {} were given",
                info.imports.len(),
                imports.len()
            )));
        }
        for (imp, ext) in info.imports.iter().zip(imports) {
            self.check(ext.store_id())?;
            let (m, n) = (&imp.module, &imp.name);
            match (imp.index, ext) {
                (EntityIndex::Func(f), Extern::Func(func)) => {
                    let expected = module.0.type_ids[info.funcs[f.index()].index()];
                    if self.funcs[func.index].type_id != expected {
                        let actual = self.engine.func_type(self.funcs[func.index].type_id);
                        return Err(incompatible(
                            m,
                            n,
                            format!("expected {}, got {actual}", module.func_type(f)),
                        ));
                    }
                    if let Some(want) = module.0.inlined_digest(f) {
                        let have = self.funcs[func.index].inline;
                        if have != Some(want) {
                            return Err(Error::link(format!(
                                "`{m}::{n}`: the module was compiled with this import's body \
                                 inlined (Linker::module), so it takes only the inline host \
                                 function with that same body"
                            )));
                        }
                    }
                }
                (EntityIndex::Table(t), Extern::Table(table)) => {
                    let want = module.0.canonical_table(info.tables[t.index()]);
                    let have = self.tables[table.index].ty();
                    if want.element != have.element
                        || want.table64 != have.table64
                        || !limits_match(have.minimum, have.maximum, want.minimum, want.maximum)
                    {
                        return Err(incompatible(m, n, "table type mismatch"));
                    }
                }
                (EntityIndex::Memory(i), Extern::Memory(mem)) => {
                    let want = info.memories[i.index()];
                    let have = self.memories[mem.index].ty();
                    if want.memory64 != have.memory64 {
                        return Err(incompatible(m, n, "memory index type mismatch"));
                    }
                    if !limits_match(have.minimum, have.maximum, want.minimum, want.maximum) {
                        return Err(incompatible(m, n, "memory limits mismatch"));
                    }
                }
                (EntityIndex::Global(g), Extern::Global(global)) => {
                    let want = module.0.canonical_global(info.globals[g.index()]);
                    let have = self.globals[global.index].ty();
                    // An immutable global may be of a subtype; a mutable one's type is
                    // exactly the import's (wasm may write it as well as read it).
                    let fits = have.mutable == want.mutable
                        && match want.mutable {
                            true => have.content == want.content,
                            false => have.content.matches(&want.content),
                        };
                    if !fits {
                        return Err(incompatible(m, n, "global type mismatch"));
                    }
                }
                _ => return Err(incompatible(m, n, "wrong kind of import")),
            }
        }
        Ok(())
    }

    fn eval(&self, globals: &[usize], funcs: &[usize], e: &ConstExpr) -> ValRaw {
        match *e {
            ConstExpr::Extended(ref ops) => ValRaw::bits(ConstOp::eval(ops, |g| {
                self.globals[globals[g.index()]].get_raw() as u64
            })),
            ConstExpr::I32(v) => ValRaw::i32(v),
            ConstExpr::I64(v) => ValRaw::i64(v),
            ConstExpr::F32(v) => ValRaw::bits(v.into()),
            ConstExpr::F64(v) => ValRaw::bits(v),
            ConstExpr::V128(v) => ValRaw(v),
            ConstExpr::RefNull(_) => ValRaw::bits(0),
            ConstExpr::RefFunc(f) => ValRaw::bits(self.funcs[funcs[f.index()]].func_ref as u64),
            ConstExpr::GlobalGet(g) => ValRaw(self.globals[globals[g.index()]].get_raw()),
        }
    }

    /// An active segment's offset: an `i32` for a 32-bit memory or table (the upper
    /// half of the raw value is not part of it), an `i64` for a 64-bit (`wide`) one.
    fn segment_offset(&self, globals: &[usize], funcs: &[usize], e: &ConstExpr, wide: bool) -> u64 {
        let raw = self.eval(globals, funcs, e);
        match wide {
            true => raw.get_u64(),
            false => raw.get_u32().into(),
        }
    }

    /// Checks imports and creates the instance's state; returns its index.
    fn allocate_instance(&mut self, module: &Module, imports: &[Extern]) -> Result<usize> {
        if !crate::Engine::same(&module.0.engine, &self.engine) {
            return Err(Error::link("the module belongs to another engine"));
        }
        self.check_imports(module, imports)?;
        let m = &module.0;
        let info = &m.info;
        let defined_memories = info.memories.len() - info.num_imported_memories as usize;
        let defined_tables = info.tables.len() - info.num_imported_tables as usize;
        // Everything that can refuse the instance is checked before anything is created,
        // and the stateful limiter (which counts memory bytes) is asked last, so that a
        // refusal neither leaves entities behind nor spends the memory budget.
        let table_limit = self.engine.config().max_table_elements;
        let defined_memory_types = &info.memories[info.num_imported_memories as usize..];
        let defined_table_types = &info.tables[info.num_imported_tables as usize..];
        let reservation = self.engine.config().memory_reservation;
        for ty in defined_memory_types {
            check_memory_fits(ty, reservation)?;
        }
        if let Some(ty) = defined_table_types
            .iter()
            .find(|ty| ty.minimum > u64::from(table_limit))
        {
            return Err(Error::instantiation(format!(
                "table of {} elements exceeds the limit of {table_limit}",
                ty.minimum
            )));
        }
        self.approve_counts(1, defined_memories, defined_tables)?;
        for ty in defined_table_types {
            self.approve_table(0, ty.minimum, ty.maximum)
                .map_err(Error::resource)?;
        }
        let page = kiln_frontend::WASM_PAGE_SIZE;
        for ty in defined_memory_types {
            self.approve_memory(
                0,
                ty.minimum.saturating_mul(page),
                ty.maximum.map(|m| m.saturating_mul(page)),
            )
            .map_err(Error::resource)?;
        }
        let vmctx = VmCtx::new(m.offsets.clone(), &*self.vm);
        let index = self.instances.len();
        let store: *mut dyn BuiltinHost = self;
        vmctx.set_header(store, index);
        for (i, &id) in m.type_ids.iter().enumerate() {
            vmctx.set_type_id(TypeIndex::from_u32(i as u32), id);
        }

        let (mut funcs, mut tables, mut memories, mut globals) = (vec![], vec![], vec![], vec![]);
        for (imp, ext) in info.imports.iter().zip(imports) {
            match (imp.index, ext) {
                (EntityIndex::Func(f), Extern::Func(x)) => {
                    vmctx.set_imported_func(f, self.funcs[x.index].func_ref as *const VMFuncRef);
                    funcs.push(x.index);
                }
                (EntityIndex::Table(t), Extern::Table(x)) => {
                    vmctx.set_imported_table(t, self.tables[x.index].definition());
                    tables.push(x.index);
                }
                (EntityIndex::Memory(mi), Extern::Memory(x)) => {
                    vmctx.set_imported_memory(mi, self.memories[x.index].definition());
                    memories.push(x.index);
                }
                (EntityIndex::Global(g), Extern::Global(x)) => {
                    vmctx.set_imported_global(g, self.globals[x.index].definition());
                    globals.push(x.index);
                }
                _ => unreachable!("imports were checked"),
            }
        }

        let config = self.engine.config();
        let (reservation, guard) = (config.memory_reservation, config.memory_guard);
        for (d, ty) in info.memories[info.num_imported_memories as usize..]
            .iter()
            .enumerate()
        {
            let def = vmctx.defined_memory(DefinedMemoryIndex::from_u32(d as u32));
            let mut mem = VmMemory::new(*ty, reservation, guard, Some(def))
                .map_err(|e| Error::instantiation(format!("cannot reserve linear memory: {e}")))?;
            if let Some(image) = &m.memory_image {
                mem.map_image(image).map_err(|e| {
                    Error::instantiation(format!("cannot map the memory image: {e}"))
                })?;
            }
            self.memories.push(mem);
            memories.push(self.memories.len() - 1);
        }
        let limit = config.max_table_elements;
        for (d, ty) in info.tables[info.num_imported_tables as usize..]
            .iter()
            .enumerate()
        {
            let def = vmctx.defined_table(DefinedTableIndex::from_u32(d as u32));
            let table = VmTable::new(m.canonical_table(*ty), 0, limit, Some(def))
                .ok_or_else(|| Error::instantiation("table minimum exceeds the limit"))?;
            self.tables.push(table);
            tables.push(self.tables.len() - 1);
        }
        self.funcs.reserve(info.num_defined_funcs() as usize);
        self.func_by_ref.reserve(info.num_defined_funcs() as usize);
        for d in 0..info.num_defined_funcs() {
            let di = DefinedFuncIndex::from_u32(d);
            let ty = info.funcs[info.func_index(di).index()];
            let type_id = m.type_ids[ty.index()];
            match &m.lazy {
                Some(lazy) => vmctx.set_defined_func_ref(
                    di,
                    lazy.current(di) as *const u8,
                    type_id,
                    Some(lazy.slot(di)),
                ),
                None => vmctx.set_defined_func_ref(
                    di,
                    m.func_code[d as usize] as *const u8,
                    type_id,
                    None,
                ),
            }
            let func_ref = vmctx.defined_func_ref(di) as usize;
            let array_call =
                m.array_trampolines[ty.index()].expect("defined function types have trampolines");
            self.funcs.push(FuncData {
                func_ref,
                type_id,
                inline: None,
                kind: FuncKind::Wasm {
                    array_call,
                    instance: index,
                    index: di,
                    lazy: m.lazy.is_some(),
                },
            });
            self.func_by_ref.insert(func_ref, self.funcs.len() - 1);
            funcs.push(self.funcs.len() - 1);
        }
        for (d, init) in info.global_inits.iter().enumerate() {
            let gi = GlobalIndex::from_u32(info.num_imported_globals + d as u32);
            let raw = self.eval(&globals, &funcs, init);
            let def = vmctx.defined_global(DefinedGlobalIndex::from_u32(d as u32));
            let ty = m.canonical_global(info.globals[gi.index()]);
            self.globals.push(VmGlobal::new(ty, raw.0, Some(def)));
            globals.push(self.globals.len() - 1);
        }
        // Typed tables start filled with their initializer (which may name functions
        // and imported globals, so it is evaluated once both exist).
        let defined_tables = &tables[info.num_imported_tables as usize..];
        for (init, &t) in info.table_inits.iter().zip(defined_tables) {
            if !matches!(init, ConstExpr::RefNull(_)) {
                let raw = self.eval(&globals, &funcs, init).get_u64() as usize;
                let size = self.tables[t].size();
                self.tables[t].fill(0, raw, size.into());
            }
        }
        let elems = info
            .elems
            .iter()
            .map(|seg| match &seg.items {
                ElemItems::Functions(fs) => fs
                    .iter()
                    .map(|f| self.funcs[funcs[f.index()]].func_ref)
                    .collect(),
                ElemItems::Expressions(_, es) => es
                    .iter()
                    .map(|e| self.eval(&globals, &funcs, e).get_u64() as usize)
                    .collect(),
            })
            .collect();
        self.instances.push(InstanceData {
            module: module.clone(),
            vmctx,
            funcs,
            memories,
            tables,
            globals,
            elems,
            dropped_data: vec![false; info.datas.len()],
        });
        Ok(index)
    }

    /// Applies active element segments, then active data segments.
    fn initialize_instance(&mut self, inst: usize) -> Result<()> {
        let module = self.instances[inst].module.clone();
        let info = &module.0.info;
        let trap = |code| Error::from(Trap::new(code, Vec::new(), false));
        for (i, seg) in info.elems.iter().enumerate() {
            let i = i as u32;
            match &seg.kind {
                ElemSegmentKind::Active { table, offset } => {
                    let d = &self.instances[inst];
                    let wide = info.tables[table.index()].table64;
                    let offset = self.segment_offset(&d.globals, &d.funcs, offset, wide);
                    let len = seg.items.len() as u32;
                    if !self.table_init(inst, table.as_u32(), i, offset, 0, len) {
                        return Err(trap(TrapCode::TableOutOfBounds));
                    }
                    self.elem_drop(inst, i);
                }
                ElemSegmentKind::Declared => self.elem_drop(inst, i),
                ElemSegmentKind::Passive => {}
            }
        }
        // With a memory image, the active segments are already in place (and were known
        // to fit); they are only dropped.
        let mapped = module.0.memory_image.is_some();
        for (i, seg) in info.datas.iter().enumerate() {
            if let DataSegmentKind::Active { memory, offset } = &seg.kind {
                if mapped {
                    self.data_drop(inst, i as u32);
                    continue;
                }
                let d = &self.instances[inst];
                let wide = info.memories[memory.index()].memory64;
                let offset = self.segment_offset(&d.globals, &d.funcs, offset, wide);
                let len = seg.data.len() as u32;
                if !self.memory_init(inst, memory.as_u32(), i as u32, offset, 0, len) {
                    return Err(trap(TrapCode::MemoryOutOfBounds));
                }
                self.data_drop(inst, i as u32);
            }
        }
        Ok(())
    }
}
