//! The page allocator over the memory file.
//!
//! PROVISIONAL: the contract; the implementation is being written.

use alloc::sync::Arc;

use crate::platform::MemoryFile;

/// Hands out page runs of the memory file, reference-counted.
pub struct PageAllocator {
    #[allow(dead_code)]
    mf: Arc<dyn MemoryFile>,
}

impl PageAllocator {
    /// An allocator over `mf`.
    pub fn new(mf: Arc<dyn MemoryFile>) -> PageAllocator {
        PageAllocator { mf }
    }
}
