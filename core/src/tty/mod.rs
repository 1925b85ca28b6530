//! Terminals: Unix98 pseudo-terminals, their line discipline, and the
//! controlling-terminal and job-control rules of Linux's tty layer
//! (`drivers/tty/{pty,tty_io,tty_jobctrl,tty_ioctl,n_tty}.c`).
//!
//! # Pseudo-terminals
//!
//! Opening `/dev/ptmx` ([`open_ptmx`]) makes a [`Pty`]: a master
//! ([`MasterFile`]) and a slave that devpts shows as `/dev/pts/N` and that
//! opens as [`SlaveFile`]s. The pair is locked until `TIOCSPTLCK(0)`
//! (unlockpt); opening a locked slave, or one whose master is closed, is
//! `EIO`. Each end is a terminal with its own [`ldisc::Ldisc`] (the
//! master's is raw and fixed: termios ioctls on the master act on the
//! slave, as Linux's `tty_pair_get_tty`), and each direction has a flip
//! buffer of 8 KiB in front of the other end's 4 KiB read buffer: what the
//! master writes is input of the slave's line discipline (echoes go back
//! to the master); what the slave writes is output-processed (OPOST) into
//! the master's. Writers block when the flip buffer is full, readers when
//! the read buffer has nothing for them (a line in canonical mode, else
//! VMIN bytes with Linux's VTIME rules: see [`read`]).
//!
//! When the last slave descriptor closes, a master read returns what is
//! left, then `EIO`, and poll reports POLLHUP. When the master closes, the
//! slave is hung up (Linux's `tty_vhangup`): its descriptors read end of
//! file, write `EIO`, fail ioctls with `EIO` and poll ready; the
//! controlling-terminal session loses it, its leader gets SIGHUP and
//! SIGCONT (and remembers the foreground group, which gets SIGHUP and
//! SIGCONT when the leader exits); `/dev/pts/N` disappears. The number N
//! is free again once both ends are closed (the lowest free number is
//! used, as Linux's IDA).
//!
//! # Controlling terminals and job control
//!
//! Each process has a controlling terminal or none ([`Ctty`], in its
//! [`ThreadGroup`]), inherited by fork and dropped by setsid; each
//! terminal has the session it controls and that session's foreground
//! process group. The rules are Linux's (see [`job`]): a session leader
//! without one acquires a terminal it opens without `O_NOCTTY` that no
//! session has (never through `/dev/ptmx` or `/dev/tty`), or by
//! TIOCSCTTY; `/dev/tty` opens the caller's (`ENXIO` without one);
//! TIOCNOTTY gives it up (a leader's session loses it, its foreground group
//! getting SIGHUP and SIGCONT); a leader's exit sends SIGHUP to the
//! foreground group and clears the session's. ISIG characters signal the
//! foreground group. A background process reading its controlling
//! terminal gets SIGTTIN (its read is restarted after it is continued),
//! or `EIO` if SIGTTIN is ignored or blocked or its group is orphaned;
//! writing with TOSTOP, or changing the terminal (TCSETS*, TCFLSH,
//! TIOCSPGRP, TCXONC, TIOCSETD, the break ioctls), gets SIGTTOU unless
//! it is ignored or blocked (then the call goes ahead), or `EIO` if the
//! group is orphaned.
//!
//! # Hangups and the console
//!
//! TIOCVHANGUP (CAP_SYS_ADMIN) and vhangup(2) (CAP_SYS_TTY_CONFIG, the
//! caller's controlling terminal) hang up one end as Linux's
//! `tty_vhangup`: the descriptions then open on it become hung up (each
//! description remembers the end's hangup count when it was opened, see
//! [`Handle`]), the end's line discipline starts afresh with the default
//! termios, and a slave's session loses it as when the master closes;
//! the terminal itself stays usable for later opens. `/dev/console` (the
//! console pty under `veil do -t`) opens its slave; TIOCCONS redirects
//! console writes (see [`console`]).
//!
//! The old `struct termio` calls (TCGETA, TCSETA*) act on the low 16 bits
//! of the flag words and the first 8 characters; locked termios
//! (TIOCGLCKTRMIOS, TIOCSLCKTRMIOS with CAP_SYS_ADMIN) keep their bits and
//! characters through every termios change; TIOCSTI without
//! CAP_SYS_ADMIN is `EIO` where `dev.tty.legacy_tiocsti` is 0 (the host's
//! setting).
//!
//! # Left out
//!
//! Line disciplines other than N_TTY; modem lines and serial-port calls
//! (TIOCM*, TIOCGSERIAL, TIOCGICOUNT... answer `ENOTTY`, as for a pty);
//! TIOCCONS to `/dev/tty0` (there is no virtual console). devpts is one
//! instance per sandbox with Linux's default mount options (`mode=600`,
//! the opener's group, `ptmxmode=000`).

mod console;
mod ioctl;
pub mod job;
pub mod ldisc;
mod pty;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use spin::Mutex;
use veil_abi::termios::{TIOCPKT_START, TIOCPKT_STOP, UNIX98_PTY_SLAVE_MAJOR};
use veil_abi::{Errno, Timespec, Winsize};

use crate::kernel::Kernel;
use crate::task::{Pid, Task};
use crate::vfs::waitq::WaitQueue;
use ldisc::{KTermios, Ldisc, Out};

pub use ioctl::file_ioctl;
pub use job::Ctty;
pub use pty::{
    open_console, open_current_tty, open_ptmx, open_slave, read, write_check, MasterFile, SlaveFile,
};

/// vhangup(2) for a privileged caller (Linux's `tty_vhangup_self`):
/// hangs up the caller's controlling terminal, if it has one.
pub fn vhangup_self(task: &Task) {
    let tty = task.tg.ctty.lock().tty().cloned();
    if let Some(pty) = tty {
        pty.vhangup(End::Slave);
    }
}

/// The owner a terminal description gets when `O_ASYNC` is set and it
/// has none (Linux's `__tty_fasync`): the slave's foreground process
/// group, else the caller's process.
pub fn fasync_owner(task: &Task, ops: &dyn crate::vfs::FileOps) -> (i32, Pid) {
    use crate::vfs::fasync::{F_OWNER_PGRP, F_OWNER_PID};
    if let Some((pty, End::Slave)) = pty::tty_of(ops) {
        if let Some(pgrp) = pty.state.lock().pgrp {
            return (F_OWNER_PGRP, pgrp);
        }
    }
    (F_OWNER_PID, task.pid())
}

/// True if `ops` is a hung-up pty description.
pub fn is_hung_up_file(ops: &dyn crate::vfs::FileOps) -> bool {
    pty::is_hung_up(ops)
}

/// True if `ops` is a pty end (master or slave).
pub fn is_pty_file(ops: &dyn crate::vfs::FileOps) -> bool {
    pty::tty_of(ops).is_some()
}

/// Bytes a flip buffer holds (Linux's pty `tty_buffer_set_limit`).
pub const FLIP_LIMIT: usize = 8192;
/// Ptys a sandbox may have at once (Linux's `pty/max` less the
/// `pty/reserve` kept for other devpts instances).
pub const MAX_PTYS: usize = 4096 - 1024;

/// The device number of pty slave `index` (`/dev/pts/N`).
pub fn slave_rdev(index: u32) -> u64 {
    veil_abi::makedev(UNIX98_PTY_SLAVE_MAJOR + index / 256, index % 256)
}

/// What devpts shows of a slave's inode: set from the opener of
/// `/dev/ptmx`, changed by chmod / chown / utimensat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeAttr {
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Permission bits.
    pub mode: u32,
    /// Last access.
    pub atime: Timespec,
    /// Last modification.
    pub mtime: Timespec,
    /// Last status change.
    pub ctime: Timespec,
}

/// devpts mount options (Linux's defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevptsOptions {
    /// Permission bits of new slaves (`mode=`).
    pub mode: u32,
    /// Group of new slaves (`gid=`); `None`: the opener's fs gid.
    pub gid: Option<u32>,
    /// Permission bits of `/dev/pts/ptmx` (`ptmxmode=`).
    pub ptmxmode: u32,
}

impl Default for DevptsOptions {
    fn default() -> Self {
        DevptsOptions {
            mode: 0o600,
            gid: None,
            ptmxmode: 0,
        }
    }
}

/// The ptys of a sandbox (one devpts instance): numbers in use and the
/// pairs behind them.
pub struct PtyTable {
    ptys: Mutex<BTreeMap<u32, Arc<Pty>>>,
    /// The mount options.
    pub options: DevptsOptions,
    /// Where TIOCCONS sent `/dev/console`'s output (Linux's `redirect`).
    redirect: Mutex<Option<console::Redirect>>,
    /// `dev.tty.legacy_tiocsti`: TIOCSTI is allowed without
    /// CAP_SYS_ADMIN (Linux's default; the runtime sets the host's).
    legacy_tiocsti: AtomicBool,
}

impl Default for PtyTable {
    fn default() -> Self {
        PtyTable {
            ptys: Mutex::new(BTreeMap::new()),
            options: DevptsOptions::default(),
            redirect: Mutex::new(None),
            legacy_tiocsti: AtomicBool::new(true),
        }
    }
}

impl PtyTable {
    /// An empty table.
    pub fn new() -> Arc<PtyTable> {
        Arc::new(PtyTable::default())
    }

    /// The pty whose slave devpts shows as `index` (its master is open).
    pub fn get(&self, index: u32) -> Option<Arc<Pty>> {
        self.ptys
            .lock()
            .get(&index)
            .filter(|p| p.state.lock().master_open)
            .cloned()
    }

    /// The numbers devpts lists, ascending.
    pub fn visible(&self) -> Vec<u32> {
        self.ptys
            .lock()
            .iter()
            .filter(|(_, p)| p.state.lock().master_open)
            .map(|(i, _)| *i)
            .collect()
    }

    /// A new, locked pair with the lowest free number (`ENOSPC` when
    /// every number is taken).
    pub fn alloc(
        self: &Arc<Self>,
        kernel: &Arc<Kernel>,
        node: NodeAttr,
    ) -> Result<Arc<Pty>, Errno> {
        let mut ptys = self.ptys.lock();
        if ptys.len() >= MAX_PTYS {
            return Err(Errno::ENOSPC);
        }
        let mut index = 0u32;
        for &i in ptys.keys() {
            if i != index {
                break;
            }
            index += 1;
        }
        let pty = Arc::new(Pty {
            index,
            kernel: Arc::downgrade(kernel),
            table: Arc::downgrade(self),
            state: Mutex::new(PtyState::new(node)),
            queue: WaitQueue::new(),
        });
        ptys.insert(index, pty.clone());
        Ok(pty)
    }

    fn remove(&self, index: u32) {
        self.ptys.lock().remove(&index);
    }

    /// Sets `dev.tty.legacy_tiocsti` (the host's answer, at boot).
    pub fn set_legacy_tiocsti(&self, on: bool) {
        self.legacy_tiocsti.store(on, Ordering::Relaxed);
    }

    /// `dev.tty.legacy_tiocsti`.
    pub fn legacy_tiocsti(&self) -> bool {
        self.legacy_tiocsti.load(Ordering::Relaxed)
    }
}

/// A pseudo-terminal pair.
pub struct Pty {
    /// The number N of `/dev/pts/N`.
    pub index: u32,
    kernel: Weak<Kernel>,
    table: Weak<PtyTable>,
    state: Mutex<PtyState>,
    /// Woken on every change of either end's readiness.
    queue: WaitQueue,
}

/// The state of a pair, under one lock.
pub(crate) struct PtyState {
    /// The slave's line discipline: its termios, and input from the master.
    slave: Ldisc,
    /// The master's (raw): input from the slave.
    master: Ldisc,
    /// The slave's flip buffer: written by the master.
    to_slave: VecDeque<u8>,
    /// The master's flip buffer: written by the slave (and its echoes).
    to_master: VecDeque<u8>,
    winsize: Winsize,
    /// Slave opens refused until unlockpt.
    locked: bool,
    master_open: bool,
    /// Open slave descriptions.
    slave_opens: u32,
    /// The slave was opened and is closed again (the master's
    /// TTY_OTHER_CLOSED): master reads end in EIO.
    slave_closed: bool,
    /// The master closed: slave descriptions are hung up.
    hung_up: bool,
    /// Hangups of the slave (TIOCVHANGUP, vhangup): a slave description
    /// opened before the last one is hung up (Linux gives it
    /// `hung_up_tty_fops`); later opens work.
    slave_hangups: u32,
    /// The same for the master (TIOCVHANGUP on it).
    master_hangups: u32,
    /// The slave's locked termios (TIOCSLCKTRMIOS): set bits and
    /// non-zero characters keep their value through TCSETS*.
    termios_locked: KTermios,
    /// The session this is the controlling terminal of.
    session: Option<Pid>,
    /// Its foreground process group.
    pgrp: Option<Pid>,
    /// TIOCPKT on the master.
    packet: bool,
    /// Status bits for the next packet-mode read (the slave's
    /// `ctrl.pktstatus`).
    pktstatus: u8,
    /// TIOCEXCL on the slave: other opens are EBUSY (without
    /// CAP_SYS_ADMIN).
    slave_exclusive: bool,
    /// TIOCEXCL on the master (reported only).
    master_exclusive: bool,
    /// The slave's devpts inode attributes.
    node: NodeAttr,
    /// Signals for the foreground group raised by input, to send once the
    /// lock is dropped.
    signals: Vec<i32>,
}

/// Which end of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The `/dev/ptmx` side.
    Master,
    /// The `/dev/pts/N` side.
    Slave,
}

/// What one open description is of its pair: the end, and what decides
/// whether it is hung up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Handle {
    end: End,
    /// The end's hangup count when the description was opened.
    generation: u32,
    /// A `/dev/console` description: a hangup does not turn it into a
    /// hung-up file (Linux skips console files), and its writes go where
    /// TIOCCONS redirected them.
    console: bool,
}

impl PtyState {
    /// A handle on `end` for a description opened now.
    fn handle(&self, end: End, console: bool) -> Handle {
        let generation = match end {
            End::Master => self.master_hangups,
            End::Slave => self.slave_hangups,
        };
        Handle {
            end,
            generation,
            console,
        }
    }

    /// True if the description `h` is hung up: its reads end of file, its
    /// writes and ioctls `EIO`.
    fn is_hung_up(&self, h: Handle) -> bool {
        match h.end {
            End::Slave => self.hung_up || (!h.console && h.generation != self.slave_hangups),
            End::Master => h.generation != self.master_hangups,
        }
    }

    fn new(node: NodeAttr) -> PtyState {
        PtyState {
            slave: Ldisc::new(ldisc::slave_termios()),
            master: Ldisc::new(ldisc::master_termios()),
            to_slave: VecDeque::new(),
            to_master: VecDeque::new(),
            winsize: Winsize::default(),
            locked: true,
            master_open: true,
            slave_opens: 0,
            slave_closed: false,
            hung_up: false,
            slave_hangups: 0,
            master_hangups: 0,
            termios_locked: KTermios::default(),
            session: None,
            pgrp: None,
            packet: false,
            pktstatus: 0,
            slave_exclusive: false,
            master_exclusive: false,
            node,
            signals: Vec::new(),
        }
    }

    fn ldisc(&mut self, end: End) -> &mut Ldisc {
        match end {
            End::Master => &mut self.master,
            End::Slave => &mut self.slave,
        }
    }

    /// Moves flip buffers into the line disciplines while they take
    /// input (Linux's `flush_to_ldisc`), slave input first, and writes
    /// echoes that waited for room.
    fn pump(&mut self) {
        loop {
            let mut progress = false;
            if !self.to_slave.is_empty() {
                let input: Vec<u8> = self.to_slave.iter().copied().collect();
                let mut out = Out {
                    buf: &mut self.to_master,
                    cap: FLIP_LIMIT,
                };
                let r = self.slave.receive(&input, &mut out);
                self.to_slave.drain(..r.consumed);
                progress |= r.consumed > 0;
                self.signals.extend(r.signals);
                if r.flushed && self.packet {
                    self.pktstatus |= veil_abi::termios::TIOCPKT_FLUSHREAD;
                }
                if let Some(stopped) = r.flow {
                    self.flow_changed(stopped);
                }
            }
            if self.slave.echoes_pending() {
                let before = self.to_master.len();
                let mut out = Out {
                    buf: &mut self.to_master,
                    cap: FLIP_LIMIT,
                };
                self.slave.process_echoes(&mut out);
                progress |= self.to_master.len() != before;
            }
            if !self.to_master.is_empty() {
                let input: Vec<u8> = self.to_master.iter().copied().collect();
                let mut out = Out {
                    buf: &mut self.to_slave,
                    cap: FLIP_LIMIT,
                };
                let r = self.master.receive(&input, &mut out);
                self.to_master.drain(..r.consumed);
                progress |= r.consumed > 0;
            }
            if !progress {
                break;
            }
        }
    }

    /// The slave's output stopped or started (pty_stop / pty_start).
    fn flow_changed(&mut self, stopped: bool) {
        if self.packet {
            if stopped {
                self.pktstatus = (self.pktstatus & !TIOCPKT_START) | TIOCPKT_STOP;
            } else {
                self.pktstatus = (self.pktstatus & !TIOCPKT_STOP) | TIOCPKT_START;
            }
        }
    }

    /// Writes from `end` into the other end's flip buffer (n_tty_write
    /// and pty_write): the bytes taken, or EAGAIN if none fit.
    fn write(&mut self, end: End, data: &[u8]) -> Result<usize, Errno> {
        let n = match end {
            End::Master => {
                let mut out = Out {
                    buf: &mut self.to_slave,
                    cap: FLIP_LIMIT,
                };
                self.master.write(data, &mut out)
            }
            End::Slave => {
                let mut out = Out {
                    buf: &mut self.to_master,
                    cap: FLIP_LIMIT,
                };
                self.slave.write(data, &mut out)
            }
        };
        self.pump();
        if n == 0 && !data.is_empty() {
            return Err(Errno::EAGAIN);
        }
        Ok(n)
    }

    /// Room for a write from `end`.
    fn write_room(&self, end: End) -> bool {
        match end {
            End::Master => !self.master.stopped && self.to_slave.len() < FLIP_LIMIT,
            End::Slave => !self.slave.stopped && self.to_master.len() < FLIP_LIMIT,
        }
    }
}

impl Pty {
    /// The sandbox's kernel, while it lives.
    fn kernel(&self) -> Option<Arc<Kernel>> {
        self.kernel.upgrade()
    }

    /// Runs `f` on the state, then sends the signals input raised to the
    /// foreground group and wakes waiters.
    fn with<R>(&self, f: impl FnOnce(&mut PtyState) -> R) -> R {
        let (r, sigs, pgrp) = {
            let mut st = self.state.lock();
            let r = f(&mut st);
            (r, core::mem::take(&mut st.signals), st.pgrp)
        };
        if let (false, Some(pgrp), Some(k)) = (sigs.is_empty(), pgrp, self.kernel()) {
            for sig in sigs {
                job::kill_pgrp(&k, pgrp, job::kernel_info(sig), None);
            }
        }
        self.queue.notify();
        r
    }

    /// The slave's devpts attributes.
    pub fn node(&self) -> NodeAttr {
        self.state.lock().node
    }

    /// Changes the slave's devpts attributes.
    pub fn set_node(&self, f: impl FnOnce(&mut NodeAttr)) {
        f(&mut self.state.lock().node);
    }

    /// The window size.
    pub fn winsize(&self) -> Winsize {
        self.state.lock().winsize
    }

    /// Sets the window size; SIGWINCH to the foreground process group if
    /// it changed (tty_do_resize).
    pub fn set_winsize(&self, ws: Winsize) {
        let pgrp = {
            let mut st = self.state.lock();
            if st.winsize == ws {
                return;
            }
            st.winsize = ws;
            st.pgrp
        };
        if let (Some(pgrp), Some(k)) = (pgrp, self.kernel()) {
            job::kill_pgrp(&k, pgrp, job::kernel_info(veil_abi::flags::SIGWINCH), None);
        }
    }

    /// Sets the lock (TIOCSPTLCK).
    pub fn set_locked(&self, locked: bool) {
        self.state.lock().locked = locked;
    }

    /// The session and foreground process group.
    pub fn session(&self) -> (Option<Pid>, Option<Pid>) {
        let st = self.state.lock();
        (st.session, st.pgrp)
    }

    /// The master side closed (its last descriptor): the slave hangs up.
    fn master_closed(self: &Arc<Self>) {
        let (free, session, pgrp) = {
            let mut st = self.state.lock();
            st.master_open = false;
            st.hung_up = true;
            st.pktstatus = 0;
            st.packet = false;
            (st.slave_opens == 0, st.session.take(), st.pgrp.take())
        };
        self.queue.notify();
        self.slave_hung_up(session, pgrp);
        if free {
            self.free();
        }
    }

    /// Hangs up `end` (Linux's `tty_vhangup`, for TIOCVHANGUP and
    /// vhangup(2)): the descriptions open on it become hung up, its line
    /// discipline starts afresh with the default termios (the pty driver's
    /// TTY_DRIVER_RESET_TERMIOS) and what waited in it is dropped. For
    /// the slave, the session it controls loses it as when the master
    /// closes. Later opens get a working terminal.
    pub(crate) fn vhangup(self: &Arc<Self>, end: End) {
        let (session, pgrp) = {
            let mut st = self.state.lock();
            match end {
                End::Slave => {
                    st.slave_hangups = st.slave_hangups.wrapping_add(1);
                    st.slave = Ldisc::new(ldisc::slave_termios());
                    // pty_flush_buffer: the other end's flip buffer.
                    st.to_master.clear();
                    st.pktstatus = 0;
                    st.pump();
                    (st.session.take(), st.pgrp.take())
                }
                End::Master => {
                    st.master_hangups = st.master_hangups.wrapping_add(1);
                    st.master = Ldisc::new(ldisc::master_termios());
                    st.to_slave.clear();
                    st.pump();
                    (None, None)
                }
            }
        };
        self.queue.notify();
        if end == End::Slave {
            self.slave_hung_up(session, pgrp);
        }
    }

    /// After the slave hung up: the session it controlled (`session`,
    /// foreground group `pgrp`) loses it, and console output redirected
    /// to it goes back to the console.
    fn slave_hung_up(self: &Arc<Self>, session: Option<Pid>, pgrp: Option<Pid>) {
        if let Some(k) = self.kernel() {
            job::hangup(&k, self, session, pgrp);
        }
        if let Some(t) = self.table.upgrade() {
            console::unredirect_from(&t, self);
        }
    }

    /// A slave description closed.
    fn slave_released(&self) {
        let free = {
            let mut st = self.state.lock();
            st.slave_opens = st.slave_opens.saturating_sub(1);
            if st.slave_opens == 0 {
                st.slave_closed = true;
            }
            st.slave_opens == 0 && !st.master_open
        };
        self.queue.notify();
        if free {
            self.free();
        }
    }

    fn free(&self) {
        if let Some(t) = self.table.upgrade() {
            t.remove(self.index);
        }
    }

    /// The queue woken on every change of either end.
    pub fn wait_queue(&self) -> &WaitQueue {
        &self.queue
    }

    /// True if `task`'s process has this as its controlling terminal.
    pub fn is_ctty_of(self: &Arc<Self>, task: &Task) -> bool {
        task.tg
            .ctty
            .lock()
            .tty()
            .is_some_and(|t| Arc::ptr_eq(t, self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_abi::flags::SIGINT;

    fn pair() -> PtyState {
        PtyState::new(NodeAttr::default())
    }

    fn read(st: &mut PtyState, end: End) -> Vec<u8> {
        let out = st.ldisc(end).read_raw(1 << 20);
        st.pump();
        out
    }

    #[test]
    fn input_is_echoed_and_output_is_processed() {
        let mut st = pair();
        assert_eq!(st.write(End::Master, b"ls\r").unwrap(), 3);
        assert_eq!(read(&mut st, End::Master), b"ls\r\n");
        assert!(st.slave.input_available(false));
        assert_eq!(st.slave.read_canon(100), b"ls\n");
        st.write(End::Slave, b"a\nb").unwrap();
        assert_eq!(read(&mut st, End::Master), b"a\r\nb");
        st.write(End::Master, b"\x03").unwrap();
        assert_eq!(st.signals, [SIGINT]);
    }

    #[test]
    fn a_full_master_blocks_the_slave_and_echoes_wait() {
        let mut st = pair();
        let big = alloc::vec![b'x'; 20000];
        let mut n = 0;
        while let Ok(k) = st.write(End::Slave, &big[n..]) {
            n += k;
        }
        assert_eq!(n, FLIP_LIMIT + ldisc::N_TTY_BUF_SIZE - 1);
        assert_eq!(st.write(End::Slave, b"y"), Err(Errno::EAGAIN));
        assert!(!st.write_room(End::Slave));
        // Typing now: the echo waits for room, the input does not.
        st.write(End::Master, b"q").unwrap();
        assert!(st.slave.echoes_pending());
        let mut got = read(&mut st, End::Master);
        while !st.master.is_empty() {
            got.extend(read(&mut st, End::Master));
        }
        assert_eq!(got.len(), n + 1);
        assert_eq!(got.last(), Some(&b'q'));
        assert!(!st.slave.echoes_pending());
    }

    #[test]
    fn output_stops_and_starts_with_ixon() {
        let mut st = pair();
        st.write(End::Master, b"\x13").unwrap();
        assert!(!st.write_room(End::Slave));
        assert_eq!(st.write(End::Slave, b"z"), Err(Errno::EAGAIN));
        st.write(End::Master, b"\x11").unwrap();
        assert_eq!(st.write(End::Slave, b"z"), Ok(1));
        assert_eq!(read(&mut st, End::Master), b"z");
    }
}
