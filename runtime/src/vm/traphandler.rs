//! Signal-based traps.
//!
//! Generated code never checks for most traps: an out-of-bounds heap access faults on a
//! guard page (SIGSEGV/SIGBUS), an explicit trap executes `ud2` (SIGILL), and integer
//! division faults in hardware (SIGFPE). The handler below recognises the faulting
//! instruction as a registered trap site, records the trap and a frame-pointer
//! backtrace, and jumps back to the `sigsetjmp` in `setjmp.c` taken when the host
//! entered wasm. Faults anywhere else are passed to the previously installed handler.

use super::code_memory;
use super::structs::ValRaw;
use kiln_jit::TrapKind;
use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;
use std::sync::{Once, OnceLock};

/// A trap caught while running generated code.
#[derive(Debug, Clone)]
pub struct TrapRecord {
    /// Why.
    pub kind: TrapKind,
    /// Program counters of the wasm frames, innermost first (return addresses for all
    /// but the first).
    pub frames: Vec<usize>,
    /// Cranelift's pinned register at the fault (the fuel counter as of the trapping
    /// function's last charge, when fuel is on); `None` if not from a fault.
    pub pinned: Option<u64>,
    /// The faulting address of a memory access (SIGSEGV/SIGBUS), if any.
    pub fault_address: Option<usize>,
}

/// One entry into generated code on this thread.
struct Activation {
    /// The jump buffer of `kiln_call_catching`, published by the C side.
    jmp_buf: *mut c_void,
    /// Set by the signal handler just before it jumps.
    trap: Option<TrapRecord>,
    /// The enclosing activation (a host function may call back into wasm).
    prev: *mut Activation,
}

thread_local! {
    static CURRENT: Cell<*mut Activation> = const { Cell::new(ptr::null_mut()) };
}

/// Signature of an array-call trampoline.
pub type ArrayCall =
    unsafe extern "C" fn(func_ref: *const u8, caller_vmctx: *mut u8, values: *mut ValRaw);

unsafe extern "C" {
    fn kiln_call_catching(
        jmp_out: *mut *mut c_void,
        f: ArrayCall,
        func_ref: *const u8,
        caller_vmctx: *mut u8,
        values: *mut ValRaw,
    ) -> i32;
    fn kiln_unwind(jmp: *mut c_void) -> !;
}

/// Calls `trampoline(func_ref, caller_vmctx, values)`, turning any trap raised by
/// generated code into `Err`.
///
/// # Safety
/// `trampoline` must be the address of an array-call trampoline of the signature of
/// `func_ref`, and
/// `values` must hold as many slots as the larger of its parameter and result counts,
/// with valid parameters. The store owning the code must stay alive and unborrowed
/// (except through the raw pointers the generated code uses) for the call.
pub unsafe fn call_catching(
    trampoline: usize,
    func_ref: *const u8,
    caller_vmctx: *mut u8,
    values: *mut ValRaw,
) -> Result<(), TrapRecord> {
    init();
    altstack::ensure();
    let mut activation = Activation {
        jmp_buf: ptr::null_mut(),
        trap: None,
        prev: CURRENT.with(Cell::get),
    };
    let act: *mut Activation = &mut activation;
    CURRENT.with(|c| c.set(act));
    // SAFETY: the caller guarantees `trampoline` is the address of an array-call
    // trampoline, so it has `ArrayCall`'s type.
    let trampoline = unsafe { std::mem::transmute::<usize, ArrayCall>(trampoline) };
    // SAFETY: the caller guarantees the trampoline contract. `act` outlives the call;
    // the handler reaches it only through `CURRENT` while the call runs. A trap jumps
    // back into `kiln_call_catching`, skipping only generated frames and the handler.
    let ok = unsafe {
        kiln_call_catching(
            &raw mut (*act).jmp_buf,
            trampoline,
            func_ref,
            caller_vmctx,
            values,
        )
    };
    // SAFETY: `act` is still our local; the handler has finished with it.
    let (prev, trap) = unsafe { ((*act).prev, (*act).trap.take()) };
    CURRENT.with(|c| c.set(prev));
    if ok != 0 {
        return Ok(());
    }
    Err(trap.unwrap_or(TrapRecord {
        kind: TrapKind::HostError,
        frames: Vec::new(),
        pinned: None,
        fault_address: None,
    }))
}

/// Leaves generated code for the innermost [`call_catching`], which then reports a trap
/// of `kind` without frames: how a host function called directly from generated code
/// (a typed entry) fails. For `TrapKind::HostError` its error or panic is already
/// parked in the store.
///
/// # Safety
/// Only from a host entry that generated code called, on this thread, inside
/// `call_catching`: the jump skips that entry's frame and generated frames, so the
/// caller must hold nothing that needs dropping.
pub unsafe fn raise(kind: TrapKind) -> ! {
    let act = CURRENT.with(Cell::get);
    if act.is_null() {
        // Not inside `call_catching`: a broken contract with no frame to return to.
        std::process::abort();
    }
    // SAFETY: `act` is this thread's live activation; its `kiln_call_catching` frame
    // is below us, and the frames the jump skips hold nothing to drop (contract).
    unsafe {
        (*act).trap = Some(TrapRecord {
            kind,
            frames: Vec::new(),
            pinned: None,
            fault_address: None,
        });
        kiln_unwind((*act).jmp_buf)
    }
}

const SIGNALS: [libc::c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

/// The handlers installed before Kiln's, by position in `SIGNALS`. Set once, right
/// after installation; a signal in between finds it empty and gets the default action.
static PREVIOUS: OnceLock<[libc::sigaction; 4]> = OnceLock::new();
static INIT: Once = Once::new();

/// Installs the trap handlers once per process.
pub fn init() {
    INIT.call_once(|| {
        // SAFETY: `sigaction` is plain old data; all-zero is a valid (default) value.
        let mut previous: [libc::sigaction; 4] = unsafe { std::mem::zeroed() };
        for (i, &sig) in SIGNALS.iter().enumerate() {
            // SAFETY: a zeroed sigaction is valid; we fill in handler, flags and an
            // empty mask, then install it, receiving the old one in `previous[i]`.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = handler as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                if libc::sigaction(sig, &action, &mut previous[i]) != 0 {
                    panic!("cannot install the handler for signal {sig}");
                }
            }
        }
        let _ = PREVIOUS.set(previous);
    });
}

/// Program counter, frame pointer, stack pointer and pinned register at the fault.
///
/// # Safety
/// `ctx` must be the `ucontext_t` passed to a signal handler.
unsafe fn registers(ctx: *mut c_void) -> (usize, usize, usize, u64) {
    let ctx = ctx.cast::<libc::ucontext_t>();
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the kernel passes a valid ucontext_t.
        let gregs = unsafe { &(*ctx).uc_mcontext.gregs };
        (
            gregs[libc::REG_RIP as usize] as usize,
            gregs[libc::REG_RBP as usize] as usize,
            gregs[libc::REG_RSP as usize] as usize,
            gregs[libc::REG_R15 as usize] as u64,
        )
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: the kernel passes a valid ucontext_t.
        let mc = unsafe { &(*ctx).uc_mcontext };
        (
            mc.pc as usize,
            mc.regs[29] as usize,
            mc.sp as usize,
            mc.regs[21],
        )
    }
}

/// Faults within this distance below the stack pointer are stack overflows.
const STACK_FAULT_WINDOW: usize = 1 << 20;

unsafe extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let act = CURRENT.with(Cell::get);
    if !act.is_null() {
        // SAFETY: the kernel passes a valid context to a SA_SIGINFO handler.
        let (pc, fp, sp, pinned) = unsafe { registers(ctx) };
        let kind = code_memory::lookup_trap(pc).or_else(|| {
            // A fault inside generated code that is not a trap site can only be the
            // thread's own stack guard: the wasm stack limit lies below the real stack.
            // SAFETY: `info` is valid for SIGSEGV/SIGBUS handlers.
            let addr = unsafe { (*info).si_addr() } as usize;
            let near_sp =
                addr < sp.saturating_add(4096) && addr >= sp.saturating_sub(STACK_FAULT_WINDOW);
            (matches!(sig, libc::SIGSEGV | libc::SIGBUS)
                && near_sp
                && code_memory::is_generated_code(pc))
            .then_some(TrapKind::StackOverflow)
        });
        let fault_address = matches!(sig, libc::SIGSEGV | libc::SIGBUS).then(|| {
            // SAFETY: `info` is valid for SIGSEGV/SIGBUS handlers.
            unsafe { (*info).si_addr() as usize }
        });
        if let Some(kind) = kind {
            // SAFETY: `fp` is the frame pointer of generated code, which keeps frame
            // pointers; the walk stops at the first return address outside it.
            let frames = unsafe { super::backtrace::capture(pc, fp) };
            // SAFETY: `act` is the live activation of this thread (see `call_catching`);
            // the jump resumes in its `kiln_call_catching` frame, which is still live.
            unsafe {
                (*act).trap = Some(TrapRecord {
                    kind,
                    frames,
                    pinned: Some(pinned),
                    fault_address,
                });
                kiln_unwind((*act).jmp_buf);
            }
        }
    }
    // SAFETY: forwarding to the handler that was installed before ours.
    unsafe { forward(sig, info, ctx) }
}

/// Hands a signal that is not a Kiln trap to the handler installed before Kiln's.
unsafe fn forward(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let Some(i) = SIGNALS.iter().position(|&s| s == sig) else {
        return;
    };
    let h = PREVIOUS.get().map_or(libc::SIG_DFL, |p| p[i].sa_sigaction);
    let flags = PREVIOUS.get().map_or(0, |p| p[i].sa_flags);
    if h == libc::SIG_DFL || h == libc::SIG_IGN {
        // Restore the default action and return: the faulting instruction runs again
        // and the process gets the default treatment (a core dump), as without Kiln.
        // SAFETY: resetting a signal's disposition has no memory-safety preconditions.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
    } else if flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with this signature.
        unsafe {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) =
                std::mem::transmute(h);
            f(sig, info, ctx);
        }
    } else {
        // SAFETY: the previous handler was installed with the one-argument signature.
        unsafe {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(h);
            f(sig);
        }
    }
}

/// A per-thread alternate signal stack, so that the handler can run even when a fault
/// is caused by the thread's own stack being exhausted.
mod altstack {
    use super::super::mmap::Mmap;
    use std::cell::RefCell;

    const SIZE: usize = 64 << 10;

    /// Owns the stack's memory; unmapped after `drop` disables the stack.
    struct AltStack(#[allow(dead_code, reason = "owned for its Drop")] Mmap);

    impl Drop for AltStack {
        fn drop(&mut self) {
            // SAFETY: disabling the alternate stack of the current (exiting) thread
            // before its memory is unmapped.
            unsafe {
                let disable = libc::stack_t {
                    ss_sp: std::ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: SIZE,
                };
                libc::sigaltstack(&disable, std::ptr::null_mut());
            }
        }
    }

    thread_local! {
        static STACK: RefCell<Option<AltStack>> = const { RefCell::new(None) };
    }

    /// Installs an alternate signal stack on this thread unless one exists.
    pub fn ensure() {
        STACK.with(|s| {
            if s.borrow().is_some() {
                return;
            }
            // SAFETY: querying the current alternate stack into a zeroed stack_t.
            let existing = unsafe {
                let mut old: libc::stack_t = std::mem::zeroed();
                libc::sigaltstack(std::ptr::null(), &mut old);
                old
            };
            if existing.ss_flags & libc::SS_DISABLE == 0 && existing.ss_size >= SIZE {
                return;
            }
            let page = super::super::mmap::page_size();
            let Ok(mut mmap) = Mmap::reserve(SIZE + page) else {
                return;
            };
            // The first page stays inaccessible as a guard.
            if mmap.make_accessible(page, SIZE).is_err() {
                return;
            }
            let stack = libc::stack_t {
                // SAFETY: `page` is within the mapping.
                ss_sp: unsafe { mmap.as_ptr().add(page) }.cast(),
                ss_flags: 0,
                ss_size: SIZE,
            };
            // SAFETY: the stack memory is mapped read-write and lives in `STACK` until
            // the thread exits, when `AltStack::drop` disables it first.
            if unsafe { libc::sigaltstack(&stack, std::ptr::null_mut()) } == 0 {
                *s.borrow_mut() = Some(AltStack(mmap));
            }
        });
    }
}
