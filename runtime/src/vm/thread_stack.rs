//! The bounds of the current thread's native stack, so that the wasm stack limit can
//! leave host code a reserve below it (see `Config::host_stack_reserve`).

use std::cell::Cell;

thread_local! {
    /// The lowest usable address of this thread's stack, once asked (0: unknown).
    static LOW: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The lowest address of the current thread's stack (above its guard page), or `None`
/// if the platform does not say. Asked once per thread: glibc reads `/proc/self/maps`
/// for the main thread.
pub fn low_address() -> Option<usize> {
    LOW.with(|low| {
        if let Some(v) = low.get() {
            return (v != 0).then_some(v);
        }
        let v = query().unwrap_or(0);
        low.set(Some(v));
        (v != 0).then_some(v)
    })
}

#[cfg(target_os = "linux")]
fn query() -> Option<usize> {
    let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: `pthread_getattr_np` initializes `attr` for the calling thread (on
    // success only, checked), and `pthread_self` is always valid.
    let ok = unsafe { libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) } == 0;
    if !ok {
        return None;
    }
    let mut addr: *mut libc::c_void = std::ptr::null_mut();
    let mut size: libc::size_t = 0;
    // SAFETY: `attr` was initialized above; the out-pointers are valid locals. The
    // attribute object is destroyed exactly once, after its last use.
    let ok = unsafe {
        let ok = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        ok
    };
    // The range starts at the lowest address; glibc includes the guard page in it for
    // threads it created, so step over one page to stay off it.
    (ok && !addr.is_null()).then(|| addr as usize + super::mmap::page_size())
}

#[cfg(not(target_os = "linux"))]
fn query() -> Option<usize> {
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stack_pointer_is_above_the_low_address() {
        let low = super::low_address().expect("Linux reports thread stacks");
        let sp = super::super::stack_pointer();
        assert!(sp > low, "{sp:#x} > {low:#x}");
        let t = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(|| {
                let low = super::low_address().expect("spawned thread");
                let sp = super::super::stack_pointer();
                sp - low
            })
            .expect("spawn")
            .join()
            .expect("join");
        assert!(t < 256 << 10, "{t} bytes left on a 256 KiB thread");
    }
}
