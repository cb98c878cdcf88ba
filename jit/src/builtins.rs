//! Functions of the runtime that generated code calls, through the `VMBuiltins` table
//! whose address is in every vmctx. This list is the single source of truth: the runtime
//! builds its table with [`for_each_builtin!`], so order and signatures cannot drift.
//!
//! Every builtin takes the caller's vmctx first. Types: `vmctx`/`ptr` are pointers, `i32`
//! and `i64` are integers. A builtin returning `status` returns 0 on success and 1 when
//! the operation traps with the kind its caller checks for.

/// Invokes `$mac!` with the list of builtins: `name(params) -> result;`.
#[macro_export]
macro_rules! for_each_builtin {
    ($mac:ident) => {
        $mac! {
            /// `memory.grow`: returns the old size in pages, or -1. Addresses, sizes
            /// and element indices are passed as i64 for 32- and 64-bit memories and
            /// tables alike; generated code widens and narrows.
            memory_grow(vmctx, i32 /* memory */, i64 /* delta */) -> i64;
            /// `memory.size` is inline; `memory.copy`.
            memory_copy(vmctx, i32 /* dst mem */, i64 /* dst */, i32 /* src mem */, i64 /* src */, i64 /* len */) -> status;
            /// `memory.fill`.
            memory_fill(vmctx, i32 /* memory */, i64 /* dst */, i32 /* byte */, i64 /* len */) -> status;
            /// `memory.init`.
            memory_init(vmctx, i32 /* memory */, i32 /* data */, i64 /* dst */, i32 /* src */, i32 /* len */) -> status;
            /// `data.drop`.
            data_drop(vmctx, i32 /* data */) -> void;
            /// `table.grow`: returns the old size, or -1.
            table_grow(vmctx, i32 /* table */, i64 /* delta */, ptr /* init */) -> i64;
            /// `table.fill`.
            table_fill(vmctx, i32 /* table */, i64 /* dst */, ptr /* value */, i64 /* len */) -> status;
            /// `table.copy`.
            table_copy(vmctx, i32 /* dst table */, i32 /* src table */, i64 /* dst */, i64 /* src */, i64 /* len */) -> status;
            /// `table.init`.
            table_init(vmctx, i32 /* table */, i32 /* elem */, i64 /* dst */, i32 /* src */, i32 /* len */) -> status;
            /// `elem.drop`.
            elem_drop(vmctx, i32 /* elem */) -> void;
            /// Lazy and tiered code, calling a function whose code slot is still 0: the
            /// code of the function `func_ref` names, compiled now (once, however many
            /// threads ask). 0 when it cannot be compiled: the runtime holds the error
            /// and the caller traps with `HostError`.
            compile_func_ref(vmctx, ptr /* func_ref */) -> ptr;
            /// Tiered baseline code: a counter of the defined function reached the
            /// policy's threshold; the runtime may queue the function for optimization.
            tier_up(vmctx, i32 /* defined function */) -> void;
            /// Tiered baseline code, at a loop header every few iterations: the runtime
            /// queues the function (and an on-stack-replacement variant entered at this
            /// loop, unless the loop is `u32::MAX`: not enterable) once the loop count
            /// passes its threshold. Returns the variant's code when it is ready, else 0.
            loop_poll(vmctx, i32 /* defined function */, i32 /* loop ordinal */) -> ptr;
            /// Tiered baseline code, at a `call_indirect` site (by ordinal in the
            /// function) whose feedback is not allocated yet, or whose first recorded
            /// target is not `func_ref`: the runtime allocates the function's feedback
            /// and records the call.
            record_call_target(vmctx, i32 /* defined function */, i32 /* site */, ptr /* func_ref */) -> void;
            /// Profile-guided baseline code, entering a function whose branch counters
            /// are not allocated yet: the runtime allocates them (one `VMBranchCounts`
            /// per counted branch of the function's code, at least one), stores their
            /// address in the function's counters and returns it.
            branch_counters(vmctx, i32 /* defined function */) -> ptr;
        }
    };
}

macro_rules! declare_builtins {
    ($($(#[$doc:meta])* $name:ident($($param:ident),*) -> $ret:ident;)*) => {
        /// A runtime function callable from generated code.
        #[allow(non_camel_case_types, reason = "names mirror the runtime functions")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Builtin {
            $($(#[$doc])* $name,)*
        }

        impl Builtin {
            /// All builtins, in table order.
            pub const ALL: &'static [Builtin] = &[$(Builtin::$name,)*];

            /// Parameter kinds; the first is always the caller's vmctx.
            pub(crate) fn params(self) -> &'static [BuiltinType] {
                match self {
                    $(Builtin::$name => &[$(BuiltinType::$param),*],)*
                }
            }

            /// Result kind.
            pub(crate) fn result(self) -> BuiltinType {
                match self {
                    $(Builtin::$name => BuiltinType::$ret,)*
                }
            }
        }
    };
}

/// The kinds of builtin parameters and results.
#[allow(
    non_camel_case_types,
    reason = "they mirror the names in the builtin list"
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BuiltinType {
    vmctx,
    ptr,
    i32,
    i64,
    status,
    void,
}

for_each_builtin!(declare_builtins);

impl Builtin {
    /// Byte offset of this builtin's pointer within `VMBuiltins`.
    pub fn offset(self) -> u32 {
        8 * self as u32
    }
}
