//! Address newtypes: an application virtual address and an offset into the
//! memory file are never mixed in a bare `u64`.

use veil_abi::PAGE_SIZE;

/// A virtual address in an application's address space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserAddr(pub u64);

/// A byte offset into the memory file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileOffset(pub u64);

impl UserAddr {
    /// Rounded down to a page boundary.
    pub const fn page_down(self) -> UserAddr {
        UserAddr(self.0 & !(PAGE_SIZE - 1))
    }
    /// Rounded up to a page boundary, or `None` on overflow.
    pub const fn page_up(self) -> Option<UserAddr> {
        match self.0.checked_add(PAGE_SIZE - 1) {
            Some(v) => Some(UserAddr(v & !(PAGE_SIZE - 1))),
            None => None,
        }
    }
    /// True if on a page boundary.
    pub const fn is_page_aligned(self) -> bool {
        self.0 & (PAGE_SIZE - 1) == 0
    }
    /// `self + n`, or `None` on overflow.
    pub const fn checked_add(self, n: u64) -> Option<UserAddr> {
        match self.0.checked_add(n) {
            Some(v) => Some(UserAddr(v)),
            None => None,
        }
    }
}

impl FileOffset {
    /// `self + n`.
    pub const fn add(self, n: u64) -> FileOffset {
        FileOffset(self.0 + n)
    }
}

/// Rounds `v` up to a page multiple, or `None` on overflow.
pub const fn page_round_up(v: u64) -> Option<u64> {
    match v.checked_add(PAGE_SIZE - 1) {
        Some(x) => Some(x & !(PAGE_SIZE - 1)),
        None => None,
    }
}
