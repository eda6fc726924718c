//! The allocator of a service's Lua state: one [`Arena`] per state.
//!
//! Lua tells its allocator the old size of every block it frees or resizes, so small
//! blocks need no header: they are carved from 16 KiB blocks by size class (multiples of
//! 8 bytes up to 512) and freed onto a list per class; larger ones go to the process
//! allocator. Against glibc's `malloc` this saves its 8-16 bytes per chunk on the ~1,500
//! small objects of an idle service, and most of the time of creating and closing a state.
//! The arena also keeps the count of bytes Lua holds, the per-service memory limit
//! (`skynet.memlimit`, `lua_memlimit`: an allocation past it fails, Lua raises "not enough
//! memory" in the service) and what skynet's memory warning reads.

use std::alloc::{self, Layout};
use std::ffi::c_void;
use std::ptr;

/// Alignment of every block: Lua's `LUAI_MAXALIGN` (lua_Number, double, pointer,
/// lua_Integer, long) is 8 on the platforms we build for.
const ALIGN: usize = 8;
/// Size classes are multiples of this.
const GRAIN: usize = 8;
/// The largest size served from the arena's blocks.
const SMALL: usize = 512;
const CLASSES: usize = SMALL / GRAIN;
/// The size of a block the small objects are carved from; blocks are aligned to it, so
/// an object's block is its address with the low bits cleared.
const BLOCK: usize = 16 * 1024;
/// A block starts with the next block of its state's list and the bytes live in it.
const HEADER: usize = 16;
/// Blocks are cut from regions of this size (from the process allocator).
const REGION: usize = 64 * BLOCK;

/// A Lua state's memory: small objects by size class, the count and the limit.
pub(crate) struct Arena {
    /// Bytes Lua holds (the sizes it asked for).
    used: usize,
    /// 0: none.
    limit: usize,
    /// Free blocks of each class (the first word of a free block points at the next).
    free: [*mut u8; CLASSES],
    /// The unused rest of the newest block.
    bump: *mut u8,
    end: *mut u8,
    /// Every block, newest first (each block's first word points at the next one).
    blocks: *mut u8,
}

/// The class of a small size (1..=SMALL): class `c` holds blocks of `(c + 1) * GRAIN`.
#[inline]
fn class_of(size: usize) -> usize {
    (size - 1) / GRAIN
}

/// The process's free blocks: given back by closed states and by idle ones, and the rest
/// of the newest region. Regions are never returned to the system; what an idle state
/// gives back is returned to the kernel page by page (`MADV_DONTNEED`).
struct Pool {
    free: Vec<usize>,
    next: usize,
    end: usize,
}

static POOL: std::sync::Mutex<Pool> = std::sync::Mutex::new(Pool {
    free: Vec::new(),
    next: 0,
    end: 0,
});

fn pool() -> std::sync::MutexGuard<'static, Pool> {
    // Every change under the lock is one push, pop or pair of stores: a panic elsewhere
    // cannot leave it half done.
    POOL.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A free block (BLOCK bytes aligned to BLOCK), or null.
fn get_block() -> *mut u8 {
    let mut p = pool();
    if let Some(b) = p.free.pop() {
        return b as *mut u8;
    }
    if p.next == p.end {
        let Ok(layout) = Layout::from_size_align(REGION, BLOCK) else {
            return ptr::null_mut();
        };
        // SAFETY: a nonzero size.
        let r = unsafe { alloc::alloc(layout) };
        if r.is_null() {
            return r;
        }
        p.next = r as usize;
        p.end = r as usize + REGION;
    }
    let b = p.next;
    p.next += BLOCK;
    b as *mut u8
}

/// Tells the kernel the pages of an unused block may go (they read as zeros later).
#[cfg(target_os = "linux")]
fn discard(b: *mut u8) {
    unsafe extern "C" {
        fn madvise(addr: *mut c_void, len: usize, advice: std::ffi::c_int) -> std::ffi::c_int;
    }
    const MADV_DONTNEED: std::ffi::c_int = 4;
    // SAFETY: `b..b + BLOCK` is a block of a region this process owns, page-aligned
    // (BLOCK-aligned), that nothing uses now; DONTNEED only drops its pages.
    unsafe {
        madvise(b.cast(), BLOCK, MADV_DONTNEED);
    }
}

#[cfg(not(target_os = "linux"))]
fn discard(_: *mut u8) {}

/// The live-byte count in the header of the block holding `p`.
///
/// # Safety
/// `p` points into a block of an arena.
#[inline]
unsafe fn live_of(p: *mut u8) -> *mut usize {
    let b = (p as usize) & !(BLOCK - 1);
    (b + 8) as *mut usize
}

impl Arena {
    /// An empty arena, boxed: its address is the allocator's user data.
    pub(crate) fn new() -> Box<Arena> {
        Box::new(Arena {
            used: 0,
            limit: 0,
            free: [ptr::null_mut(); CLASSES],
            bump: ptr::null_mut(),
            end: ptr::null_mut(),
            blocks: ptr::null_mut(),
        })
    }

    /// Bytes Lua holds.
    pub(crate) fn used(&self) -> usize {
        self.used
    }

    /// Gives back every block with nothing live in it (their free entries leave the free
    /// lists; the pages go back to the kernel). Returns how many bytes.
    pub(crate) fn release_empty(&mut self) -> usize {
        let mut empty = Vec::new();
        let mut kept: *mut u8 = ptr::null_mut();
        let mut b = self.blocks;
        while !b.is_null() {
            // SAFETY: `b` is a block of this arena: its header holds the next block and
            // its live bytes.
            let (next, live) =
                unsafe { (b.cast::<*mut u8>().read(), b.add(8).cast::<usize>().read()) };
            if live == 0 {
                empty.push(b as usize);
            } else {
                // SAFETY: as above; the kept blocks are relinked in reverse order.
                unsafe { b.cast::<*mut u8>().write(kept) };
                kept = b;
            }
            b = next;
        }
        self.blocks = kept;
        if empty.is_empty() {
            return 0;
        }
        empty.sort_unstable();
        let gone = |p: *mut u8| empty.binary_search(&((p as usize) & !(BLOCK - 1))).is_ok();
        for c in 0..CLASSES {
            let mut keep: *mut u8 = ptr::null_mut();
            let mut p = self.free[c];
            while !p.is_null() {
                // SAFETY: `p` is a free block of class `c`: its first word is the next.
                let next = unsafe { p.cast::<*mut u8>().read() };
                if !gone(p) {
                    // SAFETY: as above (relinked in reverse order).
                    unsafe { p.cast::<*mut u8>().write(keep) };
                    keep = p;
                }
                p = next;
            }
            self.free[c] = keep;
        }
        if !self.end.is_null() && gone(self.end.wrapping_sub(1)) {
            self.bump = ptr::null_mut();
            self.end = ptr::null_mut();
        }
        for b in &empty {
            discard(*b as *mut u8);
        }
        let n = empty.len() * BLOCK;
        pool().free.extend(empty);
        n
    }

    /// Sets the limit (0: none); returns the previous one.
    pub(crate) fn set_limit(&mut self, limit: usize) -> usize {
        std::mem::replace(&mut self.limit, limit)
    }

    /// A small block of class `c` for Lua, or null if the process is out of memory.
    fn take(&mut self, c: usize) -> *mut u8 {
        let p = self.carve(c);
        if !p.is_null() {
            // SAFETY: `p` lies in one of this arena's blocks.
            unsafe { *live_of(p) += (c + 1) * GRAIN };
        }
        p
    }

    /// A small block of class `c`, from its free list or the newest block.
    fn carve(&mut self, c: usize) -> *mut u8 {
        let head = self.free[c];
        if !head.is_null() {
            // SAFETY: a free block of this class holds the next free block's address in
            // its first word (written by `give`); blocks are 8-aligned and >= 8 bytes.
            self.free[c] = unsafe { head.cast::<*mut u8>().read() };
            return head;
        }
        let size = (c + 1) * GRAIN;
        if (self.end as usize) - (self.bump as usize) < size && !self.grow() {
            return ptr::null_mut();
        }
        let p = self.bump;
        // SAFETY: `size` bytes remain between `bump` and `end` (checked or just made).
        self.bump = unsafe { p.add(size) };
        p
    }

    /// Puts a small block of class `c` on its free list.
    fn give(&mut self, p: *mut u8, c: usize) {
        // SAFETY: `p` is a block of class `c` from this arena that Lua no longer uses:
        // at least 8 bytes, 8-aligned.
        unsafe { p.cast::<*mut u8>().write(self.free[c]) };
        self.free[c] = p;
    }

    /// A new block to carve from; the rest of the current one goes to a free list.
    fn grow(&mut self) -> bool {
        let b = get_block();
        if b.is_null() {
            return false;
        }
        // The rest of the current block (a multiple of GRAIN) goes to the free lists.
        let mut rest = (self.end as usize) - (self.bump as usize);
        while rest >= GRAIN {
            let n = rest.min(SMALL);
            self.give(self.bump, class_of(n));
            // SAFETY: `n` <= the bytes left before `end`.
            self.bump = unsafe { self.bump.add(n) };
            rest -= n;
        }
        // SAFETY: `b` is a block of BLOCK bytes no one else uses, BLOCK-aligned: its
        // header links the list of blocks and counts its live bytes, the rest is carved.
        unsafe {
            b.cast::<*mut u8>().write(self.blocks);
            b.add(8).cast::<usize>().write(0);
            self.blocks = b;
            self.bump = b.add(HEADER);
            self.end = b.add(BLOCK);
        }
        true
    }

    /// Lua's `lua_Alloc` contract for this arena: `p` null (a new block; `osize` is then
    /// a type tag, not a size) or a block of `osize` bytes from this arena.
    ///
    /// # Safety
    /// `p` is null or a live block of exactly `osize` bytes that this arena returned.
    unsafe fn realloc(&mut self, p: *mut u8, osize: usize, nsize: usize) -> *mut u8 {
        let osize = if p.is_null() { 0 } else { osize };
        if nsize == 0 {
            if !p.is_null() {
                // SAFETY: per the contract.
                unsafe { self.release(p, osize) };
                self.used -= osize;
            }
            return ptr::null_mut();
        }
        if nsize > osize && self.limit > 0 && self.used.saturating_add(nsize - osize) > self.limit {
            return ptr::null_mut(); // Lua collects and tries again, then raises
        }
        let q = if osize > SMALL && nsize > SMALL {
            let Ok(old) = Layout::from_size_align(osize, ALIGN) else {
                return ptr::null_mut();
            };
            if Layout::from_size_align(nsize, ALIGN).is_err() {
                return ptr::null_mut();
            }
            // SAFETY: `p` was allocated by the global allocator with `old` (sizes above
            // SMALL always are), and the new size makes a valid layout (checked).
            unsafe { alloc::realloc(p, old, nsize) }
        } else if osize != 0
            && osize <= SMALL
            && nsize <= SMALL
            && class_of(osize) == class_of(nsize)
        {
            p
        } else {
            let q = self.fresh(nsize);
            if q.is_null() {
                if nsize <= osize {
                    // Lua assumes a shrink never fails; only an exhausted process gets
                    // here (no new block), and mlua's allocator aborts then too.
                    alloc::handle_alloc_error(Layout::new::<[u64; BLOCK / 8]>());
                }
                return q;
            }
            if !p.is_null() {
                // SAFETY: `p` holds `osize` bytes, `q` `nsize`; distinct blocks.
                unsafe {
                    ptr::copy_nonoverlapping(p, q, osize.min(nsize));
                    self.release(p, osize);
                }
            }
            q
        };
        if !q.is_null() {
            self.used = self.used - osize + nsize;
        }
        q
    }

    /// A new block of `size` (> 0) bytes.
    fn fresh(&mut self, size: usize) -> *mut u8 {
        if size <= SMALL {
            return self.take(class_of(size));
        }
        match Layout::from_size_align(size, ALIGN) {
            // SAFETY: a nonzero size.
            Ok(l) => unsafe { alloc::alloc(l) },
            Err(_) => ptr::null_mut(),
        }
    }

    /// Frees a block of `size` (> 0) bytes.
    ///
    /// # Safety
    /// `p` is a live block of exactly `size` bytes from this arena.
    unsafe fn release(&mut self, p: *mut u8, size: usize) {
        if size <= SMALL {
            let c = class_of(size);
            // SAFETY: `p` lies in one of this arena's blocks.
            unsafe { *live_of(p) -= (c + 1) * GRAIN };
            self.give(p, c);
        } else if let Ok(l) = Layout::from_size_align(size, ALIGN) {
            // SAFETY: allocated by `fresh` or `realloc` with this layout.
            unsafe { alloc::dealloc(p, l) };
        }
    }
}

impl Drop for Arena {
    /// Gives the blocks back to the pool (the state is closed: every small object in
    /// them is dead; the large ones Lua freed itself).
    fn drop(&mut self) {
        let mut p = pool();
        let mut b = self.blocks;
        while !b.is_null() {
            // SAFETY: `b` is a block from `grow`, its first word the next block.
            let next = unsafe { b.cast::<*mut u8>().read() };
            p.free.push(b as usize);
            b = next;
        }
    }
}

/// The `lua_Alloc` function of states made with an [`Arena`] as user data.
///
/// # Safety
/// `ud` is the arena of the calling state, which only that state's thread touches while
/// Lua runs; `ptr`/`osize` follow Lua's allocator contract.
pub(crate) unsafe extern "C" fn lua_alloc(
    ud: *mut c_void,
    ptr: *mut c_void,
    osize: usize,
    nsize: usize,
) -> *mut c_void {
    // SAFETY: per the contract: `ud` is a live arena with no other reference in use.
    let arena = unsafe { &mut *ud.cast::<Arena>() };
    // SAFETY: Lua passes a block this arena returned, with its size (or null).
    unsafe { arena.realloc(ptr.cast(), osize, nsize).cast() }
}

/// The arena of state `l`, if it was made with one.
///
/// # Safety
/// `l` is a live state; the arena is only read or changed while no Lua code of it runs.
pub(crate) unsafe fn arena_of(l: *mut mlua::ffi::lua_State) -> Option<*mut Arena> {
    let mut ud = ptr::null_mut();
    // SAFETY: per the contract.
    let f = unsafe { mlua::ffi::lua_getallocf(l, &mut ud) };
    let ours: mlua::ffi::lua_Alloc = lua_alloc;
    (std::ptr::fn_addr_eq(f, ours) && !ud.is_null()).then_some(ud.cast())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives the arena through Lua's contract the way Lua does: small, class changes,
    /// across SMALL, the limit, frees.
    #[test]
    fn blocks_move_between_classes_and_sizes_keep_their_bytes() {
        let mut a = Arena::new();
        // SAFETY: every pointer passed back is one the arena returned, with its size.
        unsafe {
            let p = a.realloc(ptr::null_mut(), 5, 24);
            assert!(!p.is_null());
            p.write_bytes(7, 24);
            let q = a.realloc(p, 24, 20); // same class
            assert_eq!(p, q);
            let r = a.realloc(q, 20, 100); // another class
            assert_eq!(r.read(), 7);
            assert_eq!(r.add(19).read(), 7);
            let big = a.realloc(r, 100, 5000); // to the system
            assert_eq!(big.add(19).read(), 7);
            assert_eq!(a.used(), 5000);
            let back = a.realloc(big, 5000, 16); // shrink back to a class
            assert_eq!(back.add(15).read(), 7);
            assert_eq!(a.used(), 16);
            // a freed block is reused by its class
            assert!(a.realloc(back, 16, 0).is_null());
            let again = a.realloc(ptr::null_mut(), 0, 9);
            assert_eq!(again, back);
            a.realloc(again, 9, 0);
            assert_eq!(a.used(), 0);
            // many blocks
            let ps: Vec<_> = (0..5000)
                .map(|i| (a.realloc(ptr::null_mut(), 0, 1 + i % 512), 1 + i % 512))
                .collect();
            for (i, (p, n)) in ps.iter().enumerate() {
                assert_eq!(*p as usize % ALIGN, 0);
                p.write_bytes(i as u8, *n);
            }
            for (i, (p, n)) in ps.iter().enumerate() {
                assert_eq!(p.add(n - 1).read(), i as u8);
                a.realloc(*p, *n, 0);
            }
            assert_eq!(a.used(), 0);
        }
    }

    #[test]
    fn empty_blocks_go_back_and_the_rest_stays_usable() {
        let mut a = Arena::new();
        // SAFETY: as above.
        unsafe {
            let keep = a.realloc(ptr::null_mut(), 0, 40);
            let ps: Vec<_> = (0..20000)
                .map(|i| (a.realloc(ptr::null_mut(), 0, 8 + i % 200), 8 + i % 200))
                .collect();
            for (p, n) in &ps {
                a.realloc(*p, *n, 0);
            }
            assert_eq!(a.used(), 40);
            let n = a.release_empty();
            assert!(n >= 100 * BLOCK, "{n}");
            assert_eq!(a.release_empty(), 0);
            keep.write_bytes(1, 40);
            let ps: Vec<_> = (0..5000)
                .map(|i| (a.realloc(ptr::null_mut(), 0, 8 + i % 300), 8 + i % 300))
                .collect();
            for (i, (p, n)) in ps.iter().enumerate() {
                p.write_bytes(i as u8, *n);
            }
            for (i, (p, n)) in ps.iter().enumerate() {
                assert_eq!(p.add(n - 1).read(), i as u8);
                a.realloc(*p, *n, 0);
            }
            assert_eq!(keep.add(39).read(), 1);
            a.realloc(keep, 40, 0);
            assert!(a.release_empty() > 0);
            assert!(a.blocks.is_null() && a.bump.is_null());
            let p = a.realloc(ptr::null_mut(), 0, 16);
            assert!(!p.is_null());
            a.realloc(p, 16, 0);
        }
    }

    #[test]
    fn the_limit_fails_growth_only() {
        let mut a = Arena::new();
        // SAFETY: as above.
        unsafe {
            let p = a.realloc(ptr::null_mut(), 0, 1000);
            assert_eq!(a.set_limit(1500), 0);
            assert!(a.realloc(ptr::null_mut(), 0, 600).is_null());
            assert_eq!(a.used(), 1000);
            let q = a.realloc(p, 1000, 1400);
            assert!(!q.is_null());
            assert!(a.realloc(q, 1400, 1600).is_null()); // q stays valid
            let r = a.realloc(q, 1400, 100); // shrinking always works
            assert!(!r.is_null());
            a.realloc(r, 100, 0);
            assert_eq!(a.used(), 0);
        }
    }
}
