//! Walking the frames of generated code, which always keeps frame pointers.

use super::code_memory;

/// At most this many frames are recorded.
pub const MAX_FRAMES: usize = 4096;

/// Program counters from the trap at `pc` outwards, while they are in generated code.
///
/// # Safety
/// `fp` must be the frame pointer register at `pc`, inside generated code that keeps a
/// frame-pointer chain: `[fp]` is the caller's frame pointer and `[fp + 8]` the return
/// address, up to the first frame outside generated code.
pub unsafe fn capture(pc: usize, mut fp: usize) -> Vec<usize> {
    let mut frames = vec![pc];
    while frames.len() < MAX_FRAMES && fp != 0 && fp.is_multiple_of(std::mem::align_of::<usize>()) {
        // SAFETY: per the contract, `fp` points at a saved-fp/return-address pair.
        let (next_fp, ret) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if !code_memory::is_generated_code(ret) {
            break;
        }
        // Point into the call instruction, so the frame belongs to the caller.
        frames.push(ret - 1);
        if next_fp <= fp {
            break;
        }
        fp = next_fp;
    }
    frames
}
