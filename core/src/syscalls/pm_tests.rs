//! Tests of the process-management calls on the fake platform:
//! credentials and capabilities, process groups and sessions, scheduling
//! and priorities, resource usage, prctl (subreaper, parent-death
//! signal), pidfds and clone3's argument checks; and that every syscall
//! number has one handler.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{CapUserData, CapUserHeader, CloneArgs, Errno, Rusage, Siginfo, Tms};

use crate::fake::TestBed;
use crate::platform::Prot;
use crate::task::{Capabilities, Credentials, ExitStatus, Task};
use crate::UserAddr;

const MS: u64 = 1_000_000;

fn sys(t: &mut Task, nr: u64, a: [u64; 6]) -> Result<u64, Errno> {
    (super::lookup(nr).expect("served"))(t, &a)
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

/// A test bed with init (pid 1) and a registered root task.
fn bed() -> (TestBed, Task, Task) {
    let tb = TestBed::new();
    let init = tb.task();
    tb.kernel.register(&init.tg);
    let t = task_as(&tb, 0);
    (tb, init, t)
}

fn task_as(tb: &TestBed, uid: u32) -> Task {
    let t = tb.task_as(Credentials::new(uid, uid, Vec::new()));
    tb.kernel.register(&t.tg);
    *t.tg.ppid.lock() = 1;
    t
}

/// Makes `child` a child of `parent` (as fork would).
fn adopt(parent: &Task, child: &Task) {
    *child.tg.ppid.lock() = parent.pid();
    *child.tg.pgid.lock() = *parent.tg.pgid.lock();
    *child.tg.sid.lock() = *parent.tg.sid.lock();
    parent.tg.children.lock().push(child.tg.clone());
}

/// A family's `handler` function.
type Family = (&'static str, fn(u64) -> Option<super::Handler>);

#[test]
fn every_syscall_has_at_most_one_handler() {
    let families: [Family; 20] = [
        ("admin", super::admin::handler),
        ("file", super::file::handler),
        ("file_io", super::file_io::handler),
        ("fs_path", super::fs_path::handler),
        ("fs_stat", super::fs_stat::handler),
        ("mem", super::mem::handler),
        ("misc", super::misc::handler),
        ("process", super::process::handler),
        ("signal", super::signal::handler),
        ("futex", super::futex::handler),
        ("xattr", super::xattr::handler),
        ("poll", super::poll::handler),
        ("pipe", super::pipe::handler),
        ("epoll", super::epoll::handler),
        ("eventfd", super::eventfd::handler),
        ("creds", super::creds::handler),
        ("pgrp", super::pgrp::handler),
        ("pidfd", super::pidfd::handler),
        ("sched", super::sched::handler),
        ("timers", super::timers::handler),
    ];
    for nr in 0..sysno::COUNT as u64 {
        let owners: Vec<&str> = families
            .iter()
            .filter(|(_, h)| h(nr).is_some())
            .map(|(n, _)| *n)
            .collect();
        assert!(owners.len() <= 1, "syscall {nr} served by {owners:?}");
    }
    for nr in [
        ALARM,
        SETITIMER,
        GETITIMER,
        TIMER_CREATE,
        TIMERFD_CREATE,
        SETUID,
        SETRESGID,
        CAPGET,
        CAPSET,
        SETPGID,
        SETSID,
        GETSID,
        GETPGRP,
        SCHED_SETAFFINITY,
        SCHED_SETSCHEDULER,
        GETPRIORITY,
        GETCPU,
        GETRUSAGE,
        TIMES,
        PRCTL,
        PIDFD_OPEN,
        PIDFD_SEND_SIGNAL,
        CLONE3,
    ] {
        assert!(super::support(nr), "{nr} is served");
    }
}

use veil_abi::sysno;

// -------------------------------------------------------------------------
// Credentials

fn resuid(t: &Task) -> (u32, u32, u32, u32) {
    (t.creds.uid, t.creds.euid, t.creds.suid, t.creds.fsuid)
}

#[test]
fn root_setuid_drops_everything() {
    let (_tb, _init, mut t) = bed();
    assert_eq!(t.creds.caps.effective, Capabilities::ALL);
    assert_eq!(
        sys(&mut t, SETUID, [u32::MAX as u64, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(sys(&mut t, SETUID, [1000, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(resuid(&t), (1000, 1000, 1000, 1000));
    assert_eq!(t.creds.caps.effective, 0);
    assert_eq!(t.creds.caps.permitted, 0);
    assert_eq!(sys(&mut t, SETUID, [0, 0, 0, 0, 0, 0]), Err(Errno::EPERM));
    assert_eq!(sys(&mut t, SETUID, [1000, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut t, SETGID, [5, 0, 0, 0, 0, 0]), Err(Errno::EPERM));
}

#[test]
fn unprivileged_id_changes_follow_linux() {
    let (_tb, _init, mut t) = bed();
    // Real root, effective 1000: a saved-set-user-ID style process.
    assert_eq!(sys(&mut t, SETRESUID, [1001, 1000, 0, 0, 0, 0]), Ok(0));
    assert_eq!(resuid(&t), (1001, 1000, 0, 1000));
    assert_eq!(t.creds.caps.effective, 0, "euid left 0");
    assert_eq!(t.creds.caps.permitted, Capabilities::ALL, "suid is still 0");
    // Back to euid 0 through the saved id: effective comes back.
    assert_eq!(
        sys(
            &mut t,
            SETRESUID,
            [u32::MAX as u64, 0, u32::MAX as u64, 0, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!(t.creds.caps.effective, Capabilities::ALL);
    // Drop all root ids: permitted goes too.
    assert_eq!(sys(&mut t, SETRESUID, [1001, 1001, 1001, 0, 0, 0]), Ok(0));
    assert_eq!(t.creds.caps.permitted, 0);
    // Only ids among r/e/s now.
    assert_eq!(
        sys(
            &mut t,
            SETRESUID,
            [2000, u32::MAX as u64, u32::MAX as u64, 0, 0, 0]
        ),
        Err(Errno::EPERM)
    );
    assert_eq!(
        sys(&mut t, SETREUID, [u32::MAX as u64, 1001, 0, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(sys(&mut t, SETREUID, [2, 3, 0, 0, 0, 0]), Err(Errno::EPERM));
    // setfsuid answers the old fs id and refuses foreign ids silently.
    assert_eq!(sys(&mut t, SETFSUID, [4242, 0, 0, 0, 0, 0]), Ok(1001));
    assert_eq!(t.creds.fsuid, 1001);
    assert_eq!(
        sys(&mut t, SETFSUID, [u32::MAX as u64, 0, 0, 0, 0, 0]),
        Ok(1001)
    );
    assert_eq!(
        sys(&mut t, SETGROUPS, [0, 0, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
}

#[test]
fn setreuid_moves_the_saved_id() {
    let (_tb, _init, mut t) = bed();
    assert_eq!(sys(&mut t, SETREUID, [1000, 2000, 0, 0, 0, 0]), Ok(0));
    assert_eq!(resuid(&t), (1000, 2000, 2000, 2000));
    let (_tb2, _init2, mut u) = bed();
    // Only the effective id, to the real one: the saved id stays.
    sys(&mut u, SETRESUID, [1000, 2000, 3000, 0, 0, 0]).unwrap();
    assert_eq!(
        sys(&mut u, SETREUID, [u32::MAX as u64, 1000, 0, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(resuid(&u), (1000, 1000, 3000, 1000));
    // setregid: a real gid may not become the saved one.
    let (_tb3, _init3, mut w) = bed();
    sys(&mut w, SETRESGID, [10, 20, 30, 0, 0, 0]).unwrap();
    sys(&mut w, SETRESUID, [1000, 1000, 1000, 0, 0, 0]).unwrap();
    assert_eq!(
        sys(&mut w, SETREGID, [30, u32::MAX as u64, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    assert_eq!(sys(&mut w, SETREGID, [20, 30, 0, 0, 0, 0]), Ok(0));
    assert_eq!(
        (w.creds.gid, w.creds.egid, w.creds.sgid, w.creds.fsgid),
        (20, 30, 30, 30)
    );
    assert_eq!(sys(&mut w, SETGID, [10, 0, 0, 0, 0, 0]), Err(Errno::EPERM));
    assert_eq!(sys(&mut w, SETGID, [20, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!((w.creds.gid, w.creds.egid, w.creds.sgid), (20, 20, 30));
}

#[test]
fn keepcaps_and_fsuid_caps() {
    let (_tb, _init, mut t) = bed();
    assert_eq!(
        sys(&mut t, PRCTL, [PR_SET_KEEPCAPS as u64, 1, 0, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(
        sys(&mut t, PRCTL, [PR_GET_KEEPCAPS as u64, 0, 0, 0, 0, 0]),
        Ok(1)
    );
    assert_eq!(
        sys(&mut t, PRCTL, [PR_SET_KEEPCAPS as u64, 2, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    sys(&mut t, SETRESUID, [1000, 1000, 1000, 0, 0, 0]).unwrap();
    assert_eq!(t.creds.caps.permitted, Capabilities::ALL);
    assert_eq!(t.creds.caps.effective, 0);
    // exec recomputes: a non-root process keeps nothing, and KEEPCAPS goes.
    crate::syscalls::creds::caps_on_exec(&mut t.creds);
    assert_eq!((t.creds.caps.permitted, t.creds.caps.keep_caps), (0, false));
    let (_tb, _init, mut r) = bed();
    sys(&mut r, SETFSUID, [1000, 0, 0, 0, 0, 0]).unwrap();
    assert!(!r.creds.capable(CAP_DAC_OVERRIDE));
    assert!(r.creds.capable(CAP_SETUID));
    sys(&mut r, SETFSUID, [0, 0, 0, 0, 0, 0]).unwrap();
    assert!(r.creds.capable(CAP_DAC_OVERRIDE));
}

#[test]
fn setgroups_sorts_and_checks() {
    let (_tb, _init, mut t) = bed();
    let buf = map(&t);
    t.mm.write_obj(UserAddr(buf), &[30u32, 10, 20]).unwrap();
    assert_eq!(sys(&mut t, SETGROUPS, [3, buf, 0, 0, 0, 0]), Ok(0));
    assert_eq!(t.creds.groups, vec![10, 20, 30]);
    assert_eq!(
        sys(&mut t, SETGROUPS, [65537, buf, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut t, SETGROUPS, [u32::MAX as u64, buf, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut t, SETGROUPS, [2, 8, 0, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(sys(&mut t, SETGROUPS, [0, 0, 0, 0, 0, 0]), Ok(0));
    assert!(t.creds.groups.is_empty());
}

fn cap_header(t: &Task, at: u64, version: u32, pid: i32) {
    t.mm.write_obj(UserAddr(at), &CapUserHeader { version, pid })
        .unwrap();
}

#[test]
fn capget_and_capset() {
    let (_tb, _init, mut t) = bed();
    let buf = map(&t);
    let (hdr, data) = (buf, buf + 64);
    cap_header(&t, hdr, LINUX_CAPABILITY_VERSION_3, 0);
    assert_eq!(sys(&mut t, CAPGET, [hdr, data, 0, 0, 0, 0]), Ok(0));
    let d: [CapUserData; 2] = t.mm.read_obj(UserAddr(data)).unwrap();
    assert_eq!(d[0].effective, u32::MAX);
    assert_eq!(d[1].effective as u64, Capabilities::ALL >> 32);
    assert_eq!(d[0].inheritable, 0);
    // An unknown version is answered with the preferred one.
    cap_header(&t, hdr, 1234, 0);
    assert_eq!(sys(&mut t, CAPGET, [hdr, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(
        t.mm.read_obj::<u32>(UserAddr(hdr)).unwrap(),
        LINUX_CAPABILITY_VERSION_3
    );
    cap_header(&t, hdr, 1234, 0);
    assert_eq!(
        sys(&mut t, CAPGET, [hdr, data, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    cap_header(&t, hdr, LINUX_CAPABILITY_VERSION_3, -1);
    assert_eq!(
        sys(&mut t, CAPGET, [hdr, data, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    cap_header(&t, hdr, LINUX_CAPABILITY_VERSION_3, 99999);
    assert_eq!(
        sys(&mut t, CAPGET, [hdr, data, 0, 0, 0, 0]),
        Err(Errno::ESRCH)
    );
    assert_eq!(
        sys(&mut t, CAPGET, [8, data, 0, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    // Version 1 reads one word.
    cap_header(&t, hdr, LINUX_CAPABILITY_VERSION_1, 0);
    t.mm.write_obj(UserAddr(data), &[0u8; 24]).unwrap();
    sys(&mut t, CAPGET, [hdr, data, 0, 0, 0, 0]).unwrap();
    let d: [CapUserData; 2] = t.mm.read_obj(UserAddr(data)).unwrap();
    assert_eq!((d[0].permitted, d[1].permitted), (u32::MAX, 0));
    // capset: drop CAP_SETUID from effective and permitted.
    cap_header(&t, hdr, LINUX_CAPABILITY_VERSION_3, 0);
    let keep = Capabilities::ALL & !(1 << CAP_SETUID);
    let set = [
        CapUserData {
            effective: keep as u32,
            permitted: keep as u32,
            inheritable: 0,
        },
        CapUserData {
            effective: (keep >> 32) as u32,
            permitted: (keep >> 32) as u32,
            inheritable: 0,
        },
    ];
    t.mm.write_obj(UserAddr(data), &set).unwrap();
    assert_eq!(sys(&mut t, CAPSET, [hdr, data, 0, 0, 0, 0]), Ok(0));
    assert!(!t.creds.capable(CAP_SETUID));
    // Without CAP_SETUID, only the real or saved uid (0) is allowed.
    assert_eq!(
        sys(&mut t, SETUID, [1000, 0, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    assert_eq!(sys(&mut t, SETUID, [0, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(
        sys(&mut t, SETREUID, [u32::MAX as u64, 1000, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    // Raising permitted back: EPERM; effective beyond permitted: EPERM.
    let (_tb, _init, mut u) = bed();
    let ubuf = map(&u);
    cap_header(&u, ubuf, LINUX_CAPABILITY_VERSION_3, 0);
    let low = [
        CapUserData {
            effective: 1,
            permitted: 1,
            inheritable: 0,
        },
        CapUserData::default(),
    ];
    u.mm.write_obj(UserAddr(ubuf + 64), &low).unwrap();
    assert_eq!(sys(&mut u, CAPSET, [ubuf, ubuf + 64, 0, 0, 0, 0]), Ok(0));
    let more = [
        CapUserData {
            effective: 3,
            permitted: 3,
            inheritable: 0,
        },
        CapUserData::default(),
    ];
    u.mm.write_obj(UserAddr(ubuf + 64), &more).unwrap();
    assert_eq!(
        sys(&mut u, CAPSET, [ubuf, ubuf + 64, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    let eff = [
        CapUserData {
            effective: 2,
            permitted: 1,
            inheritable: 0,
        },
        CapUserData::default(),
    ];
    u.mm.write_obj(UserAddr(ubuf + 64), &eff).unwrap();
    assert_eq!(
        sys(&mut u, CAPSET, [ubuf, ubuf + 64, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    // Inheritable beyond permitted needs CAP_SETPCAP (dropped above).
    let inh = [
        CapUserData {
            effective: 1,
            permitted: 1,
            inheritable: 4,
        },
        CapUserData::default(),
    ];
    u.mm.write_obj(UserAddr(ubuf + 64), &inh).unwrap();
    assert_eq!(
        sys(&mut u, CAPSET, [ubuf, ubuf + 64, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    cap_header(&u, ubuf, LINUX_CAPABILITY_VERSION_3, 1);
    assert_eq!(
        sys(&mut u, CAPSET, [ubuf, ubuf + 64, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    // Bounding set reads.
    assert_eq!(
        sys(
            &mut u,
            PRCTL,
            [PR_CAPBSET_READ as u64, CAP_KILL as u64, 0, 0, 0, 0]
        ),
        Ok(1)
    );
    assert_eq!(
        sys(&mut u, PRCTL, [PR_CAPBSET_READ as u64, 64, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut u, PRCTL, [PR_CAPBSET_DROP as u64, 1, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
}

// -------------------------------------------------------------------------
// Process groups and sessions

#[test]
fn sessions_and_process_groups() {
    let (tb, _init, mut p) = bed();
    // p leads its session and group (as the tasks TestBed makes).
    assert_eq!(sys(&mut p, SETSID, [0; 6]), Err(Errno::EPERM));
    assert_eq!(
        sys(&mut p, SETPGID, [0, 0, 0, 0, 0, 0]),
        Err(Errno::EPERM),
        "a session leader"
    );
    let mut c = task_as(&tb, 0);
    adopt(&p, &c);
    let mut other = task_as(&tb, 0);
    let (pp, cp) = (p.pid() as u64, c.pid() as u64);
    assert_eq!(sys(&mut c, GETPGRP, [0; 6]), Ok(pp));
    assert_eq!(sys(&mut c, GETPGID, [0; 6]), Ok(pp));
    assert_eq!(sys(&mut c, GETSID, [cp, 0, 0, 0, 0, 0]), Ok(pp));
    assert_eq!(
        sys(&mut c, GETSID, [99999, 0, 0, 0, 0, 0]),
        Err(Errno::ESRCH)
    );
    assert_eq!(
        sys(&mut c, GETPGID, [99999, 0, 0, 0, 0, 0]),
        Err(Errno::ESRCH)
    );
    // The parent puts the child in a group of its own.
    assert_eq!(sys(&mut p, SETPGID, [cp, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut p, GETPGID, [cp, 0, 0, 0, 0, 0]), Ok(cp));
    // ... and back into its own.
    assert_eq!(sys(&mut p, SETPGID, [cp, pp, 0, 0, 0, 0]), Ok(0));
    assert_eq!(
        sys(&mut p, SETPGID, [cp, 424242, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    assert_eq!(
        sys(&mut p, SETPGID, [cp, (-1i64) as u64, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut p, SETPGID, [other.pid() as u64, 0, 0, 0, 0, 0]),
        Err(Errno::ESRCH)
    );
    assert_eq!(
        sys(&mut p, SETPGID, [99999, 0, 0, 0, 0, 0]),
        Err(Errno::ESRCH)
    );
    // The child starts a session: then it is out of reach.
    assert_eq!(sys(&mut c, SETSID, [0; 6]), Ok(cp));
    assert_eq!(sys(&mut c, GETSID, [0; 6]), Ok(cp));
    assert_eq!(
        sys(&mut p, SETPGID, [cp, pp, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    assert_eq!(sys(&mut c, SETSID, [0; 6]), Err(Errno::EPERM));
    // A child that exec'd: EACCES.
    let d = task_as(&tb, 0);
    adopt(&p, &d);
    d.tg.pm.did_exec.store(true, Ordering::Relaxed);
    assert_eq!(
        sys(&mut p, SETPGID, [d.pid() as u64, 0, 0, 0, 0, 0]),
        Err(Errno::EACCES)
    );
    // A process joins a group of its session.
    *other.tg.sid.lock() = p.pid();
    *other.tg.pgid.lock() = p.pid();
    let mut e = task_as(&tb, 0);
    *e.tg.sid.lock() = p.pid();
    *e.tg.pgid.lock() = p.pid();
    assert_eq!(sys(&mut e, SETPGID, [0, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut e, GETPGRP, [0; 6]), Ok(e.pid() as u64));
    assert_eq!(sys(&mut e, SETPGID, [0, pp, 0, 0, 0, 0]), Ok(0));
    // setsid fails while a group with our pid exists.
    assert_eq!(sys(&mut other, SETPGID, [0, 0, 0, 0, 0, 0]), Ok(0));
    *e.tg.pgid.lock() = other.pid();
    assert_eq!(sys(&mut other, SETPGID, [0, pp, 0, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut other, SETSID, [0; 6]), Err(Errno::EPERM));
}

// -------------------------------------------------------------------------
// Scheduling

#[test]
fn nice_values_and_permissions() {
    let (tb, _init, mut root) = bed();
    let me = root.tid as u64;
    assert_eq!(
        sys(&mut root, GETPRIORITY, [PRIO_PROCESS as u64, 0, 0, 0, 0, 0]),
        Ok(20)
    );
    assert_eq!(
        sys(
            &mut root,
            SETPRIORITY,
            [PRIO_PROCESS as u64, 0, (-5i64) as u64, 0, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!(
        sys(
            &mut root,
            GETPRIORITY,
            [PRIO_PROCESS as u64, me, 0, 0, 0, 0]
        ),
        Ok(25)
    );
    assert_eq!(
        sys(
            &mut root,
            SETPRIORITY,
            [PRIO_PROCESS as u64, 0, 100, 0, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!(
        sys(&mut root, GETPRIORITY, [PRIO_PROCESS as u64, 0, 0, 0, 0, 0]),
        Ok(1),
        "clamped to 19"
    );
    assert_eq!(
        sys(&mut root, GETPRIORITY, [3, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(
            &mut root,
            GETPRIORITY,
            [PRIO_PROCESS as u64, 99999, 0, 0, 0, 0]
        ),
        Err(Errno::ESRCH)
    );
    assert_eq!(
        sys(
            &mut root,
            SETPRIORITY,
            [PRIO_PGRP as u64, 99999, 0, 0, 0, 0]
        ),
        Err(Errno::ESRCH)
    );
    let mut user = task_as(&tb, 1000);
    assert_eq!(
        sys(&mut user, SETPRIORITY, [PRIO_PROCESS as u64, 0, 5, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(
        sys(&mut user, SETPRIORITY, [PRIO_PROCESS as u64, 0, 4, 0, 0, 0]),
        Err(Errno::EACCES)
    );
    assert_eq!(
        sys(
            &mut user,
            SETPRIORITY,
            [PRIO_PROCESS as u64, me, 19, 0, 0, 0]
        ),
        Err(Errno::EPERM)
    );
    // RLIMIT_NICE lets an unprivileged process go down to 20 - limit.
    user.tg.rlimits.lock()[RLIMIT_NICE as usize].cur = 25;
    assert_eq!(
        sys(
            &mut user,
            SETPRIORITY,
            [PRIO_PROCESS as u64, 0, (-5i64) as u64, 0, 0, 0]
        ),
        Ok(0)
    );
    // PRIO_USER and PRIO_PGRP answer the highest priority of the set.
    assert_eq!(
        sys(&mut root, GETPRIORITY, [PRIO_USER as u64, 1000, 0, 0, 0, 0]),
        Ok(25)
    );
    let pg = *user.tg.pgid.lock() as u64;
    assert_eq!(
        sys(&mut root, SETPRIORITY, [PRIO_PGRP as u64, pg, 3, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(
        sys(&mut user, GETPRIORITY, [PRIO_PROCESS as u64, 0, 0, 0, 0, 0]),
        Ok(17)
    );
}

#[test]
fn scheduler_policies() {
    let (tb, _init, mut t) = bed();
    let buf = map(&t);
    let me = t.tid as u64;
    assert_eq!(
        sys(&mut t, SCHED_GETSCHEDULER, [0; 6]),
        Ok(SCHED_NORMAL as u64)
    );
    assert_eq!(
        sys(
            &mut t,
            SCHED_GET_PRIORITY_MAX,
            [SCHED_FIFO as u64, 0, 0, 0, 0, 0]
        ),
        Ok(99)
    );
    assert_eq!(
        sys(
            &mut t,
            SCHED_GET_PRIORITY_MIN,
            [SCHED_RR as u64, 0, 0, 0, 0, 0]
        ),
        Ok(1)
    );
    assert_eq!(
        sys(
            &mut t,
            SCHED_GET_PRIORITY_MAX,
            [SCHED_BATCH as u64, 0, 0, 0, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!(
        sys(&mut t, SCHED_GET_PRIORITY_MAX, [4, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    t.mm.write_obj(UserAddr(buf), &0i32).unwrap();
    assert_eq!(
        sys(
            &mut t,
            SCHED_SETSCHEDULER,
            [0, SCHED_BATCH as u64, buf, 0, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!(
        sys(&mut t, SCHED_GETSCHEDULER, [me, 0, 0, 0, 0, 0]),
        Ok(SCHED_BATCH as u64)
    );
    assert_eq!(
        sys(
            &mut t,
            SCHED_SETSCHEDULER,
            [0, SCHED_FIFO as u64, buf, 0, 0, 0]
        ),
        Err(Errno::EINVAL)
    );
    t.mm.write_obj(UserAddr(buf), &10i32).unwrap();
    assert_eq!(
        sys(
            &mut t,
            SCHED_SETSCHEDULER,
            [0, SCHED_NORMAL as u64, buf, 0, 0, 0]
        ),
        Err(Errno::EINVAL)
    );
    let flag = (SCHED_FIFO | SCHED_RESET_ON_FORK) as u64;
    assert_eq!(
        sys(&mut t, SCHED_SETSCHEDULER, [0, flag, buf, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(sys(&mut t, SCHED_GETSCHEDULER, [0; 6]), Ok(flag));
    assert_eq!(sys(&mut t, SCHED_GETPARAM, [0, buf + 8, 0, 0, 0, 0]), Ok(0));
    assert_eq!(t.mm.read_obj::<i32>(UserAddr(buf + 8)).unwrap(), 10);
    t.mm.write_obj(UserAddr(buf), &20i32).unwrap();
    assert_eq!(sys(&mut t, SCHED_SETPARAM, [0, buf, 0, 0, 0, 0]), Ok(0));
    assert_eq!(t.tg.pm.sched(t.tid).rt_priority, 20);
    // A child resets a real-time policy with SCHED_RESET_ON_FORK.
    let child = task_as(&tb, 0);
    crate::process::on_fork(&t, &child.tg);
    assert_eq!(child.tg.pm.sched(child.pid()).policy, SCHED_NORMAL);
    assert_eq!(
        sys(&mut t, SCHED_SETSCHEDULER, [0, 7, buf, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(
            &mut t,
            SCHED_SETSCHEDULER,
            [0, u32::MAX as u64, buf, 0, 0, 0]
        ),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut t, SCHED_SETSCHEDULER, [0, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut t, SCHED_SETSCHEDULER, [0, 0, 8, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        sys(&mut t, SCHED_GETSCHEDULER, [u32::MAX as u64, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut t, SCHED_GETSCHEDULER, [99999, 0, 0, 0, 0, 0]),
        Err(Errno::ESRCH)
    );
    assert_eq!(
        sys(&mut t, SCHED_GETPARAM, [0, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    // Unprivileged: no real-time policy without RLIMIT_RTPRIO.
    let mut user = task_as(&tb, 1000);
    user.mm = t.mm.clone();
    t.mm.write_obj(UserAddr(buf), &1i32).unwrap();
    assert_eq!(
        sys(
            &mut user,
            SCHED_SETSCHEDULER,
            [0, SCHED_RR as u64, buf, 0, 0, 0]
        ),
        Err(Errno::EPERM)
    );
    t.mm.write_obj(UserAddr(buf), &0i32).unwrap();
    assert_eq!(
        sys(
            &mut user,
            SCHED_SETSCHEDULER,
            [0, SCHED_IDLE as u64, buf, 0, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!(
        sys(
            &mut user,
            SCHED_SETSCHEDULER,
            [0, SCHED_NORMAL as u64, buf, 0, 0, 0]
        ),
        Err(Errno::EPERM)
    );
    assert_eq!(
        sys(
            &mut user,
            SCHED_SETSCHEDULER,
            [me, SCHED_BATCH as u64, buf, 0, 0, 0]
        ),
        Err(Errno::EPERM)
    );
}

#[test]
fn affinity_and_getcpu() {
    let (_tb, _init, mut t) = bed();
    let buf = map(&t);
    // The fake identity shows 2 CPUs.
    assert_eq!(sys(&mut t, SCHED_GETAFFINITY, [0, 8, buf, 0, 0, 0]), Ok(8));
    assert_eq!(t.mm.read_obj::<u8>(UserAddr(buf)).unwrap(), 0b11);
    t.mm.write_obj(UserAddr(buf), &0b10u64).unwrap();
    assert_eq!(sys(&mut t, SCHED_SETAFFINITY, [0, 8, buf, 0, 0, 0]), Ok(0));
    assert_eq!(
        sys(&mut t, SCHED_GETAFFINITY, [0, 8, buf + 8, 0, 0, 0]),
        Ok(8)
    );
    assert_eq!(t.mm.read_obj::<u8>(UserAddr(buf + 8)).unwrap(), 0b10);
    sys(&mut t, GETCPU, [buf + 16, buf + 20, 0, 0, 0, 0]).unwrap();
    assert_eq!(
        t.mm.read_obj::<[u32; 2]>(UserAddr(buf + 16)).unwrap(),
        [1, 0]
    );
    assert_eq!(sys(&mut t, GETCPU, [0, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut t, GETCPU, [8, 0, 0, 0, 0, 0]), Err(Errno::EFAULT));
    // Only CPUs the sandbox has: none of them is EINVAL.
    t.mm.write_obj(UserAddr(buf), &0b100u64).unwrap();
    assert_eq!(
        sys(&mut t, SCHED_SETAFFINITY, [0, 8, buf, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut t, SCHED_SETAFFINITY, [0, 8, 8, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        sys(&mut t, SCHED_SETAFFINITY, [99999, 8, buf, 0, 0, 0]),
        Err(Errno::ESRCH)
    );
    // A short mask is zero-extended.
    t.mm.write_obj(UserAddr(buf), &1u8).unwrap();
    assert_eq!(sys(&mut t, SCHED_SETAFFINITY, [0, 1, buf, 0, 0, 0]), Ok(0));
    assert_eq!(
        sys(&mut t, SCHED_GETAFFINITY, [0, 8, buf + 8, 0, 0, 0]),
        Ok(8)
    );
    assert_eq!(t.mm.read_obj::<u8>(UserAddr(buf + 8)).unwrap(), 1);
    assert_eq!(sys(&mut t, SCHED_YIELD, [0; 6]), Ok(0));
}

// -------------------------------------------------------------------------
// Resource usage

#[test]
fn getrusage_times_and_children() {
    let (tb, _init, mut p) = bed();
    let buf = map(&p);
    p.mm.write_obj(UserAddr(buf), &1u64).unwrap();
    // 30 ms in the application.
    let start = crate::process::user_enter(&p);
    tb.timers.advance(30 * MS);
    crate::process::user_exit(&p, start);
    assert_eq!(
        sys(&mut p, GETRUSAGE, [RUSAGE_SELF as u64, buf, 0, 0, 0, 0]),
        Ok(0)
    );
    let r: Rusage = p.mm.read_obj(UserAddr(buf)).unwrap();
    assert_eq!((r.utime.tv_sec, r.utime.tv_usec), (0, 30_000));
    assert!(r.rest[0] > 0, "maxrss: the mapped page");
    assert_eq!(
        sys(&mut p, GETRUSAGE, [RUSAGE_THREAD as u64, buf, 0, 0, 0, 0]),
        Ok(0)
    );
    let r: Rusage = p.mm.read_obj(UserAddr(buf)).unwrap();
    assert_eq!(r.utime.tv_usec, 30_000);
    assert_eq!(
        sys(&mut p, GETRUSAGE, [2, buf, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut p, GETRUSAGE, [0, 8, 0, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    // A child runs 2 s, exits and is reaped.
    let mut c = task_as(&tb, 0);
    adopt(&p, &c);
    let start = crate::process::user_enter(&c);
    tb.timers.advance(2_000 * MS);
    crate::process::user_exit(&c, start);
    c.exit_group(ExitStatus::Exited(0));
    tb.kernel.exit_task(&mut c);
    assert_eq!(
        sys(&mut p, WAIT4, [u64::MAX, 0, 0, buf + 256, 0, 0]),
        Ok(c.pid() as u64)
    );
    let r: Rusage = p.mm.read_obj(UserAddr(buf + 256)).unwrap();
    assert_eq!(r.utime.tv_sec, 2, "wait4 reports the child's usage");
    assert_eq!(
        sys(&mut p, GETRUSAGE, [RUSAGE_CHILDREN as u64, buf, 0, 0, 0, 0]),
        Ok(0)
    );
    let r: Rusage = p.mm.read_obj(UserAddr(buf)).unwrap();
    assert_eq!(r.utime.tv_sec, 2);
    let now = sys(&mut p, TIMES, [buf, 0, 0, 0, 0, 0]).unwrap();
    let tms: Tms = p.mm.read_obj(UserAddr(buf)).unwrap();
    assert_eq!((tms.utime, tms.cutime), (3, 200));
    assert!(now >= 203, "ticks since boot");
    assert_eq!(sys(&mut p, TIMES, [0, 0, 0, 0, 0, 0]), Ok(now));
    assert_eq!(sys(&mut p, TIMES, [8, 0, 0, 0, 0, 0]), Err(Errno::EFAULT));
}

// -------------------------------------------------------------------------
// prctl: subreaper and parent-death signal

#[test]
fn orphans_go_to_the_nearest_subreaper_with_their_pdeath_signal() {
    let (tb, init, mut p) = bed();
    let buf = map(&p);
    assert_eq!(
        sys(
            &mut p,
            PRCTL,
            [PR_SET_CHILD_SUBREAPER as u64, 1, 0, 0, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!(
        sys(
            &mut p,
            PRCTL,
            [PR_GET_CHILD_SUBREAPER as u64, buf, 0, 0, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!(p.mm.read_obj::<i32>(UserAddr(buf)).unwrap(), 1);
    let mut c = task_as(&tb, 0);
    adopt(&p, &c);
    let mut g = task_as(&tb, 0);
    adopt(&c, &g);
    assert_eq!(
        sys(
            &mut g,
            PRCTL,
            [PR_SET_PDEATHSIG as u64, SIGUSR1 as u64, 0, 0, 0, 0]
        ),
        Ok(0)
    );
    g.mm = p.mm.clone();
    assert_eq!(
        sys(
            &mut g,
            PRCTL,
            [PR_GET_PDEATHSIG as u64, buf + 8, 0, 0, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!(p.mm.read_obj::<i32>(UserAddr(buf + 8)).unwrap(), SIGUSR1);
    assert_eq!(
        sys(&mut g, PRCTL, [PR_SET_PDEATHSIG as u64, 65, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    c.exit_group(ExitStatus::Exited(0));
    tb.kernel.exit_task(&mut c);
    assert_eq!(*g.tg.ppid.lock(), p.pid(), "reparented to the subreaper");
    assert!(p.tg.children.lock().iter().any(|x| Arc::ptr_eq(x, &g.tg)));
    let info: Siginfo = crate::signal::dequeue(&g, 0).expect("pdeath signal");
    assert_eq!((info.signo, info.code), (SIGUSR1, SI_USER));
    assert_eq!(
        info.fields[0] as u32 as i32,
        c.pid(),
        "sent as from the parent"
    );
    // Without a subreaper: init.
    let h = task_as(&tb, 0);
    adopt(&g, &h);
    g.exit_group(ExitStatus::Exited(0));
    p.tg.pm.subreaper.store(false, Ordering::Relaxed);
    tb.kernel.exit_task(&mut g);
    assert_eq!(*h.tg.ppid.lock(), 1, "a subreaper no more: init adopts");
    assert!(init
        .tg
        .children
        .lock()
        .iter()
        .any(|x| Arc::ptr_eq(x, &h.tg)));
}

#[test]
fn orphans_without_a_subreaper_go_to_init() {
    let (tb, init, p) = bed();
    let mut c = task_as(&tb, 0);
    adopt(&p, &c);
    let g = task_as(&tb, 0);
    adopt(&c, &g);
    c.exit_group(ExitStatus::Exited(0));
    tb.kernel.exit_task(&mut c);
    assert_eq!(*g.tg.ppid.lock(), 1);
    assert!(init
        .tg
        .children
        .lock()
        .iter()
        .any(|x| Arc::ptr_eq(x, &g.tg)));
    assert!(
        crate::signal::dequeue(&g, 0).is_none(),
        "no pdeath signal set"
    );
}

// -------------------------------------------------------------------------
// pidfd

#[test]
fn pidfd_polls_and_signals() {
    let (tb, _init, mut p) = bed();
    let buf = map(&p);
    let mut c = task_as(&tb, 0);
    adopt(&p, &c);
    let cp = c.pid() as u64;
    let fd = sys(&mut p, PIDFD_OPEN, [cp, 0, 0, 0, 0, 0]).unwrap() as i32;
    assert!(p.fds.get(fd).unwrap().cloexec);
    let file = p.fds.file(fd).unwrap();
    assert_eq!(file.ops.poll(), 0);
    assert_eq!(
        sys(&mut p, READ, [fd as u64, buf, 8, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    // pidfd_send_signal: as kill.
    assert_eq!(
        sys(
            &mut p,
            PIDFD_SEND_SIGNAL,
            [fd as u64, SIGUSR2 as u64, 0, 0, 0, 0]
        ),
        Ok(0)
    );
    let info = crate::signal::dequeue(&c, 0).unwrap();
    assert_eq!((info.signo, info.code), (SIGUSR2, SI_USER));
    assert_eq!(
        sys(&mut p, PIDFD_SEND_SIGNAL, [fd as u64, 0, 0, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(
        sys(&mut p, PIDFD_SEND_SIGNAL, [fd as u64, 65, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut p, PIDFD_SEND_SIGNAL, [fd as u64, 1, 0, 8, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut p, PIDFD_SEND_SIGNAL, [fd as u64, 1, 0, 3, 0, 0]),
        Err(Errno::EINVAL)
    );
    sys(&mut p, PIPE2, [buf + 64, 0, 0, 0, 0, 0]).unwrap();
    let pipe_fd = p.mm.read_obj::<i32>(UserAddr(buf + 64)).unwrap() as u64;
    assert_eq!(
        sys(&mut p, PIDFD_SEND_SIGNAL, [pipe_fd, 1, 0, 0, 0, 0]),
        Err(Errno::EBADF)
    );
    assert_eq!(
        sys(&mut p, PIDFD_SEND_SIGNAL, [999, 1, 0, 0, 0, 0]),
        Err(Errno::EBADF)
    );
    // A forged siginfo for another process: EPERM; a mismatched signo: EINVAL.
    let mut si = Siginfo {
        signo: SIGUSR1,
        code: SI_QUEUE,
        ..Siginfo::default()
    };
    p.mm.write_obj(UserAddr(buf), &si).unwrap();
    assert_eq!(
        sys(
            &mut p,
            PIDFD_SEND_SIGNAL,
            [fd as u64, SIGUSR1 as u64, buf, 0, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!(
        sys(
            &mut p,
            PIDFD_SEND_SIGNAL,
            [fd as u64, SIGUSR2 as u64, buf, 0, 0, 0]
        ),
        Err(Errno::EINVAL)
    );
    si.code = SI_USER;
    p.mm.write_obj(UserAddr(buf), &si).unwrap();
    assert_eq!(
        sys(
            &mut p,
            PIDFD_SEND_SIGNAL,
            [fd as u64, SIGUSR1 as u64, buf, 0, 0, 0]
        ),
        Err(Errno::EPERM)
    );
    // The child exits: readable; reaped: readable and hung up, ESRCH.
    c.exit_group(ExitStatus::Exited(0));
    tb.kernel.exit_task(&mut c);
    assert_eq!(file.ops.poll(), POLLIN | POLLRDNORM);
    assert_eq!(
        sys(
            &mut p,
            PIDFD_SEND_SIGNAL,
            [fd as u64, SIGUSR1 as u64, 0, 0, 0, 0]
        ),
        Ok(0)
    );
    sys(&mut p, WAIT4, [cp, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!(file.ops.poll(), POLLIN | POLLRDNORM | POLLHUP);
    assert_eq!(
        sys(
            &mut p,
            PIDFD_SEND_SIGNAL,
            [fd as u64, SIGUSR1 as u64, 0, 0, 0, 0]
        ),
        Err(Errno::ESRCH)
    );
    // pidfd_open's errors.
    assert_eq!(
        sys(&mut p, PIDFD_OPEN, [cp, 0, 0, 0, 0, 0]),
        Err(Errno::ESRCH)
    );
    assert_eq!(
        sys(&mut p, PIDFD_OPEN, [0, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut p, PIDFD_OPEN, [u32::MAX as u64, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    let me = p.pid() as u64;
    assert_eq!(
        sys(&mut p, PIDFD_OPEN, [me, 1, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    let nb = sys(&mut p, PIDFD_OPEN, [me, PIDFD_NONBLOCK as u64, 0, 0, 0, 0]).unwrap();
    assert_ne!(p.fds.file(nb as i32).unwrap().flags() & O_NONBLOCK, 0);
}

// -------------------------------------------------------------------------
// clone3

#[test]
fn clone3_checks_its_arguments() {
    let (_tb, _init, mut t) = bed();
    let buf = map(&t);
    let put = |t: &Task, a: CloneArgs| t.mm.write_obj(UserAddr(buf), &a).unwrap();
    let base = CloneArgs {
        exit_signal: SIGCHLD as u64,
        ..CloneArgs::default()
    };
    put(&t, base);
    assert_eq!(
        sys(&mut t, CLONE3, [buf, 63, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut t, CLONE3, [buf, 4097, 0, 0, 0, 0]),
        Err(Errno::E2BIG)
    );
    assert_eq!(sys(&mut t, CLONE3, [8, 64, 0, 0, 0, 0]), Err(Errno::EFAULT));
    // Bytes past what the kernel knows must be zero.
    t.mm.write_obj(UserAddr(buf + 88), &1u64).unwrap();
    assert_eq!(
        sys(&mut t, CLONE3, [buf, 96, 0, 0, 0, 0]),
        Err(Errno::E2BIG)
    );
    t.mm.write_obj(UserAddr(buf + 88), &0u64).unwrap();
    let bad = |f: fn(&mut CloneArgs)| {
        let mut a = base;
        f(&mut a);
        a
    };
    for a in [
        bad(|a| a.exit_signal = 65),
        bad(|a| a.exit_signal = 1 << 32),
        bad(|a| a.flags = SIGCHLD as u64),
        bad(|a| a.flags = 1 << 40),
        bad(|a| a.flags = 0x40_0000),
        bad(|a| a.flags = 0x800 | CLONE_CLEAR_SIGHAND),
        bad(|a| a.flags = 0x10000 | 0x800 | 0x100),
        bad(|a| a.stack_size = 4096),
        bad(|a| a.stack = 0x1000),
        bad(|a| a.set_tid_size = 1),
        bad(|a| a.set_tid = 0x10_0000),
        bad(|a| {
            a.stack = u64::MAX - 10;
            a.stack_size = 100
        }),
    ] {
        put(&t, a);
        assert_eq!(
            sys(&mut t, CLONE3, [buf, 88, 0, 0, 0, 0]),
            Err(Errno::EINVAL),
            "{a:?}"
        );
    }
    // CLONE_INTO_CGROUP needs a version-2 struct and a descriptor.
    put(&t, bad(|a| a.flags = CLONE_INTO_CGROUP));
    assert_eq!(
        sys(&mut t, CLONE3, [buf, 80, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    put(
        &t,
        bad(|a| {
            a.flags = CLONE_INTO_CGROUP;
            a.cgroup = 77
        }),
    );
    assert_eq!(
        sys(&mut t, CLONE3, [buf, 88, 0, 0, 0, 0]),
        Err(Errno::EBADF)
    );
    // Valid arguments reach clone, which needs a spawner (none here).
    put(&t, base);
    assert_eq!(
        sys(&mut t, CLONE3, [buf, 64, 0, 0, 0, 0]),
        Err(Errno::ENOSYS)
    );
    // CLONE_PIDFD: the reserved descriptor is given back on failure.
    let mut with_pidfd = base;
    with_pidfd.flags = CLONE_PIDFD;
    with_pidfd.pidfd = buf + 200;
    put(&t, with_pidfd);
    assert_eq!(
        sys(&mut t, CLONE3, [buf, 64, 0, 0, 0, 0]),
        Err(Errno::ENOSYS)
    );
    assert_eq!(t.fds.file(0).err(), Some(Errno::EBADF));
    put(
        &t,
        bad(|a| {
            a.flags = CLONE_PIDFD;
            a.pidfd = 8
        }),
    );
    assert_eq!(
        sys(&mut t, CLONE3, [buf, 64, 0, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(t.fds.file(0).err(), Some(Errno::EBADF));
    // Legacy clone: CLONE_PIDFD with CLONE_PARENT_SETTID is EINVAL.
    let f = CLONE_PIDFD | 0x10_0000 | SIGCHLD as u64;
    assert_eq!(sys(&mut t, CLONE, [f, 0, buf, 0, 0, 0]), Err(Errno::EINVAL));
}
