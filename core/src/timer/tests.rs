//! Timer tests on the fake platform: the fake timer service fires in
//! deadline order as the tests move the fake clock, so every expiration
//! is deterministic.

use alloc::vec::Vec;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, Itimerspec, Itimerval, Sigevent, Siginfo, Timespec, Timeval};

use super::*;
use crate::fake::TestBed;
use crate::platform::Prot;
use crate::task::{Credentials, Task};
use crate::UserAddr;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

fn sys(t: &mut Task, nr: u64, a: [u64; 6]) -> Result<u64, Errno> {
    (crate::syscalls::lookup(nr).expect("served"))(t, &a)
}

struct Bed {
    tb: TestBed,
    _init: Task,
    t: Task,
    /// A scratch page.
    buf: u64,
}

fn bed() -> Bed {
    let tb = TestBed::new();
    // pid 1 is init, which ignores default-action signals.
    let init = tb.task();
    tb.kernel.register(&init.tg);
    let t = tb.task_as(Credentials::new(0, 0, Vec::new()));
    tb.kernel.register(&t.tg);
    let buf =
        t.mm.mmap(
            UserAddr(0),
            0x4000,
            Prot::READ | Prot::WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            None,
        )
        .expect("mmap")
        .0;
    Bed {
        tb,
        _init: init,
        t,
        buf,
    }
}

fn ts(ns: u64) -> Timespec {
    crate::process::ns_ts(ns)
}

fn its(value: u64, interval: u64) -> Itimerspec {
    Itimerspec {
        it_interval: ts(interval),
        it_value: ts(value),
    }
}

fn ns(t: &Timespec) -> u64 {
    crate::process::ts_ns(t)
}

/// Every pending signal of the group (shared queue) and the thread,
/// dequeued in order.
fn take_all(t: &Task) -> Vec<Siginfo> {
    let mut v = Vec::new();
    while let Some(i) = crate::signal::dequeue(t, 0) {
        v.push(i);
    }
    v
}

fn pending(t: &Task) -> u64 {
    t.tg.signals.lock().pending_for(t.tid)
}

#[test]
fn schedule_counts_every_interval() {
    let mut s = Schedule {
        next: Some(100),
        interval: 10,
    };
    assert_eq!(s.expire(99), 0);
    assert_eq!(s.remaining(99), 1);
    assert_eq!(s.expire(100), 1);
    assert_eq!(s.next, Some(110));
    assert_eq!(s.expire(135), 3);
    assert_eq!(s.next, Some(140));
    assert_eq!(s.remaining(135), 5);
    // Due but not handled reads as 1 ns.
    assert_eq!(s.remaining(140), 1);
    let mut once = Schedule {
        next: Some(5),
        interval: 0,
    };
    assert_eq!(once.expire(1000), 1);
    assert_eq!(once.next, None);
    assert_eq!(once.expire(2000), 0);
    assert_eq!(once.remaining(2000), 0);
    // An expiration past the end of time disarms instead of wrapping.
    let mut far = Schedule {
        next: Some(u64::MAX - 5),
        interval: u64::MAX / 2,
    };
    assert_eq!(far.expire(u64::MAX), 1);
    assert_eq!(far.next, None);
}

#[test]
fn alarm_sends_sigalrm_and_reports_the_time_left() {
    let mut b = bed();
    assert_eq!(sys(&mut b.t, ALARM, [5, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(b.tb.timers.pending(), 1);
    b.tb.timers.advance(SEC + 300 * MS);
    // 3.7 s left: rounded to 4.
    assert_eq!(sys(&mut b.t, ALARM, [2, 0, 0, 0, 0, 0]), Ok(4));
    assert_eq!(b.tb.timers.pending(), 1);
    b.tb.timers.advance(SEC + 999 * MS);
    assert_eq!(pending(&b.t), 0);
    b.tb.timers.advance(MS);
    assert_eq!(pending(&b.t), crate::signal::bit(SIGALRM));
    let got = take_all(&b.t);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].signo, got[0].code), (SIGALRM, SI_KERNEL));
    // Expired: nothing left, and nothing armed.
    assert_eq!(sys(&mut b.t, ALARM, [0, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(b.tb.timers.pending(), 0);
    // Less than a second left still reports 1; alarm(0) cancels.
    sys(&mut b.t, ALARM, [1, 0, 0, 0, 0, 0]).unwrap();
    b.tb.timers.advance(900 * MS);
    assert_eq!(sys(&mut b.t, ALARM, [0, 0, 0, 0, 0, 0]), Ok(1));
    assert_eq!(b.tb.timers.pending(), 0);
    b.tb.timers.advance(10 * SEC);
    assert_eq!(pending(&b.t), 0);
}

#[test]
fn setitimer_real_repeats_and_getitimer_reads_it() {
    let mut b = bed();
    let v = Itimerval {
        it_interval: Timeval {
            tv_sec: 0,
            tv_usec: 50_000,
        },
        it_value: Timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        },
    };
    b.t.mm.write_obj(UserAddr(b.buf), &v).unwrap();
    assert_eq!(
        sys(
            &mut b.t,
            SETITIMER,
            [ITIMER_REAL as u64, b.buf, b.buf + 64, 0, 0, 0]
        ),
        Ok(0)
    );
    let old: Itimerval = b.t.mm.read_obj(UserAddr(b.buf + 64)).unwrap();
    assert_eq!(old, Itimerval::default());
    b.tb.timers.advance(120 * MS);
    assert_eq!(take_all(&b.t).len(), 1);
    sys(
        &mut b.t,
        GETITIMER,
        [ITIMER_REAL as u64, b.buf + 64, 0, 0, 0, 0],
    )
    .unwrap();
    let cur: Itimerval = b.t.mm.read_obj(UserAddr(b.buf + 64)).unwrap();
    assert_eq!(cur.it_interval.tv_usec, 50_000);
    assert_eq!(cur.it_value.tv_usec, 30_000);
    // Three more periods: the standard signal coalesces while pending.
    b.tb.timers.advance(150 * MS);
    assert_eq!(take_all(&b.t).len(), 1);
    // A NULL value disarms.
    assert_eq!(
        sys(&mut b.t, SETITIMER, [ITIMER_REAL as u64, 0, 0, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(b.tb.timers.pending(), 0);
    // Errors, in Linux's order: the value is checked before `which`.
    let bad = Itimerval {
        it_value: Timeval {
            tv_sec: 0,
            tv_usec: 1_000_000,
        },
        ..v
    };
    b.t.mm.write_obj(UserAddr(b.buf), &bad).unwrap();
    assert_eq!(
        sys(&mut b.t, SETITIMER, [ITIMER_REAL as u64, b.buf, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut b.t, SETITIMER, [9, 1, 0, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        sys(&mut b.t, SETITIMER, [9, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut b.t, GETITIMER, [3, b.buf, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut b.t, GETITIMER, [0, 1, 0, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
}

fn create(b: &mut Bed, clock: u32, ev: Option<Sigevent>) -> Result<i32, Errno> {
    let evp = match ev {
        Some(e) => {
            b.t.mm.write_obj(UserAddr(b.buf + 0x100), &e).unwrap();
            b.buf + 0x100
        }
        None => 0,
    };
    sys(
        &mut b.t,
        TIMER_CREATE,
        [clock as u64, evp, b.buf + 0x200, 0, 0, 0],
    )?;
    Ok(b.t.mm.read_obj::<i32>(UserAddr(b.buf + 0x200)).unwrap())
}

fn settime(b: &mut Bed, id: i32, flags: u32, value: u64, interval: u64) -> Result<u64, Errno> {
    b.t.mm
        .write_obj(UserAddr(b.buf + 0x300), &its(value, interval))
        .unwrap();
    sys(
        &mut b.t,
        TIMER_SETTIME,
        [id as u64, flags as u64, b.buf + 0x300, 0, 0, 0],
    )
}

fn gettime(b: &mut Bed, id: i32) -> (u64, u64) {
    sys(
        &mut b.t,
        TIMER_GETTIME,
        [id as u64, b.buf + 0x340, 0, 0, 0, 0],
    )
    .unwrap();
    let v: Itimerspec = b.t.mm.read_obj(UserAddr(b.buf + 0x340)).unwrap();
    (ns(&v.it_value), ns(&v.it_interval))
}

fn sigev(notify: i32, signo: i32, value: u64, tid: i32) -> Sigevent {
    Sigevent {
        sigev_value: value,
        sigev_signo: signo,
        sigev_notify: notify,
        sigev_tid: tid,
        pad: [0; 11],
    }
}

#[test]
fn posix_timer_signals_with_si_timer_and_counts_overruns() {
    let mut b = bed();
    let sig = SIGRTMIN + 1;
    let id0 = create(
        &mut b,
        CLOCK_MONOTONIC,
        Some(sigev(SIGEV_SIGNAL, sig, 0xfeed, 0)),
    )
    .unwrap();
    let id1 = create(&mut b, CLOCK_MONOTONIC, None).unwrap();
    assert_eq!((id0, id1), (0, 1));
    settime(&mut b, id0, 0, 10 * MS, 10 * MS).unwrap();
    b.tb.timers.advance(10 * MS);
    // One signal queued; four more expirations while it waits.
    b.tb.timers.advance(40 * MS);
    let got = take_all(&b.t);
    assert_eq!(got.len(), 1);
    let i = got[0];
    assert_eq!((i.signo, i.code), (sig, SI_TIMER));
    assert_eq!(i.fields[0] as u32 as i32, id0, "si_timerid");
    assert_eq!((i.fields[0] >> 32) as i32, 4, "si_overrun");
    assert_eq!(i.fields[1], 0xfeed, "si_value");
    assert_eq!(i.fields[2], 0, "no private marker leaks");
    assert_eq!(
        sys(&mut b.t, TIMER_GETOVERRUN, [id0 as u64, 0, 0, 0, 0, 0]),
        Ok(4)
    );
    // The next expiration queues again, with no overrun.
    b.tb.timers.advance(10 * MS);
    let got = take_all(&b.t);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].fields[0] >> 32) as i32, 0);
    assert_eq!(
        sys(&mut b.t, TIMER_GETOVERRUN, [id0 as u64, 0, 0, 0, 0, 0]),
        Ok(0)
    );
    // The default sigevent: SIGALRM with the id as value.
    settime(&mut b, id1, 0, 5 * MS, 0).unwrap();
    b.tb.timers.advance(5 * MS);
    let got: Vec<Siginfo> = take_all(&b.t)
        .into_iter()
        .filter(|i| i.signo == SIGALRM)
        .collect();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].fields[1], id1 as u64);
    assert_eq!(gettime(&mut b, id1), (0, 0));
    // Delete: EINVAL afterwards, no host timer left for it.
    assert_eq!(
        sys(&mut b.t, TIMER_DELETE, [id0 as u64, 0, 0, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(
        sys(&mut b.t, TIMER_DELETE, [id0 as u64, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(b.tb.timers.pending(), 0);
    b.tb.timers.advance(SEC);
    assert_eq!(pending(&b.t), 0);
}

#[test]
fn a_timer_signal_sent_while_ignored_does_not_stop_the_timer() {
    let mut b = bed();
    let id = create(
        &mut b,
        CLOCK_MONOTONIC,
        Some(sigev(SIGEV_SIGNAL, SIGUSR1, 7, 0)),
    )
    .unwrap();
    b.t.tg.sigactions.lock()[(SIGUSR1 - 1) as usize].handler = SIG_IGN;
    settime(&mut b, id, 0, 10 * MS, 10 * MS).unwrap();
    b.tb.timers.advance(25 * MS);
    assert_eq!(pending(&b.t), 0);
    // Caught again: the next expiration is delivered (the stale "queued"
    // state is noticed).
    b.t.tg.sigactions.lock()[(SIGUSR1 - 1) as usize].handler = 0x40_0000;
    b.tb.timers.advance(10 * MS);
    let got = take_all(&b.t);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].code, SI_TIMER);
}

#[test]
fn sigev_thread_id_goes_to_the_thread_and_sigev_none_only_counts() {
    let mut b = bed();
    let tid = b.t.tid;
    let id = create(
        &mut b,
        CLOCK_MONOTONIC,
        Some(sigev(SIGEV_SIGNAL | SIGEV_THREAD_ID, SIGUSR2, 1, tid)),
    )
    .unwrap();
    settime(&mut b, id, 0, MS, 0).unwrap();
    b.tb.timers.advance(MS);
    {
        let g = b.t.tg.signals.lock();
        assert_eq!(g.shared.pending(), 0);
        assert_eq!(
            g.find(tid).unwrap().pending.pending(),
            crate::signal::bit(SIGUSR2)
        );
    }
    take_all(&b.t);
    let none = create(&mut b, CLOCK_MONOTONIC, Some(sigev(SIGEV_NONE, 0, 0, 0))).unwrap();
    let armed = b.tb.timers.pending();
    settime(&mut b, none, 0, 100 * MS, 30 * MS).unwrap();
    assert_eq!(
        b.tb.timers.pending(),
        armed,
        "SIGEV_NONE arms no host timer"
    );
    b.tb.timers.advance(40 * MS);
    assert_eq!(gettime(&mut b, none), (60 * MS, 30 * MS));
    // Expired intervals are skipped over when read.
    b.tb.timers.advance(100 * MS);
    assert_eq!(gettime(&mut b, none), (20 * MS, 30 * MS));
    assert_eq!(pending(&b.t), 0);
    // A one-shot SIGEV_NONE timer reads 0 once expired.
    settime(&mut b, none, 0, 5 * MS, 0).unwrap();
    b.tb.timers.advance(6 * MS);
    assert_eq!(gettime(&mut b, none), (0, 0));
}

#[test]
fn absolute_times_on_monotonic_and_realtime() {
    let mut b = bed();
    b.tb.timers.advance(10 * SEC);
    let m = create(&mut b, CLOCK_MONOTONIC, Some(sigev(SIGEV_NONE, 0, 0, 0))).unwrap();
    // An absolute time in the past: expired at once, intervals counted.
    settime(&mut b, m, TIMER_ABSTIME, 4 * SEC + 500 * MS, 3 * SEC).unwrap();
    assert_eq!(gettime(&mut b, m), (500 * MS, 3 * SEC));
    let r = create(
        &mut b,
        CLOCK_REALTIME,
        Some(sigev(SIGEV_SIGNAL, SIGUSR1, 0, 0)),
    )
    .unwrap();
    let real_now = ns(&b.tb.kernel.clock.realtime());
    settime(&mut b, r, TIMER_ABSTIME, real_now + 2 * SEC, 0).unwrap();
    let (left, _) = gettime(&mut b, r);
    assert_eq!(left, 2 * SEC);
    b.tb.timers.advance(2 * SEC - 1);
    assert_eq!(pending(&b.t), 0);
    b.tb.timers.advance(1);
    assert_eq!(pending(&b.t), crate::signal::bit(SIGUSR1));
    // Re-setting reports the old setting.
    let mono = create(&mut b, CLOCK_BOOTTIME, None).unwrap();
    settime(&mut b, mono, 0, 3 * SEC, SEC).unwrap();
    b.tb.timers.advance(SEC);
    b.t.mm
        .write_obj(UserAddr(b.buf + 0x300), &its(0, 0))
        .unwrap();
    sys(
        &mut b.t,
        TIMER_SETTIME,
        [mono as u64, 0, b.buf + 0x300, b.buf + 0x380, 0, 0],
    )
    .unwrap();
    let old: Itimerspec = b.t.mm.read_obj(UserAddr(b.buf + 0x380)).unwrap();
    assert_eq!((ns(&old.it_value), ns(&old.it_interval)), (2 * SEC, SEC));
    assert_eq!(gettime(&mut b, mono), (0, 0));
}

#[test]
fn timer_call_errors() {
    let mut b = bed();
    assert_eq!(create(&mut b, 100, None), Err(Errno::EINVAL));
    assert_eq!(
        create(&mut b, CLOCK_MONOTONIC_RAW, None),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(
        create(&mut b, CLOCK_MONOTONIC_COARSE, None),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(
        create(&mut b, CLOCK_MONOTONIC, Some(sigev(7, SIGUSR1, 0, 0))),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        create(&mut b, CLOCK_MONOTONIC, Some(sigev(SIGEV_SIGNAL, 0, 0, 0))),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        create(&mut b, CLOCK_MONOTONIC, Some(sigev(SIGEV_SIGNAL, 65, 0, 0))),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        create(
            &mut b,
            CLOCK_MONOTONIC,
            Some(sigev(SIGEV_THREAD_ID, SIGUSR1, 0, 999))
        ),
        Err(Errno::EINVAL)
    );
    // SIGEV_NONE ignores the signal number.
    assert!(create(&mut b, CLOCK_MONOTONIC, Some(sigev(SIGEV_NONE, 0, 0, 0))).is_ok());
    assert_eq!(
        sys(&mut b.t, TIMER_CREATE, [1, 8, b.buf, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    // A bad id pointer: EFAULT, and the timer is not kept.
    let before = b.t.tg.pm.timers.posix.lock().len();
    assert_eq!(
        sys(&mut b.t, TIMER_CREATE, [1, 0, 8, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(b.t.tg.pm.timers.posix.lock().len(), before);
    // A CPU clock of another process is refused.
    let other = (!77i32 << 3) as i64 as u64;
    assert_eq!(
        sys(&mut b.t, TIMER_CREATE, [other, 0, b.buf, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    let id = create(&mut b, CLOCK_MONOTONIC, None).unwrap();
    assert_eq!(
        sys(&mut b.t, TIMER_SETTIME, [id as u64, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut b.t, TIMER_SETTIME, [id as u64, 0, 8, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    let mut bad = its(SEC, 0);
    bad.it_value.tv_nsec = 1_000_000_000;
    b.t.mm.write_obj(UserAddr(b.buf + 0x300), &bad).unwrap();
    assert_eq!(
        sys(
            &mut b.t,
            TIMER_SETTIME,
            [id as u64, 0, b.buf + 0x300, 0, 0, 0]
        ),
        Err(Errno::EINVAL)
    );
    bad.it_value.tv_nsec = 0;
    bad.it_value.tv_sec = -1;
    b.t.mm.write_obj(UserAddr(b.buf + 0x300), &bad).unwrap();
    assert_eq!(
        sys(
            &mut b.t,
            TIMER_SETTIME,
            [id as u64, 0, b.buf + 0x300, 0, 0, 0]
        ),
        Err(Errno::EINVAL)
    );
    assert_eq!(settime(&mut b, 4242, 0, SEC, 0), Err(Errno::EINVAL));
    assert_eq!(
        sys(&mut b.t, TIMER_GETTIME, [4242, b.buf, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut b.t, TIMER_GETTIME, [id as u64, 8, 0, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        sys(&mut b.t, TIMER_GETOVERRUN, [4242, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut b.t, TIMER_DELETE, [u32::MAX as u64, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    // The alarm clocks need CAP_WAKE_ALARM.
    let mut user = b.tb.task_as(Credentials::new(1000, 1000, Vec::new()));
    user.mm = b.t.mm.clone();
    assert_eq!(
        sys(
            &mut user,
            TIMER_CREATE,
            [CLOCK_REALTIME_ALARM as u64, 0, b.buf, 0, 0, 0]
        ),
        Err(Errno::EPERM)
    );
}

#[test]
fn a_forged_si_timer_is_left_alone() {
    let b = bed();
    let mut info = Siginfo {
        signo: SIGUSR1,
        code: SI_TIMER,
        ..Siginfo::default()
    };
    info.fields[0] = 5 | (9 << 32);
    let before = info;
    dequeued(&b.t.tg, &mut info);
    assert_eq!(info, before);
}

#[test]
fn exec_deletes_posix_timers_and_exit_stops_all() {
    let mut b = bed();
    let id = create(&mut b, CLOCK_MONOTONIC, None).unwrap();
    settime(&mut b, id, 0, SEC, SEC).unwrap();
    sys(&mut b.t, ALARM, [100, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!(b.tb.timers.pending(), 2);
    crate::process::on_exec(&mut b.t);
    assert_eq!(
        sys(&mut b.t, TIMER_GETOVERRUN, [id as u64, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(b.tb.timers.pending(), 1, "ITIMER_REAL survives exec");
    crate::process::group_exited(&b.tb.kernel, &b.t.tg);
    assert_eq!(b.tb.timers.pending(), 0);
    b.tb.timers.advance(200 * SEC);
    assert_eq!(pending(&b.t), 0);
}

fn tfd_settime(b: &mut Bed, fd: i32, flags: u32, value: u64, interval: u64) -> Result<u64, Errno> {
    b.t.mm
        .write_obj(UserAddr(b.buf + 0x300), &its(value, interval))
        .unwrap();
    sys(
        &mut b.t,
        TIMERFD_SETTIME,
        [fd as u64, flags as u64, b.buf + 0x300, 0, 0, 0],
    )
}

fn tfd_read(b: &mut Bed, fd: i32) -> Result<u64, Errno> {
    let n = sys(&mut b.t, READ, [fd as u64, b.buf + 0x400, 8, 0, 0, 0])?;
    assert_eq!(n, 8);
    Ok(b.t.mm.read_obj::<u64>(UserAddr(b.buf + 0x400)).unwrap())
}

fn poll_in(b: &Bed, fd: i32) -> bool {
    b.t.fds.file(fd).unwrap().ops.poll() & POLLIN != 0
}

#[test]
fn timerfd_counts_expirations() {
    let mut b = bed();
    let fd = sys(
        &mut b.t,
        TIMERFD_CREATE,
        [
            CLOCK_MONOTONIC as u64,
            (TFD_NONBLOCK | TFD_CLOEXEC) as u64,
            0,
            0,
            0,
            0,
        ],
    )
    .unwrap() as i32;
    assert!(b.t.fds.get(fd).unwrap().cloexec);
    assert_eq!(tfd_read(&mut b, fd), Err(Errno::EAGAIN));
    assert!(!poll_in(&b, fd));
    tfd_settime(&mut b, fd, 0, SEC, SEC).unwrap();
    assert_eq!(b.tb.timers.pending(), 1);
    b.tb.timers.advance(3 * SEC + 500 * MS);
    // Fired once to wake readers, then left alone until read.
    assert_eq!(b.tb.timers.pending(), 0);
    assert!(poll_in(&b, fd));
    assert_eq!(tfd_read(&mut b, fd), Ok(3));
    assert_eq!(tfd_read(&mut b, fd), Err(Errno::EAGAIN));
    assert_eq!(b.tb.timers.pending(), 1);
    sys(
        &mut b.t,
        TIMERFD_GETTIME,
        [fd as u64, b.buf + 0x380, 0, 0, 0, 0],
    )
    .unwrap();
    let cur: Itimerspec = b.t.mm.read_obj(UserAddr(b.buf + 0x380)).unwrap();
    assert_eq!((ns(&cur.it_value), ns(&cur.it_interval)), (500 * MS, SEC));
    // A read into 4 bytes: EINVAL, nothing consumed.
    b.tb.timers.advance(SEC);
    assert_eq!(
        sys(&mut b.t, READ, [fd as u64, b.buf, 4, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(tfd_read(&mut b, fd), Ok(1));
    // Settime resets the count and reports the old setting.
    b.tb.timers.advance(2 * SEC);
    b.t.mm
        .write_obj(UserAddr(b.buf + 0x300), &its(0, 0))
        .unwrap();
    sys(
        &mut b.t,
        TIMERFD_SETTIME,
        [fd as u64, 0, b.buf + 0x300, b.buf + 0x380, 0, 0],
    )
    .unwrap();
    let old: Itimerspec = b.t.mm.read_obj(UserAddr(b.buf + 0x380)).unwrap();
    assert_eq!((ns(&old.it_value), ns(&old.it_interval)), (500 * MS, SEC));
    assert_eq!(tfd_read(&mut b, fd), Err(Errno::EAGAIN));
    assert_eq!(b.tb.timers.pending(), 0);
    // Absolute, on the realtime clock.
    let rfd = sys(
        &mut b.t,
        TIMERFD_CREATE,
        [CLOCK_REALTIME as u64, TFD_NONBLOCK as u64, 0, 0, 0, 0],
    )
    .unwrap() as i32;
    let real = ns(&b.tb.kernel.clock.realtime());
    tfd_settime(&mut b, rfd, TFD_TIMER_ABSTIME, real + 2 * SEC, 0).unwrap();
    b.tb.timers.advance(2 * SEC - 1);
    assert!(!poll_in(&b, rfd));
    b.tb.timers.advance(1);
    assert_eq!(tfd_read(&mut b, rfd), Ok(1));
    // Closing cancels the host timer.
    tfd_settime(&mut b, rfd, 0, SEC, SEC).unwrap();
    assert_eq!(b.tb.timers.pending(), 1);
    sys(&mut b.t, CLOSE, [rfd as u64, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!(b.tb.timers.pending(), 0);
}

#[test]
fn timerfd_errors() {
    let mut b = bed();
    assert_eq!(
        sys(
            &mut b.t,
            TIMERFD_CREATE,
            [CLOCK_MONOTONIC as u64, 1, 0, 0, 0, 0]
        ),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(
            &mut b.t,
            TIMERFD_CREATE,
            [CLOCK_PROCESS_CPUTIME_ID as u64, 0, 0, 0, 0, 0]
        ),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut b.t, TIMERFD_CREATE, [u64::MAX, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    let fd = sys(
        &mut b.t,
        TIMERFD_CREATE,
        [CLOCK_BOOTTIME as u64, 0, 0, 0, 0, 0],
    )
    .unwrap() as i32;
    assert_eq!(tfd_settime(&mut b, fd, 4, SEC, 0), Err(Errno::EINVAL));
    assert_eq!(
        sys(&mut b.t, TIMERFD_SETTIME, [fd as u64, 0, 8, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(tfd_settime(&mut b, 99, 0, SEC, 0), Err(Errno::EBADF));
    let (r, _w) = {
        sys(&mut b.t, PIPE2, [b.buf + 0x500, 0, 0, 0, 0, 0]).unwrap();
        let fds: [i32; 2] = b.t.mm.read_obj(UserAddr(b.buf + 0x500)).unwrap();
        (fds[0], fds[1])
    };
    assert_eq!(tfd_settime(&mut b, r, 0, SEC, 0), Err(Errno::EINVAL));
    assert_eq!(
        sys(&mut b.t, TIMERFD_GETTIME, [r as u64, b.buf, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut b.t, TIMERFD_GETTIME, [fd as u64, 8, 0, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        sys(&mut b.t, WRITE, [fd as u64, b.buf, 8, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
}

#[test]
fn cpu_timers_follow_user_time() {
    let mut b = bed();
    let v = Itimerval {
        it_interval: Timeval::default(),
        it_value: Timeval {
            tv_sec: 0,
            tv_usec: 50_000,
        },
    };
    b.t.mm.write_obj(UserAddr(b.buf), &v).unwrap();
    sys(
        &mut b.t,
        SETITIMER,
        [ITIMER_VIRTUAL as u64, b.buf, 0, 0, 0, 0],
    )
    .unwrap();
    // Nothing armed while no thread runs the application.
    assert_eq!(b.tb.timers.pending(), 0);
    b.tb.timers.advance(SEC);
    assert_eq!(pending(&b.t), 0);
    // 30 ms in the application, then a trap.
    let start = crate::process::user_enter(&b.t);
    assert_eq!(b.tb.timers.pending(), 1, "the CPU tick");
    b.tb.timers.advance(30 * MS);
    crate::process::user_exit(&b.t, start);
    assert_eq!(pending(&b.t), 0);
    sys(
        &mut b.t,
        GETITIMER,
        [ITIMER_VIRTUAL as u64, b.buf + 64, 0, 0, 0, 0],
    )
    .unwrap();
    let cur: Itimerval = b.t.mm.read_obj(UserAddr(b.buf + 64)).unwrap();
    assert_eq!(cur.it_value.tv_usec, 20_000);
    // Back in the application: the tick fires while it runs.
    let start = crate::process::user_enter(&b.t);
    b.tb.timers.advance(25 * MS);
    assert_eq!(pending(&b.t), crate::signal::bit(SIGVTALRM));
    crate::process::user_exit(&b.t, start);
    let got = take_all(&b.t);
    assert_eq!((got[0].signo, got[0].code), (SIGVTALRM, SI_KERNEL));
    // One-shot: nothing more armed once the tick runs again.
    let start = crate::process::user_enter(&b.t);
    b.tb.timers.advance(SEC);
    crate::process::user_exit(&b.t, start);
    assert_eq!(pending(&b.t), 0);
    assert_eq!(b.tb.timers.pending(), 0);
    // A thread CPU-time POSIX timer.
    let id = create(
        &mut b,
        CLOCK_THREAD_CPUTIME_ID,
        Some(sigev(SIGEV_SIGNAL, SIGUSR1, 3, 0)),
    )
    .unwrap();
    settime(&mut b, id, 0, 10 * MS, 10 * MS).unwrap();
    let start = crate::process::user_enter(&b.t);
    b.tb.timers.advance(35 * MS);
    crate::process::user_exit(&b.t, start);
    let got = take_all(&b.t);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].code, SI_TIMER);
    assert!((got[0].fields[0] >> 32) as i32 >= 1, "overruns counted");
    // CLOCK_PROCESS_CPUTIME_ID reads what was accounted.
    sys(
        &mut b.t,
        CLOCK_GETTIME,
        [CLOCK_PROCESS_CPUTIME_ID as u64, b.buf + 0x600, 0, 0, 0, 0],
    )
    .unwrap();
    let cpu: Timespec = b.t.mm.read_obj(UserAddr(b.buf + 0x600)).unwrap();
    assert!(ns(&cpu) >= SEC + 90 * MS, "{cpu:?}");
}
