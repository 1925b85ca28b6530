//! The host barrier behind the sandbox's membarrier(2)
//! ([`veil_core::platform::Platform::memory_barrier`]).
//!
//! Application threads run as host threads of stub processes (ptrace,
//! systrap), which are other processes than the Sentry: a private
//! expedited barrier of the Sentry's own process would not reach them.
//! `MEMBARRIER_CMD_GLOBAL` makes every running thread of the host pass a
//! barrier (Linux waits for an RCU grace period), stubs included, with no
//! registration; gVisor's ptrace and systrap platforms use it the same
//! way. A host booted with `nohz_full` does not offer it, and then the
//! sandbox offers no barrier either.
//!
//! That barrier waits for a grace period (about 13 ms here). So a platform
//! calls [`register_expedited`] before it forks any stub: the Sentry's
//! process registers for `MEMBARRIER_CMD_GLOBAL_EXPEDITED`, every stub
//! forked from it inherits the registration (stubs never exec), and the
//! barrier is then an IPI to the CPUs running registered threads (under a
//! microsecond).

use std::sync::OnceLock;

const MEMBARRIER_CMD_QUERY: libc::c_long = 0;
const MEMBARRIER_CMD_GLOBAL: libc::c_long = 1;
const MEMBARRIER_CMD_GLOBAL_EXPEDITED: libc::c_long = 2;
const MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED: libc::c_long = 4;

/// Whether this process registered for the expedited global barrier.
static EXPEDITED: OnceLock<bool> = OnceLock::new();

fn membarrier(cmd: libc::c_long) -> libc::c_long {
    // SAFETY: membarrier takes no pointers; any command is safe to ask.
    unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            cmd,
            0 as libc::c_long,
            0 as libc::c_long,
        )
    }
}

/// True if the host offers `MEMBARRIER_CMD_GLOBAL` (asked once).
pub fn have_global() -> bool {
    static HAVE: OnceLock<bool> = OnceLock::new();
    *HAVE.get_or_init(|| {
        let mask = membarrier(MEMBARRIER_CMD_QUERY);
        mask > 0 && mask & MEMBARRIER_CMD_GLOBAL != 0
    })
}

/// Registers the Sentry's process for `MEMBARRIER_CMD_GLOBAL_EXPEDITED`
/// (once; later calls do nothing). Call before forking stubs: only
/// processes forked after it inherit the registration.
pub fn register_expedited() {
    EXPEDITED.get_or_init(|| {
        let mask = membarrier(MEMBARRIER_CMD_QUERY);
        mask > 0
            && mask & MEMBARRIER_CMD_GLOBAL_EXPEDITED != 0
            && membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0
    });
}

/// Makes every running host thread of the sandbox (the Sentry and its
/// stubs) pass a full memory barrier: the expedited barrier once
/// registered, else the global one; `false` if the host refused.
pub fn global() -> bool {
    if EXPEDITED.get() == Some(&true) && membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0 {
        return true;
    }
    have_global() && membarrier(MEMBARRIER_CMD_GLOBAL) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_host_barrier_works() {
        assert!(
            super::have_global(),
            "the host offers MEMBARRIER_CMD_GLOBAL"
        );
        assert!(super::global());
        super::register_expedited();
        assert_eq!(super::EXPEDITED.get(), Some(&true), "registered");
        assert!(super::global());
    }
}
