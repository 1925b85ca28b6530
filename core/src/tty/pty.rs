//! The open files of a pty pair: the master (from `/dev/ptmx`) and the
//! slave (`/dev/pts/N`, `/dev/tty`), and the reads and writes that need
//! the calling task (job control, VMIN / VTIME waits).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use veil_abi::flags::*;
use veil_abi::termios::{TIOCPKT_DATA, TOSTOP, VMIN, VTIME};
use veil_abi::Errno;

use super::{console, job, End, Handle, NodeAttr, Pty};
use crate::host::WakeReason;
use crate::task::Task;
use crate::vfs::node::{FileOps, PollMask};
use crate::vfs::waitq::WaitQueue;
use crate::vfs::OpenFile;

/// The master side of a pty: the file `/dev/ptmx` opens.
pub struct MasterFile {
    pty: Arc<Pty>,
    h: Handle,
}

/// A slave side description: `/dev/pts/N`, `/dev/tty` or
/// `/dev/console`.
pub struct SlaveFile {
    pty: Arc<Pty>,
    h: Handle,
}

impl MasterFile {
    /// The pair.
    pub fn pty(&self) -> &Arc<Pty> {
        &self.pty
    }
}

impl SlaveFile {
    /// The pair.
    pub fn pty(&self) -> &Arc<Pty> {
        &self.pty
    }
}

/// Opens `/dev/ptmx`: a new, locked pair whose slave belongs to the
/// caller's fs uid and gid (`ENOSPC` when the sandbox has too many).
pub fn open_ptmx(task: &Task) -> Result<Arc<MasterFile>, Errno> {
    let table = task.kernel.ptys.clone();
    let now = task.kernel.clock.realtime();
    let node = NodeAttr {
        uid: task.creds.fsuid,
        gid: table.options.gid.unwrap_or(task.creds.fsgid),
        mode: table.options.mode,
        atime: now,
        mtime: now,
        ctime: now,
    };
    let pty = table.alloc(&task.kernel, node)?;
    let h = pty.state.lock().handle(End::Master, false);
    Ok(Arc::new(MasterFile { pty, h }))
}

/// Opens the slave of `pty` with `flags` (Linux's `tty_reopen` and
/// `pty_open`): `EIO` if the pair is locked or its master closed, `EBUSY`
/// if the slave is exclusive (TIOCEXCL) and the caller lacks
/// CAP_SYS_ADMIN. Unless `dev_tty` (opening `/dev/tty` never changes the
/// controlling terminal), a session leader may acquire it.
pub fn open_slave(
    task: &Task,
    pty: &Arc<Pty>,
    flags: u32,
    dev_tty: bool,
) -> Result<Arc<SlaveFile>, Errno> {
    open_slave_as(task, pty, flags, dev_tty, false)
}

fn open_slave_as(
    task: &Task,
    pty: &Arc<Pty>,
    flags: u32,
    dev_tty: bool,
    console: bool,
) -> Result<Arc<SlaveFile>, Errno> {
    let h = {
        let mut st = pty.state.lock();
        if st.slave_exclusive && !task.creds.capable(CAP_SYS_ADMIN) {
            return Err(Errno::EBUSY);
        }
        if st.hung_up || st.locked {
            return Err(Errno::EIO);
        }
        st.slave_opens += 1;
        st.slave_closed = false;
        st.handle(End::Slave, console)
    };
    pty.queue.notify();
    let file = Arc::new(SlaveFile {
        pty: pty.clone(),
        h,
    });
    if !dev_tty {
        job::open_acquire(task, pty, flags);
    }
    Ok(file)
}

/// Opens `/dev/tty`: the caller's controlling terminal (`ENXIO` without
/// one).
pub fn open_current_tty(task: &Task, flags: u32) -> Result<Arc<SlaveFile>, Errno> {
    let pty = task.tg.ctty.lock().tty().cloned().ok_or(Errno::ENXIO)?;
    open_slave(task, &pty, flags, true)
}

/// Opens `/dev/console`: the slave of the sandbox's console pty (`ENXIO`
/// without one). As on Linux, opening the console never makes it the
/// controlling terminal; its writes go where TIOCCONS redirected them.
pub fn open_console(task: &Task, flags: u32) -> Result<Arc<SlaveFile>, Errno> {
    let pty = task.kernel.console.get().cloned().ok_or(Errno::ENXIO)?;
    open_slave_as(task, &pty, flags, true, true)
}

/// The pair and end behind a description, if it is a pty file.
pub(crate) fn tty_of(ops: &dyn FileOps) -> Option<(&Arc<Pty>, End)> {
    handle_of(ops).map(|(p, h)| (p, h.end))
}

/// The pair and the description's handle on it, if it is a pty file.
pub(crate) fn handle_of(ops: &dyn FileOps) -> Option<(&Arc<Pty>, Handle)> {
    let any = ops.as_any();
    if let Some(m) = any.downcast_ref::<MasterFile>() {
        return Some((&m.pty, m.h));
    }
    any.downcast_ref::<SlaveFile>().map(|s| (&s.pty, s.h))
}

/// True if `ops` is a hung-up pty description.
pub(crate) fn is_hung_up(ops: &dyn FileOps) -> bool {
    handle_of(ops).is_some_and(|(pty, h)| pty.state.lock().is_hung_up(h))
}

/// What one attempt at reading found.
enum Step {
    /// Bytes were added (none for a lone EOF in canonical mode).
    Copied,
    /// A packet-mode status byte was read, or there is one to read next.
    Status,
    /// Nothing to read yet.
    Empty,
    /// A hung-up slave: end of file.
    HungUp,
}

/// One attempt at reading up to `nr` bytes (in all) from `end` into
/// `got` (Linux's `n_tty_read` loop body).
fn read_step(pty: &Arc<Pty>, h: Handle, nr: usize, got: &mut Vec<u8>) -> Result<Step, Errno> {
    let end = h.end;
    pty.with(|st| {
        if st.is_hung_up(h) {
            return Ok(Step::HungUp);
        }
        let packet = end == End::Master && st.packet;
        if packet && st.pktstatus != 0 {
            if got.is_empty() {
                got.push(st.pktstatus);
                st.pktstatus = 0;
            }
            return Ok(Step::Status);
        }
        let slave_closed = st.slave_closed;
        let ld = st.ldisc(end);
        if !ld.input_available(false) {
            if end == End::Master && slave_closed {
                return Err(Errno::EIO);
            }
            return Ok(Step::Empty);
        }
        if ld.canonical() {
            let line = ld.read_canon(nr - got.len());
            got.extend(line);
        } else {
            if packet && got.is_empty() {
                got.push(TIOCPKT_DATA);
            }
            let data = ld.read_raw(nr - got.len());
            got.extend(data);
        }
        // Room in the read buffer: the flip buffer drains into it.
        st.pump();
        Ok(Step::Copied)
    })
}

/// Reads up to `nr` bytes from the pty file of `file` for `task`, as
/// Linux's `n_tty_read`; `None` if `file` is not a pty file.
///
/// A background process reading its controlling terminal is stopped
/// first (see [`job::check_change`]). In canonical mode a read returns
/// one line (or what fits of it); a lone EOF reads as 0 bytes. Otherwise
/// VMIN and VTIME decide: VMIN > 0 waits for VMIN bytes (with VTIME > 0,
/// the read ends VTIME tenths of a second after the last byte came once
/// one has); VMIN = 0 returns what there is, waiting up to VTIME tenths
/// for a first byte. A hung-up slave reads 0; a master whose slave
/// closed reads `EIO` once drained. A signal ends the wait with what was
/// read, or `ERESTARTSYS`.
pub fn read(task: &Task, file: &OpenFile, nr: usize) -> Option<Result<Vec<u8>, Errno>> {
    let (pty, h) = handle_of(&*file.ops)?;
    Some(read_tty(task, file, pty, h, nr))
}

fn read_tty(
    task: &Task,
    file: &OpenFile,
    pty: &Arc<Pty>,
    h: Handle,
    nr: usize,
) -> Result<Vec<u8>, Errno> {
    let end = h.end;
    if pty.state.lock().is_hung_up(h) {
        return Ok(Vec::new());
    }
    if end == End::Slave {
        job::check_change(task, pty, SIGTTIN)?;
    }
    let mut got = Vec::new();
    if nr == 0 {
        return Ok(got);
    }
    // Linux's minimum / time / timeout: canonical reads end after a line;
    // `timeout` None waits forever, Some(0) not at all.
    let tenths = |n: u8| n as u64 * 100_000_000;
    let (canonical, minimum, time, mut timeout) = {
        let st = pty.state.lock();
        let ld = match end {
            End::Master => &st.master,
            End::Slave => &st.slave,
        };
        let cc = ld.termios().c_cc;
        if ld.canonical() {
            (true, 0, None, None)
        } else if cc[VMIN] > 0 {
            let time = (cc[VTIME] > 0).then(|| tenths(cc[VTIME]));
            (false, cc[VMIN] as usize, time, None)
        } else {
            (false, 1, None, Some(tenths(cc[VTIME])))
        }
    };
    let nonblock = file.flags() & O_NONBLOCK != 0;
    let partial = |got: Vec<u8>, e: Errno| if got.is_empty() { Err(e) } else { Ok(got) };
    loop {
        match read_step(pty, h, nr, &mut got) {
            Err(e) => return partial(got, e),
            Ok(Step::Status) | Ok(Step::HungUp) => return Ok(got),
            Ok(Step::Copied) => {
                if canonical || got.len() >= minimum || got.len() >= nr {
                    return Ok(got);
                }
                if time.is_some() {
                    timeout = time;
                }
                continue;
            }
            Ok(Step::Empty) => {}
        }
        if timeout == Some(0) {
            return Ok(got);
        }
        if nonblock {
            return partial(got, Errno::EAGAIN);
        }
        let deadline = timeout.map(|t| crate::process::mono_ns(&task.kernel).saturating_add(t));
        pty.queue.register(&task.blocker);
        let ready = {
            let st = pty.state.lock();
            st.is_hung_up(h)
                || match end {
                    End::Master => {
                        st.master.input_available(false)
                            || st.slave_closed
                            || (st.packet && st.pktstatus != 0)
                    }
                    End::Slave => st.slave.input_available(false),
                }
        };
        let reason = if ready {
            WakeReason::Woken
        } else {
            task.blocker.block(deadline)
        };
        pty.queue.unregister(&task.blocker);
        match reason {
            WakeReason::Interrupted => return partial(got, Errno::ERESTARTSYS),
            WakeReason::TimedOut => timeout = Some(0),
            WakeReason::Woken => {
                if let Some(d) = deadline {
                    let now = crate::process::mono_ns(&task.kernel);
                    timeout = Some(d.saturating_sub(now));
                }
            }
        }
    }
}

/// Job control before a write to the pty file of `file` (n_tty_write):
/// with TOSTOP, a background process writing to its controlling terminal
/// gets SIGTTOU. A console write is checked against the terminal it is
/// redirected to, and never if it is not redirected (Linux skips
/// `redirected_tty_write`). Other files pass.
pub fn write_check(task: &Task, file: &OpenFile) -> Result<(), Errno> {
    let Some((pty, h)) = handle_of(&*file.ops) else {
        return Ok(());
    };
    if h.console {
        return match console::redirect_of(pty) {
            Some(target) => write_check(task, &target),
            None => Ok(()),
        };
    }
    if h.end != End::Slave {
        return Ok(());
    }
    let tostop = {
        let st = pty.state.lock();
        !st.is_hung_up(h) && st.slave.termios().c_lflag & TOSTOP != 0
    };
    if tostop {
        job::check_change(task, pty, SIGTTOU)?;
    }
    Ok(())
}

/// Poll bits of a hung-up slave.
const HUNG_UP_POLL: PollMask = POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDNORM | POLLWRNORM;

impl FileOps for MasterFile {
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        let mut got = Vec::new();
        if let Step::Empty = read_step(&self.pty, self.h, buf.len(), &mut got)? {
            return Err(Errno::EAGAIN);
        }
        buf[..got.len()].copy_from_slice(&got);
        Ok(got.len())
    }

    fn write(&self, buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        self.pty.with(|st| {
            if st.is_hung_up(self.h) {
                return Err(Errno::EIO);
            }
            st.write(End::Master, buf)
        })
    }

    fn seekable(&self) -> bool {
        false
    }

    fn sync(&self) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }

    fn ioctl(&self, task: &mut Task, cmd: u32, arg: u64) -> Result<u64, Errno> {
        hung_up_ioctl(&self.pty, self.h, cmd)?;
        super::ioctl::ioctl(task, &self.pty, End::Master, cmd, arg)
    }

    fn is_tty(&self) -> bool {
        true
    }

    fn poll(&self) -> PollMask {
        let st = self.pty.state.lock();
        if st.is_hung_up(self.h) {
            return HUNG_UP_POLL;
        }
        let mut m = 0;
        if st.master.input_available(true) {
            m |= POLLIN | POLLRDNORM;
        }
        if st.packet && st.pktstatus != 0 {
            m |= POLLPRI | POLLIN | POLLRDNORM;
        }
        if st.slave_closed {
            m |= POLLHUP;
        }
        if st.write_room(End::Master) {
            m |= POLLOUT | POLLWRNORM;
        }
        m
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.pty.queue)
    }

    fn release(&self) {
        self.pty.master_closed();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A hung-up description answers every ioctl `EIO`, TIOCSPGRP `ENOTTY`
/// (Linux's `hung_up_tty_ioctl`).
fn hung_up_ioctl(pty: &Pty, h: Handle, cmd: u32) -> Result<(), Errno> {
    if pty.state.lock().is_hung_up(h) {
        return Err(if cmd == TIOCSPGRP {
            Errno::ENOTTY
        } else {
            Errno::EIO
        });
    }
    Ok(())
}

impl FileOps for SlaveFile {
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        let mut got = Vec::new();
        if let Step::Empty = read_step(&self.pty, self.h, buf.len(), &mut got)? {
            return Err(Errno::EAGAIN);
        }
        buf[..got.len()].copy_from_slice(&got);
        Ok(got.len())
    }

    fn write(&self, buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        if self.h.console {
            if let Some(target) = console::redirect_of(&self.pty) {
                return target.ops.write(buf, 0);
            }
        }
        self.pty.with(|st| {
            if st.is_hung_up(self.h) {
                return Err(Errno::EIO);
            }
            st.write(End::Slave, buf)
        })
    }

    fn seekable(&self) -> bool {
        false
    }

    fn sync(&self) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }

    fn ioctl(&self, task: &mut Task, cmd: u32, arg: u64) -> Result<u64, Errno> {
        hung_up_ioctl(&self.pty, self.h, cmd)?;
        super::ioctl::ioctl(task, &self.pty, End::Slave, cmd, arg)
    }

    fn is_tty(&self) -> bool {
        true
    }

    fn poll(&self) -> PollMask {
        let mut m = {
            let st = self.pty.state.lock();
            if st.is_hung_up(self.h) {
                return HUNG_UP_POLL;
            }
            let mut m = 0;
            if st.slave.input_available(true) {
                m |= POLLIN | POLLRDNORM;
            }
            if st.write_room(End::Slave) {
                m |= POLLOUT | POLLWRNORM;
            }
            m
        };
        if self.h.console {
            // Writes go to the redirect: so does the room for them.
            if let Some(target) = console::redirect_of(&self.pty) {
                let out = POLLOUT | POLLWRNORM | POLLERR | POLLHUP;
                m = (m & !out) | (target.ops.poll() & out);
            }
        }
        m
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.pty.queue)
    }

    fn release(&self) {
        self.pty.slave_released();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
