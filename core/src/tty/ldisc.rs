//! The N_TTY line discipline of one end of a terminal: input processing
//! (what arrives from the other end), the read buffer, echo, and output
//! processing of what this end writes, after Linux's `drivers/tty/n_tty.c`.
//!
//! - **Input** ([`Ldisc::receive`]): ISTRIP, IUCLC, IGNCR / ICRNL /
//!   INLCR; with IXON the START / STOP characters start and stop output
//!   (IXANY: any character starts it); with ISIG the INTR, QUIT and SUSP
//!   characters become SIGINT, SIGQUIT and SIGTSTP for the foreground
//!   process group (returned to the caller, which sends them), flushing
//!   the input and pending echoes unless NOFLSH; in canonical mode
//!   (ICANON) ERASE, WERASE (IEXTEN, BSD's ALTWERASE rule), KILL, LNEXT,
//!   REPRINT, EOF, EOL and EOL2 edit and end lines. A character equal to
//!   `_POSIX_VDISABLE` (0) is never special. As in Linux, only characters
//!   in the "char map" built from the termios take the special path.
//! - **The read buffer** holds at most 4096 bytes (`N_TTY_BUF_SIZE`);
//!   input that does not fit stays with the caller (the flip buffer). In
//!   canonical mode a line that fills the buffer keeps accepting
//!   characters, each replacing the last, so that ERASE and newline still
//!   work (Linux's overflow rule): a line is at most 4095 bytes and its
//!   terminator. An EOF ends a line without being read; alone, it makes
//!   read return 0.
//! - **Echo** (ECHO, ECHOE, ECHOK, ECHOKE, ECHONL, ECHOCTL, ECHOPRT) is
//!   queued as Linux's echo operations and turned into output when the
//!   receive step ends, or when this end writes, with the same column
//!   arithmetic (tab erasure goes back to the previous tab stop counted
//!   from the column where the line started).
//! - **Output** ([`Ldisc::write`]): with OPOST, ONLCR, OCRNL, ONOCR,
//!   ONLRET, OLCUC and XTABS, tracking the column as `do_output_char` does.
//!
//! Left out: PARMRK marking of parity errors and breaks (a pseudo-terminal
//! never reports either, so only the doubling of `\377` is kept), and
//! EXTPROC (external processing).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use veil_abi::flags::{SIGINT, SIGQUIT, SIGTSTP};
use veil_abi::termios::*;

/// The size of the read buffer.
pub const N_TTY_BUF_SIZE: usize = 4096;
/// Pending echo operations past which echoes are written at once rather
/// than at the end of the receive step (Linux's ECHO_COMMIT_WATERMARK).
const ECHO_COMMIT_WATERMARK: usize = 256;

/// The kernel's termios of one terminal end.
pub type KTermios = Termios2;

/// Linux's `INIT_C_CC`: ^C ^\ DEL ^U ^D, TIME 0, MIN 1, START ^Q, STOP ^S,
/// SUSP ^Z, REPRINT ^R, DISCARD ^O, WERASE ^W, LNEXT ^V.
const INIT_C_CC: [u8; NCCS] = [
    0o3, 0o34, 0o177, 0o25, 0o4, 0, 1, 0, 0o21, 0o23, 0o32, 0, 0o22, 0o17, 0o27, 0o26, 0, 0, 0,
];

/// Linux's `tty_std_termios` with the given flags and 38400 baud.
fn termios(iflag: u32, oflag: u32, cflag: u32, lflag: u32) -> KTermios {
    KTermios {
        c_iflag: iflag,
        c_oflag: oflag,
        c_cflag: cflag,
        c_lflag: lflag,
        c_line: 0,
        c_cc: INIT_C_CC,
        c_ispeed: 38400,
        c_ospeed: 38400,
    }
}

/// The termios of a new pty slave (`/dev/pts/N`).
pub fn slave_termios() -> KTermios {
    termios(
        ICRNL | IXON,
        OPOST | ONLCR,
        B38400 | CS8 | CREAD,
        ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
    )
}

/// The termios of a pty master (raw, and never changed: termios ioctls
/// on a master act on its slave).
pub fn master_termios() -> KTermios {
    termios(0, 0, B38400 | CS8 | CREAD, 0)
}

/// The speed a `CBAUD` code stands for (`tty_termios_baud_rate`).
pub fn baud_rate(code: u32) -> u32 {
    const RATES: [u32; 32] = [
        0, 50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600,
        115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000,
        2500000, 3000000, 3500000, 4000000, 0,
    ];
    let code = code & CBAUD;
    let idx = if code & CBAUDEX != 0 {
        15 + (code & !CBAUDEX) as usize
    } else {
        code as usize
    };
    RATES.get(idx).copied().unwrap_or(0)
}

/// The kernel's `ctype` (Latin-1): control characters.
pub fn is_cntrl(c: u8) -> bool {
    c < 32 || c == 127
}

fn is_upper(c: u8) -> bool {
    c.is_ascii_uppercase() || (192..=222).contains(&c) && c != 215
}

fn is_lower(c: u8) -> bool {
    c.is_ascii_lowercase() || c >= 223 && c != 247
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_digit() || is_upper(c) || is_lower(c)
}

fn to_lower(c: u8) -> u8 {
    if is_upper(c) {
        c + 32
    } else {
        c
    }
}

fn to_upper(c: u8) -> u8 {
    if is_lower(c) && c != 223 && c != 255 {
        c - 32
    } else {
        c
    }
}

/// One queued echo operation (Linux's echo buffer entries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Echo {
    /// A byte, written with output processing.
    Byte(u8),
    /// A control character shown as `^X`.
    Ctrl(u8),
    /// A literal 0xff (Linux's escaped ECHO_OP_START).
    Literal(u8),
    /// Back over a tab: the columns used since the line start or the
    /// previous tab (mod 8), and whether it was a tab.
    EraseTab { chars: u32, after_tab: bool },
    /// Record the column where canonical input starts.
    SetCanonCol,
    /// One column back (after a multi-byte character's extra bytes).
    MoveBackCol,
}

/// Where output of this end goes: the other end's flip buffer, and how
/// much it may hold.
pub struct Out<'a> {
    /// The queue written to.
    pub buf: &'a mut VecDeque<u8>,
    /// Its capacity.
    pub cap: usize,
}

impl Out<'_> {
    fn put(&mut self, b: &[u8]) {
        self.buf.extend(b);
    }
}

/// What a receive step did besides queueing input.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// Bytes of the input taken (the rest waits for room).
    pub consumed: usize,
    /// Signals for the foreground process group, in order.
    pub signals: Vec<i32>,
    /// The input was flushed by a signal character (packet mode reports
    /// TIOCPKT_FLUSHREAD; output not yet read by the other end is
    /// dropped).
    pub flushed: bool,
    /// Output was stopped (true) or started (false) by flow control.
    pub flow: Option<bool>,
}

/// The line discipline and terminal state of one end.
pub struct Ldisc {
    termios: KTermios,
    /// The read buffer and, per byte, whether it ends a line.
    buf: VecDeque<(u8, bool)>,
    /// Bytes at the front that belong to complete lines (canonical mode).
    canon: usize,
    lnext: bool,
    erasing: bool,
    column: u32,
    canon_column: u32,
    echoes: VecDeque<Echo>,
    char_map: [u64; 4],
    icanon: bool,
    /// Output stopped by STOP or TCOOFF (`tty->flow.stopped`).
    pub stopped: bool,
    /// Stopped by TCOOFF (`tty->flow.tco_stopped`).
    pub tco_stopped: bool,
}

impl Ldisc {
    /// A line discipline with `termios` and empty buffers.
    pub fn new(termios: KTermios) -> Ldisc {
        let mut l = Ldisc {
            termios,
            buf: VecDeque::new(),
            canon: 0,
            lnext: false,
            erasing: false,
            column: 0,
            canon_column: 0,
            echoes: VecDeque::new(),
            char_map: [0; 4],
            icanon: false,
            stopped: false,
            tco_stopped: false,
        };
        l.apply_termios(None);
        l
    }

    /// The termios.
    pub fn termios(&self) -> &KTermios {
        &self.termios
    }

    fn i(&self, f: u32) -> bool {
        self.termios.c_iflag & f != 0
    }
    fn o(&self, f: u32) -> bool {
        self.termios.c_oflag & f != 0
    }
    fn l(&self, f: u32) -> bool {
        self.termios.c_lflag & f != 0
    }
    fn cc(&self, i: usize) -> u8 {
        self.termios.c_cc[i]
    }

    /// Replaces the termios (n_tty_set_termios). Returns true if output
    /// was restarted because IXON went off while stopped by STOP.
    pub fn set_termios(&mut self, new: KTermios) -> bool {
        let old = self.termios;
        self.termios = new;
        self.apply_termios(Some(&old));
        if !self.i(IXON) && old.c_iflag & IXON != 0 && self.stopped && !self.tco_stopped {
            self.stopped = false;
            return true;
        }
        false
    }

    fn apply_termios(&mut self, old: Option<&KTermios>) {
        let changed = match old {
            Some(o) => (o.c_lflag ^ self.termios.c_lflag) & (ICANON | EXTPROC) != 0,
            None => true,
        };
        if changed {
            for e in self.buf.iter_mut() {
                e.1 = false;
            }
            if !self.l(ICANON) || self.buf.is_empty() {
                self.canon = 0;
            } else {
                // What is pending becomes one line.
                if let Some(last) = self.buf.back_mut() {
                    last.1 = true;
                }
                self.canon = self.buf.len();
            }
            self.erasing = false;
            self.lnext = false;
        }
        self.icanon = self.l(ICANON);
        let mut map = [0u64; 4];
        let mut set = |c: u8| map[(c >> 6) as usize] |= 1 << (c & 63);
        if self.i(IGNCR) || self.i(ICRNL) {
            set(b'\r');
        }
        if self.i(INLCR) {
            set(b'\n');
        }
        if self.l(ICANON) {
            set(self.cc(VERASE));
            set(self.cc(VKILL));
            set(self.cc(VEOF));
            set(b'\n');
            set(self.cc(VEOL));
            if self.l(IEXTEN) {
                set(self.cc(VWERASE));
                set(self.cc(VLNEXT));
                set(self.cc(VEOL2));
                if self.l(ECHO) {
                    set(self.cc(VREPRINT));
                }
            }
        }
        if self.i(IXON) {
            set(self.cc(VSTART));
            set(self.cc(VSTOP));
        }
        if self.l(ISIG) {
            set(self.cc(VINTR));
            set(self.cc(VQUIT));
            set(self.cc(VSUSP));
        }
        map[0] &= !1; // __DISABLED_CHAR is never special
        self.char_map = map;
    }

    fn special(&self, c: u8) -> bool {
        self.char_map[(c >> 6) as usize] & (1 << (c & 63)) != 0
    }

    /// Room in `out` for this end's output: none while output is stopped.
    fn room(&self, out: &Out<'_>) -> usize {
        if self.stopped {
            0
        } else {
            out.cap.saturating_sub(out.buf.len())
        }
    }

    fn is_continuation(&self, c: u8) -> bool {
        self.i(IUTF8) && c & 0xc0 == 0x80
    }

    // ---------------------------------------------------------------
    // Reading

    /// Bytes in the read buffer.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True if the read buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Linux's `input_available_p`: a complete line in canonical mode,
    /// else a byte (for poll, VMIN bytes when VTIME is 0).
    pub fn input_available(&self, poll: bool) -> bool {
        if self.icanon {
            return self.canon > 0;
        }
        let min = self.cc(VMIN) as usize;
        let amt = if poll && self.cc(VTIME) == 0 && min > 0 {
            min
        } else {
            1
        };
        self.buf.len() >= amt
    }

    /// True in canonical mode.
    pub fn canonical(&self) -> bool {
        self.icanon
    }

    /// FIONREAD: the bytes of complete lines without EOF marks in
    /// canonical mode, else every byte.
    pub fn inq(&self) -> usize {
        if !self.icanon {
            return self.buf.len();
        }
        self.buf
            .iter()
            .take(self.canon)
            .filter(|&&(c, eol)| !(eol && c == VDISABLE))
            .count()
    }

    /// Canonical read (canonical_copy_from_read_buf): up to `nr` bytes
    /// of the first complete line, its terminator included unless it is
    /// an EOF. Returns the bytes (possibly none: a lone EOF).
    pub fn read_canon(&mut self, nr: usize) -> Vec<u8> {
        let n = nr.min(self.canon);
        let eol = self.buf.iter().take(n).position(|&(_, e)| e);
        let (copy, take) = match eol {
            Some(e) if self.buf[e].0 == VDISABLE => (e, e + 1),
            Some(e) => (e + 1, e + 1),
            None => (n, n),
        };
        let out: Vec<u8> = self.buf.iter().take(copy).map(|&(c, _)| c).collect();
        self.buf.drain(..take);
        self.canon -= take;
        out
    }

    /// Raw read: up to `nr` bytes.
    pub fn read_raw(&mut self, nr: usize) -> Vec<u8> {
        let n = nr.min(self.buf.len());
        let out: Vec<u8> = self.buf.drain(..n).map(|(c, _)| c).collect();
        self.canon = self.canon.saturating_sub(n);
        out
    }

    /// Discards the read buffer (reset_buffer_flags).
    pub fn flush_input(&mut self) {
        self.buf.clear();
        self.canon = 0;
        self.erasing = false;
    }

    // ---------------------------------------------------------------
    // Receiving

    /// Takes input from the other end (n_tty_receive_buf_common): as
    /// much of `input` as there is room for. Echoes go to `out`.
    pub fn receive(&mut self, input: &[u8], out: &mut Out<'_>) -> Received {
        let mut r = Received::default();
        while r.consumed < input.len() {
            let mut room = N_TTY_BUF_SIZE as isize - self.buf.len() as isize;
            if self.i(PARMRK) {
                room = (room + 2) / 3;
            }
            room -= 1;
            if room <= 0 {
                let overflow = self.icanon && self.canon == 0;
                if overflow && room < 0 {
                    self.buf.pop_back();
                }
                room = overflow as isize;
            }
            let n = (input.len() - r.consumed).min(room.max(0) as usize);
            if n == 0 {
                break;
            }
            for &c in &input[r.consumed..r.consumed + n] {
                self.receive_char(c, out, &mut r);
            }
            r.consumed += n;
            self.process_echoes(out);
        }
        r
    }

    fn put(&mut self, c: u8) {
        if c == 0xff && self.i(PARMRK) {
            self.buf.push_back((c, false));
        }
        self.buf.push_back((c, false));
    }

    fn receive_char(&mut self, mut c: u8, out: &mut Out<'_>, r: &mut Received) {
        if self.lnext {
            self.lnext = false;
            if self.i(ISTRIP) {
                c &= 0x7f;
            }
            if self.i(IUCLC) && self.l(IEXTEN) {
                c = to_lower(c);
            }
            self.ordinary(c, out, r);
            return;
        }
        if self.i(ISTRIP) {
            c &= 0x7f;
        }
        if self.i(IUCLC) && self.l(IEXTEN) {
            c = to_lower(c);
        }
        if self.special(c) {
            self.special_char(c, out, r);
        } else {
            self.ordinary(c, out, r);
        }
    }

    fn start(&mut self, r: &mut Received) {
        if self.stopped && !self.tco_stopped {
            self.stopped = false;
            r.flow = Some(false);
        }
    }

    fn ordinary(&mut self, c: u8, out: &mut Out<'_>, r: &mut Received) {
        if self.stopped && self.i(IXON) && self.i(IXANY) {
            self.start(r);
            self.process_echoes(out);
        }
        if self.l(ECHO) {
            self.finish_erasing();
            if self.at_line_start() {
                self.echoes.push_back(Echo::SetCanonCol);
            }
            self.echo_char(c);
            self.commit_echoes(out);
        }
        self.put(c);
    }

    /// True if nothing of the current line has been typed yet.
    fn at_line_start(&self) -> bool {
        self.buf.len() == self.canon
    }

    fn special_char(&mut self, mut c: u8, out: &mut Out<'_>, r: &mut Received) {
        if self.i(IXON) {
            if c == self.cc(VSTART) {
                self.start(r);
                self.process_echoes(out);
                return;
            }
            if c == self.cc(VSTOP) {
                if !self.stopped {
                    self.stopped = true;
                    r.flow = Some(true);
                }
                return;
            }
        }
        if self.l(ISIG) {
            for (i, sig) in [(VINTR, SIGINT), (VQUIT, SIGQUIT), (VSUSP, SIGTSTP)] {
                if c == self.cc(i) {
                    self.signal_char(sig, c, out, r);
                    return;
                }
            }
        }
        if self.stopped && self.i(IXON) && self.i(IXANY) {
            self.start(r);
            self.process_echoes(out);
        }
        if c == b'\r' {
            if self.i(IGNCR) {
                return;
            }
            if self.i(ICRNL) {
                c = b'\n';
            }
        } else if c == b'\n' && self.i(INLCR) {
            c = b'\r';
        }
        if self.icanon {
            if c == self.cc(VERASE)
                || c == self.cc(VKILL)
                || (c == self.cc(VWERASE) && self.l(IEXTEN))
            {
                self.eraser(c);
                self.commit_echoes(out);
                return;
            }
            if c == self.cc(VLNEXT) && self.l(IEXTEN) {
                self.lnext = true;
                if self.l(ECHO) {
                    self.finish_erasing();
                    if self.l(ECHOCTL) {
                        self.echo_raw(b'^');
                        self.echo_raw(b'\x08');
                        self.commit_echoes(out);
                    }
                }
                return;
            }
            if c == self.cc(VREPRINT) && self.l(ECHO) && self.l(IEXTEN) {
                self.finish_erasing();
                self.echo_char(c);
                self.echo_raw(b'\n');
                let line: Vec<u8> = self.buf.iter().skip(self.canon).map(|&(b, _)| b).collect();
                for b in line {
                    self.echo_char(b);
                }
                self.commit_echoes(out);
                return;
            }
            if c == b'\n' {
                if self.l(ECHO) || self.l(ECHONL) {
                    self.echo_raw(b'\n');
                    self.commit_echoes(out);
                }
                self.end_line(c);
                return;
            }
            if c == self.cc(VEOF) {
                self.end_line(VDISABLE);
                return;
            }
            if c == self.cc(VEOL) || (c == self.cc(VEOL2) && self.l(IEXTEN)) {
                if self.l(ECHO) {
                    if self.at_line_start() {
                        self.echoes.push_back(Echo::SetCanonCol);
                    }
                    self.echo_char(c);
                    self.commit_echoes(out);
                }
                if c == 0xff && self.i(PARMRK) {
                    self.buf.push_back((c, false));
                }
                self.end_line(c);
                return;
            }
        }
        if self.l(ECHO) {
            self.finish_erasing();
            if c == b'\n' {
                self.echo_raw(b'\n');
            } else {
                if self.at_line_start() {
                    self.echoes.push_back(Echo::SetCanonCol);
                }
                self.echo_char(c);
            }
            self.commit_echoes(out);
        }
        self.put(c);
    }

    fn end_line(&mut self, c: u8) {
        self.buf.push_back((c, true));
        self.canon = self.buf.len();
    }

    fn signal_char(&mut self, sig: i32, c: u8, out: &mut Out<'_>, r: &mut Received) {
        r.signals.push(sig);
        if !self.l(NOFLSH) {
            self.echoes.clear();
            self.flush_input();
            // Output the other end has not taken in yet goes too.
            out.buf.clear();
            r.flushed = true;
        }
        if self.i(IXON) {
            self.start(r);
        }
        if self.l(ECHO) {
            self.echo_char(c);
            self.commit_echoes(out);
        } else {
            self.process_echoes(out);
        }
    }

    // ---------------------------------------------------------------
    // Echo

    fn echo_char(&mut self, c: u8) {
        if c == 0xff {
            self.echoes.push_back(Echo::Literal(c));
        } else if self.l(ECHOCTL) && is_cntrl(c) && c != b'\t' {
            self.echoes.push_back(Echo::Ctrl(c));
        } else {
            self.echoes.push_back(Echo::Byte(c));
        }
    }

    fn echo_raw(&mut self, c: u8) {
        if c == 0xff {
            self.echoes.push_back(Echo::Literal(c));
        } else {
            self.echoes.push_back(Echo::Byte(c));
        }
    }

    fn finish_erasing(&mut self) {
        if self.erasing {
            self.echo_raw(b'/');
            self.erasing = false;
        }
    }

    fn commit_echoes(&mut self, out: &mut Out<'_>) {
        if self.echoes.len() >= ECHO_COMMIT_WATERMARK {
            self.process_echoes(out);
        }
    }

    /// Writes pending echoes while there is room (process_echoes).
    pub fn process_echoes(&mut self, out: &mut Out<'_>) {
        while let Some(&e) = self.echoes.front() {
            match e {
                Echo::Byte(c) => {
                    if self.o(OPOST) {
                        if self.output_char(c, out).is_none() {
                            return;
                        }
                    } else {
                        if self.room(out) == 0 {
                            return;
                        }
                        out.put(&[c]);
                    }
                }
                Echo::Ctrl(c) => {
                    if self.room(out) < 2 {
                        return;
                    }
                    out.put(&[b'^', c ^ 0o100]);
                    self.column += 2;
                }
                Echo::Literal(c) => {
                    if self.room(out) == 0 {
                        return;
                    }
                    out.put(&[c]);
                    self.column += 1;
                }
                Echo::EraseTab { chars, after_tab } => {
                    let chars = if after_tab {
                        chars
                    } else {
                        chars + self.canon_column
                    };
                    let n = 8 - (chars & 7) as usize;
                    if n > self.room(out) {
                        return;
                    }
                    for _ in 0..n {
                        out.put(b"\x08");
                        self.column = self.column.saturating_sub(1);
                    }
                }
                Echo::SetCanonCol => self.canon_column = self.column,
                Echo::MoveBackCol => self.column = self.column.saturating_sub(1),
            }
            self.echoes.pop_front();
        }
    }

    /// True if echoes wait for room.
    pub fn echoes_pending(&self) -> bool {
        !self.echoes.is_empty()
    }

    /// ERASE, WERASE and KILL (Linux's `eraser`).
    fn eraser(&mut self, c: u8) {
        #[derive(PartialEq)]
        enum Kill {
            Erase,
            Werase,
            Line,
        }
        if self.at_line_start() {
            return;
        }
        let kind = if c == self.cc(VERASE) {
            Kill::Erase
        } else if c == self.cc(VWERASE) {
            Kill::Werase
        } else {
            if !self.l(ECHO) {
                self.buf.truncate(self.canon);
                return;
            }
            if !self.l(ECHOK) || !self.l(ECHOKE) || !self.l(ECHOE) {
                self.buf.truncate(self.canon);
                self.finish_erasing();
                self.echo_char(self.cc(VKILL));
                if self.l(ECHOK) {
                    self.echo_raw(b'\n');
                }
                return;
            }
            Kill::Line
        };
        let mut seen_alnums = 0;
        while self.buf.len() > self.canon {
            // One character, with its UTF-8 continuation bytes.
            let mut head = self.buf.len();
            let mut ch;
            loop {
                head -= 1;
                ch = self.buf[head].0;
                if !(self.is_continuation(ch) && head > self.canon) {
                    break;
                }
            }
            if self.is_continuation(ch) {
                break;
            }
            if kind == Kill::Werase {
                if is_alnum(ch) || ch == b'_' {
                    seen_alnums += 1;
                } else if seen_alnums > 0 {
                    break;
                }
            }
            let cnt = self.buf.len() - head;
            let removed: Vec<u8> = self.buf.drain(head..).map(|(b, _)| b).collect();
            if self.l(ECHO) {
                if self.l(ECHOPRT) {
                    if !self.erasing {
                        self.echo_raw(b'\\');
                        self.erasing = true;
                    }
                    self.echo_char(ch);
                    for &b in &removed[1..cnt] {
                        self.echo_raw(b);
                        self.echoes.push_back(Echo::MoveBackCol);
                    }
                } else if kind == Kill::Erase && !self.l(ECHOE) {
                    self.echo_char(self.cc(VERASE));
                } else if ch == b'\t' {
                    let mut chars = 0u32;
                    let mut after_tab = false;
                    for &(b, _) in self.buf.iter().skip(self.canon).rev() {
                        if b == b'\t' {
                            after_tab = true;
                            break;
                        } else if is_cntrl(b) {
                            if self.l(ECHOCTL) {
                                chars += 2;
                            }
                        } else if !self.is_continuation(b) {
                            chars += 1;
                        }
                    }
                    self.echoes.push_back(Echo::EraseTab {
                        chars: chars & 7,
                        after_tab,
                    });
                } else {
                    if is_cntrl(ch) && self.l(ECHOCTL) {
                        self.echo_raw(b'\x08');
                        self.echo_raw(b' ');
                        self.echo_raw(b'\x08');
                    }
                    if !is_cntrl(ch) || self.l(ECHOCTL) {
                        self.echo_raw(b'\x08');
                        self.echo_raw(b' ');
                        self.echo_raw(b'\x08');
                    }
                }
            }
            if kind == Kill::Erase {
                break;
            }
        }
        if self.at_line_start() && self.l(ECHO) {
            self.finish_erasing();
        }
    }

    // ---------------------------------------------------------------
    // Output

    /// Linux's `do_output_char`: one byte with output processing, or
    /// `None` if it does not fit.
    fn output_char(&mut self, mut c: u8, out: &mut Out<'_>) -> Option<usize> {
        if self.room(out) == 0 {
            return None;
        }
        match c {
            b'\n' => {
                if self.o(ONLRET) {
                    self.column = 0;
                }
                if self.o(ONLCR) {
                    if self.room(out) < 2 {
                        return None;
                    }
                    self.column = 0;
                    self.canon_column = 0;
                    out.put(b"\r\n");
                    return Some(2);
                }
                self.canon_column = self.column;
            }
            b'\r' => {
                if self.o(ONOCR) && self.column == 0 {
                    return Some(0);
                }
                if self.o(OCRNL) {
                    c = b'\n';
                    if self.o(ONLRET) {
                        self.column = 0;
                        self.canon_column = 0;
                    }
                } else {
                    self.column = 0;
                    self.canon_column = 0;
                }
            }
            b'\t' => {
                let spaces = 8 - (self.column & 7) as usize;
                if self.termios.c_oflag & TABDLY == XTABS {
                    if self.room(out) < spaces {
                        return None;
                    }
                    self.column += spaces as u32;
                    out.put(&b"        "[..spaces]);
                    return Some(spaces);
                }
                self.column += spaces as u32;
            }
            0x08 => self.column = self.column.saturating_sub(1),
            _ => {
                if !is_cntrl(c) {
                    if self.o(OLCUC) {
                        c = to_upper(c);
                    }
                    if !self.is_continuation(c) {
                        self.column += 1;
                    }
                }
            }
        }
        out.put(&[c]);
        Some(1)
    }

    /// Writes `data` from this end (n_tty_write): pending echoes first,
    /// then the bytes, processed if OPOST. Returns the bytes of `data`
    /// taken (fewer when `out` fills).
    pub fn write(&mut self, data: &[u8], out: &mut Out<'_>) -> usize {
        self.process_echoes(out);
        if !self.o(OPOST) {
            let n = data.len().min(self.room(out));
            out.put(&data[..n]);
            return n;
        }
        let mut done = 0;
        for &c in data {
            if self.output_char(c, out).is_none() {
                break;
            }
            done += 1;
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn run(l: &mut Ldisc, input: &[u8]) -> (Vec<u8>, Received) {
        let mut q = VecDeque::new();
        let mut out = Out {
            buf: &mut q,
            cap: 1 << 20,
        };
        let r = l.receive(input, &mut out);
        (q.into_iter().collect(), r)
    }

    fn slave() -> Ldisc {
        Ldisc::new(slave_termios())
    }

    fn set(l: &mut Ldisc, f: impl FnOnce(&mut KTermios)) {
        let mut t = *l.termios();
        f(&mut t);
        l.set_termios(t);
    }

    #[test]
    fn canonical_lines_echo_with_onlcr_and_icrnl() {
        let mut l = slave();
        let (echo, r) = run(&mut l, b"echo hi\r");
        assert_eq!(echo, b"echo hi\r\n");
        assert_eq!(r.consumed, 8);
        assert!(l.input_available(false));
        assert_eq!(l.inq(), 8);
        assert_eq!(l.read_canon(100), b"echo hi\n");
        assert!(!l.input_available(false));
    }

    #[test]
    fn partial_line_is_not_readable_until_newline() {
        let mut l = slave();
        run(&mut l, b"abc");
        assert!(!l.input_available(false));
        assert_eq!(l.inq(), 0);
        run(&mut l, b"\n");
        assert_eq!(l.read_canon(2), b"ab");
        assert_eq!(l.read_canon(10), b"c\n");
    }

    #[test]
    fn erase_kill_and_werase_edit_the_line() {
        let mut l = slave();
        let (echo, _) = run(&mut l, b"abc\x7f\x7fd\n");
        assert_eq!(echo, b"abc\x08 \x08\x08 \x08d\r\n");
        assert_eq!(l.read_canon(100), b"ad\n");
        // KILL with ECHOKE: every character erased visually.
        let (echo, _) = run(&mut l, b"xy\x15z\n");
        assert_eq!(echo, b"xy\x08 \x08\x08 \x08z\r\n");
        assert_eq!(l.read_canon(100), b"z\n");
        // WERASE: back over the word and the blanks after it.
        run(&mut l, b"one two  \x17three\n");
        assert_eq!(l.read_canon(100), b"one three\n");
        // Erasing an empty line does nothing.
        let (echo, _) = run(&mut l, b"\x7f\n");
        assert_eq!(echo, b"\r\n");
        assert_eq!(l.read_canon(100), b"\n");
    }

    #[test]
    fn kill_without_echoke_echoes_the_kill_character_and_newline() {
        let mut l = slave();
        set(&mut l, |t| t.c_lflag &= !ECHOKE);
        let (echo, _) = run(&mut l, b"ab\x15");
        assert_eq!(echo, b"ab^U\r\n");
        assert_eq!(l.len(), 0);
    }

    #[test]
    fn erase_of_a_control_character_and_a_tab() {
        let mut l = slave();
        // ^A is echoed as two columns and erased as two.
        let (echo, _) = run(&mut l, b"\x01\x7f");
        assert_eq!(echo, b"^A\x08 \x08\x08 \x08");
        // A tab after 3 characters: back to column 0 (5 backspaces).
        let (echo, _) = run(&mut l, b"abc\t\x7f");
        assert_eq!(echo, b"abc\t\x08\x08\x08\x08\x08");
        assert_eq!(l.len(), 3);
    }

    #[test]
    fn eof_ends_a_line_and_alone_reads_as_zero() {
        let mut l = slave();
        let (echo, _) = run(&mut l, b"ab\x04");
        assert_eq!(echo, b"ab");
        assert_eq!(l.inq(), 2);
        assert_eq!(l.read_canon(100), b"ab");
        run(&mut l, b"\x04");
        assert!(l.input_available(false));
        assert_eq!(l.read_canon(100), b"");
        assert!(!l.input_available(false));
    }

    #[test]
    fn lnext_quotes_the_next_character() {
        let mut l = slave();
        let (echo, _) = run(&mut l, b"\x16\x03\n");
        assert_eq!(echo, b"^\x08^C\r\n");
        assert_eq!(l.read_canon(100), b"\x03\n");
    }

    #[test]
    fn signal_characters_flush_and_are_reported() {
        let mut l = slave();
        let (echo, r) = run(&mut l, b"abc\x03");
        // The unflushed echo of "abc" is dropped with the input.
        assert_eq!(echo, b"^C");
        assert_eq!(r.signals, vec![SIGINT]);
        assert!(r.flushed);
        assert_eq!(l.len(), 0);
        let (_, r) = run(&mut l, b"\x1c\x1a");
        assert_eq!(r.signals, vec![SIGQUIT, SIGTSTP]);
        // NOFLSH keeps the input.
        set(&mut l, |t| t.c_lflag |= NOFLSH);
        let (echo, r) = run(&mut l, b"xy\x03");
        assert_eq!(echo, b"xy^C");
        assert!(!r.flushed);
        assert_eq!(l.len(), 2);
        // Without ISIG, ^C is data.
        set(&mut l, |t| t.c_lflag &= !ISIG);
        let (_, r) = run(&mut l, b"\x03\n");
        assert!(r.signals.is_empty());
        assert_eq!(l.read_canon(100), b"xy\x03\n");
    }

    #[test]
    fn raw_mode_passes_bytes_and_respects_vmin_for_poll() {
        let mut l = slave();
        set(&mut l, |t| {
            t.c_lflag &= !(ICANON | ECHO | ISIG);
            t.c_iflag &= !ICRNL;
            t.c_cc[VMIN] = 4;
        });
        let (echo, _) = run(&mut l, b"a\rb");
        assert!(echo.is_empty());
        assert!(l.input_available(false));
        assert!(!l.input_available(true));
        run(&mut l, b"c");
        assert!(l.input_available(true));
        assert_eq!(l.read_raw(100), b"a\rbc");
    }

    #[test]
    fn igncr_inlcr_and_echonl() {
        let mut l = slave();
        set(&mut l, |t| {
            t.c_iflag = IGNCR;
            t.c_lflag = ICANON | ECHONL;
        });
        let (echo, _) = run(&mut l, b"a\rb\n");
        assert_eq!(echo, b"\r\n");
        assert_eq!(l.read_canon(100), b"ab\n");
        set(&mut l, |t| {
            t.c_iflag = INLCR;
            t.c_lflag = 0;
        });
        run(&mut l, b"x\n");
        assert_eq!(l.read_raw(100), b"x\r");
    }

    #[test]
    fn switching_to_canonical_makes_pending_input_a_line() {
        let mut l = slave();
        set(&mut l, |t| t.c_lflag &= !ICANON);
        run(&mut l, b"raw");
        set(&mut l, |t| t.c_lflag |= ICANON);
        assert!(l.input_available(false));
        assert_eq!(l.read_canon(100), b"raw");
    }

    #[test]
    fn a_full_canonical_line_keeps_its_last_place_for_the_newline() {
        let mut l = slave();
        set(&mut l, |t| t.c_lflag &= !ECHO);
        let long = vec![b'x'; 5000];
        let (_, r) = run(&mut l, &long);
        assert_eq!(r.consumed, 5000);
        assert_eq!(l.len(), N_TTY_BUF_SIZE);
        run(&mut l, b"\n");
        let line = l.read_canon(10000);
        assert_eq!(line.len(), N_TTY_BUF_SIZE);
        assert_eq!(line[N_TTY_BUF_SIZE - 1], b'\n');
        // In raw mode the buffer stops taking input at 4095 bytes.
        set(&mut l, |t| t.c_lflag &= !ICANON);
        let (_, r) = run(&mut l, &long);
        assert_eq!(r.consumed, N_TTY_BUF_SIZE - 1);
    }

    #[test]
    fn ixon_stops_and_starts_output() {
        let mut l = slave();
        let (_, r) = run(&mut l, b"\x13");
        assert_eq!(r.flow, Some(true));
        assert!(l.stopped);
        let (_, r) = run(&mut l, b"\x11");
        assert_eq!(r.flow, Some(false));
        assert!(!l.stopped);
        assert_eq!(l.len(), 0);
    }

    #[test]
    fn output_processing() {
        let mut l = slave();
        let mut q = VecDeque::new();
        let mut out = Out {
            buf: &mut q,
            cap: 100,
        };
        assert_eq!(l.write(b"a\nb", &mut out), 3);
        assert_eq!(q.iter().copied().collect::<Vec<u8>>(), b"a\r\nb");
        // No room for "\r\n": the newline waits.
        let mut q = VecDeque::new();
        let mut out = Out {
            buf: &mut q,
            cap: 2,
        };
        assert_eq!(l.write(b"c\n", &mut out), 1);
        set(&mut l, |t| t.c_oflag = OPOST | OLCUC | XTABS);
        let mut q = VecDeque::new();
        let mut out = Out {
            buf: &mut q,
            cap: 100,
        };
        l.write(b"\rab\t|", &mut out);
        assert_eq!(q.iter().copied().collect::<Vec<u8>>(), b"\rAB      |");
        set(&mut l, |t| t.c_oflag = 0);
        let mut q = VecDeque::new();
        let mut out = Out {
            buf: &mut q,
            cap: 100,
        };
        l.write(b"x\n", &mut out);
        assert_eq!(q.iter().copied().collect::<Vec<u8>>(), b"x\n");
    }

    #[test]
    fn baud_codes() {
        assert_eq!(baud_rate(B38400), 38400);
        assert_eq!(baud_rate(CBAUDEX | 2), 115200);
        assert_eq!(baud_rate(B0), 0);
    }
}
