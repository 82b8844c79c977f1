//! The process's allocator: blocks under a page from mimalloc, blocks of a page or more from
//! the system's allocator.
//!
//! Most of a request's own work is small short-lived allocations. glibc's allocator showed as
//! about 15% of a warm read's profile. mimalloc, with its heap on transparent huge pages, is
//! what makes a warm read cheap: on the 2-core machine 11 µs of CPU per request against 17 µs
//! with mimalloc on ordinary pages (the only difference being the page size). But a huge
//! page is resident as a whole, so a buffer there costs its full size even where nothing was
//! ever written. Each HTTP connection holds two 8 KiB buffers of which an idle change stream
//! writes a few hundred bytes: with everything on mimalloc's huge pages an idle stream cost about 21 KiB of
//! resident memory, with large blocks from the system's allocator (ordinary pages, untouched
//! ones never resident) about 13 KiB. Large blocks are few on the hot path (one 8 KiB read
//! buffer per request, which hyper takes anew while the request holds the old one).

use std::alloc::{GlobalAlloc, Layout, System};
use std::time::Duration;

use mimalloc::MiMalloc;

/// Blocks of at least this many bytes go to the system's allocator.
pub const LARGE: usize = 4096;

/// Blocks of at least this many bytes get pages of their own from the system's allocator,
/// returned to the system when freed.
const OWN_PAGES: i32 = 128 * 1024;

/// How often memory freed inside glibc's arenas is handed back to the system.
pub const GIVE_BACK_EVERY: Duration = Duration::from_secs(5);

/// Sets how the system's allocator keeps what it frees; call first thing in `main`.
///
/// glibc gives a block of 128 KiB or more pages of its own, returned when it is freed, but by
/// default it raises that threshold to the size of every such block freed (up to 32 MiB): after
/// one burst of mebibyte rows every later one came from its arenas, where freed memory stays
/// resident (a burst of unread streams left 700 MiB to 1 GiB behind, more after each burst).
/// Setting the threshold fixes it at 128 KiB.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's parameters; it is called before any thread
    // is started.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, OWN_PAGES);
    }
}

/// Hands the free memory in glibc's arenas (blocks under 128 KiB freed after a burst) back to
/// the system; cheap when there is none. The service calls it every `GIVE_BACK_EVERY`.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim walks the allocator's own free lists under its locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

pub struct SplitBySize;

fn is_large(size: usize) -> bool {
    size >= LARGE
}

// SAFETY: every block is freed and resized by the allocator that made it: the caller passes
// the layout the block was made (or last resized) with, and its size picks the same allocator
// the allocation did. A resize that crosses `LARGE` moves the block to the other allocator.
unsafe impl GlobalAlloc for SplitBySize {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size()) {
            System.alloc(layout)
        } else {
            MiMalloc.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size()) {
            System.alloc_zeroed(layout)
        } else {
            MiMalloc.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(layout.size()) {
            System.dealloc(ptr, layout)
        } else {
            MiMalloc.dealloc(ptr, layout)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match (is_large(layout.size()), is_large(new_size)) {
            (true, true) => System.realloc(ptr, layout, new_size),
            (false, false) => MiMalloc.realloc(ptr, layout, new_size),
            _ => {
                let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
                let moved = self.alloc(new_layout);
                if !moved.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                moved
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills `len` bytes at `ptr` with a pattern that depends on the offset.
    unsafe fn fill(ptr: *mut u8, len: usize) {
        for i in 0..len {
            *ptr.add(i) = (i % 251) as u8;
        }
    }

    unsafe fn holds_pattern(ptr: *const u8, len: usize) -> bool {
        (0..len).all(|i| *ptr.add(i) == (i % 251) as u8)
    }

    #[test]
    fn a_block_keeps_its_bytes_when_resized_across_the_split_both_ways() {
        let sizes = [16, LARGE - 1, LARGE, 3 * LARGE, 100];
        for align in [8, 64, 4096] {
            unsafe {
                let mut layout = Layout::from_size_align(sizes[0], align).expect("layout");
                let mut ptr = SplitBySize.alloc(layout);
                assert!(!ptr.is_null());
                fill(ptr, layout.size());
                for &size in &sizes[1..] {
                    ptr = SplitBySize.realloc(ptr, layout, size);
                    assert!(!ptr.is_null());
                    assert_eq!(ptr as usize % align, 0, "alignment {align} kept at {size}");
                    assert!(holds_pattern(ptr, layout.size().min(size)));
                    layout = Layout::from_size_align(size, align).expect("layout");
                    fill(ptr, size);
                }
                SplitBySize.dealloc(ptr, layout);
            }
        }
    }

    #[test]
    fn zeroed_blocks_are_zero_on_both_sides() {
        for size in [24, LARGE, 5 * LARGE] {
            unsafe {
                let layout = Layout::from_size_align(size, 16).expect("layout");
                let ptr = SplitBySize.alloc_zeroed(layout);
                assert!((0..size).all(|i| *ptr.add(i) == 0));
                SplitBySize.dealloc(ptr, layout);
            }
        }
    }
}
