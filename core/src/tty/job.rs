//! Controlling terminals and job control (Linux's `tty_jobctrl.c`).
//!
//! A process's controlling terminal is its [`Ctty`] (Linux's
//! `signal->tty`); a terminal knows the session it controls and that
//! session's foreground process group. Signals the terminal raises on its
//! own (ISIG characters, SIGWINCH, hangup, a leader's exit) are sent as the
//! kernel's (`SI_KERNEL`); those a process causes through TIOCNOTTY carry
//! its pid (`SI_USER`).

use alloc::sync::Arc;

use veil_abi::flags::{
    CAP_SYS_ADMIN, O_ACCMODE, O_NOCTTY, O_RDONLY, O_RDWR, SIGCONT, SIGHUP, SIGTTIN, SIG_IGN,
    SI_KERNEL, SI_USER,
};
use veil_abi::{Errno, Siginfo};

use super::Pty;
use crate::kernel::Kernel;
use crate::signal::{self, Dest};
use crate::task::{Pid, Task, ThreadGroup};

/// A process's controlling terminal.
#[derive(Default)]
pub struct Ctty {
    tty: Option<Arc<Pty>>,
    /// The foreground group when the terminal was hung up under this
    /// session leader (Linux's `tty_old_pgrp`): it gets SIGHUP and SIGCONT
    /// when the leader exits.
    old_pgrp: Option<Pid>,
}

impl Ctty {
    /// The terminal, if any.
    pub fn tty(&self) -> Option<&Arc<Pty>> {
        self.tty.as_ref()
    }

    /// What a forked child inherits: the terminal.
    pub fn for_child(&self) -> Ctty {
        Ctty {
            tty: self.tty.clone(),
            old_pgrp: None,
        }
    }

    /// Drops the terminal (setsid; Linux's `proc_clear_tty`).
    pub fn clear(&mut self) {
        self.tty = None;
    }
}

/// A signal the terminal raises itself.
pub fn kernel_info(sig: i32) -> Siginfo {
    Siginfo {
        signo: sig,
        code: SI_KERNEL,
        ..Siginfo::default()
    }
}

/// Sends `info` to every process of group `pgrp` (Linux's `kill_pgrp`);
/// `sender` is the sending thread, which is not woken.
pub fn kill_pgrp(kernel: &Kernel, pgrp: Pid, info: Siginfo, sender: Option<Pid>) {
    for g in kernel.processes() {
        if *g.pgid.lock() == pgrp {
            let _ = signal::send(kernel, &g, Dest::Group, info, false, sender);
        }
    }
}

/// True if `sig` is blocked or ignored by the caller (job control then
/// does not stop it).
fn ignored(task: &Task, sig: i32) -> bool {
    task.sigmask & (1u64 << (sig - 1)) != 0
        || task.tg.sigactions.lock()[(sig - 1) as usize].handler == SIG_IGN
}

/// Linux's `__tty_check_change`: a process of a background group using
/// its controlling terminal `pty` gets `sig` (SIGTTIN to read, SIGTTOU
/// to write or change it) and the call is restarted after it continues;
/// `EIO` if its group is orphaned, or if SIGTTIN is ignored or blocked
/// (an ignored or blocked SIGTTOU lets the call go ahead).
pub fn check_change(task: &Task, pty: &Arc<Pty>, sig: i32) -> Result<(), Errno> {
    if !pty.is_ctty_of(task) {
        return Ok(());
    }
    let tty_pgrp = pty.state.lock().pgrp;
    let pgrp = *task.tg.pgid.lock();
    match tty_pgrp {
        Some(fg) if fg != pgrp => {
            if ignored(task, sig) {
                if sig == SIGTTIN {
                    return Err(Errno::EIO);
                }
                Ok(())
            } else if signal::pgrp_is_orphaned(&task.kernel, pgrp) {
                Err(Errno::EIO)
            } else {
                kill_pgrp(&task.kernel, pgrp, kernel_info(sig), Some(task.tid));
                Err(Errno::ERESTARTSYS)
            }
        }
        _ => Ok(()),
    }
}

/// True if the caller leads its session.
fn leader(task: &Task) -> bool {
    *task.tg.sid.lock() == task.pid()
}

/// Makes `pty` the caller's controlling terminal (`__proc_set_tty`).
fn set_tty(task: &Task, ct: &mut Ctty, pty: &Arc<Pty>) {
    {
        let mut st = pty.state.lock();
        st.session = Some(*task.tg.sid.lock());
        st.pgrp = Some(*task.tg.pgid.lock());
    }
    ct.tty = Some(pty.clone());
    ct.old_pgrp = None;
}

/// The controlling-terminal part of opening the slave (Linux's
/// `tty_open_proc_set_tty`): a session leader without a controlling
/// terminal acquires this one if no session has it and the open was for
/// reading without `O_NOCTTY`.
pub fn open_acquire(task: &Task, pty: &Arc<Pty>, flags: u32) {
    if flags & O_NOCTTY != 0 || !leader(task) {
        return;
    }
    // O_ACCMODE itself (ioctl-only opens) does not read either.
    let readable = matches!(flags & O_ACCMODE, O_RDONLY | O_RDWR);
    let mut ct = task.tg.ctty.lock();
    if ct.tty.is_some() || pty.state.lock().session.is_some() || !readable {
        return;
    }
    set_tty(task, &mut ct, pty);
}

/// TIOCSCTTY (`tiocsctty`): `readable` is whether the description may
/// read; `steal` (arg 1) takes the terminal from another session with
/// CAP_SYS_ADMIN.
pub fn set_ctty(task: &Task, pty: &Arc<Pty>, readable: bool, steal: bool) -> Result<(), Errno> {
    let sid = *task.tg.sid.lock();
    let owner = pty.state.lock().session;
    if leader(task) && owner == Some(sid) {
        return Ok(());
    }
    if !leader(task) || task.tg.ctty.lock().tty.is_some() {
        return Err(Errno::EPERM);
    }
    let admin = task.creds.capable(CAP_SYS_ADMIN);
    if let Some(other) = owner {
        if steal && admin {
            session_clear_tty(&task.kernel, other);
        } else {
            return Err(Errno::EPERM);
        }
    }
    if !readable && !admin {
        return Err(Errno::EPERM);
    }
    let mut ct = task.tg.ctty.lock();
    set_tty(task, &mut ct, pty);
    Ok(())
}

/// TIOCNOTTY on `pty`: `ENOTTY` unless it is the caller's controlling
/// terminal; a session leader's whole session loses it (Linux's
/// `no_tty`).
pub fn notty(task: &Task, pty: &Arc<Pty>) -> Result<(), Errno> {
    if !pty.is_ctty_of(task) {
        return Err(Errno::ENOTTY);
    }
    if leader(task) {
        disassociate(&task.kernel, &task.tg, Some(task));
    }
    task.tg.ctty.lock().clear();
    Ok(())
}

/// Clears the controlling terminal of every process of session `sid`
/// (`session_clear_tty`).
fn session_clear_tty(kernel: &Kernel, sid: Pid) {
    for g in kernel.processes() {
        if *g.sid.lock() == sid {
            g.ctty.lock().clear();
        }
    }
}

/// Linux's `disassociate_ctty` for session leader `tg`: on TIOCNOTTY
/// (`by` the caller) its terminal's foreground group gets SIGHUP and
/// SIGCONT from it; at exit (`by` None) SIGHUP from the kernel, or, if the
/// terminal was hung up meanwhile, SIGHUP and SIGCONT to the group that
/// was in the foreground. The terminal then controls no session.
fn disassociate(kernel: &Kernel, tg: &Arc<ThreadGroup>, by: Option<&Task>) {
    if *tg.sid.lock() != tg.pid {
        return;
    }
    let on_exit = by.is_none();
    let tty = tg.ctty.lock().tty.clone();
    match &tty {
        Some(pty) => {
            let pgrp = pty.state.lock().pgrp;
            if let Some(p) = pgrp {
                match by {
                    Some(t) => {
                        kill_pgrp(
                            kernel,
                            p,
                            signal::user_info(t, SIGHUP, SI_USER),
                            Some(t.tid),
                        );
                        kill_pgrp(
                            kernel,
                            p,
                            signal::user_info(t, SIGCONT, SI_USER),
                            Some(t.tid),
                        );
                    }
                    None => kill_pgrp(kernel, p, kernel_info(SIGHUP), None),
                }
            }
        }
        None if on_exit => {
            let old = tg.ctty.lock().old_pgrp.take();
            if let Some(p) = old {
                kill_pgrp(kernel, p, kernel_info(SIGHUP), None);
                kill_pgrp(kernel, p, kernel_info(SIGCONT), None);
            }
            return;
        }
        None => {}
    }
    tg.ctty.lock().old_pgrp = None;
    if let Some(pty) = tty {
        let mut st = pty.state.lock();
        st.session = None;
        st.pgrp = None;
    }
    session_clear_tty(kernel, tg.pid);
}

/// A process group has ended: a session leader gives up its terminal as
/// Linux's `do_exit` does (`disassociate_ctty(1)`).
pub fn group_exit(kernel: &Kernel, tg: &Arc<ThreadGroup>) {
    disassociate(kernel, tg, None);
}

/// The slave of `pty` was hung up (its master closed) while controlling
/// `session` with foreground group `pgrp` (both already cleared on the
/// terminal): every process of the session loses it, and the session
/// leader gets SIGHUP and SIGCONT and remembers `pgrp` (Linux's
/// `tty_signal_session_leader`).
pub(crate) fn hangup(kernel: &Kernel, pty: &Arc<Pty>, session: Option<Pid>, pgrp: Option<Pid>) {
    let Some(sid) = session else {
        return;
    };
    for g in kernel.processes() {
        if *g.sid.lock() != sid {
            continue;
        }
        let mut ct = g.ctty.lock();
        if ct.tty.as_ref().is_some_and(|t| Arc::ptr_eq(t, pty)) {
            ct.tty = None;
        }
        if g.pid != sid {
            continue;
        }
        ct.old_pgrp = pgrp;
        drop(ct);
        for sig in [SIGHUP, SIGCONT] {
            let _ = signal::send(kernel, &g, Dest::Group, kernel_info(sig), false, None);
        }
    }
}

/// TIOCSPGRP (`tiocspgrp`): sets the foreground group of `pty`, the
/// caller's controlling terminal, to `pgrp`, a group of (or, as Linux
/// allows, a process in) the caller's session.
pub fn set_pgrp(task: &Task, pty: &Arc<Pty>, pgrp: Pid) -> Result<(), Errno> {
    if pgrp < 0 {
        return Err(Errno::EINVAL);
    }
    let sid = *task.tg.sid.lock();
    if !pty.is_ctty_of(task) || pty.state.lock().session != Some(sid) {
        return Err(Errno::ENOTTY);
    }
    let procs = task.kernel.processes();
    let in_group = procs.iter().find(|g| *g.pgid.lock() == pgrp);
    let member = match in_group {
        Some(g) => Some(g.clone()),
        None if pgrp > 0 => task.kernel.thread_group(pgrp),
        None => None,
    };
    let Some(member) = member else {
        return Err(Errno::ESRCH);
    };
    if *member.sid.lock() != sid {
        return Err(Errno::EPERM);
    }
    pty.state.lock().pgrp = Some(pgrp);
    Ok(())
}
