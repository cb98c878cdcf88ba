//! Inlinable host functions: a body the embedder describes as a short list of typed
//! operations, which the translator lowers in place of each call to the import it
//! stands for (`translate/host_inline.rs`).
//!
//! A body is straight-line code over numbered values (the parameters first, then one
//! value per operation that has a result). It may read and write the calling
//! instance's memory 0 (bounds-checked like wasm's own accesses), read and write the
//! store's cells (8-byte slots the host reads too, reached through the store context),
//! call plain `extern "C"` functions (whose addresses the runtime keeps in the host
//! function's context, so code never embeds one), and hand the call to the host
//! function it stands for (`FallbackIf`): that function then runs with the original
//! arguments, and its results are the call's. Every operation is type-checked when it
//! is added ([`InlineBody::push`]); a body that has been built is well-typed.
//!
//! The runtime's safe builder (`kiln::InlineBuilder`) is a thin layer over this type.

use std::fmt;

/// The type of a value of an inline body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InlineType {
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
}

impl InlineType {
    fn is_int(self) -> bool {
        matches!(self, InlineType::I32 | InlineType::I64)
    }

    /// Size in bytes.
    pub fn bytes(self) -> u32 {
        match self {
            InlineType::I32 | InlineType::F32 => 4,
            InlineType::I64 | InlineType::F64 => 8,
        }
    }

    fn code(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for InlineType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InlineType::I32 => "i32",
            InlineType::I64 => "i64",
            InlineType::F32 => "f32",
            InlineType::F64 => "f64",
        })
    }
}

/// A value of a body: its number.
pub type InlineValue = u32;

/// Two-operand arithmetic. Integer-only and float-only operators are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// Wrapping addition.
    Add,
    /// Wrapping subtraction.
    Sub,
    /// Wrapping multiplication.
    Mul,
    /// Float division (integers: refused; division can trap, call a function instead).
    Div,
    /// Bitwise and (integers).
    And,
    /// Bitwise or (integers).
    Or,
    /// Bitwise exclusive or (integers).
    Xor,
    /// Shift left, by the amount modulo the width (integers).
    Shl,
    /// Arithmetic shift right (integers).
    ShrS,
    /// Logical shift right (integers).
    ShrU,
    /// Smaller, as wasm's `min` (floats).
    Min,
    /// Larger, as wasm's `max` (floats).
    Max,
}

impl BinaryOp {
    fn accepts(self, t: InlineType) -> bool {
        use BinaryOp::*;
        match self {
            Add | Sub | Mul => true,
            Div | Min | Max => !t.is_int(),
            And | Or | Xor | Shl | ShrS | ShrU => t.is_int(),
        }
    }
}

/// Comparisons; the result is an `i32` 0 or 1. Unsigned ones are for integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Less than (signed; ordered for floats).
    Lt,
    /// Greater than (signed; ordered for floats).
    Gt,
    /// Less or equal (signed; ordered for floats).
    Le,
    /// Greater or equal (signed; ordered for floats).
    Ge,
    /// Less than, unsigned.
    LtU,
    /// Greater than, unsigned.
    GtU,
    /// Less or equal, unsigned.
    LeU,
    /// Greater or equal, unsigned.
    GeU,
}

impl CompareOp {
    fn accepts(self, t: InlineType) -> bool {
        use CompareOp::*;
        t.is_int() || !matches!(self, LtU | GtU | LeU | GeU)
    }
}

/// Conversions between value types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConvertOp {
    /// `i32` → `i64`, zero-extended.
    ExtendU,
    /// `i32` → `i64`, sign-extended.
    ExtendS,
    /// `i64` → `i32`, the low bits.
    Wrap,
    /// Integer → `i32` 1 if zero, else 0.
    Eqz,
}

/// The signature of an `extern "C"` function a body calls.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternSignature {
    /// Parameter types.
    pub params: Vec<InlineType>,
    /// Result type, if any.
    pub result: Option<InlineType>,
}

/// One operation of a body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InlineOp {
    /// A constant (the bits of the value, low bits for 32-bit types).
    Const { ty: InlineType, bits: u64 },
    /// `a op b`, both of one type.
    Binary {
        op: BinaryOp,
        a: InlineValue,
        b: InlineValue,
    },
    /// `a op b` as an `i32` 0 or 1.
    Compare {
        op: CompareOp,
        a: InlineValue,
        b: InlineValue,
    },
    /// A conversion.
    Convert { op: ConvertOp, a: InlineValue },
    /// `if cond != 0 { a } else { b }`; `cond` is an `i32`.
    Select {
        cond: InlineValue,
        a: InlineValue,
        b: InlineValue,
    },
    /// Loads a `ty` from memory 0 at `address + offset` (`address` an `i32`),
    /// trapping out of bounds like wasm.
    Load {
        ty: InlineType,
        address: InlineValue,
        offset: u32,
    },
    /// Stores `value` to memory 0 at `address + offset`, trapping out of bounds.
    Store {
        address: InlineValue,
        offset: u32,
        value: InlineValue,
    },
    /// `i32` 1 if `address + offset .. + len` lies in memory 0, else 0.
    InBounds {
        address: InlineValue,
        offset: u32,
        len: u32,
    },
    /// Reads the store's cell `cell` as a `ty`.
    CellGet { ty: InlineType, cell: u32 },
    /// Writes `value` to the store's cell `cell` (its low bytes, for 32-bit types).
    CellSet { cell: u32, value: InlineValue },
    /// Calls extern function `func` of the body with `args`.
    CallExtern { func: u32, args: Vec<InlineValue> },
    /// When `cond` (an `i32`) is non-zero, the host function runs instead, with the
    /// call's own arguments, and its results are the call's.
    FallbackIf { cond: InlineValue },
}

/// Why an operation or a body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineError(String);

impl fmt::Display for InlineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InlineError {}

fn refuse<T>(msg: String) -> Result<T, InlineError> {
    Err(InlineError(msg))
}

/// The most cells a store may have (`store_context::CELLS` holds this many).
pub const MAX_CELLS: u32 = 256;

fn check_cell(cell: u32) -> Result<(), InlineError> {
    if cell >= MAX_CELLS {
        return refuse(format!(
            "cell {cell} is not a cell (a store has at most {MAX_CELLS})"
        ));
    }
    Ok(())
}

/// The most operations one body may have.
pub const MAX_INLINE_OPS: usize = 256;

/// A well-typed inline body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InlineBody {
    params: Vec<InlineType>,
    results: Vec<InlineType>,
    /// The type of each value (parameters first).
    types: Vec<InlineType>,
    ops: Vec<InlineOp>,
    externs: Vec<ExternSignature>,
    returned: Option<Vec<InlineValue>>,
    fuel_cost: u32,
}

impl InlineBody {
    /// An empty body of a function with these parameters and results.
    pub fn new(params: &[InlineType], results: &[InlineType]) -> Self {
        InlineBody {
            params: params.to_vec(),
            results: results.to_vec(),
            types: params.to_vec(),
            ops: Vec::new(),
            externs: Vec::new(),
            returned: None,
            fuel_cost: 0,
        }
    }

    /// The parameter types.
    pub fn params(&self) -> &[InlineType] {
        &self.params
    }

    /// The result types.
    pub fn results(&self) -> &[InlineType] {
        &self.results
    }

    /// The operations, in order.
    pub fn ops(&self) -> &[InlineOp] {
        &self.ops
    }

    /// The extern functions called, by number.
    pub fn externs(&self) -> &[ExternSignature] {
        &self.externs
    }

    /// The values returned (set by [`InlineBody::finish`]).
    pub fn returned(&self) -> &[InlineValue] {
        self.returned.as_deref().unwrap_or(&[])
    }

    /// What one call costs in fuel, beyond the `call` instruction itself.
    pub fn fuel_cost(&self) -> u32 {
        self.fuel_cost
    }

    /// Sets the fuel cost of one call.
    pub fn set_fuel_cost(&mut self, cost: u32) {
        self.fuel_cost = cost;
    }

    /// The type of value `v`.
    pub fn type_of(&self, v: InlineValue) -> Result<InlineType, InlineError> {
        match self.types.get(v as usize) {
            Some(&t) => Ok(t),
            None => refuse(format!("value {v} is not defined (yet) in this body")),
        }
    }

    /// Whether the body touches memory 0.
    pub fn uses_memory(&self) -> bool {
        self.ops.iter().any(|op| {
            matches!(
                op,
                InlineOp::Load { .. } | InlineOp::Store { .. } | InlineOp::InBounds { .. }
            )
        })
    }

    /// Declares an extern function; returns its number.
    pub fn declare_extern(&mut self, sig: ExternSignature) -> u32 {
        self.externs.push(sig);
        (self.externs.len() - 1) as u32
    }

    fn want(&self, v: InlineValue, t: InlineType, what: &str) -> Result<(), InlineError> {
        let got = self.type_of(v)?;
        if got != t {
            return refuse(format!("{what} must be {t}, but value {v} is {got}"));
        }
        Ok(())
    }

    /// The type of `op`'s result, or `None` if it has none; refuses an ill-typed one.
    fn check(&self, op: &InlineOp) -> Result<Option<InlineType>, InlineError> {
        use InlineType::*;
        Ok(match op {
            InlineOp::Const { ty, .. } => Some(*ty),
            InlineOp::Binary { op, a, b } => {
                let t = self.type_of(*a)?;
                self.want(*b, t, &format!("the second operand of {op:?}"))?;
                if !op.accepts(t) {
                    return refuse(format!("{op:?} does not apply to {t}"));
                }
                Some(t)
            }
            InlineOp::Compare { op, a, b } => {
                let t = self.type_of(*a)?;
                self.want(*b, t, &format!("the second operand of {op:?}"))?;
                if !op.accepts(t) {
                    return refuse(format!("{op:?} does not apply to {t}"));
                }
                Some(I32)
            }
            InlineOp::Convert { op, a } => match op {
                ConvertOp::ExtendU | ConvertOp::ExtendS => {
                    self.want(*a, I32, &format!("the operand of {op:?}"))?;
                    Some(I64)
                }
                ConvertOp::Wrap => {
                    self.want(*a, I64, "the operand of Wrap")?;
                    Some(I32)
                }
                ConvertOp::Eqz => {
                    let t = self.type_of(*a)?;
                    if !t.is_int() {
                        return refuse(format!("Eqz does not apply to {t}"));
                    }
                    Some(I32)
                }
            },
            InlineOp::Select { cond, a, b } => {
                self.want(*cond, I32, "a select's condition")?;
                let t = self.type_of(*a)?;
                self.want(*b, t, "a select's second value")?;
                Some(t)
            }
            InlineOp::Load { ty, address, .. } => {
                self.want(*address, I32, "a load's address")?;
                Some(*ty)
            }
            InlineOp::Store { address, value, .. } => {
                self.want(*address, I32, "a store's address")?;
                self.type_of(*value)?;
                None
            }
            InlineOp::InBounds { address, len, .. } => {
                self.want(*address, I32, "a bounds test's address")?;
                if *len == 0 {
                    return refuse("a bounds test needs a length of at least 1".into());
                }
                Some(I32)
            }
            InlineOp::CellGet { ty, cell } => {
                check_cell(*cell)?;
                Some(*ty)
            }
            InlineOp::CellSet { cell, value } => {
                check_cell(*cell)?;
                self.type_of(*value)?;
                None
            }
            InlineOp::CallExtern { func, args } => {
                let Some(sig) = self.externs.get(*func as usize) else {
                    return refuse(format!("extern function {func} is not declared"));
                };
                if sig.params.len() != args.len() {
                    return refuse(format!(
                        "extern function {func} takes {} arguments, given {}",
                        sig.params.len(),
                        args.len()
                    ));
                }
                for (i, (&a, &t)) in args.iter().zip(&sig.params).enumerate() {
                    self.want(a, t, &format!("argument {i} of extern function {func}"))?;
                }
                sig.result
            }
            InlineOp::FallbackIf { cond } => {
                self.want(*cond, I32, "a fallback's condition")?;
                None
            }
        })
    }

    /// Appends `op` after checking it; returns its result's value, if it has one.
    pub fn push(&mut self, op: InlineOp) -> Result<Option<InlineValue>, InlineError> {
        if self.returned.is_some() {
            return refuse("the body is finished".into());
        }
        if self.ops.len() >= MAX_INLINE_OPS {
            return refuse(format!("a body has at most {MAX_INLINE_OPS} operations"));
        }
        let result = self.check(&op)?;
        self.ops.push(op);
        Ok(result.map(|t| {
            self.types.push(t);
            (self.types.len() - 1) as InlineValue
        }))
    }

    /// Ends the body, returning `values` (which must match the result types).
    pub fn finish(&mut self, values: &[InlineValue]) -> Result<(), InlineError> {
        if self.returned.is_some() {
            return refuse("the body is finished".into());
        }
        if values.len() != self.results.len() {
            return refuse(format!(
                "the function returns {} values, the body {}",
                self.results.len(),
                values.len()
            ));
        }
        for (i, (&v, &t)) in values.iter().zip(&self.results).enumerate() {
            self.want(v, t, &format!("result {i}"))?;
        }
        self.returned = Some(values.to_vec());
        Ok(())
    }

    /// A canonical encoding of everything that decides the code the body becomes:
    /// equal encodings, equal code. (The extern functions' addresses are not part of
    /// it: code reads them from the host function's context.)
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut word = |x: u64| out.extend_from_slice(&x.to_le_bytes());
        let types = |w: &mut dyn FnMut(u64), ts: &[InlineType]| {
            w(ts.len() as u64);
            for t in ts {
                w(u64::from(t.code()));
            }
        };
        types(&mut word, &self.params);
        types(&mut word, &self.results);
        word(u64::from(self.fuel_cost));
        word(self.externs.len() as u64);
        for s in &self.externs {
            types(&mut word, &s.params);
            word(s.result.map_or(99, |t| u64::from(t.code())));
        }
        word(self.ops.len() as u64);
        for op in &self.ops {
            // The Debug form names every field of every operation.
            let text = format!("{op:?}");
            word(text.len() as u64);
            for chunk in text.as_bytes().chunks(8) {
                let mut b = [0u8; 8];
                b[..chunk.len()].copy_from_slice(chunk);
                word(u64::from_le_bytes(b));
            }
        }
        let ret = self.returned();
        word(ret.len() as u64);
        for &v in ret {
            word(u64::from(v));
        }
        out
    }
}

/// The bodies a module is compiled with, by the function index of the import each one
/// stands for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostInlines {
    /// By imported function index.
    pub bodies: std::collections::BTreeMap<u32, std::sync::Arc<InlineBody>>,
}

impl HostInlines {
    /// The body standing for imported function `f`.
    pub fn of(&self, f: u32) -> Option<&InlineBody> {
        self.bodies.get(&f).map(|b| &**b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use InlineType::*;

    #[test]
    fn ill_typed_operations_are_refused_with_the_reason() {
        let mut b = InlineBody::new(&[I32, F64], &[I32]);
        let e = b
            .push(InlineOp::Binary {
                op: BinaryOp::Add,
                a: 0,
                b: 1,
            })
            .unwrap_err();
        assert!(e.to_string().contains("must be i32"), "{e}");
        let e = b
            .push(InlineOp::Binary {
                op: BinaryOp::Div,
                a: 0,
                b: 0,
            })
            .unwrap_err();
        assert!(e.to_string().contains("Div does not apply to i32"), "{e}");
        let e = b
            .push(InlineOp::Load {
                ty: I64,
                address: 1,
                offset: 0,
            })
            .unwrap_err();
        assert!(e.to_string().contains("address must be i32"), "{e}");
        let e = b
            .push(InlineOp::Convert {
                op: ConvertOp::Wrap,
                a: 7,
            })
            .unwrap_err();
        assert!(e.to_string().contains("not defined"), "{e}");
        let e = b.finish(&[1]).unwrap_err();
        assert!(e.to_string().contains("result 0 must be i32"), "{e}");
        let sum = b
            .push(InlineOp::Binary {
                op: BinaryOp::Add,
                a: 0,
                b: 0,
            })
            .unwrap()
            .unwrap();
        b.finish(&[sum]).unwrap();
        assert!(b.push(InlineOp::FallbackIf { cond: 0 }).is_err());
    }

    #[test]
    fn encodings_tell_bodies_apart() {
        let body = |c: u64| {
            let mut b = InlineBody::new(&[I32], &[I32]);
            let k = b
                .push(InlineOp::Const { ty: I32, bits: c })
                .unwrap()
                .unwrap();
            let s = b
                .push(InlineOp::Binary {
                    op: BinaryOp::Add,
                    a: 0,
                    b: k,
                })
                .unwrap()
                .unwrap();
            b.finish(&[s]).unwrap();
            b
        };
        assert_eq!(body(1).canonical_bytes(), body(1).canonical_bytes());
        assert_ne!(body(1).canonical_bytes(), body(2).canonical_bytes());
        let mut costly = body(1);
        costly.set_fuel_cost(3);
        assert_ne!(costly.canonical_bytes(), body(1).canonical_bytes());
    }
}
