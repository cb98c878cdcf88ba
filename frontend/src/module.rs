//! The owned, validated description of a module that the jit and runtime consume.

use crate::index::*;
use crate::names::Names;
use crate::types::*;
use std::ops::Range;
use std::sync::Arc;

/// A constant expression: one producing instruction, or (extended constant
/// expressions) integer arithmetic over constants and globals. Arithmetic over
/// constants alone is folded when the module is parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum ConstExpr {
    /// `i32.const`
    I32(i32),
    /// `i64.const`
    I64(i64),
    /// `f32.const`, as bits.
    F32(u32),
    /// `f64.const`, as bits.
    F64(u64),
    /// `v128.const`
    V128(u128),
    /// `ref.null`
    RefNull(RefType),
    /// `ref.func`
    RefFunc(FuncIndex),
    /// `global.get` of an (imported, immutable) global.
    GlobalGet(GlobalIndex),
    /// Extended constant expression that reads a global: its instructions, in order,
    /// for a stack machine (validated: every operator finds its operands).
    Extended(Arc<[ConstOp]>),
}

/// An instruction of an extended constant expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstOp {
    /// `i32.const`
    I32(i32),
    /// `i64.const`
    I64(i64),
    /// `global.get` of an integer global.
    GlobalGet(GlobalIndex),
    /// `i32.add`, `i32.sub`, `i32.mul`, wrapping.
    I32Add,
    I32Sub,
    I32Mul,
    /// `i64.add`, `i64.sub`, `i64.mul`, wrapping.
    I64Add,
    I64Sub,
    I64Mul,
}

impl ConstOp {
    /// Runs `ops` on a stack of integers (an `i32` as its `u32` bits), reading globals
    /// through `global`. A malformed sequence (one no validator would accept) gives 0
    /// for what is missing rather than failing.
    pub fn eval(ops: &[ConstOp], mut global: impl FnMut(GlobalIndex) -> u64) -> u64 {
        let mut stack: Vec<u64> = Vec::with_capacity(4);
        for &op in ops {
            let value = match op {
                ConstOp::I32(v) => u64::from(v as u32),
                ConstOp::I64(v) => v as u64,
                ConstOp::GlobalGet(g) => global(g),
                _ => {
                    let b = stack.pop().unwrap_or(0);
                    let a = stack.pop().unwrap_or(0);
                    let (a32, b32) = (a as u32, b as u32);
                    match op {
                        ConstOp::I32Add => u64::from(a32.wrapping_add(b32)),
                        ConstOp::I32Sub => u64::from(a32.wrapping_sub(b32)),
                        ConstOp::I32Mul => u64::from(a32.wrapping_mul(b32)),
                        ConstOp::I64Add => a.wrapping_add(b),
                        ConstOp::I64Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    }
                }
            };
            stack.push(value);
        }
        stack.pop().unwrap_or(0)
    }
}

/// Any entity, by its index in its own index space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityIndex {
    /// A function.
    Func(FuncIndex),
    /// A table.
    Table(TableIndex),
    /// A memory.
    Memory(MemoryIndex),
    /// A global.
    Global(GlobalIndex),
}

/// An import, in declaration order.
#[derive(Debug, Clone)]
pub struct Import {
    /// Module name.
    pub module: String,
    /// Field name.
    pub name: String,
    /// The entity it becomes.
    pub index: EntityIndex,
}

/// An export, in declaration order.
#[derive(Debug, Clone)]
pub struct Export {
    /// Export name.
    pub name: String,
    /// What is exported.
    pub index: EntityIndex,
}

/// How an element segment is used.
#[derive(Debug, Clone)]
pub enum ElemSegmentKind {
    /// Copied into `table` at instantiation.
    Active {
        /// Target table.
        table: TableIndex,
        /// Start offset.
        offset: ConstExpr,
    },
    /// Available to `table.init`.
    Passive,
    /// Only declares functions as referenceable; dropped at instantiation.
    Declared,
}

/// The items of an element segment.
#[derive(Debug, Clone)]
pub enum ElemItems {
    /// Function indices (`funcref` elements).
    Functions(Vec<FuncIndex>),
    /// Constant expressions of the given reference type.
    Expressions(RefType, Vec<ConstExpr>),
}

impl ElemItems {
    /// Number of items.
    pub fn len(&self) -> usize {
        match self {
            ElemItems::Functions(f) => f.len(),
            ElemItems::Expressions(_, e) => e.len(),
        }
    }

    /// Whether the segment is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An element segment.
#[derive(Debug, Clone)]
pub struct ElemSegment {
    /// Active, passive or declared.
    pub kind: ElemSegmentKind,
    /// The references it holds.
    pub items: ElemItems,
}

/// How a data segment is used.
#[derive(Debug, Clone)]
pub enum DataSegmentKind {
    /// Copied into `memory` at instantiation.
    Active {
        /// Target memory.
        memory: MemoryIndex,
        /// Start offset.
        offset: ConstExpr,
    },
    /// Available to `memory.init`.
    Passive,
}

/// A data segment; its bytes are a range of [`ModuleInfo::bytes`].
#[derive(Debug, Clone)]
pub struct DataSegment {
    /// Active or passive.
    pub kind: DataSegmentKind,
    /// Byte range of the contents within the module's bytes.
    pub data: Range<usize>,
}

/// A defined function's validated body.
#[derive(Debug, Clone)]
pub struct FunctionBody {
    /// Byte range of the body (locals and code) within the module's bytes.
    pub range: Range<usize>,
}

/// A parsed and validated module.
#[derive(Debug, Clone, Default)]
pub struct ModuleInfo {
    /// The original bytes; bodies and data segments are ranges into them.
    pub bytes: Arc<[u8]>,
    /// The type section.
    pub types: Vec<FuncType>,
    /// Type of every function, imports first.
    pub funcs: Vec<TypeIndex>,
    /// How many of `funcs` are imported.
    pub num_imported_funcs: u32,
    /// Every table, imports first.
    pub tables: Vec<TableType>,
    /// The initial element of each defined table (`ref.null` unless a typed table gives
    /// an initializer).
    pub table_inits: Vec<ConstExpr>,
    /// How many of `tables` are imported.
    pub num_imported_tables: u32,
    /// Every memory, imports first.
    pub memories: Vec<MemoryType>,
    /// How many of `memories` are imported.
    pub num_imported_memories: u32,
    /// Every global, imports first.
    pub globals: Vec<GlobalType>,
    /// How many of `globals` are imported.
    pub num_imported_globals: u32,
    /// Initializers of the defined globals.
    pub global_inits: Vec<ConstExpr>,
    /// Imports in order.
    pub imports: Vec<Import>,
    /// Exports in order.
    pub exports: Vec<Export>,
    /// The start function.
    pub start: Option<FuncIndex>,
    /// Element segments.
    pub elems: Vec<ElemSegment>,
    /// Data segments.
    pub datas: Vec<DataSegment>,
    /// Bodies of the defined functions.
    pub bodies: Vec<FunctionBody>,
    /// Names for backtraces and profilers, shared with the compiled code.
    pub names: Arc<Names>,
}

impl ModuleInfo {
    /// Signature of any function.
    pub fn func_type(&self, f: FuncIndex) -> &FuncType {
        &self.types[self.funcs[f.index()].index()]
    }

    /// Number of defined functions.
    pub fn num_defined_funcs(&self) -> u32 {
        self.funcs.len() as u32 - self.num_imported_funcs
    }

    /// The function index of a defined function.
    pub fn func_index(&self, d: DefinedFuncIndex) -> FuncIndex {
        FuncIndex::from_u32(d.as_u32() + self.num_imported_funcs)
    }

    /// The defined index of `f`, or `None` if it is imported.
    pub fn defined_func_index(&self, f: FuncIndex) -> Option<DefinedFuncIndex> {
        f.as_u32()
            .checked_sub(self.num_imported_funcs)
            .map(DefinedFuncIndex::from_u32)
    }

    /// The defined index of `t`, or `None` if it is imported.
    pub fn defined_table_index(&self, t: TableIndex) -> Option<DefinedTableIndex> {
        t.as_u32()
            .checked_sub(self.num_imported_tables)
            .map(DefinedTableIndex::from_u32)
    }

    /// The defined index of `m`, or `None` if it is imported.
    pub fn defined_memory_index(&self, m: MemoryIndex) -> Option<DefinedMemoryIndex> {
        m.as_u32()
            .checked_sub(self.num_imported_memories)
            .map(DefinedMemoryIndex::from_u32)
    }

    /// The defined index of `g`, or `None` if it is imported.
    pub fn defined_global_index(&self, g: GlobalIndex) -> Option<DefinedGlobalIndex> {
        g.as_u32()
            .checked_sub(self.num_imported_globals)
            .map(DefinedGlobalIndex::from_u32)
    }

    /// The name of a function for backtraces, if the name section gives one.
    pub fn func_name(&self, f: FuncIndex) -> Option<&str> {
        self.names.func(f)
    }

    /// A defined function's body bytes, as a wasmparser reader positioned at its start.
    pub fn body_reader(&self, d: DefinedFuncIndex) -> wasmparser::FunctionBody<'_> {
        let range = self.bodies[d.index()].range.clone();
        let reader = wasmparser::BinaryReader::new(&self.bytes[range.clone()], range.start as u64);
        wasmparser::FunctionBody::new(reader)
    }

    /// A data segment's bytes.
    pub fn data_bytes(&self, d: DataIndex) -> &[u8] {
        &self.bytes[self.datas[d.index()].data.clone()]
    }
}
