//! The Wasm → Cranelift IR translator for one function body.
//!
//! [`FuncTranslator`] holds the translation state; its operator methods are spread over
//! one file per concern: `control` (blocks, branches), `numeric` (scalar operators),
//! `simd` (`v128` operators), `memory` (loads, stores, memory instructions), `bounds`
//! (every bounds-check decision), `table` (table and reference instructions), `call`
//! (direct, indirect and builtin calls), `variables` (locals and globals),
//! `interrupts` (fuel and epoch checks), and `counters` (tiered code's profile counters). `env` holds the per-module environment shared by
//! every function.
//! [`Visitor`] is the thin `VisitOperator` impl generated from wasmparser's operator list:
//! it skips dead code and routes each supported operator to the method of the same name.

mod bounds;
mod branches;
mod call;
mod control;
mod counters;
mod env;
mod host_inline;
mod inline;
mod interrupts;
mod memory;
mod numeric;
mod relaxed_simd;
mod simd;
mod table;
mod typed_refs;
mod variables;

pub use counters::Counting;
pub(crate) use env::ModuleEnv;

use crate::error::Error;
use crate::shape::LocalsIn;
use crate::signatures::{ir_type, wasm_signature, POINTER};
use control::{Frame, FrameKind};
use cranelift_codegen::ir::{self, types, InstBuilder, SigRef, Type, Value};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use kiln_frontend::wasmparser::{self, VisitOperator};
use kiln_frontend::{DefinedFuncIndex, FuncType, TypeIndex};
use std::collections::HashMap;

pub(crate) type Result<T = ()> = std::result::Result<T, Error>;

/// Translation state of one function.
pub(crate) struct FuncTranslator<'a, 'f> {
    pub(crate) b: FunctionBuilder<'f>,
    pub(crate) env: &'a ModuleEnv<'a>,
    /// The operand stack.
    pub(crate) stack: Vec<Value>,
    /// The control stack; the bottom frame is the function body.
    pub(crate) control: Vec<Frame>,
    /// Locals, params first.
    pub(crate) locals: Vec<Local>,
    /// Whether the current position can be reached.
    pub(crate) reachable: bool,
    /// Blocks opened in unreachable code, whose `end`s are skipped.
    pub(crate) unreachable_depth: u32,
    /// This function's vmctx.
    pub(crate) vmctx: Value,
    /// Byte offset of the operator being translated.
    pub(crate) offset: usize,
    sigs: HashMap<TypeIndex, SigRef>,
    pub(crate) interrupts: interrupts::Interrupts,
    builtin_sigs: HashMap<crate::Builtin, SigRef>,
    /// Defined functions called directly, imported once each.
    direct_callees: HashMap<kiln_frontend::DefinedFuncIndex, ir::FuncRef>,
    /// The function being translated.
    pub(crate) index: DefinedFuncIndex,
    /// Defined functions called directly so far, in order of first call.
    pub(crate) callees: Vec<DefinedFuncIndex>,
    /// `loop`s translated so far (a loop's ordinal names it for on-stack replacement).
    pub(crate) loops_seen: u32,
    /// In an on-stack-replacement variant, the header of the loop it enters, made
    /// before translation reaches it.
    pub(crate) osr_header: Option<ir::Block>,
    /// Tiered baseline code: the byte offset of each `call_indirect` site that records
    /// its targets, by ordinal.
    pub(crate) call_sites: Vec<u32>,
    /// Profile-guided baseline code: the function's `VMBranchCounts` array (loaded or
    /// allocated at entry), and the byte offset of each branch counted in it, by
    /// ordinal.
    pub(crate) branch_counters: Option<ir::Value>,
    pub(crate) branch_sites: Vec<u32>,
    /// Profile-guided code: the branches whose cold side was laid out last.
    pub(crate) cold_branches: Vec<(u32, crate::ColdSide)>,
    /// The bodies being inlined, outermost first, with their inlining numbers.
    pub(crate) inline_stack: Vec<(DefinedFuncIndex, u32)>,
    /// Every inlining so far (its ranges are filled in after compilation).
    pub(crate) inline_frames: crate::InlinedFrames,
    /// Bytes of Wasm code inlined so far.
    pub(crate) inlined_bytes: usize,
    /// `call_indirect` sites (byte offsets) made guarded direct calls, with their target.
    pub(crate) speculated: Vec<(u32, DefinedFuncIndex)>,
}

/// Where one local lives (see `crate::shape`).
#[derive(Clone, Copy)]
pub(crate) enum Local {
    /// A Cranelift variable.
    Var(Variable),
    /// A stack slot holding a value of this type.
    Slot(ir::StackSlot, Type),
}

/// What translation saw, for choosing how to compile the result.
#[derive(Debug, Clone, Default)]
pub(crate) struct TranslationStats {
    /// The deepest the operand stack got: values live at once.
    pub(crate) peak_stack: usize,
    /// Defined functions the body calls directly, each once, in order of first call.
    pub(crate) callees: Vec<DefinedFuncIndex>,
    /// Byte offsets of the `call_indirect` sites that record feedback, by ordinal.
    pub(crate) call_sites: Vec<u32>,
    /// Byte offsets of the branches counted, by ordinal.
    pub(crate) branch_sites: Vec<u32>,
    /// Branches whose cold side was laid out last.
    pub(crate) cold_branches: Vec<(u32, crate::ColdSide)>,
    /// The inlinings, without their code ranges.
    pub(crate) inline_frames: crate::InlinedFrames,
    /// `call_indirect` sites (byte offsets) made guarded direct calls, with their target.
    pub(crate) speculated: Vec<(u32, DefinedFuncIndex)>,
}

/// Translates defined function `index` of `env`'s module into `func`, with its locals
/// where `locals_in` says.
pub(crate) fn translate_function(
    env: &ModuleEnv<'_>,
    index: DefinedFuncIndex,
    func: &mut ir::Function,
    fb_ctx: &mut FunctionBuilderContext,
    locals_in: LocalsIn,
) -> Result<TranslationStats> {
    let info = env.info;
    let ty = info.func_type(info.func_index(index));
    let body = info.body_reader(index);
    let osr_locals = match env.osr_loop {
        Some(_) => Some(crate::signatures::local_types(ty, &body)?),
        None => None,
    };
    func.signature = match &osr_locals {
        Some(locals) => crate::signatures::osr_signature(ty, locals),
        None => wasm_signature(ty),
    };
    let vmctx_gv = func.create_global_value(ir::GlobalValueData::VMContext);
    let readonly = func
        .dfg
        .mem_flags
        .insert_unchecked(ir::MemFlagsData::trusted().with_readonly());
    let store_ctx = func.create_global_value(ir::GlobalValueData::Load {
        base: vmctx_gv,
        offset: (crate::VmOffsets::STORE_CONTEXT as i32).into(),
        global_type: POINTER,
        flags: readonly,
    });
    let stack_limit = func.create_global_value(ir::GlobalValueData::Load {
        base: store_ctx,
        offset: (crate::store_context::STACK_LIMIT as i32).into(),
        global_type: POINTER,
        flags: readonly,
    });
    func.stack_limit = Some(stack_limit);

    let mut b = FunctionBuilder::new(func, fb_ctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let vmctx = b.block_params(entry)[0];
    let exit = b.create_block();
    for &t in ty.results() {
        b.append_block_param(exit, ir_type(t));
    }

    let mut t = FuncTranslator {
        b,
        env,
        stack: Vec::new(),
        control: Vec::new(),
        locals: Vec::new(),
        reachable: true,
        unreachable_depth: 0,
        vmctx,
        offset: body.range().start as usize,
        sigs: HashMap::new(),
        interrupts: Default::default(),
        builtin_sigs: HashMap::new(),
        direct_callees: HashMap::new(),
        index,
        callees: Vec::new(),
        loops_seen: 0,
        osr_header: None,
        call_sites: Vec::new(),
        branch_counters: None,
        branch_sites: Vec::new(),
        cold_branches: Vec::new(),
        inline_stack: Vec::new(),
        inline_frames: Default::default(),
        inlined_bytes: 0,
        speculated: Vec::new(),
    };
    match &osr_locals {
        Some(locals) => {
            // Every local from the entry's parameters, then straight to the loop header;
            // the code before the loop is translated after, unreachable.
            for (i, &ty) in locals.iter().enumerate() {
                let v = t.b.block_params(entry)[i + 2];
                t.declare_local(ty, v, locals_in);
            }
            let header = t.b.create_block();
            t.b.ins().jump(header, &[]);
            t.osr_header = Some(header);
            let dead = t.b.create_block();
            t.b.seal_block(dead);
            t.b.switch_to_block(dead);
        }
        None => {
            t.declare_locals(entry, ty, &body, locals_in)?;
            t.count_call();
            t.load_branch_counters();
        }
    }
    let mut stats = TranslationStats {
        peak_stack: t.translate_body(&body, ty.results().len(), exit)?,
        ..TranslationStats::default()
    };
    if t.osr_header.is_some() {
        return Err(crate::Error::new(crate::ErrorKind::Codegen(format!(
            "on-stack replacement at loop {:?}: the function has no such loop with no \
             parameters on an empty operand stack",
            env.osr_loop
        ))));
    }
    t.b.finalize(env.frontend_config);
    stats.callees = std::mem::take(&mut t.callees);
    stats.call_sites = std::mem::take(&mut t.call_sites);
    stats.branch_sites = std::mem::take(&mut t.branch_sites);
    stats.cold_branches = std::mem::take(&mut t.cold_branches);
    stats.speculated = std::mem::take(&mut t.speculated);
    stats.inline_frames = std::mem::take(&mut t.inline_frames);
    Ok(stats)
}

impl<'a, 'f> FuncTranslator<'a, 'f> {
    /// Translates `body`'s operators as a function body whose `return`s and end go to
    /// `dest` with its `results` values; returns the deepest the operand stack got.
    fn translate_body(
        &mut self,
        body: &wasmparser::FunctionBody<'_>,
        results: usize,
        dest: ir::Block,
    ) -> Result<usize> {
        self.control.push(Frame {
            kind: FrameKind::Function,
            dest,
            params: 0,
            results,
            height: 0,
            branched_to: false,
        });
        let mut peak = 0;
        let mut ops = body.get_operators_reader()?;
        while !ops.eof() {
            self.offset = ops.original_position() as usize;
            ops.visit_operator(&mut Visitor(self))??;
            peak = peak.max(self.stack.len());
        }
        Ok(peak)
    }

    fn declare_locals(
        &mut self,
        entry: ir::Block,
        ty: &FuncType,
        body: &wasmparser::FunctionBody<'_>,
        locals_in: LocalsIn,
    ) -> Result {
        let params = self.b.block_params(entry)[2..].to_vec();
        self.declare_locals_with(ty, &params, body, locals_in)
    }

    /// Declares `ty`'s parameters holding `params`, then `body`'s locals, zeroed.
    pub(crate) fn declare_locals_with(
        &mut self,
        ty: &FuncType,
        params: &[Value],
        body: &wasmparser::FunctionBody<'_>,
        locals_in: LocalsIn,
    ) -> Result {
        for (&p, &v) in ty.params().iter().zip(params) {
            self.declare_local(ir_type(p), v, locals_in);
        }
        for local in body.get_locals_reader()? {
            let (count, vt) = local?;
            let vt = ir_type(vt.into());
            if count == 0 {
                continue;
            }
            let zero = self.zero(vt);
            for _ in 0..count {
                self.declare_local(vt, zero, locals_in);
            }
        }
        Ok(())
    }

    /// Adds a local of type `ty` holding `init`.
    fn declare_local(&mut self, ty: Type, init: Value, locals_in: LocalsIn) {
        let local = match locals_in {
            LocalsIn::Variables => {
                let var = self.b.declare_var(ty);
                self.b.def_var(var, init);
                Local::Var(var)
            }
            LocalsIn::Slots => {
                let size = ty.bytes();
                let slot = self.b.create_sized_stack_slot(ir::StackSlotData::new(
                    ir::StackSlotKind::ExplicitSlot,
                    size,
                    size.trailing_zeros() as u8,
                ));
                self.b.ins().stack_store(POINTER, init, slot, 0);
                Local::Slot(slot, ty)
            }
        };
        self.locals.push(local);
    }

    /// The zero (or null) value of a type.
    pub(crate) fn zero(&mut self, t: Type) -> Value {
        match t {
            types::F32 => self.b.ins().f32const(0.0),
            types::F64 => self.b.ins().f64const(0.0),
            t if t.is_vector() => {
                let c = self.b.func.dfg.constants.insert(vec![0u8; 16].into());
                self.b.ins().vconst(t, c)
            }
            t => self.b.ins().iconst(t, 0),
        }
    }

    pub(crate) fn push(&mut self, v: Value) {
        self.stack.push(v);
    }

    pub(crate) fn pop(&mut self) -> Value {
        self.stack
            .pop()
            .expect("validated: operand stack underflow")
    }

    pub(crate) fn pop2(&mut self) -> (Value, Value) {
        let b = self.pop();
        let a = self.pop();
        (a, b)
    }

    pub(crate) fn pop3(&mut self) -> (Value, Value, Value) {
        let c = self.pop();
        let (a, b) = self.pop2();
        (a, b, c)
    }

    /// The top `n` operands, oldest first.
    pub(crate) fn peekn(&self, n: usize) -> &[Value] {
        &self.stack[self.stack.len() - n..]
    }

    /// Removes and returns the top `n` operands, oldest first.
    pub(crate) fn popn(&mut self, n: usize) -> Vec<Value> {
        let at = self.stack.len() - n;
        self.stack.split_off(at)
    }

    pub(crate) fn unop(&mut self, f: impl FnOnce(&mut FunctionBuilder<'f>, Value) -> Value) {
        let a = self.pop();
        let v = f(&mut self.b, a);
        self.push(v);
    }

    pub(crate) fn binop(
        &mut self,
        f: impl FnOnce(&mut FunctionBuilder<'f>, Value, Value) -> Value,
    ) {
        let (a, b) = self.pop2();
        let v = f(&mut self.b, a, b);
        self.push(v);
    }

    /// Emits a conditional trap when `cond` is non-zero.
    pub(crate) fn trap_if(&mut self, cond: Value, kind: crate::TrapKind) {
        self.b.ins().trapnz(cond, kind.code());
    }

    /// The signature of wasm type `t`, imported into this function once.
    pub(crate) fn wasm_sig(&mut self, t: TypeIndex) -> SigRef {
        if let Some(&s) = self.sigs.get(&t) {
            return s;
        }
        let sig = wasm_signature(&self.env.info.types[t.index()]);
        let s = self.b.import_signature(sig);
        self.sigs.insert(t, s);
        s
    }

    /// Calls a runtime builtin; `args` excludes the vmctx, which is passed first.
    pub(crate) fn call_builtin(
        &mut self,
        builtin: crate::Builtin,
        args: &[Value],
    ) -> Option<Value> {
        let sig = match self.builtin_sigs.get(&builtin) {
            Some(&s) => s,
            None => {
                let sig = crate::signatures::builtin_signature(builtin, self.env.host_call_conv);
                let s = self.b.import_signature(sig);
                self.builtin_sigs.insert(builtin, s);
                s
            }
        };
        let flags = ir::MemFlagsData::trusted().with_readonly();
        let table = self.b.ins().load(
            POINTER,
            flags,
            self.vmctx,
            crate::VmOffsets::BUILTINS as i32,
        );
        let f = self
            .b
            .ins()
            .load(POINTER, flags, table, builtin.offset() as i32);
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(self.vmctx);
        all.extend_from_slice(args);
        let call = self.b.ins().call_indirect(sig, f, &all);
        self.b.inst_results(call).first().copied()
    }

    /// Calls a builtin that returns a status, trapping with `kind` when it fails.
    pub(crate) fn call_builtin_checked(
        &mut self,
        builtin: crate::Builtin,
        args: &[Value],
        kind: crate::TrapKind,
    ) {
        let status = self
            .call_builtin(builtin, args)
            .expect("status builtins return a value");
        self.trap_if(status, kind);
    }
}

/// Whether an operator is structural and must be seen even in unreachable code.
macro_rules! is_structural {
    (Block) => {
        true
    };
    (Loop) => {
        true
    };
    (If) => {
        true
    };
    (Else) => {
        true
    };
    (End) => {
        true
    };
    ($other:ident) => {
        false
    };
}

/// Generates the `VisitOperator` impl from wasmparser's operator list. Operators of the
/// proposals Kiln implements go to the translator method of the same name; the rest are
/// refused with an error naming their proposal.
macro_rules! define_visitor {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        $( define_visitor!(@one $proposal $op $({ $($arg: $argty),* })? => $visit); )*
    };
    (@one mvp $($rest:tt)*) => { define_visitor!(@supported $($rest)*); };
    (@one sign_extension $($rest:tt)*) => { define_visitor!(@supported $($rest)*); };
    (@one saturating_float_to_int $($rest:tt)*) => { define_visitor!(@supported $($rest)*); };
    (@one bulk_memory $($rest:tt)*) => { define_visitor!(@supported $($rest)*); };
    (@one tail_call $($rest:tt)*) => { define_visitor!(@supported $($rest)*); };
    (@one function_references $($rest:tt)*) => { define_visitor!(@supported $($rest)*); };
    (@one reference_types $($rest:tt)*) => { define_visitor!(@reftypes $($rest)*); };
    (@one $proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident) => {
        fn $visit(&mut self $($(, $arg: $argty)*)?) -> Result {
            $($(let _ = $arg;)*)?
            Err(Error::unsupported(
                format!("`{}` (proposal {})", stringify!($op), stringify!($proposal)),
                self.0.offset,
            ))
        }
    };
    // `select` with several result types parses under reference types but is invalid.
    (@reftypes TypedSelectMulti { $($arg:ident: $argty:ty),* } => $visit:ident) => {
        define_visitor!(@one multi_value_select TypedSelectMulti { $($arg: $argty),* } => $visit);
    };
    (@reftypes $($rest:tt)*) => { define_visitor!(@supported $($rest)*); };
    (@supported $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident) => {
        fn $visit(&mut self $($(, $arg: $argty)*)?) -> Result {
            if !self.0.reachable && !is_structural!($op) {
                return Ok(());
            }
            if self.0.reachable {
                self.0.charge(stringify!($op));
            }
            self.0.$visit($($($arg),*)?)
        }
    };
}

/// The `VisitOperator` face of a [`FuncTranslator`].
pub(crate) struct Visitor<'t, 'm, 'f>(pub(crate) &'t mut FuncTranslator<'m, 'f>);

/// Generates the `VisitSimdOperator` impl: fixed-width and relaxed SIMD are supported
/// (the validator refuses relaxed SIMD where it is turned off).
macro_rules! define_simd_visitor {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        $( define_simd_visitor!(@one $proposal $op $({ $($arg: $argty),* })? => $visit); )*
    };
    (@one simd $($rest:tt)*) => { define_visitor!(@supported $($rest)*); };
    (@one relaxed_simd $($rest:tt)*) => { define_visitor!(@supported $($rest)*); };
    (@one $proposal:ident $($rest:tt)*) => { define_visitor!(@one $proposal $($rest)*); };
}

// wasmparser's operator list names the reader lifetime `'a`.
impl<'a> VisitOperator<'a> for Visitor<'_, '_, '_> {
    type Output = Result;

    wasmparser::for_each_visit_operator!(define_visitor);

    fn simd_visitor(
        &mut self,
    ) -> Option<&mut dyn wasmparser::VisitSimdOperator<'a, Output = Self::Output>> {
        Some(self)
    }
}

impl<'a> wasmparser::VisitSimdOperator<'a> for Visitor<'_, '_, '_> {
    wasmparser::for_each_visit_simd_operator!(define_simd_visitor);
}
