//! `veil do -t`: the host side of the sandbox's terminal.
//!
//! The program runs on a pseudo-terminal of the sandbox (its pid 1 is the
//! session leader, the slave its controlling terminal and stdin, stdout
//! and stderr); veil holds the master. The caller's terminal is put in
//! raw mode ([`RawMode`], restored when dropped: on exit, on a boot error
//! and on unwinding) so that every key reaches the sandbox's line
//! discipline as typed, and two threads copy bytes: host stdin to the
//! master, the master to host stdout ([`Bridge`]). The window size is
//! copied at start and on every SIGWINCH veil gets ([`copy_winsize`]).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use veil_abi::{Errno, Winsize};
use veil_core::host::{Blocker, WakeReason};
use veil_core::tty::Pty;
use veil_core::vfs::OpenFile;

/// True if `fd` is a terminal.
pub fn is_tty(fd: i32) -> bool {
    // SAFETY: isatty takes no pointers.
    unsafe { libc::isatty(fd) == 1 }
}

/// The window size of the terminal at `fd`.
pub fn host_winsize(fd: i32) -> Option<Winsize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one struct winsize to the valid pointer.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (r == 0).then_some(Winsize {
        ws_row: ws.ws_row,
        ws_col: ws.ws_col,
        ws_xpixel: ws.ws_xpixel,
        ws_ypixel: ws.ws_ypixel,
    })
}

/// Gives the sandbox terminal the host terminal's size (SIGWINCH to its
/// foreground process group if that changes it).
pub fn copy_winsize(pty: &Pty) {
    if let Some(ws) = host_winsize(0) {
        pty.set_winsize(ws);
    }
}

/// The host terminal in raw mode; its settings come back on drop.
pub struct RawMode {
    fd: i32,
    saved: libc::termios,
}

impl RawMode {
    /// Puts the terminal at `fd` in raw mode (`cfmakeraw`).
    pub fn enter(fd: i32) -> io::Result<RawMode> {
        // SAFETY: termios is plain data; all-zero is a valid value that
        // tcgetattr overwrites.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: tcgetattr writes one termios to the valid pointer.
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut raw = saved;
        // SAFETY: cfmakeraw only changes the struct it is given.
        unsafe { libc::cfmakeraw(&mut raw) };
        // SAFETY: tcsetattr reads one termios from the valid pointer.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: tcsetattr reads the termios saved at entry.
        unsafe { libc::tcsetattr(self.fd, libc::TCSADRAIN, &self.saved) };
    }
}

/// The copying threads between the host terminal and the sandbox's
/// master.
pub struct Bridge {
    finishing: Arc<AtomicBool>,
    output_done: mpsc::Receiver<()>,
    blocker: Arc<dyn Blocker>,
}

/// Waits on the pty's queue until `ready` holds (re-checked after
/// registering, so a change in between is not lost), or for at most
/// `nap`.
fn wait(master: &OpenFile, blocker: &Arc<dyn Blocker>, clock: &veil_host::HostClock, nap: u64) {
    let Some(q) = master.ops.wait_queue() else {
        return;
    };
    q.register(blocker);
    let deadline = veil_core::process::ts_ns(&veil_core::host::Clock::monotonic(clock)) + nap;
    let _: WakeReason = blocker.block(Some(deadline));
    q.unregister(blocker);
}

/// Writes all of `buf` to host fd `fd`.
fn write_host(fd: i32, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: write reads `buf.len()` bytes from a live slice.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

impl Bridge {
    /// Starts copying host stdin to `master` and `master` to host
    /// stdout.
    pub fn start(master: Arc<OpenFile>, clock: veil_host::HostClock) -> io::Result<Bridge> {
        let finishing = Arc::new(AtomicBool::new(false));
        let (tx, output_done) = mpsc::channel();
        let out_blocker: Arc<dyn Blocker> = Arc::new(veil_host::ThreadBlocker::new(clock));
        let in_blocker: Arc<dyn Blocker> = Arc::new(veil_host::ThreadBlocker::new(clock));
        {
            let master = master.clone();
            let finishing = finishing.clone();
            let blocker = out_blocker.clone();
            std::thread::Builder::new()
                .name("veil-tty-out".into())
                .spawn(move || {
                    let mut buf = vec![0u8; 4096];
                    loop {
                        match master.ops.read(&mut buf, 0) {
                            Ok(0) => {}
                            Ok(n) => {
                                if write_host(1, &buf[..n]).is_err() {
                                    break;
                                }
                                continue;
                            }
                            Err(Errno::EAGAIN) => {}
                            // EIO: every slave descriptor is closed.
                            Err(_) => break,
                        }
                        if finishing.load(Ordering::Acquire) {
                            break;
                        }
                        wait(&master, &blocker, &clock, 50_000_000);
                    }
                    let _ = tx.send(());
                })?;
        }
        {
            let master = master.clone();
            std::thread::Builder::new()
                .name("veil-tty-in".into())
                .spawn(move || {
                    let mut buf = [0u8; 4096];
                    loop {
                        // SAFETY: read writes at most `buf.len()` bytes
                        // into the live buffer.
                        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
                        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
                        {
                            continue;
                        }
                        if n <= 0 {
                            break;
                        }
                        let mut data = &buf[..n as usize];
                        while !data.is_empty() {
                            match master.ops.write(data, 0) {
                                Ok(k) => data = &data[k..],
                                Err(Errno::EAGAIN) => {
                                    wait(&master, &in_blocker, &clock, 50_000_000)
                                }
                                Err(_) => return,
                            }
                        }
                    }
                })?;
        }
        Ok(Bridge {
            finishing,
            output_done,
            blocker: out_blocker,
        })
    }

    /// The program has ended: copies what output is left (waiting at most
    /// `limit` for the host to take it), then returns. The input thread
    /// ends with the process.
    pub fn finish(self, limit: Duration) {
        self.finishing.store(true, Ordering::Release);
        self.blocker.wake();
        let _ = self.output_done.recv_timeout(limit);
    }
}
