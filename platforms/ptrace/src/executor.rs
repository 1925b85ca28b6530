//! The executor: one host thread per platform that makes stub processes
//! and traces their leaders and executor threads.
//!
//! ptrace lets only a thread's tracer inject calls into it, and a new stub
//! thread can only be made by injecting `clone` into a thread that exists.
//! If the thread that made an address space were the one to clone every
//! later thread into it, a new application thread would wait for that
//! host thread, which may be parked in the Sentry for as long as the
//! application likes (in `futex` or `wait4`, waiting for the very thread
//! being made). So a dedicated host thread, which never runs application
//! code and never blocks on anything but its queue and its own tracees,
//! does what needs a thread that is already in the stub:
//!
//! - fork and set up stubs ([`Stub::spawn`](crate::stub::Stub::spawn)),
//!   so it is the tracer of every stub's leader and executor thread;
//! - clone application threads (the requesting host thread then attaches
//!   to the new thread itself);
//! - run `mmap` / `munmap` / `mprotect` for host threads that have no
//!   stub thread in the address space while some application thread of it
//!   may be running (see `space.rs`).
//!
//! Requests are closures sent over a channel; the caller blocks for the
//! reply. The thread exits when the last reference to the executor goes
//! (the platform and every address space hold one), so it outlives every
//! stub it traces: its exit would kill them (PTRACE_O_EXITKILL and
//! PR_SET_PDEATHSIG).

use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Mutex};
use std::thread::{self, JoinHandle};

use crate::sys;

type Job = Box<dyn FnOnce() + Send>;

/// A handle on the executor thread.
pub(crate) struct Executor {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    handle: Mutex<Option<JoinHandle<()>>>,
    /// The executor thread's tid.
    tid: i32,
}

impl Executor {
    /// Starts the executor thread.
    pub fn start() -> io::Result<Executor> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ttx, trx) = mpsc::channel();
        let handle = thread::Builder::new()
            .name("veil-ptrace".into())
            .spawn(move || {
                let _ = ttx.send(sys::gettid());
                for job in rx {
                    // A panic in a job must not take the executor (and so
                    // every stub it traces) down with it; the caller sees
                    // its reply channel closed.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                }
            })?;
        let tid = trx
            .recv()
            .map_err(|_| io::Error::from_raw_os_error(libc::EAGAIN))?;
        Ok(Executor {
            tx: Mutex::new(Some(tx)),
            handle: Mutex::new(Some(handle)),
            tid,
        })
    }

    /// Runs `f` on the executor thread and returns its result; `None` if
    /// the executor is gone (or `f` panicked). Called on the executor
    /// thread itself, runs `f` at once.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        if sys::gettid() == self.tid {
            return Some(f());
        }
        let (rtx, rrx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            let _ = rtx.send(f());
        });
        {
            let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
            tx.as_ref()?.send(job).ok()?;
        }
        rrx.recv().ok()
    }

    /// The executor thread's tid.
    pub fn tid(&self) -> i32 {
        self.tid
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop.
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
        let handle = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            // The last reference may go on the executor thread itself (a
            // job that held the last address space): it then ends after
            // that job, unjoined.
            if h.thread().id() != thread::current().id() {
                let _ = h.join();
            }
        }
    }
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").field("tid", &self.tid).finish()
    }
}
