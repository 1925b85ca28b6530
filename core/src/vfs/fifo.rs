//! Opening FIFOs (named pipes), as Linux's `fifo_open`.
//!
//! Every FIFO inode, whatever filesystem holds it (tmpfs, the overlay, a
//! host directory: the pipe is always the sandbox's own), gets one
//! [`Pipe`] while anyone has it open, found by the inode's
//! `(st_dev, st_ino)`; all its openers read and write that pipe.
//!
//! - `O_RDONLY` waits until a writer opens (any writer that opened since
//!   the wait began, even one already gone), unless `O_NONBLOCK`, which
//!   returns at once (and reports no POLLHUP until a writer has come).
//! - `O_WRONLY` waits until a reader opens; with `O_NONBLOCK` and no
//!   reader it is `ENXIO`.
//! - `O_RDWR` never waits. Access mode 3 is `EINVAL`.
//!
//! Waits are interruptible (`ERESTARTSYS`); the half-open end is undone.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};

use spin::Mutex;
use veil_abi::flags::{O_ACCMODE, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY};
use veil_abi::Errno;

use super::lock::InodeKey;
use super::node::FileOps;
use super::pipe::{Pipe, PipeEnd};
use crate::host::WakeReason;
use crate::task::Task;

/// The pipes of the FIFOs open in a sandbox.
#[derive(Default)]
pub struct FifoTable {
    pipes: Mutex<BTreeMap<InodeKey, Weak<Pipe>>>,
}

impl FifoTable {
    /// The pipe of the FIFO `key`, made if no one has it open.
    fn pipe(&self, key: InodeKey) -> Arc<Pipe> {
        let mut map = self.pipes.lock();
        if let Some(p) = map.get(&key).and_then(Weak::upgrade) {
            return p;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let p = Pipe::new_unopened();
        map.insert(key, Arc::downgrade(&p));
        p
    }

    /// Opens the FIFO `key` with open `flags` for `task`.
    pub fn open(&self, task: &Task, key: InodeKey, flags: u32) -> Result<Arc<dyn FileOps>, Errno> {
        let nonblock = flags & O_NONBLOCK != 0;
        let pipe = self.pipe(key);
        let end = match flags & O_ACCMODE {
            O_RDONLY => {
                let w_before = pipe.counters().1;
                let end = pipe.open_end(true, false, nonblock);
                if !nonblock && pipe.ends().1 == 0 {
                    wait_for_partner(task, &end, |p| p.counters().1 != w_before)?;
                }
                end
            }
            O_WRONLY => {
                if nonblock && pipe.ends().0 == 0 {
                    return Err(Errno::ENXIO);
                }
                let r_before = pipe.counters().0;
                let end = pipe.open_end(false, true, false);
                if pipe.ends().0 == 0 {
                    wait_for_partner(task, &end, |p| p.counters().0 != r_before)?;
                }
                end
            }
            O_RDWR => pipe.open_end(true, true, false),
            _ => return Err(Errno::EINVAL),
        };
        Ok(end)
    }
}

/// Sleeps until `ready` holds for the end's pipe. On a signal, closes the
/// end again and answers `ERESTARTSYS`.
fn wait_for_partner(
    task: &Task,
    end: &PipeEnd,
    ready: impl Fn(&Pipe) -> bool,
) -> Result<(), Errno> {
    let pipe = end.pipe();
    loop {
        pipe.queue().register(&task.blocker);
        let reason = if ready(pipe) {
            WakeReason::Woken
        } else {
            task.blocker.block(None)
        };
        pipe.queue().unregister(&task.blocker);
        if ready(pipe) {
            return Ok(());
        }
        if reason == WakeReason::Interrupted {
            end.release();
            return Err(Errno::ERESTARTSYS);
        }
    }
}
