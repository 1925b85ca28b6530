//! System administration calls, as a container sees them: what can work
//! inside the sandbox's own namespaces does, the rest is refused with
//! Linux's errno after Linux's argument checks (never ENOSYS).
//!
//! - sethostname / setdomainname change the caller's UTS namespace
//!   ([`UtsNamespace`]): uname, /proc/sys/kernel/{hostname,domainname}.
//!   The sandbox starts in its own namespace (the host's name, domain
//!   "(none)"); unshare(CLONE_NEWUTS) and clone(CLONE_NEWUTS) give a
//!   process a copy. CAP_SYS_ADMIN is needed (EPERM), then a length of
//!   0 ..= 64 (EINVAL), then readable bytes (EFAULT).
//! - personality: the persona is kept per thread with the scheduling
//!   attributes (inherited by fork and clone, kept by execve, which clears
//!   READ_IMPLIES_EXEC and, for set-ID programs, PER_CLEAR_ON_SETID).
//!   Any value is stored as Linux does. ADDR_NO_RANDOMIZE turns off the
//!   loader's layout randomisation at the next execve
//!   ([`crate::loader`]); PER_LINUX32 makes uname report `i686`.
//!   READ_IMPLIES_EXEC, MMAP_PAGE_ZERO, ADDR_LIMIT_* and UNAME26 are
//!   stored but change nothing.
//! - syslog: a kernel log of the sandbox's own (a short banner; the
//!   host's log is never shown), with `dmesg_restrict = 1` as container
//!   hosts set it: every action needs CAP_SYSLOG (EPERM); Linux's checks
//!   of each action (EINVAL); CLEAR / READ_CLEAR forget it, READ consumes
//!   it and then waits (interruptibly) for messages that never come.
//! - adjtimex / clock_adjtime: a query (modes 0, or the read-only
//!   ADJ_OFFSET_SS_READ) reports an unsynchronised clock, as a kernel
//!   that no NTP daemon has touched: STA_UNSYNC, TIME_ERROR, maximum and
//!   estimated errors at the phase limit, and the sandbox's realtime.
//!   Linux's checks follow (EPERM without CAP_SYS_TIME, EINVAL for bad
//!   values); a change that would pass them is still EPERM: the sandbox
//!   never sets the host's clock. clock_adjtime: EINVAL for unknown
//!   clocks, EOPNOTSUPP for clocks that cannot be adjusted.
//! - clock_settime / settimeofday: Linux's checks (EINVAL for unknown or
//!   unsettable clocks and invalid times, EFAULT), then EPERM.
//!   settimeofday(NULL, NULL) succeeds for a caller with CAP_SYS_TIME.
//! - reboot, swapon, swapoff, acct, iopl, ioperm, init_module,
//!   finit_module, delete_module, kexec_load, kexec_file_load, quotactl,
//!   quotactl_fd: Linux's checks, in Linux's order, where they
//!   are cheap (capability first where Linux has it first); what would
//!   then change the machine is EPERM, as in a container without
//!   CAP_SYS_BOOT, CAP_SYS_MODULE, CAP_SYS_RAWIO or CAP_SYS_PACCT.
//!   Answers that hold for the sandbox are given as
//!   they are: no module is loaded (delete_module ENOENT), there is no
//!   swap (swapoff EINVAL), no accounting to turn off (acct(NULL) 0), no
//!   block device with quotas (quotactl ENOTBLK / ENODEV, quotactl_fd
//!   ENOSYS as for a filesystem without quota support), iopl(0) and
//!   turning ports off are no-ops.
//! - vhangup: with CAP_SYS_TTY_CONFIG (EPERM), hangs up the caller's
//!   controlling terminal, a pty of the sandbox's own
//!   ([`crate::tty::vhangup_self`]); without one it does nothing.
//!
//!   The sandbox's root keeps every capability in its sets (capget shows
//!   what Linux's root has, so programs that check behave as natively);
//!   the calls above refuse on their own. The capability is still checked
//!   first, so a process that dropped it gets Linux's EPERM at Linux's
//!   point.
//! - kcmp: compares descriptions, fd tables, filesystem contexts, address
//!   spaces, signal handler tables, I/O contexts and SysV undo lists of two
//!   threads, ordered by object address (0 equal, 1 less, 2 greater);
//!   KCMP_EPOLL_TFD looks the target up in an epoll instance. Ptrace read
//!   access to both is needed (EPERM).
//! - process_vm_readv / process_vm_writev: copy between address spaces
//!   with Linux's iovec checks and partial transfers; ptrace attach access
//!   (EPERM), ESRCH.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use spin::Mutex;
use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, Iovec, Timespec};

use super::{arg, Handler};
use crate::host::Identity;
use crate::task::{Pid, Task, ThreadGroup};
use crate::vfs::walk::{self, WalkFlags};
use crate::vfs::FileType;
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        SETHOSTNAME => |t, a| set_uts_name(t, a, true),
        SETDOMAINNAME => |t, a| set_uts_name(t, a, false),
        PERSONALITY => sys_personality,
        SYSLOG => sys_syslog,
        ADJTIMEX => sys_adjtimex,
        CLOCK_ADJTIME => sys_clock_adjtime,
        CLOCK_SETTIME => sys_clock_settime,
        SETTIMEOFDAY => sys_settimeofday,
        REBOOT => sys_reboot,
        SWAPON => sys_swapon,
        SWAPOFF => sys_swapoff,
        ACCT => sys_acct,
        IOPL => sys_iopl,
        IOPERM => sys_ioperm,
        INIT_MODULE => sys_init_module,
        FINIT_MODULE => sys_finit_module,
        DELETE_MODULE => sys_delete_module,
        KEXEC_LOAD => sys_kexec_load,
        KEXEC_FILE_LOAD => sys_kexec_file_load,
        QUOTACTL => sys_quotactl,
        QUOTACTL_FD => sys_quotactl_fd,
        VHANGUP => sys_vhangup,
        KCMP => sys_kcmp,
        PROCESS_VM_READV => |t, a| process_vm_rw(t, a, false),
        PROCESS_VM_WRITEV => |t, a| process_vm_rw(t, a, true),
        _ => return None,
    })
}

const CAP_SYS_MODULE: u32 = 16;
const CAP_SYS_RAWIO: u32 = 17;
const CAP_SYS_PACCT: u32 = 20;
const CAP_SYS_BOOT: u32 = 22;
const CAP_SYS_TIME: u32 = 25;
const CAP_SYS_TTY_CONFIG: u32 = 26;
const CAP_SYSLOG: u32 = 34;

/// Per-kernel state of this family: the first UTS namespace and the
/// kernel log.
pub struct AdminState {
    /// The sandbox's UTS namespace (processes that never unshared it).
    pub uts: Arc<UtsNamespace>,
    syslog: Mutex<Syslog>,
}

impl AdminState {
    /// The state of a new kernel with this identity.
    pub fn new(id: &Identity) -> AdminState {
        let mut log = Syslog::default();
        log.push(
            5,
            &alloc::format!("Linux version {} (veil) {}", id.release, id.version),
        );
        log.push(
            6,
            "veil: this is the sandbox's own kernel log; the host's is not shown",
        );
        AdminState {
            uts: Arc::new(UtsNamespace::new(
                id.hostname.as_bytes().to_vec(),
                b"(none)".to_vec(),
                INIT_UTS_NS,
            )),
            syslog: Mutex::new(log),
        }
    }
}

// -------------------------------------------------------------------------
// UTS namespaces

/// The namespace number of the sandbox's first UTS namespace (Linux's
/// `PROC_UTS_INIT_INO`).
const INIT_UTS_NS: u64 = 4_026_531_838;
/// `__NEW_UTS_LEN`.
const UTS_LEN: usize = 64;

/// A UTS namespace: the host and NIS domain names uname reports.
pub struct UtsNamespace {
    names: Mutex<(Vec<u8>, Vec<u8>)>,
    id: u64,
}

impl UtsNamespace {
    fn new(host: Vec<u8>, domain: Vec<u8>, id: u64) -> UtsNamespace {
        UtsNamespace {
            names: Mutex::new((host, domain)),
            id,
        }
    }

    /// The host name (nodename), as set (at most 64 bytes).
    pub fn hostname(&self) -> Vec<u8> {
        self.names.lock().0.clone()
    }

    /// The NIS domain name.
    pub fn domainname(&self) -> Vec<u8> {
        self.names.lock().1.clone()
    }

    /// Sets the host name (`true`) or the domain name; the name is cut at
    /// 64 bytes.
    pub fn set(&self, host: bool, name: &[u8]) {
        let name = name[..name.len().min(UTS_LEN)].to_vec();
        let mut n = self.names.lock();
        if host {
            n.0 = name;
        } else {
            n.1 = name;
        }
    }

    /// The namespace's number (`/proc/<pid>/ns/uts`).
    pub fn ns_id(&self) -> u64 {
        self.id
    }

    /// A copy for unshare / clone with CLONE_NEWUTS.
    pub fn copy(&self) -> Arc<UtsNamespace> {
        let (h, d) = self.names.lock().clone();
        Arc::new(UtsNamespace::new(h, d, crate::vfs::mount::next_ns_id()))
    }
}

/// The UTS namespace of process `tg`.
pub fn uts_of(kernel: &crate::Kernel, tg: &ThreadGroup) -> Arc<UtsNamespace> {
    tg.uts_ns
        .lock()
        .clone()
        .unwrap_or_else(|| kernel.admin.uts.clone())
}

/// unshare(CLONE_NEWUTS): the caller's process gets its own copy.
pub fn unshare_uts(t: &Task) {
    let copy = uts_of(&t.kernel, &t.tg).copy();
    *t.tg.uts_ns.lock() = Some(copy);
}

/// uname's `machine`: `i686` under the PER_LINUX32 persona.
pub fn machine(t: &Task) -> &'static str {
    if t.tg.pm.sched(t.tid).personality & PER_MASK == PER_LINUX32 {
        "i686"
    } else {
        "x86_64"
    }
}

fn set_uts_name(t: &mut Task, a: &[u64; 6], host: bool) -> SysResult {
    if !t.creds.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let len = arg::int(a[1]);
    if !(0..=UTS_LEN as i32).contains(&len) {
        return Err(Errno::EINVAL);
    }
    let mut buf = vec![0u8; len as usize];
    t.mm.copy_in(UserAddr(a[0]), &mut buf)?;
    uts_of(&t.kernel, &t.tg).set(host, &buf);
    Ok(0)
}

// -------------------------------------------------------------------------
// personality

/// The execution domain part of a persona.
const PER_MASK: u32 = 0xff;
const PER_LINUX32: u32 = 0x0008;
/// The persona flags execve of a set-ID program clears
/// (`PER_CLEAR_ON_SETID`: READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE,
/// ADDR_COMPAT_LAYOUT, MMAP_PAGE_ZERO).
const PER_CLEAR_ON_SETID: u32 = 0x0400_0000 | 0x0004_0000 | 0x0020_0000 | 0x0010_0000;
/// `ADDR_NO_RANDOMIZE`.
pub const ADDR_NO_RANDOMIZE: u32 = 0x0004_0000;
const READ_IMPLIES_EXEC: u32 = 0x0400_0000;

/// The persona a program starts with: `old` without READ_IMPLIES_EXEC
/// (a 64-bit execve clears it), and without PER_CLEAR_ON_SETID's flags if
/// the program is set-ID.
pub fn persona_for_exec(old: u32, setid: bool) -> u32 {
    let mut p = old & !READ_IMPLIES_EXEC;
    if setid {
        p &= !PER_CLEAR_ON_SETID;
    }
    p
}

fn sys_personality(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let old = t.tg.pm.sched(t.tid).personality;
    let new = arg::uint(a[0]);
    if new != 0xffff_ffff {
        t.tg.pm.set_sched(t.tid, |s| s.personality = new);
    }
    Ok(old as u64)
}

// -------------------------------------------------------------------------
// syslog

const SYSLOG_ACTION_CLOSE: i32 = 0;
const SYSLOG_ACTION_OPEN: i32 = 1;
const SYSLOG_ACTION_READ: i32 = 2;
const SYSLOG_ACTION_READ_ALL: i32 = 3;
const SYSLOG_ACTION_READ_CLEAR: i32 = 4;
const SYSLOG_ACTION_CLEAR: i32 = 5;
const SYSLOG_ACTION_CONSOLE_OFF: i32 = 6;
const SYSLOG_ACTION_CONSOLE_ON: i32 = 7;
const SYSLOG_ACTION_CONSOLE_LEVEL: i32 = 8;
const SYSLOG_ACTION_SIZE_UNREAD: i32 = 9;
const SYSLOG_ACTION_SIZE_BUFFER: i32 = 10;
/// The log buffer's size (`CONFIG_LOG_BUF_SHIFT` 17).
const LOG_BUF_LEN: u64 = 1 << 17;

/// The sandbox's kernel log: records as `syslog(2)` shows them
/// (`<level>[seconds] text\n`).
#[derive(Default)]
struct Syslog {
    records: Vec<Vec<u8>>,
    /// First record READ_ALL shows (CLEAR moves it to the end).
    clear: usize,
    /// Unread bytes for READ: the record and the offset into it.
    read: (usize, usize),
}

impl Syslog {
    fn push(&mut self, level: u8, text: &str) {
        self.records
            .push(alloc::format!("<{level}>[    0.000000] {text}\n").into_bytes());
    }

    fn unread(&self) -> usize {
        let (r, off) = self.read;
        self.records[r.min(self.records.len())..]
            .iter()
            .map(Vec::len)
            .sum::<usize>()
            - off
    }

    /// READ: up to `len` unread bytes, consumed.
    fn take(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while out.len() < len {
            let (r, off) = self.read;
            let Some(rec) = self.records.get(r) else {
                break;
            };
            let n = (rec.len() - off).min(len - out.len());
            out.extend_from_slice(&rec[off..off + n]);
            self.read = if off + n == rec.len() {
                (r + 1, 0)
            } else {
                (r, off + n)
            };
        }
        out
    }

    /// READ_ALL: the newest whole records since the last clear that fit
    /// in `len` bytes, oldest first.
    fn all(&self, len: usize) -> Vec<u8> {
        let recs = &self.records[self.clear.min(self.records.len())..];
        let mut start = recs.len();
        let mut size = 0;
        while start > 0 && size + recs[start - 1].len() <= len {
            start -= 1;
            size += recs[start].len();
        }
        recs[start..].concat()
    }
}

fn sys_syslog(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let action = arg::int(a[0]);
    let (buf, len) = (a[1], arg::int(a[2]));
    // dmesg_restrict = 1: every action needs CAP_SYSLOG.
    if !t.creds.capable(CAP_SYSLOG) {
        return Err(Errno::EPERM);
    }
    let log = &t.kernel.admin.syslog;
    match action {
        SYSLOG_ACTION_CLOSE | SYSLOG_ACTION_OPEN => Ok(0),
        SYSLOG_ACTION_READ => {
            if buf == 0 || len < 0 {
                return Err(Errno::EINVAL);
            }
            if len == 0 {
                return Ok(0);
            }
            let text = log.lock().take(len as usize);
            if !text.is_empty() {
                t.mm.copy_out(UserAddr(buf), &text)?;
                return Ok(text.len() as u64);
            }
            // Nothing new will be logged: wait for a signal (a wake-up
            // without one restarts the call).
            if !crate::signal::has_deliverable(t) {
                let _ = t.blocker.block(None);
            }
            Err(Errno::ERESTARTSYS)
        }
        SYSLOG_ACTION_READ_ALL | SYSLOG_ACTION_READ_CLEAR => {
            if buf == 0 || len < 0 {
                return Err(Errno::EINVAL);
            }
            if len == 0 {
                return Ok(0);
            }
            let text = log.lock().all(len as usize);
            t.mm.copy_out(UserAddr(buf), &text)?;
            if action == SYSLOG_ACTION_READ_CLEAR {
                let mut l = log.lock();
                l.clear = l.records.len();
            }
            Ok(text.len() as u64)
        }
        SYSLOG_ACTION_CLEAR => {
            let mut l = log.lock();
            l.clear = l.records.len();
            Ok(0)
        }
        SYSLOG_ACTION_CONSOLE_OFF | SYSLOG_ACTION_CONSOLE_ON => Ok(0),
        SYSLOG_ACTION_CONSOLE_LEVEL => {
            if !(1..=8).contains(&len) {
                return Err(Errno::EINVAL);
            }
            Ok(0)
        }
        SYSLOG_ACTION_SIZE_UNREAD => Ok(log.lock().unread() as u64),
        SYSLOG_ACTION_SIZE_BUFFER => Ok(LOG_BUF_LEN),
        _ => Err(Errno::EINVAL),
    }
}

// -------------------------------------------------------------------------
// Time

/// `struct __kernel_timex`'s size and the offsets used here.
const TIMEX_SIZE: usize = 208;
const ADJ_OFFSET_SINGLESHOT: u32 = 0x0001;
const ADJ_FREQUENCY: u32 = 0x0002;
const ADJ_SETOFFSET: u32 = 0x0100;
const ADJ_NANO: u32 = 0x2000;
const ADJ_TICK: u32 = 0x4000;
const ADJ_OFFSET_READONLY: u32 = 0x2000;
const ADJ_ADJTIME: u32 = 0x8000;
const STA_UNSYNC: i32 = 0x0040;
const TIME_ERROR: u64 = 5;
/// `NTP_PHASE_LIMIT`: the error bound of a clock nobody synchronised.
const NTP_PHASE_LIMIT: i64 = 16_000_000;

fn get_i64(b: &[u8], o: usize) -> i64 {
    i64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default())
}

fn put_i64(b: &mut [u8], o: usize, v: i64) {
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

/// Linux's `do_adjtimex` on the sandbox's clock: checks `tx` as
/// `timekeeping_validate_timex` does, refuses any change, and fills in
/// the state of an unsynchronised clock.
fn do_adjtimex(t: &Task, tx: &mut [u8; TIMEX_SIZE]) -> SysResult {
    let modes = u32::from_le_bytes(tx[0..4].try_into().unwrap_or_default());
    let capable = t.creds.capable(CAP_SYS_TIME);
    let read_only_adjtime = modes & ADJ_ADJTIME != 0 && modes & ADJ_OFFSET_READONLY != 0;
    if modes & ADJ_ADJTIME != 0 {
        if modes & ADJ_OFFSET_SINGLESHOT == 0 {
            return Err(Errno::EINVAL);
        }
        if !read_only_adjtime && !capable {
            return Err(Errno::EPERM);
        }
    } else {
        if modes != 0 && !capable {
            return Err(Errno::EPERM);
        }
        // USER_HZ 100: a tick of 9000 ..= 11000 µs.
        let tick = get_i64(tx, 88);
        if modes & ADJ_TICK != 0 && !(9000..=11000).contains(&tick) {
            return Err(Errno::EINVAL);
        }
    }
    if modes & ADJ_SETOFFSET != 0 {
        if !capable {
            return Err(Errno::EPERM);
        }
        let usec = get_i64(tx, 80);
        let limit = if modes & ADJ_NANO != 0 {
            1_000_000_000
        } else {
            1_000_000
        };
        if !(0..limit).contains(&usec) {
            return Err(Errno::EINVAL);
        }
    }
    if modes & ADJ_FREQUENCY != 0 {
        // PPM_SCALE: the product must not overflow.
        let freq = get_i64(tx, 16);
        if !(i64::MIN / 65536..=i64::MAX / 65536).contains(&freq) {
            return Err(Errno::EINVAL);
        }
    }
    if modes != 0 && !read_only_adjtime {
        t.kernel
            .note_unsupported("adjtimex: the sandbox never adjusts the host's clock (EPERM)");
        return Err(Errno::EPERM);
    }
    let now = t.kernel.clock.realtime();
    put_i64(tx, 8, 0); // offset
    put_i64(tx, 16, 0); // freq
    put_i64(tx, 24, NTP_PHASE_LIMIT); // maxerror
    put_i64(tx, 32, NTP_PHASE_LIMIT); // esterror
    tx[40..44].copy_from_slice(&STA_UNSYNC.to_le_bytes());
    put_i64(tx, 48, 2); // constant
    put_i64(tx, 56, 1); // precision
    put_i64(tx, 64, 500 << 16); // tolerance: 500 ppm
    put_i64(tx, 72, now.tv_sec);
    put_i64(tx, 80, now.tv_nsec / 1000);
    put_i64(tx, 88, 10_000); // tick
    for o in [96, 104, 120, 128, 136, 144, 152] {
        put_i64(tx, o, 0); // PPS fields
    }
    tx[112..116].copy_from_slice(&0i32.to_le_bytes()); // shift
    tx[160..164].copy_from_slice(&0i32.to_le_bytes()); // tai
    Ok(TIME_ERROR)
}

fn sys_adjtimex(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let mut tx = [0u8; TIMEX_SIZE];
    t.mm.copy_in(UserAddr(a[0]), &mut tx)?;
    let r = do_adjtimex(t, &mut tx);
    // Linux copies the structure back whatever the answer.
    t.mm.copy_out(UserAddr(a[0]), &tx)?;
    r
}

/// What a clock id names, for the calls that set or adjust clocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClockKind {
    /// CLOCK_REALTIME: settable and adjustable.
    Realtime,
    /// A clock that can be read but never set or adjusted.
    Fixed,
    /// A process or thread CPU-time clock (negative id).
    Cpu,
    /// A dynamic clock given by an fd (negative id, CLOCKFD).
    Fd,
}

fn clock_kind(id: i32) -> Result<ClockKind, Errno> {
    if id < 0 {
        return Ok(if id & 7 == 3 {
            ClockKind::Fd
        } else {
            ClockKind::Cpu
        });
    }
    match id as u32 {
        CLOCK_REALTIME => Ok(ClockKind::Realtime),
        1..=9 | CLOCK_TAI => Ok(ClockKind::Fixed),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_clock_adjtime(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let mut tx = [0u8; TIMEX_SIZE];
    t.mm.copy_in(UserAddr(a[1]), &mut tx)?;
    let r = match clock_kind(arg::int(a[0]))? {
        ClockKind::Realtime => do_adjtimex(t, &mut tx)?,
        // No fd names a PTP clock in the sandbox.
        ClockKind::Fd => return Err(Errno::EINVAL),
        ClockKind::Fixed | ClockKind::Cpu => return Err(Errno::EOPNOTSUPP),
    };
    t.mm.copy_out(UserAddr(a[1]), &tx)?;
    Ok(r)
}

/// The largest second a clock may be set to (Linux's
/// `TIME_SETTOD_SEC_MAX`: ktime's range less 30 years of uptime).
const TIME_SETTOD_SEC_MAX: i64 = i64::MAX / 1_000_000_000 - 30 * 365 * 86_400;

/// `do_sys_settimeofday64`'s checks, then EPERM: the sandbox never sets
/// the host's clock. `tv` / `tz` are what the caller passed.
fn settod(t: &Task, tv: Option<Timespec>, tz: Option<(i32, i32)>) -> SysResult {
    if let Some(ts) = tv {
        if ts.tv_sec < 0
            || !(0..1_000_000_000).contains(&ts.tv_nsec)
            || ts.tv_sec >= TIME_SETTOD_SEC_MAX
        {
            return Err(Errno::EINVAL);
        }
    }
    if !t.creds.capable(CAP_SYS_TIME) {
        return Err(Errno::EPERM);
    }
    if let Some((minuteswest, _)) = tz {
        if !(-15 * 60..=15 * 60).contains(&minuteswest) {
            return Err(Errno::EINVAL);
        }
    }
    if tv.is_none() && tz.is_none() {
        return Ok(0);
    }
    t.kernel
        .note_unsupported("settimeofday: the sandbox never sets the host's clock (EPERM)");
    Err(Errno::EPERM)
}

fn sys_clock_settime(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let id = arg::int(a[0]);
    let kind = clock_kind(id)?;
    if kind == ClockKind::Fixed {
        return Err(Errno::EINVAL);
    }
    let ts: Timespec = t.mm.read_obj(UserAddr(a[1]))?;
    match kind {
        ClockKind::Realtime => settod(t, Some(ts), None),
        // A CPU clock can never be set (after its id is checked).
        ClockKind::Cpu => {
            super::sched::cpu_clock(t, id)?;
            Err(Errno::EPERM)
        }
        _ => Err(Errno::EINVAL),
    }
}

fn sys_settimeofday(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let tv = if a[0] != 0 {
        let v: [i64; 2] = t.mm.read_obj(UserAddr(a[0]))?;
        if !(0..=1_000_000).contains(&v[1]) {
            return Err(Errno::EINVAL);
        }
        Some(Timespec {
            tv_sec: v[0],
            tv_nsec: v[1] * 1000,
        })
    } else {
        None
    };
    let tz = if a[1] != 0 {
        let v: [i32; 2] = t.mm.read_obj(UserAddr(a[1]))?;
        Some((v[0], v[1]))
    } else {
        None
    };
    settod(t, tv, tz)
}

// -------------------------------------------------------------------------
// The machine: reboot, swap, accounting, ports, modules, kexec, quotas

const LINUX_REBOOT_MAGIC1: u32 = 0xfee1_dead;
const LINUX_REBOOT_MAGIC2: [u32; 4] = [672_274_793, 85_072_278, 369_367_448, 537_993_216];
/// The commands Linux knows (RESTART, HALT, CAD_ON, CAD_OFF, POWER_OFF,
/// RESTART2, SW_SUSPEND, KEXEC).
const LINUX_REBOOT_CMDS: [u32; 8] = [
    0x0123_4567,
    0xcdef_0123,
    0x89ab_cdef,
    0x0000_0000,
    0x4321_fedc,
    0xa1b2_c3d4,
    0xd000_fce2,
    0x4558_4543,
];

fn sys_reboot(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if !t.creds.capable(CAP_SYS_BOOT) {
        return Err(Errno::EPERM);
    }
    if arg::uint(a[0]) != LINUX_REBOOT_MAGIC1 || !LINUX_REBOOT_MAGIC2.contains(&arg::uint(a[1])) {
        return Err(Errno::EINVAL);
    }
    if !LINUX_REBOOT_CMDS.contains(&arg::uint(a[2])) {
        return Err(Errno::EINVAL);
    }
    t.kernel
        .note_unsupported("reboot: refused as in a container without CAP_SYS_BOOT (EPERM)");
    Err(Errno::EPERM)
}

const FOLLOW: WalkFlags = WalkFlags {
    follow: true,
    empty_ok: false,
};

/// The file a path argument names (getname's EFAULT / ENAMETOOLONG, the
/// walk's errors).
fn path_arg(t: &Task, addr: u64) -> Result<crate::vfs::Location, Errno> {
    let path = t.read_path(addr)?;
    walk::resolve(t, AT_FDCWD, &path, FOLLOW)
}

fn file_type(loc: &crate::vfs::Location) -> Result<Option<FileType>, Errno> {
    Ok(loc.inode().attr()?.file_type())
}

fn sys_swapon(t: &mut Task, a: &[u64; 6]) -> SysResult {
    // SWAP_FLAGS_VALID: the priority, PREFER and the DISCARD flags.
    if arg::int(a[1]) & !0x7ffff != 0 {
        return Err(Errno::EINVAL);
    }
    if !t.creds.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    path_arg(t, a[0])?;
    t.kernel
        .note_unsupported("swapon: the sandbox has no swap (EPERM)");
    Err(Errno::EPERM)
}

fn sys_swapoff(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if !t.creds.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    path_arg(t, a[0])?;
    // Not a swap area: the sandbox has none.
    Err(Errno::EINVAL)
}

fn sys_acct(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if !t.creds.capable(CAP_SYS_PACCT) {
        return Err(Errno::EPERM);
    }
    if a[0] == 0 {
        // Accounting is off; turning it off succeeds.
        return Ok(0);
    }
    let loc = path_arg(t, a[0])?;
    match file_type(&loc)? {
        Some(FileType::Directory) => Err(Errno::EISDIR),
        Some(FileType::Regular) => {
            t.kernel
                .note_unsupported("acct: process accounting is not kept (EPERM)");
            Err(Errno::EPERM)
        }
        _ => Err(Errno::EACCES),
    }
}

fn sys_iopl(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let level = arg::uint(a[0]);
    if level > 3 {
        return Err(Errno::EINVAL);
    }
    if level == 0 {
        return Ok(0);
    }
    if !t.creds.capable(CAP_SYS_RAWIO) {
        return Err(Errno::EPERM);
    }
    t.kernel
        .note_unsupported("iopl: no I/O ports in the sandbox (EPERM)");
    Err(Errno::EPERM)
}

fn sys_ioperm(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (from, num) = (a[0], a[1]);
    match from.checked_add(num) {
        Some(end) if end > from && end <= 65536 => {}
        _ => return Err(Errno::EINVAL),
    }
    if arg::int(a[2]) == 0 {
        // Turning ports off: none are on.
        return Ok(0);
    }
    if !t.creds.capable(CAP_SYS_RAWIO) {
        return Err(Errno::EPERM);
    }
    t.kernel
        .note_unsupported("ioperm: no I/O ports in the sandbox (EPERM)");
    Err(Errno::EPERM)
}

fn sys_init_module(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if !t.creds.capable(CAP_SYS_MODULE) {
        return Err(Errno::EPERM);
    }
    // copy_module_from_user and the ELF header check.
    if a[1] < 64 {
        return Err(Errno::ENOEXEC);
    }
    let mut magic = [0u8; 4];
    t.mm.copy_in(UserAddr(a[0]), &mut magic)?;
    if &magic != b"\x7fELF" {
        return Err(Errno::ENOEXEC);
    }
    t.kernel
        .note_unsupported("init_module: no kernel modules in the sandbox (EPERM)");
    Err(Errno::EPERM)
}

fn sys_finit_module(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if !t.creds.capable(CAP_SYS_MODULE) {
        return Err(Errno::EPERM);
    }
    // MODULE_INIT_IGNORE_MODVERSIONS | _IGNORE_VERMAGIC | _COMPRESSED_FILE.
    if arg::int(a[2]) & !7 != 0 {
        return Err(Errno::EINVAL);
    }
    let f = t.fds.file(arg::fd(a[0])).map_err(|_| Errno::EBADF)?;
    if f.flags() & O_ACCMODE == O_WRONLY || f.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    t.kernel
        .note_unsupported("finit_module: no kernel modules in the sandbox (EPERM)");
    Err(Errno::EPERM)
}

fn sys_delete_module(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if !t.creds.capable(CAP_SYS_MODULE) {
        return Err(Errno::EPERM);
    }
    // MODULE_NAME_LEN - 1 bytes are read; no module is loaded.
    match t.mm.read_cstring(UserAddr(a[0]), 55) {
        Ok(_) | Err(Errno::ENAMETOOLONG) => Err(Errno::ENOENT),
        Err(e) => Err(e),
    }
}

/// kexec_load's `KEXEC_ARCH_MASK` and the x86-64 architecture value.
const KEXEC_ARCH_MASK: u64 = 0xffff_0000;
const KEXEC_ARCH_X86_64: u64 = 62 << 16;

fn sys_kexec_load(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if !t.creds.capable(CAP_SYS_BOOT) {
        return Err(Errno::EPERM);
    }
    let flags = a[3];
    // KEXEC_ON_CRASH, PRESERVE_CONTEXT, UPDATE_ELFCOREHDR,
    // CRASH_HOTPLUG_SUPPORT; at most 16 segments; this architecture.
    if flags & !KEXEC_ARCH_MASK & !0xf != 0 || a[1] > 16 {
        return Err(Errno::EINVAL);
    }
    let arch = flags & KEXEC_ARCH_MASK;
    if arch != 0 && arch != KEXEC_ARCH_X86_64 {
        return Err(Errno::EINVAL);
    }
    t.kernel
        .note_unsupported("kexec_load: refused as in a container without CAP_SYS_BOOT (EPERM)");
    Err(Errno::EPERM)
}

fn sys_kexec_file_load(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if !t.creds.capable(CAP_SYS_BOOT) {
        return Err(Errno::EPERM);
    }
    // KEXEC_FILE_UNLOAD, ON_CRASH, NO_INITRAMFS, DEBUG.
    if a[4] & !0xf != 0 {
        return Err(Errno::EINVAL);
    }
    t.kernel.note_unsupported(
        "kexec_file_load: refused as in a container without CAP_SYS_BOOT (EPERM)",
    );
    Err(Errno::EPERM)
}

/// quotactl's `SUBCMDSHIFT` and `Q_SYNC`; `MAXQUOTAS`.
const SUBCMDSHIFT: u32 = 8;
const Q_SYNC: u32 = 0x80_0001;
const MAXQUOTAS: u32 = 3;

fn sys_quotactl(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let cmd = arg::uint(a[0]);
    if cmd & ((1 << SUBCMDSHIFT) - 1) >= MAXQUOTAS {
        return Err(Errno::EINVAL);
    }
    if a[1] == 0 {
        // Q_SYNC of every filesystem with quotas: there are none.
        return if cmd >> SUBCMDSHIFT == Q_SYNC {
            Ok(0)
        } else {
            Err(Errno::ENODEV)
        };
    }
    let loc = path_arg(t, a[1])?;
    if file_type(&loc)? != Some(FileType::BlockDevice) {
        return Err(Errno::ENOTBLK);
    }
    // No filesystem of the sandbox lives on a block device.
    Err(Errno::ENODEV)
}

fn sys_quotactl_fd(t: &mut Task, a: &[u64; 6]) -> SysResult {
    t.fds.file(arg::fd(a[0])).map_err(|_| Errno::EBADF)?;
    if arg::uint(a[1]) & ((1 << SUBCMDSHIFT) - 1) >= MAXQUOTAS {
        return Err(Errno::EINVAL);
    }
    // As for a filesystem without quota support.
    Err(Errno::ENOSYS)
}

fn sys_vhangup(t: &mut Task, _a: &[u64; 6]) -> SysResult {
    if !t.creds.capable(CAP_SYS_TTY_CONFIG) {
        return Err(Errno::EPERM);
    }
    // The sandbox's terminals are its own: its root may hang them up.
    crate::tty::vhangup_self(t);
    Ok(0)
}

// -------------------------------------------------------------------------
// Access to other processes

/// A thread another process's call acts on: its process, its uids and
/// gids (real, effective, saved) and whether it is the caller.
struct Peer {
    tg: Arc<ThreadGroup>,
    tid: Pid,
    me: bool,
}

/// Thread `tid` of the caller's pid namespace, or ESRCH.
fn peer(t: &Task, tid: Pid) -> Result<Peer, Errno> {
    if tid == t.tid {
        return Ok(Peer {
            tg: t.tg.clone(),
            tid,
            me: true,
        });
    }
    if tid <= 0 {
        return Err(Errno::ESRCH);
    }
    let tg = t.kernel.thread_group(tid).ok_or(Errno::ESRCH)?;
    if tg.signals.lock().find(tid).is_none_or(|th| th.exited) {
        return Err(Errno::ESRCH);
    }
    Ok(Peer { tg, tid, me: false })
}

fn may_access(t: &Task, p: &Peer) -> bool {
    ptrace_may_access(t, &p.tg)
}

/// Linux's `ptrace_may_access` with PTRACE_MODE_REALCREDS: the same
/// process, or CAP_SYS_PTRACE, or the caller's real uid and gid are each
/// of the target's three and the target is dumpable.
pub(crate) fn ptrace_may_access(t: &Task, tg: &Arc<ThreadGroup>) -> bool {
    if Arc::ptr_eq(tg, &t.tg) || t.creds.capable(CAP_SYS_PTRACE) {
        return true;
    }
    let view = tg.view.lock().creds.clone();
    let Some(c) = view else {
        return false;
    };
    let (u, g) = (t.creds.uid, t.creds.gid);
    [c.uid, c.euid, c.suid] == [u, u, u]
        && [c.gid, c.egid, c.sgid] == [g, g, g]
        && tg.pm.dumpable.user()
}

/// The resources of a peer thread as kcmp compares them.
fn peer_fds(t: &Task, p: &Peer) -> Option<Arc<crate::vfs::FdTable>> {
    if p.me {
        Some(t.fds.clone())
    } else {
        p.tg.view.lock().fds.upgrade()
    }
}

fn peer_mm(t: &Task, p: &Peer) -> Option<Arc<crate::mm::MemoryManager>> {
    if Arc::ptr_eq(&p.tg, &t.tg) {
        Some(t.mm.clone())
    } else {
        p.tg.view.lock().mm.upgrade()
    }
}

const KCMP_FILE: i32 = 0;
const KCMP_VM: i32 = 1;
const KCMP_FILES: i32 = 2;
const KCMP_FS: i32 = 3;
const KCMP_SIGHAND: i32 = 4;
const KCMP_IO: i32 = 5;
const KCMP_SYSVSEM: i32 = 6;
const KCMP_EPOLL_TFD: i32 = 7;

/// kcmp's answer for two object addresses: 0 equal, 1 less, 2 greater.
fn order(a: usize, b: usize) -> u64 {
    match a.cmp(&b) {
        core::cmp::Ordering::Equal => 0,
        core::cmp::Ordering::Less => 1,
        core::cmp::Ordering::Greater => 2,
    }
}

fn addr_of<T: ?Sized>(a: &Arc<T>) -> usize {
    Arc::as_ptr(a) as *const () as usize
}

fn sys_kcmp(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (p1, p2) = (peer(t, arg::int(a[0]))?, peer(t, arg::int(a[1]))?);
    if !may_access(t, &p1) || !may_access(t, &p2) {
        return Err(Errno::EPERM);
    }
    let both = |f: &dyn Fn(&Peer) -> Option<usize>| -> SysResult {
        Ok(order(f(&p1).unwrap_or(0), f(&p2).unwrap_or(0)))
    };
    match arg::int(a[2]) {
        KCMP_FILE => {
            let f =
                |p: &Peer, fd: u64| peer_fds(t, p).and_then(|fds| fds.file(fd as u32 as i32).ok());
            match (f(&p1, a[3]), f(&p2, a[4])) {
                (Some(x), Some(y)) => Ok(order(addr_of(&x), addr_of(&y))),
                _ => Err(Errno::EBADF),
            }
        }
        KCMP_VM => both(&|p| peer_mm(t, p).map(|m| addr_of(&m))),
        KCMP_FILES => both(&|p| peer_fds(t, p).map(|f| addr_of(&f))),
        KCMP_FS => both(&|p| {
            if p.me {
                Some(addr_of(&t.fs))
            } else {
                p.tg.view.lock().fs.upgrade().map(|f| addr_of(&f))
            }
        }),
        // Signal handlers are shared exactly by a process's threads.
        KCMP_SIGHAND => both(&|p| Some(addr_of(&p.tg))),
        // A thread has an I/O context once it set an I/O priority; until
        // then it has none (Linux allocates one lazily too).
        KCMP_IO => {
            let io = |p: &Peer| (p.tg.pm.sched(p.tid).ioprio != 0).then_some((p.tg.pid, p.tid));
            Ok(match (io(&p1), io(&p2)) {
                (None, None) => 0,
                (x, y) if x == y => 0,
                (x, y) if x < y => 1,
                _ => 2,
            })
        }
        // No SysV semaphores: every undo list is empty.
        KCMP_SYSVSEM => Ok(0),
        KCMP_EPOLL_TFD => {
            let slot: [u32; 4] = t.mm.read_obj(UserAddr(a[4]))?;
            let (efd, tfd, toff) = (
                slot[0] as i32,
                slot[1] as i32,
                slot[2] as u64 | (slot[3] as u64) << 32,
            );
            let file = peer_fds(t, &p1)
                .and_then(|fds| fds.file(a[3] as u32 as i32).ok())
                .ok_or(Errno::EBADF)?;
            let ep_file = peer_fds(t, &p2)
                .and_then(|fds| fds.file(efd).ok())
                .ok_or(Errno::EBADF)?;
            let ep = crate::vfs::epoll::Epoll::of(&ep_file).ok_or(Errno::EINVAL)?;
            let target = ep.target(tfd, toff).ok_or(Errno::ENOENT)?;
            Ok(order(addr_of(&file), target))
        }
        _ => Err(Errno::EINVAL),
    }
}

/// `UIO_MAXIOV`.
const UIO_MAXIOV: u64 = 1024;
/// `MAX_RW_COUNT`: what one call transfers at most.
const MAX_RW_COUNT: u64 = 0x7fff_f000;

/// An iovec array as `import_iovec` / `iovec_from_user` read it.
fn read_iovecs(t: &Task, addr: u64, count: u64) -> Result<Vec<Iovec>, Errno> {
    if count > UIO_MAXIOV {
        return Err(Errno::EINVAL);
    }
    let mut v = vec![Iovec { base: 0, len: 0 }; count as usize];
    for (i, io) in v.iter_mut().enumerate() {
        *io = t.mm.read_obj(UserAddr(addr + i as u64 * 16))?;
        if (io.len as i64) < 0 {
            return Err(Errno::EINVAL);
        }
    }
    Ok(v)
}

/// A position in an iovec list, walked a page piece at a time.
struct IovCursor<'a> {
    iov: &'a [Iovec],
    i: usize,
    off: u64,
    /// Bytes the walk may still cover.
    left: u64,
}

impl IovCursor<'_> {
    /// The next address and how many bytes from it stay within one page
    /// and one iovec (`None` at the end).
    fn peek(&mut self) -> Option<(u64, u64)> {
        while self.left > 0 {
            let io = self.iov.get(self.i)?;
            if self.off < io.len {
                let at = io.base.wrapping_add(self.off);
                let n = (io.len - self.off)
                    .min(veil_abi::PAGE_SIZE - at % veil_abi::PAGE_SIZE)
                    .min(self.left);
                return Some((at, n));
            }
            self.i += 1;
            self.off = 0;
        }
        None
    }

    fn advance(&mut self, n: u64) {
        self.off += n;
        self.left -= n;
    }
}

fn process_vm_rw(t: &mut Task, a: &[u64; 6], write: bool) -> SysResult {
    if a[5] != 0 {
        return Err(Errno::EINVAL);
    }
    let local = read_iovecs(t, a[1], a[2])?;
    let mut total = 0u64;
    for io in &local {
        total = total.saturating_add(io.len).min(MAX_RW_COUNT);
    }
    if total == 0 {
        return Ok(0);
    }
    let remote = read_iovecs(t, a[3], a[4])?;
    if remote.iter().all(|io| io.len == 0) {
        return Ok(0);
    }
    let p = peer(t, arg::int(a[0]))?;
    if !may_access(t, &p) {
        return Err(Errno::EPERM);
    }
    let mm = peer_mm(t, &p).ok_or(Errno::ESRCH)?;
    // Walk both lists a page piece at a time; the first fault ends the
    // transfer (an error only if nothing moved).
    let mut lc = IovCursor {
        iov: &local,
        i: 0,
        off: 0,
        left: total,
    };
    let mut rc = IovCursor {
        iov: &remote,
        i: 0,
        off: 0,
        left: total,
    };
    let mut done = 0u64;
    let mut buf = vec![0u8; veil_abi::PAGE_SIZE as usize];
    let mut fault = None;
    while let (Some((la, ll)), Some((ra, rl))) = (lc.peek(), rc.peek()) {
        let n = ll.min(rl) as usize;
        let (l_at, r_at) = (UserAddr(la), UserAddr(ra));
        let r = if write {
            t.mm.copy_in(l_at, &mut buf[..n])
                .and_then(|()| mm.copy_out(r_at, &buf[..n]))
        } else {
            mm.copy_in(r_at, &mut buf[..n])
                .and_then(|()| t.mm.copy_out(l_at, &buf[..n]))
        };
        if let Err(e) = r {
            fault = Some(e);
            break;
        }
        done += n as u64;
        lc.advance(n as u64);
        rc.advance(n as u64);
    }
    match fault {
        Some(e) if done == 0 => Err(e),
        _ => Ok(done),
    }
}

/// The text of `name` for /proc: up to its first NUL.
pub fn name_text(name: &[u8]) -> String {
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    String::from_utf8_lossy(&name[..end]).into_owned()
}

#[cfg(test)]
mod tests;
