//! Host signals sent to `veil`, passed on to the sandbox.
//!
//! SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are blocked in
//! every thread of veil from the start ([`block`], before any thread
//! exists, so that threads made later inherit the mask) and taken by one
//! thread with `sigwait` ([`spawn_forwarder`]), which hands each to the
//! sandbox's init (the command, pid 1) with
//! [`veil_core::signal::forward_from_host`]: a handler the program set
//! runs; a signal it left at its default action ends it, and veil exits
//! with 128 + the signal, as a shell reports. No Sentry thread is ever
//! interrupted by a host signal. With `-t`, SIGWINCH is taken too: it
//! copies the host terminal's new size to the sandbox's.

use std::io;
use std::sync::Arc;

use veil_core::Kernel;

/// The signals passed on to the sandbox.
pub const FORWARDED: [i32; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// A set of host signals.
#[derive(Clone, Copy)]
pub struct SigSet(libc::sigset_t);

// SAFETY: a sigset_t is plain data.
unsafe impl Send for SigSet {}

impl SigSet {
    fn of(sigs: &[i32]) -> SigSet {
        // SAFETY: sigset_t is plain data; sigemptyset initialises it.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: both calls only write the set they are given.
        unsafe {
            libc::sigemptyset(&mut set);
            for &s in sigs {
                libc::sigaddset(&mut set, s);
            }
        }
        SigSet(set)
    }
}

/// Blocks the forwarded signals (and SIGWINCH if `winch`) in the calling
/// thread and every thread it starts from now on.
pub fn block(winch: bool) -> io::Result<SigSet> {
    let mut sigs = FORWARDED.to_vec();
    if winch {
        sigs.push(libc::SIGWINCH);
    }
    let set = SigSet::of(&sigs);
    // SAFETY: pthread_sigmask reads the set; the old mask is not wanted.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set.0, std::ptr::null_mut()) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    Ok(set)
}

/// Starts the thread that takes the signals of `set` (blocked by
/// [`block`]) and forwards them to `kernel`'s process `init`; SIGWINCH
/// calls `on_winch`.
pub fn spawn_forwarder(
    set: SigSet,
    kernel: Arc<Kernel>,
    init: veil_core::task::Pid,
    on_winch: Option<Box<dyn Fn() + Send>>,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name("veil-signals".into())
        .spawn(move || loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: sigwait reads the set and writes one int.
            let r = unsafe { libc::sigwait(&set.0, &mut sig) };
            if r != 0 {
                continue;
            }
            if sig == libc::SIGWINCH {
                if let Some(f) = &on_winch {
                    f();
                }
                continue;
            }
            let _ = veil_core::signal::forward_from_host(&kernel, init, sig);
        })?;
    Ok(())
}
