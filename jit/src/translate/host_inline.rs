//! Inlined host functions: a call to an import that the module was compiled with a body
//! for ([`HostInlines`](crate::HostInlines)) becomes that body's operations, in place.
//!
//! - Memory accesses go through the same bounds checks as wasm's (`bounds.rs`), on
//!   memory 0 of the calling instance, and trap as wasm's do.
//! - Cells are 8-byte slots of the store, found through the store context
//!   (`store_context::CELLS`, index × 8).
//! - Extern functions are called in the host's convention; their addresses are read
//!   from the import's own host function context (`host_func::INLINE_EXTERNS`), so the
//!   code holds no address and can be saved as an artifact.
//! - `FallbackIf` leaves for a cold block that calls the import the generic way (its
//!   funcref, the wasm-to-host trampoline) with the call's arguments; its results join
//!   the fast path's.
//! - Fuel: the `call` instruction is charged as for any call; the body's declared cost
//!   is charged on the fast path only, since the host function charges it itself when
//!   it runs (generic path or fallback).
//! - Every instruction carries the inlining's number as its source location, as for an
//!   inlined wasm function (`inline.rs`), so a trap inside names the import.

use super::{FuncTranslator, Result};
use crate::host_inline::{BinaryOp, CompareOp, ConvertOp, InlineBody, InlineOp, InlineType};
use crate::signatures::POINTER;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::immediates::{Ieee32, Ieee64};
use cranelift_codegen::ir::types::{F32, F64, I32, I64};
use cranelift_codegen::ir::{
    AbiParam, InstBuilder, MemFlagsData, Signature, SourceLoc, Type, Value,
};
use kiln_frontend::{FuncIndex, MemoryIndex, TypeIndex};

fn ir(t: InlineType) -> Type {
    match t {
        InlineType::I32 => I32,
        InlineType::I64 => I64,
        InlineType::F32 => F32,
        InlineType::F64 => F64,
    }
}

impl<'a> FuncTranslator<'a, '_> {
    /// The body to inline for a call to imported function `f`, if the module was
    /// compiled with one (and it can be inlined here: a body touching memory needs the
    /// module to have one).
    pub(crate) fn host_inline_for(&self, f: FuncIndex) -> Option<&'a InlineBody> {
        let env: &'a super::ModuleEnv<'a> = self.env;
        let body = env.host_inlines?.of(f.as_u32())?;
        let has_memory = !env.info.memories.is_empty();
        (has_memory || !body.uses_memory()).then_some(body)
    }

    /// Lowers `body`, standing for imported function `f` of type `ty`, with `args`;
    /// returns the call's results.
    pub(crate) fn inline_host(
        &mut self,
        f: FuncIndex,
        ty: TypeIndex,
        body: &InlineBody,
        args: &[Value],
    ) -> Result<Vec<Value>> {
        // A call ends a fuel segment.
        self.flush_fuel();
        let site = u32::try_from(self.inline_frames.sites.len()).expect("few inlinings");
        let parent = self.inline_stack.last().map_or(u32::MAX, |&(_, s)| s);
        self.inline_frames.sites.push((f, parent));
        let outer = self.b.srcloc();
        self.b.set_srcloc(SourceLoc::new(site + 1));

        let cont = self.b.create_block();
        for &t in body.results() {
            self.b.append_block_param(cont, ir(t));
        }
        let func_ref = self.func_ref_address(f);
        let mut values: Vec<Value> = args.to_vec();
        for op in body.ops() {
            if let Some(v) = self.lower_op(op, body, func_ref, ty, args, cont, &values) {
                values.push(v);
            }
        }
        // The declared cost, on the fast path only (the host function charges it itself
        // wherever it runs). Nothing in the body charged: the segment was flushed above.
        if self.env.fuel.is_some() {
            self.set_pending_fuel(i64::from(body.fuel_cost()));
            self.flush_fuel();
        }
        let results: Vec<_> = body
            .returned()
            .iter()
            .map(|&v| values[v as usize].into())
            .collect();
        self.b.ins().jump(cont, &results);
        self.b.seal_block(cont);
        self.b.switch_to_block(cont);
        self.b.set_srcloc(outer);
        Ok(self.b.block_params(cont).to_vec())
    }

    #[allow(clippy::too_many_arguments)]
    fn lower_op(
        &mut self,
        op: &InlineOp,
        body: &InlineBody,
        func_ref: Value,
        ty: TypeIndex,
        args: &[Value],
        cont: cranelift_codegen::ir::Block,
        values: &[Value],
    ) -> Option<Value> {
        let v = |i: u32| values[i as usize];
        let mem0 = MemoryIndex::from_u32(0);
        Some(match *op {
            InlineOp::Const { ty, bits } => match ty {
                InlineType::I32 => self.b.ins().iconst(I32, i64::from(bits as u32)),
                InlineType::I64 => self.b.ins().iconst(I64, bits as i64),
                InlineType::F32 => self.b.ins().f32const(Ieee32::with_bits(bits as u32)),
                InlineType::F64 => self.b.ins().f64const(Ieee64::with_bits(bits)),
            },
            InlineOp::Binary { op, a, b } => {
                let (a, b) = (v(a), v(b));
                let float = self.b.func.dfg.value_type(a).is_float();
                let ins = self.b.ins();
                match (op, float) {
                    (BinaryOp::Add, false) => ins.iadd(a, b),
                    (BinaryOp::Add, true) => ins.fadd(a, b),
                    (BinaryOp::Sub, false) => ins.isub(a, b),
                    (BinaryOp::Sub, true) => ins.fsub(a, b),
                    (BinaryOp::Mul, false) => ins.imul(a, b),
                    (BinaryOp::Mul, true) => ins.fmul(a, b),
                    (BinaryOp::Div, _) => ins.fdiv(a, b),
                    (BinaryOp::And, _) => ins.band(a, b),
                    (BinaryOp::Or, _) => ins.bor(a, b),
                    (BinaryOp::Xor, _) => ins.bxor(a, b),
                    (BinaryOp::Shl, _) => ins.ishl(a, b),
                    (BinaryOp::ShrS, _) => ins.sshr(a, b),
                    (BinaryOp::ShrU, _) => ins.ushr(a, b),
                    (BinaryOp::Min, _) => ins.fmin(a, b),
                    (BinaryOp::Max, _) => ins.fmax(a, b),
                }
            }
            InlineOp::Compare { op, a, b } => {
                let (a, b) = (v(a), v(b));
                let c = if self.b.func.dfg.value_type(a).is_float() {
                    let cc = match op {
                        CompareOp::Eq => FloatCC::Equal,
                        CompareOp::Ne => FloatCC::NotEqual,
                        CompareOp::Lt => FloatCC::LessThan,
                        CompareOp::Gt => FloatCC::GreaterThan,
                        CompareOp::Le => FloatCC::LessThanOrEqual,
                        // Unsigned comparisons of floats are refused when built.
                        _ => FloatCC::GreaterThanOrEqual,
                    };
                    self.b.ins().fcmp(cc, a, b)
                } else {
                    let cc = match op {
                        CompareOp::Eq => IntCC::Equal,
                        CompareOp::Ne => IntCC::NotEqual,
                        CompareOp::Lt => IntCC::SignedLessThan,
                        CompareOp::Gt => IntCC::SignedGreaterThan,
                        CompareOp::Le => IntCC::SignedLessThanOrEqual,
                        CompareOp::Ge => IntCC::SignedGreaterThanOrEqual,
                        CompareOp::LtU => IntCC::UnsignedLessThan,
                        CompareOp::GtU => IntCC::UnsignedGreaterThan,
                        CompareOp::LeU => IntCC::UnsignedLessThanOrEqual,
                        CompareOp::GeU => IntCC::UnsignedGreaterThanOrEqual,
                    };
                    self.b.ins().icmp(cc, a, b)
                };
                self.b.ins().uextend(I32, c)
            }
            InlineOp::Convert { op, a } => {
                let a = v(a);
                match op {
                    ConvertOp::ExtendU => self.b.ins().uextend(I64, a),
                    ConvertOp::ExtendS => self.b.ins().sextend(I64, a),
                    ConvertOp::Wrap => self.b.ins().ireduce(I32, a),
                    ConvertOp::Eqz => {
                        let c = self.b.ins().icmp_imm_s(IntCC::Equal, a, 0);
                        self.b.ins().uextend(I32, c)
                    }
                }
            }
            InlineOp::Select { cond, a, b } => self.b.ins().select(v(cond), v(a), v(b)),
            InlineOp::Load {
                ty,
                address,
                offset,
            } => {
                let (addr, off) = self.inline_address(v(address), offset, ty.bytes());
                let flags = self.heap_flags();
                self.b.ins().load(ir(ty), flags, addr, off)
            }
            InlineOp::Store {
                address,
                offset,
                value,
            } => {
                let value = v(value);
                let bytes = self.b.func.dfg.value_type(value).bytes();
                let (addr, off) = self.inline_address(v(address), offset, bytes);
                let flags = self.heap_flags();
                self.b.ins().store(flags, value, addr, off);
                return None;
            }
            InlineOp::InBounds {
                address,
                offset,
                len,
            } => {
                let index = self.b.ins().uextend(I64, v(address));
                // index < 2^32 and offset + len < 2^33: no overflow in 64 bits.
                let end = self
                    .b
                    .ins()
                    .iadd_imm_s(index, i64::from(offset) + i64::from(len));
                let length = self.memory_length(mem0);
                let fits = self
                    .b
                    .ins()
                    .icmp(IntCC::UnsignedLessThanOrEqual, end, length);
                self.b.ins().uextend(I32, fits)
            }
            InlineOp::CellGet { ty, cell } => {
                let cells = self.cells();
                self.b
                    .ins()
                    .load(ir(ty), MemFlagsData::trusted(), cells, cell_offset(cell))
            }
            InlineOp::CellSet { cell, value } => {
                let cells = self.cells();
                self.b
                    .ins()
                    .store(MemFlagsData::trusted(), v(value), cells, cell_offset(cell));
                return None;
            }
            InlineOp::CallExtern { func, ref args } => {
                let decl = &body.externs()[func as usize];
                let mut sig = Signature::new(self.env.host_call_conv);
                sig.params
                    .extend(decl.params.iter().map(|&t| AbiParam::new(ir(t))));
                sig.returns
                    .extend(decl.result.iter().map(|&t| AbiParam::new(ir(t))));
                let sig = self.b.import_signature(sig);
                let invariant = MemFlagsData::trusted().with_readonly().with_can_move();
                let header =
                    self.b
                        .ins()
                        .load(POINTER, invariant, func_ref, crate::func_ref::VMCTX as i32);
                let table = self.b.ins().load(
                    POINTER,
                    invariant,
                    header,
                    crate::host_func::INLINE_EXTERNS as i32,
                );
                let code = self
                    .b
                    .ins()
                    .load(POINTER, invariant, table, (func * 8) as i32);
                let args: Vec<Value> = args.iter().map(|&a| v(a)).collect();
                let call = self.b.ins().call_indirect(sig, code, &args);
                let r = self.b.inst_results(call).first().copied();
                // The result is pushed only if the extern function has one.
                return r;
            }
            InlineOp::FallbackIf { cond } => {
                let slow = self.b.create_block();
                let fast = self.b.create_block();
                self.b.ins().brif(v(cond), slow, &[], fast, &[]);
                self.b.seal_block(slow);
                self.b.seal_block(fast);
                self.b.set_cold_block(slow);
                self.b.switch_to_block(slow);
                let results = self.call_func_ref(func_ref, ty, args);
                let results: Vec<_> = results.into_iter().map(Into::into).collect();
                self.b.ins().jump(cont, &results);
                self.b.switch_to_block(fast);
                return None;
            }
        })
    }

    /// The address and static offset of an access of `bytes` bytes at `address +
    /// offset` in memory 0, after wasm's bounds check.
    fn inline_address(&mut self, address: Value, offset: u32, bytes: u32) -> (Value, i32) {
        let mem0 = MemoryIndex::from_u32(0);
        let index = self.b.ins().uextend(I64, address);
        let base = self.heap_base(mem0);
        self.checked_address(mem0, base, index, u64::from(offset), u64::from(bytes))
    }

    /// The store's cell array.
    fn cells(&mut self) -> Value {
        let invariant = MemFlagsData::trusted().with_readonly().with_can_move();
        let store = self.store_context();
        self.b.ins().load(
            POINTER,
            invariant,
            store,
            crate::store_context::CELLS as i32,
        )
    }
}

fn cell_offset(cell: u32) -> i32 {
    // Cell numbers are below `MAX_CELLS`, checked when the body is built.
    (cell * 8) as i32
}
