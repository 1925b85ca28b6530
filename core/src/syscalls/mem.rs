//! PROVISIONAL: the mem syscall family (being written).

use super::Handler;

/// The handler for `nr` if this family serves it.
pub fn handler(_nr: u64) -> Option<Handler> {
    None
}
