//! Kiln's frontend: bytes in, an owned, validated [`ModuleInfo`] out.
//!
//! Parsing and validation are delegated to `wasmparser`, configured with exactly the
//! Wasm 2.0 feature set Kiln implements ([`Features`]). A module that needs any other
//! proposal is refused with [`ErrorKind::Unsupported`] naming that proposal.
//!
//! Nothing here knows about Cranelift or machine code: the description is plain data
//! with typed index spaces (imported entities first, then defined ones, as in Wasm).

#![forbid(unsafe_code)]

mod error;
mod features;
mod index;
mod limits;
mod module;
mod names;
mod parse;
mod types;

pub use error::{Error, ErrorKind};
pub use features::Features;
pub use index::{
    DataIndex, DefinedFuncIndex, DefinedGlobalIndex, DefinedMemoryIndex, DefinedTableIndex,
    ElemIndex, FuncIndex, GlobalIndex, MemoryIndex, TableIndex, TypeIndex,
};
pub use limits::Limits;
pub use module::{
    ConstExpr, ConstOp, DataSegment, DataSegmentKind, ElemItems, ElemSegment, ElemSegmentKind,
    EntityIndex, Export, FunctionBody, Import, ModuleInfo,
};
pub use names::{BadNames, Names};
pub use parse::{parse, parse_with_limits};
pub use types::{
    FuncType, GlobalType, HeapType, MemoryType, RefType, TableType, ValType, WASM_PAGE_SIZE,
};

/// Re-exported so the jit can read function bodies without naming its own wasmparser version.
pub use wasmparser;
