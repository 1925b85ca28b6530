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

use std::sync::OnceLock;

const MEMBARRIER_CMD_QUERY: libc::c_long = 0;
const MEMBARRIER_CMD_GLOBAL: libc::c_long = 1;

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

/// Makes every running host thread pass a full memory barrier; `false` if
/// the host refused.
pub fn global() -> bool {
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
    }
}
