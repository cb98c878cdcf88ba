//! Pre-initialization (Wizer's idea): run a reactor's initialization once, then write a
//! new module whose data segments hold the initialized memory and whose globals start
//! with the initialized values. Every job instantiates that module (its memory image
//! mapped copy-on-write like any module's) and starts where the initialization ended.
//!
//! How, with the public API only:
//! 1. [`instrument`]: the module plus an export of every defined global and memory
//!    (`__kiln_preinit_global_N`, `__kiln_preinit_memory_N`) and table;
//! 2. the caller instantiates it and runs the initialization;
//! 3. [`snapshot`]: the globals' values, the memories' contents and sizes, read
//!    through those exports;
//! 4. [`rewrite`]: the original module with each memory's minimum its initialized
//!    size, each numeric global initialized to its value, the active data segments
//!    replaced by the memory's non-zero runs (passive ones kept, at their indices),
//!    and no start function (it ran).
//!
//! Refused, with a clear error: shared and 64-bit memories, and an initialization that
//! grew a table (tables are re-initialized from their element segments, so a grown one
//! could not be reproduced). Reference-typed globals keep their initial value.

use super::PluginError;
use kiln::{Instance, Store, Val};
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{
    ConstExpr, DataCountSection, DataSection, ExportKind, ExportSection, GlobalSection,
    MemorySection, MemoryType, Module, RawSection,
};
use wasmparser::{DataKind, Parser, Payload};

const GLOBAL: &str = "__kiln_preinit_global_";
const MEMORY: &str = "__kiln_preinit_memory_";
const TABLE: &str = "__kiln_preinit_table_";

fn bad(e: impl std::fmt::Display) -> PluginError {
    PluginError::context("pre-initialization", e)
}

/// What the module defines, and where its sections are.
struct Shape<'a> {
    /// Every section: its id and its bytes (custom sections included, id 0).
    sections: Vec<(u8, &'a [u8])>,
    imported_globals: u32,
    imported_memories: u32,
    imported_tables: u32,
    globals: Vec<wasmparser::Global<'a>>,
    memories: Vec<wasmparser::MemoryType>,
    tables: Vec<wasmparser::TableType>,
    exports: Vec<wasmparser::Export<'a>>,
    data: Vec<wasmparser::Data<'a>>,
    has_data_count: bool,
}

fn shape(bytes: &[u8]) -> Result<Shape<'_>, PluginError> {
    let mut s = Shape {
        sections: Vec::new(),
        imported_globals: 0,
        imported_memories: 0,
        imported_tables: 0,
        globals: Vec::new(),
        memories: Vec::new(),
        tables: Vec::new(),
        exports: Vec::new(),
        data: Vec::new(),
        has_data_count: false,
    };
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(bad)?;
        if let Some((id, range)) = payload.as_section() {
            s.sections
                .push((id, &bytes[range.start as usize..range.end as usize]));
        }
        match payload {
            Payload::ImportSection(r) => {
                for imports in r {
                    for import in imports.map_err(bad)? {
                        let (_, import) = import.map_err(bad)?;
                        match import.ty {
                            wasmparser::TypeRef::Global(_) => s.imported_globals += 1,
                            wasmparser::TypeRef::Memory(_) => s.imported_memories += 1,
                            wasmparser::TypeRef::Table(_) => s.imported_tables += 1,
                            _ => {}
                        }
                    }
                }
            }
            Payload::GlobalSection(r) => {
                s.globals = r.into_iter().collect::<Result<_, _>>().map_err(bad)?
            }
            Payload::MemorySection(r) => {
                s.memories = r.into_iter().collect::<Result<_, _>>().map_err(bad)?
            }
            Payload::TableSection(r) => {
                s.tables = r
                    .into_iter()
                    .map(|t| t.map(|t| t.ty))
                    .collect::<Result<_, _>>()
                    .map_err(bad)?
            }
            Payload::ExportSection(r) => {
                s.exports = r.into_iter().collect::<Result<_, _>>().map_err(bad)?
            }
            Payload::DataSection(r) => {
                s.data = r.into_iter().collect::<Result<_, _>>().map_err(bad)?
            }
            Payload::DataCountSection { .. } => s.has_data_count = true,
            _ => {}
        }
    }
    for m in &s.memories {
        if m.shared || m.memory64 {
            return Err(bad("shared and 64-bit memories are not supported"));
        }
    }
    Ok(s)
}

/// The section id after which the export section goes (it follows the global section).
const EXPORT: u8 = 7;

/// Sections in their order, with the export section replaced by `exports` (placed
/// where it belongs if the module had none).
fn with_exports(s: &Shape<'_>, exports: &ExportSection, module: &mut Module) {
    let mut placed = false;
    let order = |id: u8| match id {
        // The data count section comes before the code section, after the element one.
        12 => 9.5,
        0 => f64::NAN,
        id => f64::from(id),
    };
    for (id, data) in &s.sections {
        if !placed && *id != 0 && order(*id) > f64::from(EXPORT) {
            module.section(exports);
            placed = true;
        }
        if *id == EXPORT {
            module.section(exports);
            placed = true;
            continue;
        }
        module.section(&RawSection { id: *id, data });
    }
    if !placed {
        module.section(exports);
    }
}

fn original_exports(s: &Shape<'_>) -> ExportSection {
    let mut e = ExportSection::new();
    for x in &s.exports {
        e.export(x.name, ExportKind::from(x.kind), x.index);
    }
    e
}

/// The module with every defined global, memory and table exported as well.
pub fn instrument(bytes: &[u8]) -> Result<Vec<u8>, PluginError> {
    let s = shape(bytes)?;
    let mut exports = original_exports(&s);
    for i in 0..s.globals.len() as u32 {
        exports.export(
            &format!("{GLOBAL}{i}"),
            ExportKind::Global,
            s.imported_globals + i,
        );
    }
    for i in 0..s.memories.len() as u32 {
        exports.export(
            &format!("{MEMORY}{i}"),
            ExportKind::Memory,
            s.imported_memories + i,
        );
    }
    for i in 0..s.tables.len() as u32 {
        exports.export(
            &format!("{TABLE}{i}"),
            ExportKind::Table,
            s.imported_tables + i,
        );
    }
    let mut module = Module::new();
    with_exports(&s, &exports, &mut module);
    Ok(module.finish())
}

/// The initialized state of an instance of the instrumented module.
pub struct Snapshot {
    globals: Vec<Val>,
    memories: Vec<Vec<u8>>,
}

/// Reads the state of `instance` (of [`instrument`]'s module for `bytes`).
pub fn snapshot<T>(
    bytes: &[u8],
    store: &Store<T>,
    instance: &Instance,
) -> Result<Snapshot, PluginError> {
    let s = shape(bytes)?;
    let missing = |name: &str| bad(format!("the instrumented module lacks `{name}`"));
    let mut globals = Vec::with_capacity(s.globals.len());
    for i in 0..s.globals.len() {
        let name = format!("{GLOBAL}{i}");
        let g = instance
            .get_export(store, &name)
            .and_then(kiln::Extern::into_global)
            .ok_or_else(|| missing(&name))?;
        globals.push(g.get(store));
    }
    let mut memories = Vec::with_capacity(s.memories.len());
    for i in 0..s.memories.len() {
        let name = format!("{MEMORY}{i}");
        let m = instance
            .get_memory(store, &name)
            .ok_or_else(|| missing(&name))?;
        memories.push(m.data(store).to_vec());
    }
    for (i, t) in s.tables.iter().enumerate() {
        let name = format!("{TABLE}{i}");
        let table = instance
            .get_export(store, &name)
            .and_then(kiln::Extern::into_table)
            .ok_or_else(|| missing(&name))?;
        if u64::from(table.size(store)) != t.initial {
            return Err(bad(format!(
                "the initialization grew table {i} from {} to {} entries, which a module \
                 cannot start with",
                t.initial,
                table.size(store)
            )));
        }
    }
    Ok(Snapshot { globals, memories })
}

/// The non-zero runs of `memory` as `(offset, bytes)`, runs closer than `gap` bytes
/// merged.
fn runs(memory: &[u8], gap: usize) -> Vec<(usize, &[u8])> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < memory.len() {
        if memory[i] == 0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < memory.len() && memory[i] != 0 {
            i += 1;
        }
        match out.last_mut() {
            Some((_, end)) if start - *end < gap => *end = i,
            _ => out.push((start, i)),
        }
    }
    out.into_iter().map(|(s, e)| (s, &memory[s..e])).collect()
}

/// The original module `bytes`, starting in the state `snap` holds.
pub fn rewrite(bytes: &[u8], snap: &Snapshot) -> Result<Vec<u8>, PluginError> {
    let s = shape(bytes)?;
    let mut memories = MemorySection::new();
    for (m, data) in s.memories.iter().zip(&snap.memories) {
        memories.memory(MemoryType {
            minimum: (data.len() / 65536) as u64,
            maximum: m.maximum,
            memory64: false,
            shared: false,
            page_size_log2: m.page_size_log2,
        });
    }
    let mut globals = GlobalSection::new();
    for (g, v) in s.globals.iter().zip(&snap.globals) {
        let init = match v {
            Val::I32(x) => ConstExpr::i32_const(*x),
            Val::I64(x) => ConstExpr::i64_const(*x),
            Val::F32(bits) => ConstExpr::f32_const(wasm_encoder::Ieee32::new(*bits)),
            Val::F64(bits) => ConstExpr::f64_const(wasm_encoder::Ieee64::new(*bits)),
            Val::V128(x) => ConstExpr::v128_const(*x as i128),
            _ => RoundtripReencoder
                .const_expr(g.init_expr.clone())
                .map_err(bad)?,
        };
        let ty = RoundtripReencoder.global_type(g.ty).map_err(bad)?;
        globals.global(ty, &init);
    }
    // Original segments keep their indices (for `memory.init` and `data.drop`): active
    // ones become empty passive ones, since the memory holds them now. Without a data
    // count section no code names a segment, and they are left out.
    let mut data = DataSection::new();
    if s.has_data_count {
        for d in &s.data {
            match d.kind {
                DataKind::Passive => data.passive(d.data.iter().copied()),
                DataKind::Active { .. } => data.passive(std::iter::empty()),
            };
        }
    }
    // Few enough segments for any engine (each costs a little at instantiation).
    for (i, memory) in snap.memories.iter().enumerate() {
        let mut gap = 64;
        let mut found = runs(memory, gap);
        while found.len() > 10_000 {
            gap *= 4;
            found = runs(memory, gap);
        }
        for (offset, bytes) in found {
            data.active(
                s.imported_memories + i as u32,
                &ConstExpr::i32_const(offset as i32),
                bytes.iter().copied(),
            );
        }
    }
    let mut module = Module::new();
    let mut data_placed = false;
    for (id, raw) in &s.sections {
        match id {
            5 => {
                module.section(&memories);
            }
            6 => {
                module.section(&globals);
            }
            // The start function ran.
            8 => {}
            12 => {
                module.section(&DataCountSection { count: data.len() });
            }
            11 => {
                module.section(&data);
                data_placed = true;
            }
            id => {
                module.section(&RawSection { id: *id, data: raw });
            }
        }
    }
    if !data_placed && !data.is_empty() {
        module.section(&data);
    }
    Ok(module.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reactor whose `init` fills memory, sets globals and grows its memory.
    const REACTOR: &str = r#"(module
      (memory (export "memory") 1)
      (global $counter (mut i32) (i32.const 0))
      (global $wide (mut i64) (i64.const 0))
      (data (i32.const 16) "seed")
      (data $later "passive")
      (func (export "init")
        (i32.store (i32.const 100) (i32.const 0x01020304))
        (drop (memory.grow (i32.const 2)))
        (i32.store (i32.const 140000) (i32.const 7))
        (global.set $counter (i32.const 41))
        (global.set $wide (i64.const -5)))
      (func (export "read") (result i32 i64 i32 i32 i32)
        (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
        (global.get $counter) (global.get $wide)
        (i32.load (i32.const 100)) (i32.load (i32.const 140000)) (memory.size))
      (func (export "passive") (result i32)
        (memory.init $later (i32.const 200) (i32.const 0) (i32.const 7))
        (i32.load8_u (i32.const 200))))"#;

    /// An instance of `bytes` instrumented, after its `init` export ran.
    fn initialized(engine: &kiln::Engine, bytes: &[u8]) -> (kiln::Store<()>, Instance) {
        let instrumented = instrument(bytes).expect("instrument");
        let mut store = kiln::Store::new(engine, ());
        let module = kiln::Module::new(engine, &instrumented).expect("instrumented");
        let instance = kiln::Linker::new(engine)
            .instantiate(&mut store, &module)
            .expect("instance");
        instance
            .get_typed_func::<(), ()>(&store, "init")
            .expect("init")
            .call(&mut store, ())
            .expect("init runs");
        (store, instance)
    }

    #[test]
    fn a_rewritten_module_starts_where_the_initialization_ended() {
        let engine = kiln::Engine::default();
        let bytes = wat::parse_str(REACTOR).expect("wat");
        let (store, instance) = initialized(&engine, &bytes);
        let snap = snapshot(&bytes, &store, &instance).expect("snapshot");
        let image = rewrite(&bytes, &snap).expect("rewrite");
        // Two fresh instances of the new module: each starts initialized, apart.
        let module = kiln::Module::new(&engine, &image).expect("the image validates");
        for _ in 0..2 {
            let mut store = kiln::Store::new(&engine, ());
            let i = kiln::Linker::new(&engine)
                .instantiate(&mut store, &module)
                .expect("instance");
            let read = i
                .get_typed_func::<(), (i32, i64, i32, i32, i32)>(&store, "read")
                .expect("read");
            assert_eq!(
                read.call(&mut store, ()).expect("read"),
                (42, -5, 0x01020304, 7, 3)
            );
            let passive = i
                .get_typed_func::<(), i32>(&store, "passive")
                .expect("passive");
            assert_eq!(
                passive.call(&mut store, ()).expect("passive segment"),
                i32::from(b'p')
            );
            let memory = i.get_memory(&store, "memory").expect("memory");
            assert_eq!(&memory.data(&store)[16..20], b"seed");
        }
        // An initialization that grows a table is refused.
        let grows = wat::parse_str(
            r#"(module (table (export "t") 1 funcref) (memory (export "memory") 1)
                 (func (export "init") (drop (table.grow (ref.null func) (i32.const 1)))))"#,
        )
        .expect("wat");
        let (store, instance) = initialized(&engine, &grows);
        let e = snapshot(&grows, &store, &instance).err().expect("refused");
        assert!(e.0.contains("grew table 0"), "{e}");
    }

    #[test]
    fn runs_skip_zeroes_and_merge_close_ones() {
        let mut m = vec![0u8; 1000];
        m[10] = 1;
        m[12] = 2;
        m[500] = 3;
        let r = runs(&m, 64);
        assert_eq!(r, vec![(10, &m[10..13]), (500, &m[500..501])]);
        assert_eq!(runs(&m, 1000).len(), 1);
    }
}
