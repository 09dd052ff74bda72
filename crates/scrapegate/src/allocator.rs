//! The process's global allocator: mimalloc, asked for plain blocks whenever a plain block is
//! aligned enough.
//!
//! Every mimalloc block is aligned to at least a machine word, so a layout asking for no more
//! goes to `mi_malloc`. Only larger alignments take `mi_malloc_aligned`. Sending everything
//! there (as the `mimalloc` crate does) is not free with mimalloc 3: when the thread's page
//! for the size has no free block, or the size is over 1 KiB, it leaves its fast path and
//! over-allocates by `align - 1` bytes for any size whose block is not a power of two. The
//! proxy path hit that about six times per request (`loadtest/profile instructions`).

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// Alignment every `mi_malloc` block has.
const WORD: usize = std::mem::size_of::<usize>();

/// Whether a plain (word-aligned) mimalloc block satisfies `layout`.
#[inline]
fn plain_block_fits(layout: Layout) -> bool {
    layout.align() <= WORD
}

/// mimalloc as the global allocator (see the module doc).
pub struct Mimalloc;

// SAFETY: every path returns a block of at least `layout.size()` bytes aligned to
// `layout.align()` (mimalloc's blocks are word-aligned; larger alignments are requested
// explicitly), or null; `mi_free` and `mi_realloc` accept blocks from any of the calls used.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain FFI calls; the size and alignment come from a valid `Layout`.
        unsafe { by_alignment(layout, mi::mi_malloc, mi::mi_malloc_aligned) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe { by_alignment(layout, mi::mi_zalloc, mi::mi_zalloc_aligned) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (the `GlobalAlloc` contract).
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`; `mi_realloc` keeps word
        // alignment, `mi_realloc_aligned` the larger one.
        unsafe {
            if plain_block_fits(layout) {
                mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}

/// Calls `plain` when a word-aligned block will do, else `aligned` with the alignment.
///
/// # Safety
/// `plain` and `aligned` must be mimalloc allocation functions.
#[inline]
unsafe fn by_alignment(
    layout: Layout,
    plain: unsafe extern "C" fn(usize) -> *mut c_void,
    aligned: unsafe extern "C" fn(usize, usize) -> *mut c_void,
) -> *mut u8 {
    // SAFETY: the caller passes mimalloc functions; they take any size and a power-of-two
    // alignment, which a `Layout` guarantees.
    unsafe {
        if plain_block_fits(layout) {
            plain(layout.size()).cast()
        } else {
            aligned(layout.size(), layout.align()).cast()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks of every alignment up to a page, in sizes around each alignment, come back
    /// aligned and writable, keep their contents when grown, and come zeroed when asked.
    #[test]
    fn blocks_are_aligned_and_keep_their_contents() {
        let a = Mimalloc;
        for align in [1, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for size in [1, 7, 8, 24, 112, 1000, 1025, 6200, 70_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: non-zero sizes; every block is freed with the layout it has.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    p.write_bytes(0xa5, size);
                    let grown = a.realloc(p, layout, size * 3);
                    assert_eq!(grown as usize % align, 0, "grown {size} align {align}");
                    assert!(
                        std::slice::from_raw_parts(grown, size)
                            .iter()
                            .all(|&b| b == 0xa5)
                    );
                    let layout3 = Layout::from_size_align(size * 3, align).unwrap();
                    a.dealloc(grown, layout3);
                    let z = a.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0);
                    assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
