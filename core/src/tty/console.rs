//! Console redirection (TIOCCONS, Linux's `tioccons` and
//! `redirected_tty_write` in `drivers/tty/tty_io.c`).
//!
//! A sandbox has a console only under `veil do -t` ([`Kernel::console`]
//! (crate::kernel::Kernel::console), shown as `/dev/console`). TIOCCONS on
//! a pty slave description, by a caller with CAP_SYS_ADMIN, sends what is
//! later written to `/dev/console` descriptions to that description
//! instead (the redirect keeps it open, as Linux's `get_file`); TIOCCONS
//! on a `/dev/console` description puts output back on the console. Only
//! one redirect exists at a time (`EBUSY`, even for the same terminal); a
//! master is refused with `EINVAL`, a description not open for writing
//! with `EBADF`. Hanging up the redirected slave (its master closing,
//! TIOCVHANGUP, vhangup) ends the redirect.
//!
//! Only writes are redirected: reads, ioctls and poll's input bits stay
//! the console's own. A console write that must wait for room waits on
//! the console's queue, which a forwarding [`Watcher`] on the target's
//! queue wakes, and poll's output bits are the target's.

use alloc::sync::{Arc, Weak};

use veil_abi::flags::CAP_SYS_ADMIN;
use veil_abi::Errno;

use super::{End, Handle, Pty, PtyTable};
use crate::task::Task;
use crate::vfs::waitq::Watcher;
use crate::vfs::OpenFile;

/// The description console output goes to instead of the console.
pub(super) struct Redirect {
    file: Arc<OpenFile>,
    /// Its pair.
    pty: Arc<Pty>,
    /// Wakes the console's queue on changes of the target's, when they
    /// are different pairs.
    forward: Option<Arc<Forward>>,
}

/// Wakes the console's waiters when the redirect target changes.
struct Forward {
    console: Weak<Pty>,
}

impl Watcher for Forward {
    fn changed(&self) {
        if let Some(c) = self.console.upgrade() {
            c.queue.notify();
        }
    }
}

impl Redirect {
    /// Stops forwarding wake-ups (the redirect ends).
    fn unwatch(&self) {
        if let Some(f) = &self.forward {
            let weak: Weak<dyn Watcher> = Arc::downgrade(f) as Weak<dyn Watcher>;
            self.pty.queue.unwatch(&weak);
        }
    }
}

/// The description `/dev/console` writes on `console` go to, if output
/// is redirected.
pub(super) fn redirect_of(console: &Pty) -> Option<Arc<OpenFile>> {
    let table = console.table.upgrade()?;
    let r = table.redirect.lock();
    r.as_ref().map(|r| r.file.clone())
}

/// Ends the redirect, if any; the description is dropped after the lock
/// (its release may take the pair's).
fn take(table: &PtyTable) -> Option<Arc<OpenFile>> {
    let r = table.redirect.lock().take()?;
    r.unwatch();
    Some(r.file)
}

/// `pty`'s slave hung up: a redirect to it ends (Linux's `__tty_hangup`).
pub(super) fn unredirect_from(table: &PtyTable, pty: &Arc<Pty>) {
    let ends = table
        .redirect
        .lock()
        .as_ref()
        .is_some_and(|r| Arc::ptr_eq(&r.pty, pty));
    if ends {
        drop(take(table));
    }
}

/// TIOCCONS on `file`, a description of `pty` with handle `h`.
pub(super) fn tioccons(
    task: &Task,
    file: &Arc<OpenFile>,
    pty: &Arc<Pty>,
    h: Handle,
) -> Result<(), Errno> {
    if h.end == End::Master {
        return Err(Errno::EINVAL);
    }
    if !task.creds.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let table = &task.kernel.ptys;
    if h.console {
        drop(take(table));
        return Ok(());
    }
    if !file.writable() {
        return Err(Errno::EBADF);
    }
    let mut slot = table.redirect.lock();
    if slot.is_some() {
        return Err(Errno::EBUSY);
    }
    let forward = match task.kernel.console.get() {
        Some(c) if !Arc::ptr_eq(c, pty) => {
            let f = Arc::new(Forward {
                console: Arc::downgrade(c),
            });
            let weak: Weak<dyn Watcher> = Arc::downgrade(&f) as Weak<dyn Watcher>;
            pty.queue.watch(weak);
            Some(f)
        }
        _ => None,
    };
    *slot = Some(Redirect {
        file: file.clone(),
        pty: pty.clone(),
        forward,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;
    use core::sync::atomic::{AtomicUsize, Ordering};

    use veil_abi::flags::{O_RDWR, POLLOUT};
    use veil_abi::termios::TIOCCONS;

    use super::super::{open_console, open_ptmx, open_slave, FLIP_LIMIT};
    use super::*;
    use crate::fake::TestBed;
    use crate::task::Credentials;

    struct Count(AtomicUsize);

    impl Watcher for Count {
        fn changed(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A new unlocked pair: its master and slave descriptions.
    fn pair(task: &Task) -> (Arc<OpenFile>, Arc<OpenFile>, Arc<Pty>) {
        let m = open_ptmx(task).unwrap();
        let pty = m.pty().clone();
        pty.set_locked(false);
        let s = open_slave(task, &pty, O_RDWR, false).unwrap();
        (
            OpenFile::new(m, None, O_RDWR),
            OpenFile::new(s, None, O_RDWR),
            pty,
        )
    }

    fn drain(master: &OpenFile) -> Vec<u8> {
        let mut buf = [0u8; 256];
        match master.ops.read(&mut buf, 0) {
            Ok(n) => buf[..n].to_vec(),
            Err(_) => Vec::new(),
        }
    }

    fn cons(task: &mut Task, f: &Arc<OpenFile>) -> Result<u64, Errno> {
        super::super::file_ioctl(task, f, TIOCCONS, 0).unwrap()
    }

    #[test]
    fn console_writes_follow_tioccons_until_a_hangup() {
        let tb = TestBed::new();
        let mut t = tb.task_as(Credentials::new(0, 0, Vec::new()));
        let (cm, _cs, cpty) = pair(&t);
        tb.kernel.console.call_once(|| cpty.clone());
        let console = OpenFile::new(open_console(&t, O_RDWR).unwrap(), None, O_RDWR);
        let (m, s, pty) = pair(&t);

        console.ops.write(b"one", 0).unwrap();
        assert_eq!(drain(&cm), b"one");
        assert_eq!(cons(&mut t, &s), Ok(0));
        assert_eq!(cons(&mut t, &s), Err(Errno::EBUSY));
        assert_eq!(cons(&mut t, &m), Err(Errno::EINVAL));
        console.ops.write(b"two", 0).unwrap();
        assert_eq!(drain(&m), b"two");
        assert_eq!(drain(&cm), b"");

        // A full target: the console reports no room, and the target's
        // reader wakes the console's waiters.
        let big = alloc::vec![b'x'; FLIP_LIMIT * 2];
        while console.ops.write(&big, 0).is_ok() {}
        assert_eq!(console.ops.poll() & POLLOUT, 0);
        assert_eq!(pty.queue.watcher_count(), 1);
        let woken = Arc::new(Count(AtomicUsize::new(0)));
        let weak: Weak<dyn Watcher> = Arc::downgrade(&woken) as Weak<dyn Watcher>;
        cpty.queue.watch(weak);
        while !drain(&m).is_empty() {}
        assert!(woken.0.load(Ordering::Relaxed) > 0);
        assert_ne!(console.ops.poll() & POLLOUT, 0);

        // TIOCCONS on the console undoes it.
        assert_eq!(cons(&mut t, &console), Ok(0));
        assert_eq!(pty.queue.watcher_count(), 0);
        console.ops.write(b"three", 0).unwrap();
        assert_eq!(drain(&cm), b"three");

        // A hangup of the target ends it too; the console itself is not
        // hung up by its own pair's hangup.
        assert_eq!(cons(&mut t, &s), Ok(0));
        pty.vhangup(End::Slave);
        assert!(table_empty(&t));
        assert_eq!(s.ops.write(b"x", 0), Err(Errno::EIO));
        cpty.vhangup(End::Slave);
        console.ops.write(b"four", 0).unwrap();
        assert_eq!(drain(&cm), b"four");

        // Only with CAP_SYS_ADMIN.
        let mut user = tb.task_as(Credentials::new(1000, 1000, Vec::new()));
        let (_m2, s2, _) = pair(&user);
        assert_eq!(cons(&mut user, &s2), Err(Errno::EPERM));
    }

    fn table_empty(t: &Task) -> bool {
        t.kernel.ptys.redirect.lock().is_none()
    }
}
