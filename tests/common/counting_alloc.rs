//! A global allocator that counts the allocations (and reallocations) of
//! the threads that switched counting on, so that other threads of the test
//! process (libtest's, client threads) cannot disturb a count. A test
//! binary installs it with
//! `#[global_allocator] static GLOBAL: Counting = Counting;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards to the system allocator, counting per thread.
pub struct Counting;

thread_local! {
    // Const-initialised and without destructors: using them never
    // allocates, so the allocator may.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Starts counting this thread's allocations, from zero.
pub fn start() {
    ALLOCATIONS.set(0);
    COUNTING.set(true);
}

/// Stops counting on this thread; returns the count since [`start`].
pub fn stop() -> u64 {
    COUNTING.set(false);
    ALLOCATIONS.get()
}

fn count() {
    if COUNTING.get() {
        ALLOCATIONS.set(ALLOCATIONS.get() + 1);
    }
}

// SAFETY: every method forwards its arguments unchanged to the system
// allocator, so the caller's guarantees carry over; counting touches only
// const thread-locals.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as for the impl: the caller's layout goes to System as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: `ptr` and `layout` come from this allocator, i.e. System.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` come from this allocator, i.e. System.
        unsafe { System.dealloc(ptr, layout) }
    }
}
