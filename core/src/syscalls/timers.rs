//! The timer system calls: alarm, setitimer, getitimer, the POSIX timers
//! (timer_create, timer_settime, timer_gettime, timer_getoverrun,
//! timer_delete) and timerfd_create / timerfd_settime / timerfd_gettime.
//! The timers themselves are [`crate::timer`]; this file reads and checks
//! arguments in Linux's order, so that the same errno wins.

use alloc::sync::Arc;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, Itimerspec, Itimerval, Sigevent, Timeval};

use super::{arg, Handler};
use crate::process::{ns_ts, ts_ns, valid_ns};
use crate::task::{Pid, Task};
use crate::timer::timerfd::TimerFd;
use crate::timer::{self, Notify, TimerClock};
use crate::vfs::OpenFile;
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        ALARM => sys_alarm,
        SETITIMER => sys_setitimer,
        GETITIMER => sys_getitimer,
        TIMER_CREATE => sys_timer_create,
        TIMER_SETTIME => sys_timer_settime,
        TIMER_GETTIME => sys_timer_gettime,
        TIMER_GETOVERRUN => sys_timer_getoverrun,
        TIMER_DELETE => sys_timer_delete,
        TIMERFD_CREATE => sys_timerfd_create,
        TIMERFD_SETTIME => sys_timerfd_settime,
        TIMERFD_GETTIME => sys_timerfd_gettime,
        _ => return None,
    })
}

// -------------------------------------------------------------------------
// Conversions

/// A timeval as nanoseconds (`EINVAL` unless Linux's `timeval_valid`).
fn tv_ns(tv: &Timeval) -> Result<u64, Errno> {
    if tv.tv_sec < 0 || !(0..1_000_000).contains(&tv.tv_usec) {
        return Err(Errno::EINVAL);
    }
    Ok((tv.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(tv.tv_usec as u64 * 1000))
}

/// Nanoseconds as a timeval (truncated to microseconds).
fn ns_tv(ns: u64) -> Timeval {
    Timeval {
        tv_sec: (ns / 1_000_000_000) as i64,
        tv_usec: ((ns % 1_000_000_000) / 1000) as i64,
    }
}

fn itimerspec(left: u64, interval: u64) -> Itimerspec {
    Itimerspec {
        it_interval: ns_ts(interval),
        it_value: ns_ts(left),
    }
}

/// The first expiration, in nanoseconds of `clock`, of a timer set to
/// `value` (`abs`: an absolute time on the clock the program named, which
/// is the wall clock when `realtime`); `None` for a zero value (disarm).
fn first_expiry(t: &Task, clock: TimerClock, realtime: bool, value: u64, abs: bool) -> Option<u64> {
    if value == 0 {
        return None;
    }
    let now = timer::clock_now(&t.kernel, &t.tg, clock);
    if !abs {
        return Some(now.saturating_add(value));
    }
    if clock == TimerClock::Wall && realtime {
        // CLOCK_REALTIME runs on the monotonic clock: convert.
        let real = ts_ns(&t.kernel.clock.realtime()) as i128;
        let at = now as i128 + (value as i128 - real);
        return Some(at.clamp(0, u64::MAX as i128) as u64);
    }
    Some(value)
}

// -------------------------------------------------------------------------
// alarm, setitimer, getitimer

fn itimer_get(t: &Task, which: u32) -> Itimerval {
    let (mut left, interval) = timer::itimer(&t.tg, which).map_or((0, 0), |it| it.get());
    if which == ITIMER_REAL && left > 0 && left < 1000 {
        // An armed real timer never reads as 0 (Linux: at least 1 us).
        left = 1000;
    }
    Itimerval {
        it_interval: ns_tv(interval),
        it_value: ns_tv(left),
    }
}

/// Sets interval timer `which`; returns the old setting.
fn itimer_set(t: &Task, which: u32, value: u64, interval: u64) -> Result<Itimerval, Errno> {
    let old = itimer_get(t, which);
    let it = timer::itimer_or_new(&t.kernel, &t.tg, which)?;
    let first = first_expiry(t, it.clock, false, value, false);
    it.set(first, interval);
    Ok(old)
}

fn sys_alarm(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let secs = arg::uint(a[0]) as u64;
    let old = itimer_set(t, ITIMER_REAL, secs * 1_000_000_000, 0)?.it_value;
    // Linux rounds the time left to the nearest second, and a timer with
    // less than a second left still reports 1.
    let mut left = old.tv_sec as u64;
    if (old.tv_sec == 0 && old.tv_usec != 0) || old.tv_usec >= 500_000 {
        left += 1;
    }
    Ok(left)
}

fn sys_setitimer(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let which = arg::int(a[0]);
    let (value, interval) = if a[1] != 0 {
        let v: Itimerval = t.mm.read_obj(UserAddr(a[1]))?;
        (tv_ns(&v.it_value)?, tv_ns(&v.it_interval)?)
    } else {
        // A NULL new value disarms (Linux warns and accepts it).
        (0, 0)
    };
    if !(0..=2).contains(&which) {
        return Err(Errno::EINVAL);
    }
    let old = itimer_set(t, which as u32, value, interval)?;
    if a[2] != 0 {
        t.mm.write_obj(UserAddr(a[2]), &old)?;
    }
    Ok(0)
}

fn sys_getitimer(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let which = arg::int(a[0]);
    if !(0..=2).contains(&which) {
        return Err(Errno::EINVAL);
    }
    let v = itimer_get(t, which as u32);
    t.mm.write_obj(UserAddr(a[1]), &v)?;
    Ok(0)
}

// -------------------------------------------------------------------------
// POSIX timers

/// How `clockid` is measured for a timer: the clock, and whether absolute
/// times on it are wall-clock times. `EINVAL` for an unknown clock,
/// `EOPNOTSUPP` for one that cannot carry timers, `EPERM` for the alarm
/// clocks without CAP_WAKE_ALARM.
fn timer_clock(t: &Task, clockid: i32) -> Result<(TimerClock, bool), Errno> {
    if clockid < 0 {
        // A CPU-time clock: (~pid << 3) | perthread << 2 | which.
        let which = clockid & 3;
        if which == 3 {
            return Err(Errno::EINVAL);
        }
        let pid: Pid = !clockid >> 3;
        let clock = if clockid & 4 != 0 {
            let tid = if pid == 0 { t.tid } else { pid };
            let ours = t.tg.signals.lock().find(tid).is_some_and(|th| !th.exited);
            if !ours {
                return Err(Errno::EINVAL);
            }
            TimerClock::ThreadCpu(tid)
        } else {
            if pid != 0 && pid != t.pid() {
                return Err(Errno::EINVAL);
            }
            if which == 1 {
                TimerClock::ProcessUser
            } else {
                TimerClock::ProcessCpu
            }
        };
        return Ok((clock, false));
    }
    Ok(match clockid as u32 {
        CLOCK_REALTIME | CLOCK_TAI => (TimerClock::Wall, true),
        CLOCK_MONOTONIC | CLOCK_BOOTTIME => (TimerClock::Wall, false),
        CLOCK_REALTIME_ALARM | CLOCK_BOOTTIME_ALARM => {
            if !t.creds.capable(CAP_WAKE_ALARM) {
                return Err(Errno::EPERM);
            }
            (TimerClock::Wall, clockid as u32 == CLOCK_REALTIME_ALARM)
        }
        CLOCK_PROCESS_CPUTIME_ID => (TimerClock::ProcessCpu, false),
        CLOCK_THREAD_CPUTIME_ID => (TimerClock::ThreadCpu(t.tid), false),
        CLOCK_MONOTONIC_RAW | CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE => {
            return Err(Errno::EOPNOTSUPP)
        }
        _ => return Err(Errno::EINVAL),
    })
}

/// Linux's `good_sigevent`: what a sigevent asks for (`EINVAL` if bad).
fn sigevent_notify(t: &Task, ev: &Sigevent) -> Result<Notify, Errno> {
    let signal = |tid: Option<Pid>| {
        if ev.sigev_signo <= 0 || ev.sigev_signo > NSIG {
            return Err(Errno::EINVAL);
        }
        Ok(Notify::Signal {
            signo: ev.sigev_signo,
            tid,
            value: ev.sigev_value,
            code: SI_TIMER,
        })
    };
    match ev.sigev_notify {
        SIGEV_NONE => Ok(Notify::None),
        SIGEV_SIGNAL | SIGEV_THREAD => signal(None),
        n if n == SIGEV_SIGNAL | SIGEV_THREAD_ID => {
            let tid = ev.sigev_tid;
            let ours = tid > 0 && t.tg.signals.lock().find(tid).is_some_and(|th| !th.exited);
            if !ours {
                return Err(Errno::EINVAL);
            }
            signal(Some(tid))
        }
        _ => Err(Errno::EINVAL),
    }
}

fn sys_timer_create(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let clockid = arg::int(a[0]);
    let ev: Option<Sigevent> = if a[1] != 0 {
        Some(t.mm.read_obj(UserAddr(a[1]))?)
    } else {
        None
    };
    let (clock, realtime) = timer_clock(t, clockid)?;
    let notify = match &ev {
        Some(e) => Some(sigevent_notify(t, e)?),
        None => None,
    };
    let timer = timer::create_posix(&t.kernel, &t.tg, clock, realtime, |id| {
        notify.unwrap_or(Notify::Signal {
            signo: SIGALRM,
            tid: None,
            value: id as u32 as u64,
            code: SI_TIMER,
        })
    })?;
    if let Err(e) = t.mm.write_obj(UserAddr(a[2]), &timer.id) {
        let _ = timer::delete_posix(&t.tg, timer.id);
        return Err(e);
    }
    Ok(0)
}

fn sys_timer_settime(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let id = arg::int(a[0]);
    let flags = arg::uint(a[1]);
    if a[2] == 0 {
        return Err(Errno::EINVAL);
    }
    let new: Itimerspec = t.mm.read_obj(UserAddr(a[2]))?;
    let interval = valid_ns(&new.it_interval)?;
    let value = valid_ns(&new.it_value)?;
    let timer = timer::posix_timer(&t.tg, id)?;
    let first = first_expiry(
        t,
        timer.clock,
        timer.realtime,
        value,
        flags & TIMER_ABSTIME != 0,
    );
    let (left, iv) = timer.set(first, interval);
    if a[3] != 0 {
        t.mm.write_obj(UserAddr(a[3]), &itimerspec(left, iv))?;
    }
    Ok(0)
}

fn sys_timer_gettime(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let timer = timer::posix_timer(&t.tg, arg::int(a[0]))?;
    let (left, iv) = timer.get();
    t.mm.write_obj(UserAddr(a[1]), &itimerspec(left, iv))?;
    Ok(0)
}

fn sys_timer_getoverrun(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let timer = timer::posix_timer(&t.tg, arg::int(a[0]))?;
    Ok(timer.overrun() as u64)
}

fn sys_timer_delete(t: &mut Task, a: &[u64; 6]) -> SysResult {
    timer::delete_posix(&t.tg, arg::int(a[0]))?;
    Ok(0)
}

// -------------------------------------------------------------------------
// timerfd

fn sys_timerfd_create(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let clockid = arg::int(a[0]);
    let flags = arg::uint(a[1]);
    if flags & !(TFD_CLOEXEC | TFD_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    match clockid as u32 {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME => {}
        CLOCK_REALTIME_ALARM | CLOCK_BOOTTIME_ALARM if clockid >= 0 => {
            if !t.creds.capable(CAP_WAKE_ALARM) {
                return Err(Errno::EPERM);
            }
        }
        _ => return Err(Errno::EINVAL),
    }
    let tfd = TimerFd::new(&t.kernel, clockid as u32);
    let file = OpenFile::new(tfd, None, O_RDWR | (flags & O_NONBLOCK));
    super::file::install(t, file, flags & TFD_CLOEXEC != 0)
}

/// The timerfd behind `fd` (`EBADF`, or `EINVAL` for another file).
fn timerfd(t: &Task, fd: i32) -> Result<Arc<OpenFile>, Errno> {
    let f = t.fds.file(fd)?;
    if f.ops.as_any().downcast_ref::<TimerFd>().is_none() {
        return Err(Errno::EINVAL);
    }
    Ok(f)
}

fn sys_timerfd_settime(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let fd = arg::fd(a[0]);
    let flags = arg::uint(a[1]);
    let new: Itimerspec = t.mm.read_obj(UserAddr(a[2]))?;
    if flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(Errno::EINVAL);
    }
    let interval = valid_ns(&new.it_interval)?;
    let value = valid_ns(&new.it_value)?;
    let file = timerfd(t, fd)?;
    let Some(tfd) = file.ops.as_any().downcast_ref::<TimerFd>() else {
        return Err(Errno::EINVAL);
    };
    let realtime = matches!(tfd.clockid, CLOCK_REALTIME | CLOCK_REALTIME_ALARM);
    let first = first_expiry(
        t,
        TimerClock::Wall,
        realtime,
        value,
        flags & TFD_TIMER_ABSTIME != 0,
    );
    let (left, iv) = tfd.set(first, interval);
    if a[3] != 0 {
        t.mm.write_obj(UserAddr(a[3]), &itimerspec(left, iv))?;
    }
    Ok(0)
}

fn sys_timerfd_gettime(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let file = timerfd(t, arg::fd(a[0]))?;
    let Some(tfd) = file.ops.as_any().downcast_ref::<TimerFd>() else {
        return Err(Errno::EINVAL);
    };
    let (left, iv) = tfd.get();
    t.mm.write_obj(UserAddr(a[1]), &itimerspec(left, iv))?;
    Ok(0)
}
