//! Terminal ioctls on a pty end, in the order Linux's `tty_ioctl` tries
//! them: the tty layer's own (window size, exclusive mode, line
//! discipline number, breaks, flushing, job control), then the pty
//! driver's (master only: lock, number, packet mode, TIOCSIG), then the
//! line discipline's (queue sizes, flow control, flush, termios). Termios
//! and window-size calls on the master act on the slave.

use alloc::sync::Arc;

use veil_abi::flags::{
    CAP_SYS_ADMIN, FIONREAD, SIGINT, SIGQUIT, SIGTSTP, SIGTTOU, TCGETS, TCSETS, TCSETSF, TCSETSW,
    TIOCGPGRP, TIOCGPTN, TIOCGWINSZ, TIOCNOTTY, TIOCSCTTY, TIOCSPGRP, TIOCSPTLCK, TIOCSWINSZ,
};
use veil_abi::termios::*;
use veil_abi::{Errno, Termios, Winsize};

use super::ldisc::{baud_rate, KTermios, Out};
use super::{job, slave_rdev, End, Pty, PtyState, FLIP_LIMIT};
use crate::task::Task;
use crate::vfs::OpenFile;
use crate::UserAddr;

/// TIOCGSOFTCAR / TIOCSSOFTCAR.
const TIOCGSOFTCAR: u32 = 0x5419;
const TIOCSSOFTCAR: u32 = 0x541A;
/// The address bit of c_cflag, which TCSETS never changes.
const ADDRB: u32 = 0x2000_0000;
/// The old `struct termio` calls (`asm-generic/ioctls.h`).
const TCGETA: u32 = 0x5405;
const TCSETA: u32 = 0x5406;
const TCSETAW: u32 = 0x5407;
const TCSETAF: u32 = 0x5408;
/// Locked termios.
const TIOCGLCKTRMIOS: u32 = 0x5456;
const TIOCSLCKTRMIOS: u32 = 0x5457;
/// Hangs the terminal up.
pub(super) const TIOCVHANGUP: u32 = 0x5437;
/// Characters in a `struct termio`.
const NCC: usize = 8;
/// `sizeof(struct termio)`: four u16 flag words, the line, NCC
/// characters, one byte of padding.
const TERMIO_SIZE: usize = 18;
/// CAP_CHECKPOINT_RESTORE (TIOCSLCKTRMIOS accepts it for CAP_SYS_ADMIN).
const CAP_CHECKPOINT_RESTORE: u32 = 40;

/// The speed c_cflag gives (`tty_termios_baud_rate`).
fn out_speed(t: &KTermios) -> u32 {
    if t.c_cflag & CBAUD == BOTHER {
        return t.c_ospeed;
    }
    baud_rate(t.c_cflag)
}

/// The input speed (`tty_termios_input_baud_rate`).
fn in_speed(t: &KTermios) -> u32 {
    let code = (t.c_cflag >> IBSHIFT) & CBAUD;
    if code == B0 {
        return out_speed(t);
    }
    if code == BOTHER {
        return t.c_ispeed;
    }
    baud_rate(code)
}

/// The old 32-bit `dev_t` encoding (`new_encode_dev`).
fn encode_dev(rdev: u64) -> u32 {
    let major = (((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff)) as u32;
    let minor = ((rdev & 0xff) | ((rdev >> 12) & !0xff)) as u32;
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

/// Job control for a call on this end that changes the terminal: only
/// the slave can be anyone's controlling terminal.
fn check_change(task: &Task, pty: &Arc<Pty>, end: End) -> Result<(), Errno> {
    match end {
        End::Slave => job::check_change(task, pty, SIGTTOU),
        End::Master => Ok(()),
    }
}

/// The other end's flip buffer: where this end's output and echoes go.
fn out_of(st: &mut PtyState, end: End) -> (&mut super::ldisc::Ldisc, Out<'_>) {
    match end {
        End::Slave => (
            &mut st.slave,
            Out {
                buf: &mut st.to_master,
                cap: FLIP_LIMIT,
            },
        ),
        End::Master => (
            &mut st.master,
            Out {
                buf: &mut st.to_slave,
                cap: FLIP_LIMIT,
            },
        ),
    }
}

/// ioctls that need the open file description: TIOCSCTTY (is it open for
/// reading?), TIOCGPTPEER (where is the slave?) and TIOCCONS (the
/// description output is redirected to). `None` for other calls or
/// files.
pub fn file_ioctl(
    task: &mut Task,
    file: &Arc<OpenFile>,
    cmd: u32,
    arg: u64,
) -> Option<Result<u64, Errno>> {
    if !matches!(cmd, TIOCSCTTY | TIOCGPTPEER | TIOCCONS) {
        return None;
    }
    let (pty, h) = super::pty::handle_of(&*file.ops)?;
    let pty = pty.clone();
    if pty.state.lock().is_hung_up(h) {
        return Some(Err(Errno::EIO));
    }
    Some(match cmd {
        TIOCSCTTY => job::set_ctty(task, &pty, file.readable(), arg as i32 == 1).map(|_| 0),
        TIOCCONS => super::console::tioccons(task, file, &pty, h).map(|_| 0),
        _ => open_peer(task, file, &pty, h.end, arg as u32),
    })
}

/// TIOCGPTPEER (`ptm_open_peer`): opens the slave of the master `file`
/// with `flags`, as a new descriptor.
fn open_peer(
    task: &mut Task,
    file: &Arc<OpenFile>,
    pty: &Arc<Pty>,
    end: End,
    flags: u32,
) -> Result<u64, Errno> {
    if end != End::Master {
        return Err(Errno::EIO);
    }
    // The slave's node: `pts/N` beside the ptmx node, or `N` if the
    // master was opened as devpts's own `ptmx`.
    let at = file.location.as_ref().ok_or(Errno::EINVAL)?;
    let dir = crate::vfs::Location {
        mount: at.mount.clone(),
        dentry: at.dentry.parent().ok_or(Errno::EINVAL)?,
    };
    let name = alloc::format!("{}", pty.index).into_bytes();
    let in_devpts = dir.inode().statfs().map(|s| s.f_type) == Ok(DEVPTS_SUPER_MAGIC);
    let pts = if in_devpts {
        dir
    } else {
        crate::vfs::walk::step(task, &dir, b"pts")?
    };
    let loc = crate::vfs::walk::step(task, &pts, &name)?;
    let limit = task.rlimit(veil_abi::flags::RLIMIT_NOFILE);
    let ops = super::pty::open_slave(task, pty, flags, false)?;
    let stored = flags
        & !(veil_abi::flags::O_CREAT
            | veil_abi::flags::O_EXCL
            | veil_abi::flags::O_NOCTTY
            | veil_abi::flags::O_TRUNC);
    let f = OpenFile::new(ops, Some(loc), stored);
    let cloexec = flags & veil_abi::flags::O_CLOEXEC != 0;
    task.fds.insert(0, f, cloexec, limit).map(|fd| fd as u64)
}

/// Every other ioctl on a pty end (the slave not hung up).
pub fn ioctl(task: &mut Task, pty: &Arc<Pty>, end: End, cmd: u32, arg: u64) -> Result<u64, Errno> {
    let addr = UserAddr(arg);
    let is_ctty = || pty.is_ctty_of(task);
    // The tty layer's preparation.
    if matches!(cmd, TIOCSETD | TIOCSBRK | TIOCCBRK | TCSBRK | TCSBRKP) {
        check_change(task, pty, end)?;
    }
    match cmd {
        TIOCSTI => {
            let admin = task.creds.capable(CAP_SYS_ADMIN);
            if !admin && !task.kernel.ptys.legacy_tiocsti() {
                return Err(Errno::EIO);
            }
            if (end == End::Master || !is_ctty()) && !admin {
                return Err(Errno::EPERM);
            }
            let c: u8 = task.mm.read_obj(addr)?;
            pty.with(|st| {
                let (ld, mut out) = out_of(st, end);
                let r = ld.receive(&[c], &mut out);
                st.signals.extend(r.signals);
                if r.flushed && end == End::Slave && st.packet {
                    st.pktstatus |= TIOCPKT_FLUSHREAD;
                }
                if let Some(stopped) = r.flow {
                    if end == End::Slave {
                        st.flow_changed(stopped);
                    }
                }
                st.pump();
            });
            return Ok(0);
        }
        TIOCGWINSZ => {
            task.mm.write_obj(addr, &pty.winsize())?;
            return Ok(0);
        }
        TIOCVHANGUP => {
            if !task.creds.capable(CAP_SYS_ADMIN) {
                return Err(Errno::EPERM);
            }
            pty.vhangup(end);
            return Ok(0);
        }
        TIOCCONS => {
            // Reached only without the description (file_ioctl has it).
            return Err(Errno::ENOTTY);
        }
        TIOCSWINSZ => {
            let ws: Winsize = task.mm.read_obj(addr)?;
            pty.set_winsize(ws);
            return Ok(0);
        }
        TIOCEXCL | TIOCNXCL => {
            let on = cmd == TIOCEXCL;
            let mut st = pty.state.lock();
            match end {
                End::Slave => st.slave_exclusive = on,
                End::Master => st.master_exclusive = on,
            }
            return Ok(0);
        }
        TIOCGEXCL => {
            let st = pty.state.lock();
            let on = match end {
                End::Slave => st.slave_exclusive,
                End::Master => st.master_exclusive,
            };
            drop(st);
            task.mm.write_obj(addr, &(on as i32))?;
            return Ok(0);
        }
        TIOCGETD => {
            task.mm.write_obj(addr, &N_TTY)?;
            return Ok(0);
        }
        TIOCSETD => {
            let disc: i32 = task.mm.read_obj(addr)?;
            // Only N_TTY is there to switch to.
            return if disc == N_TTY {
                Ok(0)
            } else {
                Err(Errno::EINVAL)
            };
        }
        TIOCGDEV => {
            task.mm
                .write_obj(addr, &encode_dev(slave_rdev(pty.index)))?;
            return Ok(0);
        }
        TIOCSBRK | TIOCCBRK | TCSBRK | TCSBRKP => return Ok(0),
        TCFLSH if arg == TCIFLUSH || arg == TCIOFLUSH => {
            // The tty layer drops what waits in this end's flip buffer
            // before the line discipline's own checks.
            pty.with(|st| match end {
                End::Slave => st.to_slave.clear(),
                End::Master => st.to_master.clear(),
            });
        }
        TIOCGPTPEER => {
            return Err(if end == End::Master {
                Errno::EINVAL
            } else {
                Errno::EIO
            })
        }
        TIOCSCTTY => return job::set_ctty(task, pty, true, arg as i32 == 1).map(|_| 0),
        TIOCNOTTY => {
            return match end {
                End::Slave => job::notty(task, pty).map(|_| 0),
                End::Master => Err(Errno::ENOTTY),
            }
        }
        TIOCGPGRP | TIOCGSID => {
            if end == End::Slave && !is_ctty() {
                return Err(Errno::ENOTTY);
            }
            let (session, pgrp) = pty.session();
            let v = if cmd == TIOCGPGRP {
                pgrp.unwrap_or(0)
            } else {
                session.ok_or(Errno::ENOTTY)?
            };
            task.mm.write_obj(addr, &v)?;
            return Ok(0);
        }
        TIOCSPGRP => {
            match job::check_change(task, pty, SIGTTOU) {
                Err(Errno::EIO) => return Err(Errno::ENOTTY),
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            let p: i32 = task.mm.read_obj(addr)?;
            return job::set_pgrp(task, pty, p).map(|_| 0);
        }
        _ => {}
    }
    // The pty driver's own (master only).
    if end == End::Master {
        match cmd {
            TIOCSPTLCK => {
                let v: i32 = task.mm.read_obj(addr)?;
                pty.set_locked(v != 0);
                return Ok(0);
            }
            TIOCGPTLCK => {
                let v = pty.state.lock().locked as i32;
                task.mm.write_obj(addr, &v)?;
                return Ok(0);
            }
            TIOCPKT => {
                let v: i32 = task.mm.read_obj(addr)?;
                pty.with(|st| {
                    if v != 0 {
                        if !st.packet {
                            st.pktstatus = 0;
                            st.packet = true;
                        }
                    } else {
                        st.packet = false;
                    }
                });
                return Ok(0);
            }
            TIOCGPKT => {
                let v = pty.state.lock().packet as i32;
                task.mm.write_obj(addr, &v)?;
                return Ok(0);
            }
            TIOCGPTN => {
                task.mm.write_obj(addr, &pty.index)?;
                return Ok(0);
            }
            TIOCSIG => {
                let sig = arg as i32;
                if sig != SIGINT && sig != SIGQUIT && sig != SIGTSTP {
                    return Err(Errno::EINVAL);
                }
                let pgrp = pty.state.lock().pgrp;
                if let Some(p) = pgrp {
                    job::kill_pgrp(&task.kernel, p, job::kernel_info(sig), Some(task.tid));
                }
                return Ok(0);
            }
            _ => {}
        }
    }
    // The line discipline's.
    match cmd {
        TIOCOUTQ => {
            task.mm.write_obj(addr, &0i32)?;
            Ok(0)
        }
        FIONREAD => {
            let n = {
                let mut st = pty.state.lock();
                st.ldisc(end).inq() as u32
            };
            task.mm.write_obj(addr, &n)?;
            Ok(0)
        }
        TCXONC => {
            check_change(task, pty, end)?;
            pty.with(|st| -> Result<(), Errno> {
                match arg {
                    TCOOFF | TCOON => {
                        let ld = st.ldisc(end);
                        let mut changed = None;
                        if arg == TCOOFF && !ld.tco_stopped {
                            ld.tco_stopped = true;
                            if !ld.stopped {
                                ld.stopped = true;
                                changed = Some(true);
                            }
                        } else if arg == TCOON && ld.tco_stopped {
                            ld.tco_stopped = false;
                            if ld.stopped {
                                ld.stopped = false;
                                changed = Some(false);
                            }
                        }
                        if let (Some(s), End::Slave) = (changed, end) {
                            st.flow_changed(s);
                        }
                        st.pump();
                    }
                    TCIOFF | TCION => {
                        let idx = if arg == TCIOFF { VSTOP } else { VSTART };
                        let (ld, out) = out_of(st, end);
                        let c = ld.termios().c_cc[idx];
                        if c != VDISABLE && out.buf.len() < out.cap {
                            out.buf.push_back(c);
                        }
                        st.pump();
                    }
                    _ => return Err(Errno::EINVAL),
                }
                Ok(())
            })?;
            Ok(0)
        }
        TCFLSH => {
            check_change(task, pty, end)?;
            if arg > TCIOFLUSH {
                return Err(Errno::EINVAL);
            }
            pty.with(|st| {
                if arg == TCIFLUSH || arg == TCIOFLUSH {
                    // n_tty_flush_buffer (with the packet-mode report when
                    // the slave's input goes).
                    st.ldisc(end).flush_input();
                    if end == End::Slave && st.packet {
                        st.pktstatus |= TIOCPKT_FLUSHREAD;
                    }
                }
                if arg == TCOFLUSH || arg == TCIOFLUSH {
                    // pty_flush_buffer: the other end's flip buffer.
                    match end {
                        End::Slave => {
                            st.to_master.clear();
                            if st.packet {
                                st.pktstatus |= TIOCPKT_FLUSHWRITE;
                            }
                        }
                        End::Master => st.to_slave.clear(),
                    }
                }
                st.pump();
            });
            Ok(0)
        }
        TCGETS => {
            let t = *pty.state.lock().slave.termios();
            task.mm.write_obj(addr, &old_termios(&t))?;
            Ok(0)
        }
        TCGETS2 => {
            let t = *pty.state.lock().slave.termios();
            task.mm.write_obj(addr, &t)?;
            Ok(0)
        }
        TCGETA => {
            let t = *pty.state.lock().slave.termios();
            task.mm.copy_out(addr, &termio_of(&t))?;
            Ok(0)
        }
        TCSETS | TCSETSW | TCSETSF | TCSETS2 | TCSETSW2 | TCSETSF2 | TCSETA | TCSETAW | TCSETAF => {
            set_termios(task, pty, cmd, addr)?;
            Ok(0)
        }
        TIOCGLCKTRMIOS => {
            let t = pty.state.lock().termios_locked;
            task.mm.write_obj(addr, &old_termios(&t))?;
            Ok(0)
        }
        TIOCSLCKTRMIOS => {
            // checkpoint_restore_ns_capable.
            if !task.creds.capable(CAP_SYS_ADMIN) && !task.creds.capable(CAP_CHECKPOINT_RESTORE) {
                return Err(Errno::EPERM);
            }
            let t: Termios = task.mm.read_obj(addr)?;
            let mut st = pty.state.lock();
            let l = &mut st.termios_locked;
            l.c_iflag = t.c_iflag;
            l.c_oflag = t.c_oflag;
            l.c_cflag = t.c_cflag;
            l.c_lflag = t.c_lflag;
            l.c_line = t.c_line;
            l.c_cc = t.c_cc;
            Ok(0)
        }
        TIOCGSOFTCAR => {
            let on = pty.state.lock().slave.termios().c_cflag & CLOCAL != 0;
            task.mm.write_obj(addr, &(on as i32))?;
            Ok(0)
        }
        TIOCSSOFTCAR => {
            let on: i32 = task.mm.read_obj(addr)?;
            pty.with(|st| {
                let old = *st.slave.termios();
                let mut t = old;
                t.c_cflag = (t.c_cflag & !CLOCAL) | if on != 0 { CLOCAL } else { 0 };
                unset_locked(&mut t, &old, &st.termios_locked);
                let _ = st.slave.set_termios(t);
            });
            Ok(0)
        }
        _ => Err(Errno::ENOTTY),
    }
}

/// `struct termios` (no speeds) from the kernel's.
fn old_termios(t: &KTermios) -> Termios {
    Termios {
        c_iflag: t.c_iflag,
        c_oflag: t.c_oflag,
        c_cflag: t.c_cflag,
        c_lflag: t.c_lflag,
        c_line: t.c_line,
        c_cc: t.c_cc,
    }
}

/// The old `struct termio` (`kernel_termios_to_user_termio`): the low 16
/// bits of each flag word, the line, the first NCC characters.
fn termio_of(t: &KTermios) -> [u8; TERMIO_SIZE] {
    let mut b = [0u8; TERMIO_SIZE];
    for (i, f) in [t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag]
        .into_iter()
        .enumerate()
    {
        b[2 * i..2 * i + 2].copy_from_slice(&(f as u16).to_le_bytes());
    }
    b[8] = t.c_line;
    b[9..9 + NCC].copy_from_slice(&t.c_cc[..NCC]);
    b
}

/// Applies a `struct termio` to `t` (`user_termio_to_kernel_termios`):
/// the high 16 bits of each flag word and the characters past NCC are
/// kept.
fn apply_termio(t: &mut KTermios, b: &[u8; TERMIO_SIZE]) {
    let low = |i: usize| u16::from_le_bytes([b[2 * i], b[2 * i + 1]]) as u32;
    t.c_iflag = (t.c_iflag & 0xffff_0000) | low(0);
    t.c_oflag = (t.c_oflag & 0xffff_0000) | low(1);
    t.c_cflag = (t.c_cflag & 0xffff_0000) | low(2);
    t.c_lflag = (t.c_lflag & 0xffff_0000) | low(3);
    t.c_line = b[8];
    t.c_cc[..NCC].copy_from_slice(&b[9..9 + NCC]);
}

/// Keeps the locked parts of `old` in `new` (`unset_locked_termios`):
/// locked flag bits, and characters and the line whose locked value is
/// non-zero.
fn unset_locked(new: &mut KTermios, old: &KTermios, locked: &KTermios) {
    let keep = |n: u32, o: u32, l: u32| (n & !l) | (o & l);
    new.c_iflag = keep(new.c_iflag, old.c_iflag, locked.c_iflag);
    new.c_oflag = keep(new.c_oflag, old.c_oflag, locked.c_oflag);
    new.c_cflag = keep(new.c_cflag, old.c_cflag, locked.c_cflag);
    new.c_lflag = keep(new.c_lflag, old.c_lflag, locked.c_lflag);
    if locked.c_line != 0 {
        new.c_line = old.c_line;
    }
    for i in 0..NCCS {
        if locked.c_cc[i] != 0 {
            new.c_cc[i] = old.c_cc[i];
        }
    }
}

/// TCSETS*, TCSETA* (`set_termios`): job control, the new termios from
/// user memory, speeds from the baud codes, the locked termios, the
/// pty's fixed character size, and for TCSETSF / TCSETAF a flush of
/// pending input.
fn set_termios(task: &Task, pty: &Arc<Pty>, cmd: u32, addr: UserAddr) -> Result<(), Errno> {
    job::check_change(task, pty, SIGTTOU)?;
    let mut new = *pty.state.lock().slave.termios();
    match cmd {
        TCSETS | TCSETSW | TCSETSF => {
            let t: Termios = task.mm.read_obj(addr)?;
            new.c_iflag = t.c_iflag;
            new.c_oflag = t.c_oflag;
            new.c_cflag = t.c_cflag;
            new.c_lflag = t.c_lflag;
            new.c_line = t.c_line;
            new.c_cc = t.c_cc;
        }
        TCSETA | TCSETAW | TCSETAF => {
            let mut b = [0u8; TERMIO_SIZE];
            task.mm.copy_in(addr, &mut b)?;
            apply_termio(&mut new, &b);
        }
        _ => new = task.mm.read_obj(addr)?,
    }
    new.c_ispeed = in_speed(&new);
    new.c_ospeed = out_speed(&new);
    pty.with(|st| {
        if matches!(cmd, TCSETSF | TCSETSF2 | TCSETAF) {
            st.slave.flush_input();
            if st.packet {
                st.pktstatus |= TIOCPKT_FLUSHREAD;
            }
        }
        let old = *st.slave.termios();
        unset_locked(&mut new, &old, &st.termios_locked);
        new.c_cflag = (new.c_cflag & !ADDRB) | (old.c_cflag & ADDRB);
        // pty_set_termios: always 8 bits, no parity, receiver on.
        new.c_cflag = (new.c_cflag & !(CSIZE | PARENB)) | CS8 | CREAD;
        if st.packet {
            // The master learns when IXON with ^S / ^Q turns on or off.
            let flow = |t: &KTermios| {
                t.c_iflag & IXON != 0 && t.c_cc[VSTOP] == 0o23 && t.c_cc[VSTART] == 0o21
            };
            let (was, now) = (flow(&old), flow(&new));
            if was != now {
                st.pktstatus &= !(TIOCPKT_DOSTOP | TIOCPKT_NOSTOP);
                st.pktstatus |= if now { TIOCPKT_DOSTOP } else { TIOCPKT_NOSTOP };
            }
        }
        if st.slave.set_termios(new) {
            st.flow_changed(false);
        }
        st.pump();
    });
    Ok(())
}
