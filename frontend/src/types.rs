//! Wasm types as owned values, independent of wasmparser's and Cranelift's.

use std::fmt;

/// Bytes per Wasm page.
pub const WASM_PAGE_SIZE: u64 = 65536;

/// What a reference may point to (typed function references; GC's heap types are not
/// part of Kiln).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeapType {
    /// `func`: a function of any signature.
    Func,
    /// `extern`: a host reference.
    Extern,
    /// A function of one signature. In a module's `ModuleInfo` the number is the module's
    /// type index; in the runtime (an engine's signatures, and the types of store
    /// entities and of the API) it is the engine-wide signature id, with
    /// [`HeapType::SELF`] for a signature's reference to itself.
    Concrete(u32),
}

impl HeapType {
    /// In an engine-wide signature, the signature's reference to itself.
    pub const SELF: u32 = u32::MAX;
}

/// A reference type: `funcref` and `externref` of Wasm 2.0, and the typed references
/// `(ref null? func|extern|$t)` of Wasm 3.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefType {
    /// Whether null is a value of the type.
    pub nullable: bool,
    /// What a non-null reference points to.
    pub heap: HeapType,
}

impl RefType {
    /// `funcref`, that is `(ref null func)`.
    pub const FUNCREF: RefType = RefType {
        nullable: true,
        heap: HeapType::Func,
    };
    /// `externref`, that is `(ref null extern)`.
    pub const EXTERNREF: RefType = RefType {
        nullable: true,
        heap: HeapType::Extern,
    };

    /// Whether the references are to functions (`func` or a signature).
    pub fn is_func(&self) -> bool {
        !matches!(self.heap, HeapType::Extern)
    }

    /// `self` with every signature replaced by `f(signature)`.
    pub fn map_concrete(self, f: impl FnOnce(u32) -> u32) -> RefType {
        match self.heap {
            HeapType::Concrete(t) => RefType {
                heap: HeapType::Concrete(f(t)),
                ..self
            },
            _ => self,
        }
    }

    /// Whether every value of `self` is a value of `other` (subtyping without GC:
    /// non-null below nullable, a signature below `func`).
    pub fn matches(&self, other: &RefType) -> bool {
        (other.nullable || !self.nullable)
            && match (self.heap, other.heap) {
                (a, b) if a == b => true,
                (HeapType::Concrete(_), HeapType::Func) => true,
                _ => false,
            }
    }
}

/// A value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValType {
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `v128`
    V128,
    /// A reference.
    Ref(RefType),
}

impl ValType {
    /// `funcref`
    pub const FUNCREF: ValType = ValType::Ref(RefType::FUNCREF);
    /// `externref`
    pub const EXTERNREF: ValType = ValType::Ref(RefType::EXTERNREF);

    /// `self` with every signature replaced by `f(signature)`.
    pub fn map_concrete(self, f: impl FnOnce(u32) -> u32) -> ValType {
        match self {
            ValType::Ref(r) => ValType::Ref(r.map_concrete(f)),
            other => other,
        }
    }

    /// Whether every value of `self` is a value of `other`.
    pub fn matches(&self, other: &ValType) -> bool {
        match (self, other) {
            (ValType::Ref(a), ValType::Ref(b)) => a.matches(b),
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for RefType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.nullable, self.heap) {
            (true, HeapType::Func) => f.write_str("funcref"),
            (true, HeapType::Extern) => f.write_str("externref"),
            (nullable, heap) => {
                f.write_str(if nullable { "(ref null " } else { "(ref " })?;
                match heap {
                    HeapType::Func => f.write_str("func")?,
                    HeapType::Extern => f.write_str("extern")?,
                    HeapType::Concrete(HeapType::SELF) => f.write_str("self")?,
                    HeapType::Concrete(t) => write!(f, "{t}")?,
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValType::I32 => f.write_str("i32"),
            ValType::I64 => f.write_str("i64"),
            ValType::F32 => f.write_str("f32"),
            ValType::F64 => f.write_str("f64"),
            ValType::V128 => f.write_str("v128"),
            ValType::Ref(r) => r.fmt(f),
        }
    }
}

/// A function signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FuncType {
    params: Box<[ValType]>,
    results: Box<[ValType]>,
}

impl FuncType {
    /// A signature from its parameter and result types.
    pub fn new(
        params: impl IntoIterator<Item = ValType>,
        results: impl IntoIterator<Item = ValType>,
    ) -> Self {
        FuncType {
            params: params.into_iter().collect(),
            results: results.into_iter().collect(),
        }
    }

    /// Parameter types.
    pub fn params(&self) -> &[ValType] {
        &self.params
    }

    /// Result types.
    pub fn results(&self) -> &[ValType] {
        &self.results
    }

    /// `self` with every signature in it replaced by `f(signature)`.
    pub fn map_concrete(&self, mut f: impl FnMut(u32) -> u32) -> FuncType {
        FuncType {
            params: self.params.iter().map(|v| v.map_concrete(&mut f)).collect(),
            results: self
                .results
                .iter()
                .map(|v| v.map_concrete(&mut f))
                .collect(),
        }
    }
}

impl fmt::Display for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, tys: &[ValType]| -> fmt::Result {
            f.write_str("(")?;
            for (i, t) in tys.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{t}")?;
            }
            f.write_str(")")
        };
        list(f, &self.params)?;
        f.write_str(" -> ")?;
        list(f, &self.results)
    }
}

/// A table's type. Limits are in elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableType {
    /// Element type.
    pub element: RefType,
    /// Initial number of elements.
    pub minimum: u64,
    /// Maximum number of elements, if any.
    pub maximum: Option<u64>,
    /// Whether elements are indexed by `i64` (memory64's 64-bit tables) rather than
    /// `i32`.
    pub table64: bool,
}

/// A linear memory's type. Limits are in pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryType {
    /// Initial size in pages.
    pub minimum: u64,
    /// Maximum size in pages, if any.
    pub maximum: Option<u64>,
    /// Whether addresses are `i64` (memory64) rather than `i32`.
    pub memory64: bool,
}

/// A global's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalType {
    /// The value type.
    pub content: ValType,
    /// Whether `global.set` may change it.
    pub mutable: bool,
}

impl From<wasmparser::HeapType> for HeapType {
    fn from(h: wasmparser::HeapType) -> Self {
        use wasmparser::{AbstractHeapType, HeapType as H};
        match h {
            H::Abstract {
                ty: AbstractHeapType::Extern,
                ..
            } => HeapType::Extern,
            // Validation without GC leaves module type indices of signatures...
            H::Concrete(i) | H::Exact(i) => {
                HeapType::Concrete(i.as_module_index().unwrap_or(HeapType::SELF))
            }
            // ... and `func` (the other abstract types are GC's, refused).
            H::Abstract { .. } => HeapType::Func,
        }
    }
}

impl From<wasmparser::RefType> for RefType {
    fn from(r: wasmparser::RefType) -> Self {
        RefType {
            nullable: r.is_nullable(),
            heap: r.heap_type().into(),
        }
    }
}

impl From<wasmparser::ValType> for ValType {
    fn from(v: wasmparser::ValType) -> Self {
        match v {
            wasmparser::ValType::I32 => ValType::I32,
            wasmparser::ValType::I64 => ValType::I64,
            wasmparser::ValType::F32 => ValType::F32,
            wasmparser::ValType::F64 => ValType::F64,
            wasmparser::ValType::V128 => ValType::V128,
            wasmparser::ValType::Ref(r) => ValType::Ref(r.into()),
        }
    }
}
