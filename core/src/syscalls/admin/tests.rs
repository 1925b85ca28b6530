//! Tests of the administration calls on the fake platform.

use alloc::vec::Vec;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, Iovec, Utsname};

use crate::fake::TestBed;
use crate::platform::Prot;
use crate::task::{Credentials, Task};
use crate::UserAddr;

fn sys(t: &mut Task, nr: u64, a: [u64; 6]) -> Result<u64, Errno> {
    (super::super::lookup(nr).expect("served"))(t, &a)
}

fn map(t: &Task) -> u64 {
    t.mm.mmap(
        UserAddr(0),
        0x4000,
        Prot::READ | Prot::WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS,
        None,
    )
    .expect("mmap")
    .0
}

fn task_as(tb: &TestBed, uid: u32) -> Task {
    let t = tb.task_as(Credentials::new(uid, uid, Vec::new()));
    tb.kernel.register(&t.tg);
    t.publish_view();
    t
}

fn put(t: &Task, addr: u64, bytes: &[u8]) {
    t.mm.copy_out(UserAddr(addr), bytes).unwrap();
}

fn uname(t: &mut Task, buf: u64) -> Utsname {
    sys(t, UNAME, [buf, 0, 0, 0, 0, 0]).unwrap();
    t.mm.read_obj(UserAddr(buf)).unwrap()
}

fn field(f: &[u8; 65]) -> &[u8] {
    let n = f.iter().position(|&b| b == 0).unwrap_or(65);
    &f[..n]
}

#[test]
fn hostname_and_domainname_follow_uts_namespaces() {
    let tb = TestBed::new();
    let mut root = task_as(&tb, 0);
    let mut user = task_as(&tb, 1000);
    let buf = map(&root);
    put(&root, buf, b"sandbox\0junk");
    assert_eq!(sys(&mut root, SETHOSTNAME, [buf, 7, 0, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut root, SETDOMAINNAME, [buf, 3, 0, 0, 0, 0]), Ok(0));
    let u = uname(&mut root, buf + 0x1000);
    assert_eq!(field(&u.nodename), b"sandbox");
    assert_eq!(field(&u.domainname), b"san");
    // Another process of the same namespace sees it.
    let ubuf = map(&user);
    assert_eq!(field(&uname(&mut user, ubuf).nodename), b"sandbox");
    // Checks: capability first, then the length, then the memory.
    assert_eq!(
        sys(&mut user, SETHOSTNAME, [ubuf, 65, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    assert_eq!(
        sys(&mut root, SETHOSTNAME, [buf, 65, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, SETHOSTNAME, [buf, u32::MAX as u64, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, SETHOSTNAME, [1, 4, 0, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(sys(&mut root, SETHOSTNAME, [buf, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(field(&uname(&mut root, buf + 0x1000).nodename), b"");
    // unshare(CLONE_NEWUTS): a copy; changes stay in it.
    assert_eq!(sys(&mut root, SETHOSTNAME, [buf, 3, 0, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut root, UNSHARE, [0x0400_0000, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(field(&uname(&mut root, buf + 0x1000).nodename), b"san");
    put(&root, buf, b"inner");
    assert_eq!(sys(&mut root, SETHOSTNAME, [buf, 5, 0, 0, 0, 0]), Ok(0));
    assert_eq!(field(&uname(&mut root, buf + 0x1000).nodename), b"inner");
    assert_eq!(field(&uname(&mut user, ubuf).nodename), b"san");
    assert_ne!(
        super::uts_of(&root.kernel, &root.tg).ns_id(),
        super::uts_of(&user.kernel, &user.tg).ns_id()
    );
    assert_eq!(
        sys(&mut user, UNSHARE, [0x0400_0000, 0, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
}

#[test]
fn personality_is_stored_and_shows_in_uname() {
    let tb = TestBed::new();
    let mut t = task_as(&tb, 1000);
    let buf = map(&t);
    assert_eq!(
        sys(&mut t, PERSONALITY, [0xffff_ffff, 0, 0, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(sys(&mut t, PERSONALITY, [0x0008, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(field(&uname(&mut t, buf).machine), b"i686");
    assert_eq!(
        sys(&mut t, PERSONALITY, [0xffff_fff0, 0, 0, 0, 0, 0]),
        Ok(0x0008)
    );
    // Any value is kept, and answered unsigned.
    assert_eq!(
        sys(&mut t, PERSONALITY, [0xffff_ffff, 0, 0, 0, 0, 0]),
        Ok(0xffff_fff0)
    );
    assert_eq!(
        sys(
            &mut t,
            PERSONALITY,
            [super::ADDR_NO_RANDOMIZE as u64, 0, 0, 0, 0, 0]
        ),
        Ok(0xffff_fff0)
    );
    assert_eq!(field(&uname(&mut t, buf).machine), b"x86_64");
    // execve: READ_IMPLIES_EXEC goes; set-ID programs lose the rest.
    assert_eq!(super::persona_for_exec(0x0440_0000, false), 0x0040_0000);
    assert_eq!(super::persona_for_exec(0x0004_0008, true), 0x0008);
    assert_eq!(super::persona_for_exec(0x0004_0000, false), 0x0004_0000);
}

#[test]
fn syslog_shows_the_sandbox_log_to_root_only() {
    let tb = TestBed::new();
    let mut root = task_as(&tb, 0);
    let mut user = task_as(&tb, 1000);
    let buf = map(&root);
    let ubuf = map(&user);
    for action in [0, 1, 3, 9, 10] {
        assert_eq!(
            sys(&mut user, SYSLOG, [action, ubuf, 100, 0, 0, 0]),
            Err(Errno::EPERM),
            "action {action}"
        );
    }
    assert_eq!(sys(&mut root, SYSLOG, [10, 0, 0, 0, 0, 0]), Ok(1 << 17));
    let unread = sys(&mut root, SYSLOG, [9, 0, 0, 0, 0, 0]).unwrap();
    assert!(unread > 0);
    let n = sys(&mut root, SYSLOG, [3, buf, 4096, 0, 0, 0]).unwrap();
    assert_eq!(n, unread);
    let mut text = alloc::vec![0u8; n as usize];
    root.mm.copy_in(UserAddr(buf), &mut text).unwrap();
    assert!(text.starts_with(b"<5>[    0.000000] Linux version "));
    // A short buffer gets the newest whole records.
    let short = sys(&mut root, SYSLOG, [3, buf, 100, 0, 0, 0]).unwrap();
    assert!(short > 0 && short < n);
    // READ consumes; READ_ALL does not.
    assert_eq!(sys(&mut root, SYSLOG, [2, buf, 10, 0, 0, 0]), Ok(10));
    assert_eq!(sys(&mut root, SYSLOG, [9, 0, 0, 0, 0, 0]), Ok(unread - 10));
    assert_eq!(
        sys(&mut root, SYSLOG, [2, buf, 4096, 0, 0, 0]),
        Ok(unread - 10)
    );
    // Nothing unread: READ waits (the fake blocker interrupts at once).
    assert_eq!(
        sys(&mut root, SYSLOG, [2, buf, 4096, 0, 0, 0]),
        Err(Errno::ERESTARTSYS)
    );
    // Argument checks.
    assert_eq!(
        sys(&mut root, SYSLOG, [3, 0, 10, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, SYSLOG, [3, buf, u32::MAX as u64, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(sys(&mut root, SYSLOG, [3, buf, 0, 0, 0, 0]), Ok(0));
    assert_eq!(
        sys(&mut root, SYSLOG, [3, 1, 100, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        sys(&mut root, SYSLOG, [8, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, SYSLOG, [8, 0, 9, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(sys(&mut root, SYSLOG, [8, 0, 4, 0, 0, 0]), Ok(0));
    assert_eq!(
        sys(&mut root, SYSLOG, [99, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    // CLEAR: READ_ALL shows nothing more.
    assert_eq!(sys(&mut root, SYSLOG, [5, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut root, SYSLOG, [3, buf, 4096, 0, 0, 0]), Ok(0));
}

fn timex_modes(t: &Task, buf: u64, modes: u32) {
    let mut tx = [0u8; super::TIMEX_SIZE];
    tx[0..4].copy_from_slice(&modes.to_le_bytes());
    put(t, buf, &tx);
}

#[test]
fn adjtimex_queries_and_refuses_changes() {
    let tb = TestBed::new();
    let mut root = task_as(&tb, 0);
    let mut user = task_as(&tb, 1000);
    let buf = map(&root);
    let ubuf = map(&user);
    timex_modes(&user, ubuf, 0);
    assert_eq!(sys(&mut user, ADJTIMEX, [ubuf, 0, 0, 0, 0, 0]), Ok(5));
    let status: i32 = user.mm.read_obj(UserAddr(ubuf + 40)).unwrap();
    assert_eq!(status, 0x40);
    let tick: i64 = user.mm.read_obj(UserAddr(ubuf + 88)).unwrap();
    assert_eq!(tick, 10_000);
    // The read-only adjtime query is everyone's too.
    timex_modes(&user, ubuf, 0xa001);
    assert_eq!(sys(&mut user, ADJTIMEX, [ubuf, 0, 0, 0, 0, 0]), Ok(5));
    timex_modes(&user, ubuf, 0x8000);
    assert_eq!(
        sys(&mut user, ADJTIMEX, [ubuf, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    timex_modes(&user, ubuf, 0x0002);
    assert_eq!(
        sys(&mut user, ADJTIMEX, [ubuf, 0, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    // Root: Linux's value checks, then EPERM all the same.
    timex_modes(&root, buf, 0x4000);
    assert_eq!(
        sys(&mut root, ADJTIMEX, [buf, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    timex_modes(&root, buf, 0x0002);
    assert_eq!(
        sys(&mut root, ADJTIMEX, [buf, 0, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    assert_eq!(
        sys(&mut root, ADJTIMEX, [1, 0, 0, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    // clock_adjtime: the memory first, then the clock.
    timex_modes(&root, buf, 0);
    assert_eq!(sys(&mut root, CLOCK_ADJTIME, [0, buf, 0, 0, 0, 0]), Ok(5));
    assert_eq!(
        sys(&mut root, CLOCK_ADJTIME, [1, buf, 0, 0, 0, 0]),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(
        sys(&mut root, CLOCK_ADJTIME, [10, buf, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, CLOCK_ADJTIME, [99, 0, 0, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        sys(&mut root, CLOCK_ADJTIME, [(-2i64) as u64, buf, 0, 0, 0, 0]),
        Err(Errno::EOPNOTSUPP)
    );
}

#[test]
fn clocks_are_never_set() {
    let tb = TestBed::new();
    let mut root = task_as(&tb, 0);
    let mut user = task_as(&tb, 1000);
    let buf = map(&root);
    let ubuf = map(&user);
    put(&root, buf, &[0u8; 16]);
    put(&user, ubuf, &[0u8; 16]);
    assert_eq!(
        sys(&mut root, CLOCK_SETTIME, [1, buf, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, CLOCK_SETTIME, [1, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, CLOCK_SETTIME, [0, 0, 0, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        sys(&mut root, CLOCK_SETTIME, [0, buf, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    assert_eq!(
        sys(&mut user, CLOCK_SETTIME, [0, ubuf, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    put(&root, buf, &(-1i64).to_le_bytes());
    assert_eq!(
        sys(&mut root, CLOCK_SETTIME, [0, buf, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, CLOCK_SETTIME, [(-2i64) as u64, buf, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    // settimeofday: NULL, NULL is allowed for a caller that may set time.
    assert_eq!(sys(&mut root, SETTIMEOFDAY, [0, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(
        sys(&mut user, SETTIMEOFDAY, [0, 0, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    put(&root, buf, &[0u8; 8]);
    put(&root, buf + 8, &1_000_000i64.to_le_bytes());
    assert_eq!(
        sys(&mut root, SETTIMEOFDAY, [buf, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    put(&root, buf + 8, &5i64.to_le_bytes());
    assert_eq!(
        sys(&mut root, SETTIMEOFDAY, [buf, 0, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    assert_eq!(
        sys(&mut root, SETTIMEOFDAY, [1, 0, 0, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
}

#[test]
fn machine_calls_check_then_refuse() {
    let tb = TestBed::new();
    let mut root = task_as(&tb, 0);
    let mut user = task_as(&tb, 1000);
    let buf = map(&root);
    let ubuf = map(&user);
    let magic = 0xfee1_dead;
    // reboot: capability, magic, command, then EPERM.
    assert_eq!(
        sys(
            &mut user,
            REBOOT,
            [magic, 672_274_793, 0x0123_4567, 0, 0, 0]
        ),
        Err(Errno::EPERM)
    );
    assert_eq!(
        sys(&mut root, REBOOT, [1, 2, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, REBOOT, [magic, 672_274_793, 7, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(
            &mut root,
            REBOOT,
            [magic, 672_274_793, 0x0123_4567, 0, 0, 0]
        ),
        Err(Errno::EPERM)
    );
    // Swap, accounting.
    put(&root, buf, b"/nonexistent\0");
    put(&user, ubuf, b"/\0");
    assert_eq!(
        sys(&mut root, SWAPON, [buf, 0x80000, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut user, SWAPON, [ubuf, 0, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    assert_eq!(
        sys(&mut root, SWAPON, [buf, 0, 0, 0, 0, 0]),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        sys(&mut root, SWAPOFF, [buf, 0, 0, 0, 0, 0]),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        sys(&mut user, SWAPOFF, [ubuf, 0, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    assert_eq!(sys(&mut root, ACCT, [0, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut user, ACCT, [0, 0, 0, 0, 0, 0]), Err(Errno::EPERM));
    assert_eq!(
        sys(&mut root, ACCT, [buf, 0, 0, 0, 0, 0]),
        Err(Errno::ENOENT)
    );
    assert_eq!(sys(&mut root, ACCT, [1, 0, 0, 0, 0, 0]), Err(Errno::EFAULT));
    // Ports.
    assert_eq!(sys(&mut root, IOPL, [4, 0, 0, 0, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(sys(&mut user, IOPL, [0, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut user, IOPL, [3, 0, 0, 0, 0, 0]), Err(Errno::EPERM));
    assert_eq!(sys(&mut root, IOPL, [3, 0, 0, 0, 0, 0]), Err(Errno::EPERM));
    assert_eq!(
        sys(&mut root, IOPERM, [0, 0, 1, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, IOPERM, [65530, 10, 1, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(sys(&mut user, IOPERM, [0, 10, 0, 0, 0, 0]), Ok(0));
    assert_eq!(
        sys(&mut user, IOPERM, [0, 10, 1, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    // Modules.
    assert_eq!(
        sys(&mut user, INIT_MODULE, [ubuf, 100, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    assert_eq!(
        sys(&mut root, INIT_MODULE, [buf, 10, 0, 0, 0, 0]),
        Err(Errno::ENOEXEC)
    );
    assert_eq!(
        sys(&mut root, INIT_MODULE, [buf, 100, 0, 0, 0, 0]),
        Err(Errno::ENOEXEC)
    );
    put(&root, buf + 0x100, b"\x7fELF");
    assert_eq!(
        sys(&mut root, INIT_MODULE, [buf + 0x100, 100, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    assert_eq!(
        sys(&mut root, FINIT_MODULE, [99, 0, 0x100, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, FINIT_MODULE, [99, 0, 0, 0, 0, 0]),
        Err(Errno::EBADF)
    );
    assert_eq!(
        sys(&mut root, DELETE_MODULE, [buf, 0, 0, 0, 0, 0]),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        sys(&mut root, DELETE_MODULE, [1, 0, 0, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        sys(&mut user, DELETE_MODULE, [ubuf, 0, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    // kexec.
    assert_eq!(
        sys(&mut user, KEXEC_LOAD, [0, 0, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    assert_eq!(
        sys(&mut root, KEXEC_LOAD, [0, 17, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, KEXEC_LOAD, [0, 0, 0, 0x10, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, KEXEC_LOAD, [0, 0, 0, 3 << 16, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, KEXEC_LOAD, [0, 1, 0, 62 << 16, 0, 0]),
        Err(Errno::EPERM)
    );
    assert_eq!(
        sys(&mut user, KEXEC_FILE_LOAD, [0, 0, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    assert_eq!(
        sys(&mut root, KEXEC_FILE_LOAD, [0, 0, 0, 0, 0x100, 0]),
        Err(Errno::EINVAL)
    );
    // Quotas.
    let qcmd = |c: u64, ty: u64| (c << 8) | ty;
    assert_eq!(
        sys(&mut root, QUOTACTL, [qcmd(0x80_0001, 0), 0, 0, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(
        sys(&mut root, QUOTACTL, [qcmd(0x80_0007, 0), 0, 0, 0, 0, 0]),
        Err(Errno::ENODEV)
    );
    assert_eq!(
        sys(&mut root, QUOTACTL, [qcmd(0x80_0007, 5), buf, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, QUOTACTL, [qcmd(0x80_0007, 0), buf, 0, 0, 0, 0]),
        Err(Errno::ENOENT)
    );
    put(&root, buf, b"/\0");
    assert_eq!(
        sys(&mut root, QUOTACTL, [qcmd(0x80_0007, 0), buf, 0, 0, 0, 0]),
        Err(Errno::ENOTBLK)
    );
    assert_eq!(
        sys(&mut root, QUOTACTL_FD, [99, 0, 0, 0, 0, 0]),
        Err(Errno::EBADF)
    );
    // vhangup: no controlling terminal, nothing to hang up.
    assert_eq!(sys(&mut user, VHANGUP, [0; 6]), Err(Errno::EPERM));
    assert_eq!(sys(&mut root, VHANGUP, [0; 6]), Ok(0));
}

#[test]
fn ioprio_is_kept_per_thread() {
    let tb = TestBed::new();
    let mut root = task_as(&tb, 0);
    let mut user = task_as(&tb, 1000);
    let be = |l: u64| (2 << 13) | l;
    assert_eq!(sys(&mut user, IOPRIO_GET, [1, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut user, IOPRIO_SET, [1, 0, be(7), 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut user, IOPRIO_GET, [1, 0, 0, 0, 0, 0]), Ok(be(7)));
    // Hint bits are kept; the value is 16 bits.
    assert_eq!(
        sys(&mut user, IOPRIO_SET, [1, 0, 0x10000 | be(1 << 3), 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(
        sys(&mut user, IOPRIO_GET, [1, 0, 0, 0, 0, 0]),
        Ok(be(1 << 3))
    );
    assert_eq!(
        sys(&mut user, IOPRIO_SET, [1, 0, 1 << 13, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    assert_eq!(sys(&mut root, IOPRIO_SET, [1, 0, 1 << 13, 0, 0, 0]), Ok(0));
    assert_eq!(
        sys(&mut user, IOPRIO_SET, [1, 0, 4 << 13, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut user, IOPRIO_SET, [1, 0, 1, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut user, IOPRIO_SET, [4, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut user, IOPRIO_GET, [0, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut user, IOPRIO_GET, [1, 99_999, 0, 0, 0, 0]),
        Err(Errno::ESRCH)
    );
    // Another user's process: EPERM without CAP_SYS_NICE.
    let rpid = root.tid as u64;
    assert_eq!(
        sys(&mut user, IOPRIO_SET, [1, rpid, be(3), 0, 0, 0]),
        Err(Errno::EPERM)
    );
    // Groups report the best effective priority: an unset one follows
    // the nice value.
    let upid = user.tid as u64;
    assert_eq!(sys(&mut root, IOPRIO_SET, [1, upid, be(6), 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut user, IOPRIO_GET, [2, 0, 0, 0, 0, 0]), Ok(be(6)));
    assert_eq!(sys(&mut user, IOPRIO_SET, [1, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut user, IOPRIO_GET, [2, 0, 0, 0, 0, 0]), Ok(be(4)));
    assert_eq!(sys(&mut user, IOPRIO_GET, [3, 0, 0, 0, 0, 0]), Ok(be(4)));
}

fn attr_bytes(size: u32, policy: u32, flags: u64, nice: i32, prio: u32, runtime: u64) -> [u8; 56] {
    let mut b = [0u8; 56];
    b[0..4].copy_from_slice(&size.to_le_bytes());
    b[4..8].copy_from_slice(&policy.to_le_bytes());
    b[8..16].copy_from_slice(&flags.to_le_bytes());
    b[16..20].copy_from_slice(&nice.to_le_bytes());
    b[20..24].copy_from_slice(&prio.to_le_bytes());
    b[24..32].copy_from_slice(&runtime.to_le_bytes());
    b
}

#[test]
fn sched_attr_maps_onto_the_scheduling_state() {
    let tb = TestBed::new();
    let mut user = task_as(&tb, 1000);
    let mut root = task_as(&tb, 0);
    let buf = map(&user);
    put(&user, buf, &attr_bytes(56, 0, 0, 5, 0, 0));
    assert_eq!(sys(&mut user, SCHED_SETATTR, [0, buf, 0, 0, 0, 0]), Ok(0));
    assert_eq!(user.tg.pm.sched(user.tid).nice, 5);
    assert_eq!(sys(&mut user, SCHED_GETATTR, [0, buf, 56, 0, 0, 0]), Ok(0));
    let got: [u8; 56] = user.mm.read_obj(UserAddr(buf)).unwrap();
    assert_eq!(&got[0..4], &56u32.to_le_bytes());
    assert_eq!(&got[16..20], &5i32.to_le_bytes());
    // A smaller buffer gets its size's worth.
    put(&user, buf, &[0xaa; 56]);
    assert_eq!(sys(&mut user, SCHED_GETATTR, [0, buf, 48, 0, 0, 0]), Ok(0));
    let got: [u8; 56] = user.mm.read_obj(UserAddr(buf)).unwrap();
    assert_eq!(&got[0..4], &48u32.to_le_bytes());
    assert_eq!(got[48], 0xaa);
    assert_eq!(
        sys(&mut user, SCHED_GETATTR, [0, buf, 47, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut user, SCHED_GETATTR, [0, buf, 56, 1, 0, 0]),
        Err(Errno::EINVAL)
    );
    // Lowering nice needs privilege; RT too.
    put(&user, buf, &attr_bytes(56, 0, 0, 0, 0, 0));
    assert_eq!(
        sys(&mut user, SCHED_SETATTR, [0, buf, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    put(&user, buf, &attr_bytes(56, SCHED_FIFO, 0, 0, 10, 0));
    assert_eq!(
        sys(&mut user, SCHED_SETATTR, [0, buf, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    // Sizes: too big with non-zero tail is E2BIG with the size written.
    put(&user, buf, &attr_bytes(64, 0, 0, 5, 0, 0));
    put(&user, buf + 60, &[1]);
    assert_eq!(
        sys(&mut user, SCHED_SETATTR, [0, buf, 0, 0, 0, 0]),
        Err(Errno::E2BIG)
    );
    let size: u32 = user.mm.read_obj(UserAddr(buf)).unwrap();
    assert_eq!(size, 56);
    put(&user, buf, &attr_bytes(40, 0, 0, 5, 0, 0));
    assert_eq!(
        sys(&mut user, SCHED_SETATTR, [0, buf, 0, 0, 0, 0]),
        Err(Errno::E2BIG)
    );
    // size 0 means the first version.
    put(&user, buf, &attr_bytes(0, 0, 0, 6, 0, 0));
    assert_eq!(sys(&mut user, SCHED_SETATTR, [0, buf, 0, 0, 0, 0]), Ok(0));
    assert_eq!(
        sys(&mut user, SCHED_SETATTR, [0, buf, 1, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    put(&user, buf, &attr_bytes(56, 0, 0x100, 6, 0, 0));
    assert_eq!(
        sys(&mut user, SCHED_SETATTR, [0, buf, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    put(&user, buf, &attr_bytes(48, 0, 0x20, 6, 0, 0));
    assert_eq!(
        sys(&mut user, SCHED_SETATTR, [0, buf, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    put(&user, buf, &attr_bytes(56, 0, 0x20, 6, 0, 0));
    assert_eq!(
        sys(&mut user, SCHED_SETATTR, [0, buf, 0, 0, 0, 0]),
        Err(Errno::EOPNOTSUPP)
    );
    put(&user, buf, &attr_bytes(56, 9, 0, 6, 0, 0));
    assert_eq!(
        sys(&mut user, SCHED_SETATTR, [0, buf, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    // Root: a real-time policy, and a custom slice for the fair class.
    let rbuf = map(&root);
    put(&root, rbuf, &attr_bytes(56, SCHED_FIFO, 0, 0, 10, 0));
    assert_eq!(sys(&mut root, SCHED_SETATTR, [0, rbuf, 0, 0, 0, 0]), Ok(0));
    assert_eq!(
        sys(&mut root, SCHED_GETSCHEDULER, [0; 6]),
        Ok(SCHED_FIFO as u64)
    );
    put(&root, rbuf, &attr_bytes(56, 0, 0, 0, 0, 5_000_000));
    assert_eq!(sys(&mut root, SCHED_SETATTR, [0, rbuf, 0, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut root, SCHED_GETATTR, [0, rbuf, 56, 0, 0, 0]), Ok(0));
    let rt: u64 = root.mm.read_obj(UserAddr(rbuf + 24)).unwrap();
    assert_eq!(rt, 5_000_000);
    // Deadline: parameters checked, then no bandwidth.
    let mut dl = attr_bytes(56, SCHED_DEADLINE, 0, 0, 0, 1_000_000);
    dl[32..40].copy_from_slice(&500_000u64.to_le_bytes());
    put(&root, rbuf, &dl);
    assert_eq!(
        sys(&mut root, SCHED_SETATTR, [0, rbuf, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    dl[32..40].copy_from_slice(&2_000_000u64.to_le_bytes());
    put(&root, rbuf, &dl);
    assert_eq!(
        sys(&mut root, SCHED_SETATTR, [0, rbuf, 0, 0, 0, 0]),
        Err(Errno::EBUSY)
    );
    assert_eq!(
        sys(&mut root, SCHED_SETATTR, [99_999, rbuf, 0, 0, 0, 0]),
        Err(Errno::ESRCH)
    );
}

#[test]
fn kcmp_compares_objects_exactly() {
    let tb = TestBed::new();
    let mut a = task_as(&tb, 1000);
    let b = task_as(&tb, 1000);
    let c = task_as(&tb, 2000);
    let (pa, pb, pc) = (a.tid as u64, b.tid as u64, c.tid as u64);
    // The same process: everything is equal to itself.
    for ty in [1, 2, 3, 4, 5, 6] {
        assert_eq!(sys(&mut a, KCMP, [pa, pa, ty, 0, 0, 0]), Ok(0), "type {ty}");
    }
    // Two processes: different address spaces, fd tables, handlers, in
    // a consistent order.
    for ty in [1, 2, 3, 4] {
        let ab = sys(&mut a, KCMP, [pa, pb, ty, 0, 0, 0]).unwrap();
        let ba = sys(&mut a, KCMP, [pb, pa, ty, 0, 0, 0]).unwrap();
        assert!(ab != 0 && ab + ba == 3, "type {ty}: {ab} {ba}");
    }
    assert_eq!(sys(&mut a, KCMP, [pa, pb, 5, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut a, KCMP, [pa, pb, 6, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut a, KCMP, [pa, pb, 8, 0, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(sys(&mut a, KCMP, [pa, pc, 1, 0, 0, 0]), Err(Errno::EPERM));
    assert_eq!(
        sys(&mut a, KCMP, [pa, 99_999, 1, 0, 0, 0]),
        Err(Errno::ESRCH)
    );
    assert_eq!(sys(&mut a, KCMP, [pa, pa, 0, 50, 50, 0]), Err(Errno::EBADF));
}

#[test]
fn process_vm_copies_between_address_spaces() {
    let tb = TestBed::new();
    let mut a = task_as(&tb, 1000);
    let b = task_as(&tb, 1000);
    let c = task_as(&tb, 2000);
    let abuf = map(&a);
    let bbuf = map(&b);
    put(&b, bbuf, b"hello from b");
    let iov = |base: u64, len: u64| Iovec { base, len };
    // local iovec at abuf+0x1000, remote at abuf+0x1100.
    a.mm.write_obj(UserAddr(abuf + 0x1000), &iov(abuf, 12))
        .unwrap();
    a.mm.write_obj(UserAddr(abuf + 0x1100), &iov(bbuf, 12))
        .unwrap();
    let pb = b.tid as u64;
    let args = |pid: u64, flags: u64| [pid, abuf + 0x1000, 1, abuf + 0x1100, 1, flags];
    assert_eq!(sys(&mut a, PROCESS_VM_READV, args(pb, 0)), Ok(12));
    let mut got = [0u8; 12];
    a.mm.copy_in(UserAddr(abuf), &mut got).unwrap();
    assert_eq!(&got, b"hello from b");
    put(&a, abuf, b"HELLO");
    a.mm.write_obj(UserAddr(abuf + 0x1000), &iov(abuf, 5))
        .unwrap();
    assert_eq!(sys(&mut a, PROCESS_VM_WRITEV, args(pb, 0)), Ok(5));
    b.mm.copy_in(UserAddr(bbuf), &mut got).unwrap();
    assert_eq!(&got, b"HELLO from b");
    assert_eq!(
        sys(&mut a, PROCESS_VM_READV, args(pb, 1)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut a, PROCESS_VM_READV, args(c.tid as u64, 0)),
        Err(Errno::EPERM)
    );
    assert_eq!(
        sys(&mut a, PROCESS_VM_READV, args(99_999, 0)),
        Err(Errno::ESRCH)
    );
    // A remote range running off the mapping: a partial transfer.
    a.mm.write_obj(UserAddr(abuf + 0x1000), &iov(abuf, 0x3000))
        .unwrap();
    a.mm.write_obj(UserAddr(abuf + 0x1100), &iov(bbuf + 0x3000, 0x3000))
        .unwrap();
    assert_eq!(sys(&mut a, PROCESS_VM_READV, args(pb, 0)), Ok(0x1000));
    // Nothing transferable at all: the fault.
    a.mm.write_obj(UserAddr(abuf + 0x1100), &iov(0x1000, 0x10))
        .unwrap();
    assert_eq!(
        sys(&mut a, PROCESS_VM_READV, args(pb, 0)),
        Err(Errno::EFAULT)
    );
    // Empty local vectors answer 0 before anything else is looked at.
    a.mm.write_obj(UserAddr(abuf + 0x1000), &iov(abuf, 0))
        .unwrap();
    assert_eq!(sys(&mut a, PROCESS_VM_READV, args(99_999, 0)), Ok(0));
    assert_eq!(
        sys(&mut a, PROCESS_VM_READV, [pb, abuf, 1025, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
}
