//! A function's shape, read before it is translated, and the compilation strategy its
//! shape calls for.
//!
//! Cranelift's SSA construction (cranelift-frontend's `Variable`s) costs about
//! `locals² × blocks` in the worst case: every merge point reached while a local is live
//! gets a block parameter for it, and removing each redundant one rewrites the block's
//! parameter list and its predecessors' arguments. Measured here (release build): an
//! 11 KB function of 1,000 nested loops and 2,000 locals took 10 s, a 31 KB `br_table`
//! over 2,000 blocks with 1,000 live locals 10 s and 840 MB, one loop reading 50,000
//! locals 7 s; about 3–5 ns per unit of `locals² × blocks`. A function whose estimate
//! passes [`CompileBudget::max_ssa_cost`] therefore keeps its locals in stack slots
//! instead (`LocalsIn::Slots`): every `local.get` is a load and every `local.set` a
//! store, which no SSA construction has to thread through the control flow. Its code
//! is slower, but compiling it is linear.

use kiln_frontend::wasmparser::{self, Operator};
use kiln_frontend::{DefinedFuncIndex, ModuleInfo};

/// What a function body contains, counted before translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FunctionShape {
    /// Parameters plus declared locals.
    pub locals: u64,
    /// `block`, `loop` and `if` operators (each makes at least one merge point).
    pub blocks: u64,
    /// Operators in the body.
    pub operators: u64,
    /// Bytes of the body.
    pub bytes: u64,
}

impl FunctionShape {
    /// The SSA construction's worst-case cost estimate, `locals² × blocks` (the
    /// function body counts as a block).
    pub fn ssa_cost(&self) -> u64 {
        self.locals
            .saturating_mul(self.locals)
            .saturating_mul(self.blocks + 1)
    }
}

/// Limits on what compiling a module may cost, and the cheaper paths past them.
///
/// The defaults sit well above every function of the sightglass programs and of
/// CPython 3.12 (whose largest function has 188 locals, 550 blocks and 41,889
/// operators; `locals² × blocks` is 19.5 million, 28 million summed over the module),
/// and well below the shapes that blow up (BENCHMARKS.md, "Compilation bounds").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileBudget {
    /// A function whose `locals² × blocks` exceeds this keeps its locals in stack
    /// slots (see the module docs).
    pub max_ssa_cost: u64,
    /// Past this sum of `locals² × blocks` over a module's functions that keep
    /// variables, the costliest of them keep stack slots too.
    pub max_module_ssa_cost: u64,
    /// A function of more operators than this is compiled with `opt_level=none` and
    /// single-pass register allocation: optimization and backtracking allocation grow
    /// faster than linearly on huge bodies (600,000 straight-line operators took 6.6 s
    /// and 500 MB optimized, 0.35 s and 54 MB this way).
    pub max_optimized_operators: u64,
    /// Likewise for a function whose operand stack ever holds more values than this at
    /// once: 150,000 live values took the backtracking allocator over 200 s, the
    /// single-pass one 0.4 s.
    pub max_optimized_stack: u64,
    /// The most memory, estimated from operator counts, that the functions compiled at
    /// once may need. A function that alone needs more is refused; otherwise fewer
    /// functions are compiled in parallel.
    pub max_memory: u64,
}

impl Default for CompileBudget {
    fn default() -> Self {
        CompileBudget {
            max_ssa_cost: DEFAULT_MAX_SSA_COST,
            max_module_ssa_cost: 5 * DEFAULT_MAX_SSA_COST / 2,
            max_optimized_operators: 100_000,
            max_optimized_stack: 1_000,
            max_memory: 1536 << 20,
        }
    }
}

/// The default [`CompileBudget::max_ssa_cost`]: 400 million (1–2 s of SSA
/// construction at worst, and only if the body really uses every local after every
/// merge; 20× CPython's costliest function). A module's functions together get 2.5×
/// that.
pub const DEFAULT_MAX_SSA_COST: u64 = 400_000_000;

/// Estimated compiler memory per operator, optimized (measured up to about 830 bytes
/// on straight-line code, with margin).
const OPTIMIZED_BYTES_PER_OPERATOR: u64 = 1536;
/// Estimated compiler memory per operator on the cheap path (measured 90–220 bytes).
const CHEAP_BYTES_PER_OPERATOR: u64 = 384;
/// Memory any function needs besides its operators.
const BASE_BYTES: u64 = 1 << 20;

/// Where a function's locals live while it is translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LocalsIn {
    /// Cranelift variables (SSA values in registers): the fast code.
    Variables,
    /// One stack slot each: linear to compile whatever the control flow.
    Slots,
}

/// Counts the shape of defined function `index`.
pub fn function_shape(
    info: &ModuleInfo,
    index: DefinedFuncIndex,
) -> Result<FunctionShape, wasmparser::BinaryReaderError> {
    let body = info.body_reader(index);
    let ty = info.func_type(info.func_index(index));
    let mut shape = FunctionShape {
        locals: ty.params().len() as u64,
        bytes: body.range().end - body.range().start,
        ..FunctionShape::default()
    };
    for local in body.get_locals_reader()? {
        shape.locals += u64::from(local?.0);
    }
    let mut ops = body.get_operators_reader()?;
    while !ops.eof() {
        match ops.read()? {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                shape.blocks += 1
            }
            _ => {}
        }
        shape.operators += 1;
    }
    Ok(shape)
}

/// How one function is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FunctionPlan {
    pub(crate) shape: FunctionShape,
    pub(crate) locals_in: LocalsIn,
}

impl CompileBudget {
    /// Plans every defined function of `info`: where its locals live (per function,
    /// then within the module's total), and checks the memory estimate. Returns the
    /// plans and how many functions may be compiled at once (at most `threads`).
    pub(crate) fn plan(
        &self,
        info: &ModuleInfo,
        threads: usize,
    ) -> Result<(Vec<FunctionPlan>, usize), crate::Error> {
        let mut plans = Vec::with_capacity(info.num_defined_funcs() as usize);
        for d in 0..info.num_defined_funcs() {
            let shape = function_shape(info, DefinedFuncIndex::from_u32(d))?;
            plans.push(self.plan_by_cost(shape));
        }
        // Within the module's total, the costliest functions give up variables first.
        let mut total: u64 = plans
            .iter()
            .filter(|p| p.locals_in == LocalsIn::Variables)
            .map(|p| p.shape.ssa_cost())
            .fold(0, u64::saturating_add);
        if total > self.max_module_ssa_cost {
            let mut order: Vec<usize> = (0..plans.len()).collect();
            order.sort_by_key(|&i| std::cmp::Reverse(plans[i].shape.ssa_cost()));
            for i in order {
                if total <= self.max_module_ssa_cost {
                    break;
                }
                if plans[i].locals_in == LocalsIn::Variables {
                    plans[i].locals_in = LocalsIn::Slots;
                    total -= plans[i].shape.ssa_cost();
                }
            }
        }
        // Memory: refuse what cannot fit alone, and run fewer at once if the largest
        // `threads` would not fit together.
        let mut estimates = Vec::with_capacity(plans.len());
        for (d, p) in plans.iter().enumerate() {
            estimates.push(self.fitting_estimate(
                info,
                DefinedFuncIndex::from_u32(d as u32),
                &p.shape,
            )?);
        }
        estimates.sort_unstable_by(|a, b| b.cmp(a));
        let mut parallel = threads.max(1);
        while parallel > 1 && estimates.iter().take(parallel).sum::<u64>() > self.max_memory {
            parallel -= 1;
        }
        Ok((plans, parallel))
    }

    /// Plans defined function `d` alone, for compiling it by itself: its locals'
    /// home by its own cost (no module total applies), and its memory estimate checked.
    pub(crate) fn plan_one(
        &self,
        info: &ModuleInfo,
        d: DefinedFuncIndex,
    ) -> Result<FunctionPlan, crate::Error> {
        let shape = function_shape(info, d)?;
        self.fitting_estimate(info, d, &shape)?;
        Ok(self.plan_by_cost(shape))
    }

    /// A function's plan by its own SSA cost: variables, or stack slots past the bound.
    fn plan_by_cost(&self, shape: FunctionShape) -> FunctionPlan {
        let locals_in = if shape.ssa_cost() > self.max_ssa_cost {
            LocalsIn::Slots
        } else {
            LocalsIn::Variables
        };
        FunctionPlan { shape, locals_in }
    }

    /// The compiler memory defined function `d` of `shape` may need, refused when it
    /// is more than the limit.
    fn fitting_estimate(
        &self,
        info: &ModuleInfo,
        d: DefinedFuncIndex,
        shape: &FunctionShape,
    ) -> Result<u64, crate::Error> {
        let estimate = self.memory_estimate(shape);
        if estimate > self.max_memory {
            return Err(crate::Error::new(crate::ErrorKind::Limit(format!(
                "function {} ({} operators) would need about {} MiB to compile, more than \
                 the limit of {} MiB",
                info.func_index(d).as_u32(),
                shape.operators,
                estimate >> 20,
                self.max_memory >> 20
            ))));
        }
        Ok(estimate)
    }

    /// Whether a function of `shape`, whose operand stack peaked at `peak_stack`, takes
    /// the cheap path.
    pub(crate) fn cheap(&self, shape: &FunctionShape, peak_stack: usize) -> bool {
        shape.operators > self.max_optimized_operators
            || peak_stack as u64 > self.max_optimized_stack
    }

    /// The compiler memory a function of `shape` may need (from its operator count; the
    /// cheap path if its size alone sends it there).
    fn memory_estimate(&self, shape: &FunctionShape) -> u64 {
        let per_op = if shape.operators > self.max_optimized_operators {
            CHEAP_BYTES_PER_OPERATOR
        } else {
            OPTIMIZED_BYTES_PER_OPERATOR
        };
        BASE_BYTES.saturating_add(shape.operators.saturating_mul(per_op))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(wat: &str) -> ModuleInfo {
        let bytes = wat::parse_str(wat).expect("valid text");
        kiln_frontend::parse(&bytes, Default::default()).expect("valid module")
    }

    /// `depth` nested loops reading `locals` locals in the innermost.
    fn nested_loops(depth: usize, locals: usize) -> String {
        let gets: String = (0..locals)
            .map(|i| format!(" local.get {i} drop"))
            .collect();
        format!(
            "(module (func {} {} {gets} {}))",
            "(local i32)".repeat(locals),
            "loop ".repeat(depth),
            "end ".repeat(depth)
        )
    }

    #[test]
    fn shapes_are_counted() {
        let i = info("(module (func (param i32) (local i64 i64) (block (loop (br 1))) (if (local.get 0) (then nop))))");
        let s = function_shape(&i, DefinedFuncIndex::from_u32(0)).expect("shape");
        assert_eq!((s.locals, s.blocks), (3, 3));
        assert_eq!(s.ssa_cost(), 9 * 4);
    }

    #[test]
    fn pathological_functions_keep_locals_in_slots() {
        let budget = CompileBudget::default();
        // 1,000 nested loops reading 2,000 locals took 10 s with variables.
        let (plans, _) = budget
            .plan(&info(&nested_loops(1000, 2000)), 2)
            .expect("plan");
        assert_eq!(plans[0].locals_in, LocalsIn::Slots);
        // Ordinary code keeps variables: CPython's costliest function is 188 locals in
        // 550 blocks.
        let (plans, _) = budget
            .plan(&info(&nested_loops(550, 188)), 2)
            .expect("plan");
        assert_eq!(plans[0].locals_in, LocalsIn::Variables);
    }

    #[test]
    fn a_module_shares_one_ssa_budget() {
        // Ten functions each under the per-function limit, together over the module's.
        let one = nested_loops(60, 1000); // 1000² × 61 = 61 million each
        let funcs: String = (0..20)
            .map(|_| {
                one.trim_start_matches("(module ")
                    .trim_end_matches(')')
                    .to_string()
                    + ")"
            })
            .collect();
        let budget = CompileBudget {
            max_module_ssa_cost: 500_000_000,
            ..CompileBudget::default()
        };
        let (plans, _) = budget
            .plan(&info(&format!("(module {funcs})")), 2)
            .expect("plan");
        let vars = plans
            .iter()
            .filter(|p| p.locals_in == LocalsIn::Variables)
            .count();
        assert_eq!(vars, 8, "8 × 61 million fit in 500 million");
    }

    #[test]
    fn huge_or_crowded_functions_take_the_cheap_path() {
        let b = CompileBudget::default();
        let huge = FunctionShape {
            operators: 200_000,
            ..FunctionShape::default()
        };
        assert!(b.cheap(&huge, 10));
        assert!(
            b.cheap(&FunctionShape::default(), 5_000),
            "5,000 live values"
        );
        assert!(!b.cheap(&FunctionShape::default(), 50));
    }

    #[test]
    fn compile_memory_is_bounded() {
        let wat = format!("(module (func {}))", "i32.const 1 drop ".repeat(50_000));
        let budget = CompileBudget {
            max_memory: 16 << 20,
            ..CompileBudget::default()
        };
        let err = budget.plan(&info(&wat), 2).expect_err("100,000 operators");
        assert!(
            err.to_string().contains("more than the limit of 16 MiB"),
            "{err}"
        );
        // With room for one function at a time, parallelism drops instead.
        let two = format!(
            "(module (func {0}) (func {0}))",
            "i32.const 1 drop ".repeat(5_000)
        );
        let budget = CompileBudget {
            max_memory: 20 << 20,
            ..CompileBudget::default()
        };
        let (_, parallel) = budget.plan(&info(&two), 2).expect("plan");
        assert_eq!(parallel, 1);
    }
}
