//! A module's description (`ModuleInfo`) in an artifact: everything but the function
//! bodies, with data segments pointing into the artifact's data section. Decoding
//! checks every index against the space it indexes, so a decoded description is as
//! consistent as one the frontend produced.

use super::codec::{Decoded, Reader, Writer};
use kiln_frontend::{
    BadNames, ConstExpr, ConstOp, DataSegment, DataSegmentKind, ElemItems, ElemSegment,
    ElemSegmentKind, EntityIndex, Export, FuncIndex, FuncType, FunctionBody, GlobalIndex,
    GlobalType, HeapType, Import, MemoryIndex, MemoryType, ModuleInfo, Names, RefType, TableIndex,
    TableType, TypeIndex, ValType,
};
use std::ops::Range;
use std::sync::Arc;

fn ref_type(w: &mut Writer, r: RefType) {
    let nullable = if r.nullable { 0 } else { 0x80 };
    match r.heap {
        HeapType::Func => w.u8(nullable),
        HeapType::Extern => w.u8(nullable | 1),
        HeapType::Concrete(t) => {
            w.u8(nullable | 2);
            w.u32(t);
        }
    }
}

fn read_ref_type(r: &mut Reader<'_>) -> Decoded<RefType> {
    let b = r.u8("reference type")?;
    let heap = match b & 0x7f {
        0 => HeapType::Func,
        1 => HeapType::Extern,
        2 => HeapType::Concrete(r.u32("reference type")?),
        _ => return r.fail("reference type"),
    };
    Ok(RefType {
        nullable: b & 0x80 == 0,
        heap,
    })
}

fn val_type(w: &mut Writer, v: ValType) {
    match v {
        ValType::I32 => w.u8(0),
        ValType::I64 => w.u8(1),
        ValType::F32 => w.u8(2),
        ValType::F64 => w.u8(3),
        ValType::V128 => w.u8(4),
        ValType::FUNCREF => w.u8(5),
        ValType::EXTERNREF => w.u8(6),
        ValType::Ref(r) => {
            w.u8(7);
            ref_type(w, r);
        }
    }
}

fn read_val_type(r: &mut Reader<'_>) -> Decoded<ValType> {
    Ok(match r.u8("value type")? {
        0 => ValType::I32,
        1 => ValType::I64,
        2 => ValType::F32,
        3 => ValType::F64,
        4 => ValType::V128,
        5 => ValType::FUNCREF,
        6 => ValType::EXTERNREF,
        7 => ValType::Ref(read_ref_type(r)?),
        _ => return r.fail("value type"),
    })
}

fn const_expr(w: &mut Writer, c: &ConstExpr) {
    match *c {
        ConstExpr::Extended(ref ops) => {
            w.u8(8);
            w.len(ops.len());
            for &op in ops.iter() {
                let (tag, operand) = match op {
                    ConstOp::I32(v) => (0, u64::from(v as u32)),
                    ConstOp::I64(v) => (1, v as u64),
                    ConstOp::GlobalGet(g) => (2, u64::from(g.as_u32())),
                    ConstOp::I32Add => (3, 0),
                    ConstOp::I32Sub => (4, 0),
                    ConstOp::I32Mul => (5, 0),
                    ConstOp::I64Add => (6, 0),
                    ConstOp::I64Sub => (7, 0),
                    ConstOp::I64Mul => (8, 0),
                };
                w.u8(tag);
                w.u64(operand);
            }
        }
        ConstExpr::I32(v) => {
            w.u8(0);
            w.u32(v as u32);
        }
        ConstExpr::I64(v) => {
            w.u8(1);
            w.u64(v as u64);
        }
        ConstExpr::F32(v) => {
            w.u8(2);
            w.u32(v);
        }
        ConstExpr::F64(v) => {
            w.u8(3);
            w.u64(v);
        }
        ConstExpr::V128(v) => {
            w.u8(4);
            w.u128(v);
        }
        ConstExpr::RefNull(t) => {
            w.u8(5);
            ref_type(w, t);
        }
        ConstExpr::RefFunc(f) => {
            w.u8(6);
            w.u32(f.as_u32());
        }
        ConstExpr::GlobalGet(g) => {
            w.u8(7);
            w.u32(g.as_u32());
        }
    }
}

fn read_const_expr(r: &mut Reader<'_>) -> Decoded<ConstExpr> {
    Ok(match r.u8("constant expression")? {
        0 => ConstExpr::I32(r.u32("i32")? as i32),
        1 => ConstExpr::I64(r.u64("i64")? as i64),
        2 => ConstExpr::F32(r.u32("f32")?),
        3 => ConstExpr::F64(r.u64("f64")?),
        4 => ConstExpr::V128(r.u128("v128")?),
        5 => ConstExpr::RefNull(read_ref_type(r)?),
        6 => ConstExpr::RefFunc(FuncIndex::from_u32(r.u32("function index")?)),
        7 => ConstExpr::GlobalGet(GlobalIndex::from_u32(r.u32("global index")?)),
        8 => {
            // Each instruction takes 9 bytes.
            let n = r.count(9, "constant expression length")?;
            let mut ops = Vec::with_capacity(n);
            for _ in 0..n {
                let tag = r.u8("constant instruction")?;
                let operand = r.u64("constant operand")?;
                ops.push(match tag {
                    0 => ConstOp::I32(operand as u32 as i32),
                    1 => ConstOp::I64(operand as i64),
                    2 => ConstOp::GlobalGet(GlobalIndex::from_u32(
                        u32::try_from(operand).or_else(|_| r.fail("global index"))?,
                    )),
                    3 => ConstOp::I32Add,
                    4 => ConstOp::I32Sub,
                    5 => ConstOp::I32Mul,
                    6 => ConstOp::I64Add,
                    7 => ConstOp::I64Sub,
                    8 => ConstOp::I64Mul,
                    _ => return r.fail("constant instruction"),
                });
            }
            ConstExpr::Extended(ops.into())
        }
        _ => return r.fail("constant expression"),
    })
}

fn entity(w: &mut Writer, e: EntityIndex) {
    let (tag, i) = match e {
        EntityIndex::Func(i) => (0, i.as_u32()),
        EntityIndex::Table(i) => (1, i.as_u32()),
        EntityIndex::Memory(i) => (2, i.as_u32()),
        EntityIndex::Global(i) => (3, i.as_u32()),
    };
    w.u8(tag);
    w.u32(i);
}

fn read_entity(r: &mut Reader<'_>) -> Decoded<EntityIndex> {
    let tag = r.u8("entity")?;
    let i = r.u32("entity index")?;
    Ok(match tag {
        0 => EntityIndex::Func(FuncIndex::from_u32(i)),
        1 => EntityIndex::Table(TableIndex::from_u32(i)),
        2 => EntityIndex::Memory(MemoryIndex::from_u32(i)),
        3 => EntityIndex::Global(GlobalIndex::from_u32(i)),
        _ => return r.fail("entity"),
    })
}

/// Encodes `info`, with each data segment's range replaced by `data_ranges[i]` (a
/// range of the artifact's data section).
pub(crate) fn encode(w: &mut Writer, info: &ModuleInfo, data_ranges: &[Range<usize>]) {
    w.seq(&info.types, |w, t| {
        w.seq(t.params(), |w, v| val_type(w, *v));
        w.seq(t.results(), |w, v| val_type(w, *v));
    });
    w.seq(&info.funcs, |w, t| w.u32(t.as_u32()));
    w.u32(info.num_imported_funcs);
    w.seq(&info.tables, |w, t| {
        ref_type(w, t.element);
        w.u64(t.minimum);
        w.opt_u64(t.maximum);
        w.bool(t.table64);
    });
    w.u32(info.num_imported_tables);
    w.seq(&info.memories, |w, m| {
        w.u64(m.minimum);
        w.opt_u64(m.maximum);
        w.bool(m.memory64);
    });
    w.u32(info.num_imported_memories);
    w.seq(&info.globals, |w, g| {
        val_type(w, g.content);
        w.bool(g.mutable);
    });
    w.u32(info.num_imported_globals);
    w.seq(&info.global_inits, const_expr);
    w.seq(&info.table_inits, const_expr);
    w.seq(&info.imports, |w, i| {
        w.str(&i.module);
        w.str(&i.name);
        entity(w, i.index);
    });
    w.seq(&info.exports, |w, e| {
        w.str(&e.name);
        entity(w, e.index);
    });
    w.opt_u64(info.start.map(|f| u64::from(f.as_u32())));
    w.seq(&info.elems, |w, e| {
        match &e.kind {
            ElemSegmentKind::Active { table, offset } => {
                w.u8(0);
                w.u32(table.as_u32());
                const_expr(w, offset);
            }
            ElemSegmentKind::Passive => w.u8(1),
            ElemSegmentKind::Declared => w.u8(2),
        }
        match &e.items {
            ElemItems::Functions(fs) => {
                w.u8(0);
                w.seq(fs, |w, f| w.u32(f.as_u32()));
            }
            ElemItems::Expressions(t, es) => {
                w.u8(1);
                ref_type(w, *t);
                w.seq(es, const_expr);
            }
        }
    });
    let datas: Vec<_> = info.datas.iter().zip(data_ranges).collect();
    w.seq(&datas, |w, (d, range)| {
        match &d.kind {
            DataSegmentKind::Active { memory, offset } => {
                w.u8(0);
                w.u32(memory.as_u32());
                const_expr(w, offset);
            }
            DataSegmentKind::Passive => w.u8(1),
        }
        w.len(range.start);
        w.len(range.end);
    });
    w.opt_u64(info.names.module.as_ref().map(|_| 0));
    if let Some(m) = &info.names.module {
        w.str(m);
    }
    // Function names: one string, then `(function, start, end)` triples into it.
    let (text, table) = info.names.parts();
    w.len(text.len());
    w.buf.extend_from_slice(text);
    w.seq(table, |w, &(f, start, end)| {
        w.u32(f.as_u32());
        w.u32(start);
        w.u32(end);
    });
}

/// Decodes what [`encode`] wrote, with `bytes` (the artifact's data section) as the
/// module's bytes, and checks it.
pub(crate) fn decode(r: &mut Reader<'_>, bytes: Arc<[u8]>) -> Decoded<ModuleInfo> {
    let types = r.seq(16, "types", |r| {
        let params = r.seq(1, "parameters", read_val_type)?;
        let results = r.seq(1, "results", read_val_type)?;
        Ok(FuncType::new(params, results))
    })?;
    let funcs = r.seq(4, "functions", |r| {
        Ok(TypeIndex::from_u32(r.u32("type index")?))
    })?;
    let num_imported_funcs = r.u32("imported functions")?;
    let tables = r.seq(19, "tables", |r| {
        Ok(TableType {
            element: read_ref_type(r)?,
            minimum: r.u64("table minimum")?,
            maximum: r.opt_u64("table maximum")?,
            table64: r.bool("table index type")?,
        })
    })?;
    let num_imported_tables = r.u32("imported tables")?;
    let memories = r.seq(18, "memories", |r| {
        Ok(MemoryType {
            minimum: r.u64("memory minimum")?,
            maximum: r.opt_u64("memory maximum")?,
            memory64: r.bool("memory index type")?,
        })
    })?;
    let num_imported_memories = r.u32("imported memories")?;
    let globals = r.seq(2, "globals", |r| {
        Ok(GlobalType {
            content: read_val_type(r)?,
            mutable: r.bool("global mutability")?,
        })
    })?;
    let num_imported_globals = r.u32("imported globals")?;
    let global_inits = r.seq(1, "global initializers", read_const_expr)?;
    let table_inits = r.seq(1, "table initializers", read_const_expr)?;
    let imports = r.seq(21, "imports", |r| {
        Ok(Import {
            module: r.string("import module")?,
            name: r.string("import name")?,
            index: read_entity(r)?,
        })
    })?;
    let exports = r.seq(13, "exports", |r| {
        Ok(Export {
            name: r.string("export name")?,
            index: read_entity(r)?,
        })
    })?;
    let start = match r.opt_u64("start function")? {
        Some(f) => Some(FuncIndex::from_u32(
            u32::try_from(f).or_else(|_| r.fail("start function"))?,
        )),
        None => None,
    };
    let elems = r.seq(2, "element segments", |r| {
        let kind = match r.u8("element segment kind")? {
            0 => ElemSegmentKind::Active {
                table: TableIndex::from_u32(r.u32("element table")?),
                offset: read_const_expr(r)?,
            },
            1 => ElemSegmentKind::Passive,
            2 => ElemSegmentKind::Declared,
            _ => return r.fail("element segment kind"),
        };
        let items = match r.u8("element items")? {
            0 => ElemItems::Functions(r.seq(4, "element functions", |r| {
                Ok(FuncIndex::from_u32(r.u32("element function")?))
            })?),
            1 => {
                let t = read_ref_type(r)?;
                ElemItems::Expressions(t, r.seq(1, "element expressions", read_const_expr)?)
            }
            _ => return r.fail("element items"),
        };
        Ok(ElemSegment { kind, items })
    })?;
    let datas = r.seq(17, "data segments", |r| {
        let kind = match r.u8("data segment kind")? {
            0 => DataSegmentKind::Active {
                memory: MemoryIndex::from_u32(r.u32("data memory")?),
                offset: read_const_expr(r)?,
            },
            1 => DataSegmentKind::Passive,
            _ => return r.fail("data segment kind"),
        };
        let start = r.usize("data range")?;
        let end = r.usize("data range")?;
        Ok(DataSegment {
            kind,
            data: start..end,
        })
    })?;
    let module = match r.opt_u64("module name")? {
        Some(_) => Some(r.string("module name")?),
        None => None,
    };
    let n = r.usize("function names")?;
    let text = r.bytes(n, "function names")?.to_vec();
    let table = r.seq(12, "function names", |r| {
        Ok((
            FuncIndex::from_u32(r.u32("named function")?),
            r.u32("function name")?,
            r.u32("function name")?,
        ))
    })?;
    let names = match Names::from_parts(module, text, table) {
        Ok(names) => Arc::new(names),
        Err(BadNames(what)) => return r.fail(what),
    };
    let num_defined = (funcs.len() as u64).saturating_sub(u64::from(num_imported_funcs));
    let info = ModuleInfo {
        bytes,
        types,
        funcs,
        num_imported_funcs,
        tables,
        num_imported_tables,
        memories,
        num_imported_memories,
        globals,
        num_imported_globals,
        global_inits,
        table_inits,
        imports,
        exports,
        start,
        elems,
        datas,
        // Compiled code replaces the bodies; nothing reads them from an artifact.
        bodies: (0..num_defined)
            .map(|_| FunctionBody { range: 0..0 })
            .collect(),
        names,
    };
    match check(&info) {
        Ok(()) => Ok(info),
        Err(what) => r.fail(what),
    }
}

/// Every index within its space, every count consistent, every data range within the
/// bytes: what the runtime assumes of a `ModuleInfo`.
fn check(info: &ModuleInfo) -> Result<(), &'static str> {
    let funcs = info.funcs.len() as u64;
    let func_ok = |f: FuncIndex| u64::from(f.as_u32()) < funcs;
    let global_ok = |g: GlobalIndex| g.index() < info.globals.len();
    let table_ok = |t: TableIndex| t.index() < info.tables.len();
    let memory_ok = |m: MemoryIndex| m.index() < info.memories.len();
    let const_ok = |c: &ConstExpr| match *c {
        ConstExpr::RefFunc(f) => func_ok(f),
        ConstExpr::GlobalGet(g) => global_ok(g),
        _ => true,
    };
    let imported = [
        (info.num_imported_funcs as usize, info.funcs.len()),
        (info.num_imported_tables as usize, info.tables.len()),
        (info.num_imported_memories as usize, info.memories.len()),
        (info.num_imported_globals as usize, info.globals.len()),
    ];
    if imported.iter().any(|&(n, all)| n > all) {
        return Err("more imports than entities");
    }
    if info.funcs.iter().any(|t| t.index() >= info.types.len()) {
        return Err("function type index");
    }
    let defined_globals = info.globals.len() - info.num_imported_globals as usize;
    if info.global_inits.len() != defined_globals || !info.global_inits.iter().all(const_ok) {
        return Err("global initializers");
    }
    let defined_tables = info.tables.len() - info.num_imported_tables as usize;
    if info.table_inits.len() != defined_tables || !info.table_inits.iter().all(const_ok) {
        return Err("table initializers");
    }
    let entity_ok = |e: EntityIndex| match e {
        EntityIndex::Func(f) => func_ok(f),
        EntityIndex::Table(t) => table_ok(t),
        EntityIndex::Memory(m) => memory_ok(m),
        EntityIndex::Global(g) => global_ok(g),
    };
    let imports_total: usize = imported.iter().map(|&(n, _)| n).sum();
    if info.imports.len() != imports_total || !info.imports.iter().all(|i| entity_ok(i.index)) {
        return Err("imports");
    }
    if !info.exports.iter().all(|e| entity_ok(e.index)) {
        return Err("exports");
    }
    if info.start.is_some_and(|f| !func_ok(f)) {
        return Err("start function");
    }
    for e in &info.elems {
        if let ElemSegmentKind::Active { table, offset } = &e.kind {
            if !table_ok(*table) || !const_ok(offset) {
                return Err("element segment target");
            }
        }
        let items_ok = match &e.items {
            ElemItems::Functions(fs) => fs.iter().all(|f| func_ok(*f)),
            ElemItems::Expressions(_, es) => es.iter().all(const_ok),
        };
        if !items_ok {
            return Err("element items");
        }
    }
    for d in &info.datas {
        if let DataSegmentKind::Active { memory, offset } = &d.kind {
            if !memory_ok(*memory) || !const_ok(offset) {
                return Err("data segment target");
            }
        }
        if d.data.start > d.data.end || d.data.end > info.bytes.len() {
            return Err("data segment range");
        }
    }
    Ok(())
}
