//! Kernel timers: the interval timers (alarm, setitimer), POSIX timers
//! (timer_create and friends) and timerfds ([`timerfd`]).
//!
//! # How a timer runs
//!
//! Core cannot sleep or make threads, so a timer on a wall clock arms a
//! one-shot host timer through the embedder's
//! [`TimerService`](crate::host::TimerService) for its next expiration;
//! the service calls back on its own thread, and the callback does the
//! work (queues the signal, wakes the timerfd's readers) and arms the
//! next expiration of an interval timer. Every arm carries a generation
//! number: a callback that lost a race with a re-arm or a delete sees a
//! stale generation and does nothing, so `cancel` need not be exact.
//!
//! Expirations are counted arithmetically ([`Schedule::expire`]): a
//! callback that comes late (or a timer whose interval is shorter than
//! the host can keep up with) counts every interval that passed, so no
//! expiration is lost; re-arms of an interval timer are spaced by at
//! least [`MIN_REARM_NS`] to bound the host's work.
//!
//! CLOCK_REALTIME timers run on the monotonic clock: an absolute
//! CLOCK_REALTIME expiration is converted when the timer is set, and a
//! later change of the host's wall clock is not followed. BOOTTIME is
//! MONOTONIC (a sandbox does not see suspend).
//!
//! # CPU-time timers
//!
//! ITIMER_VIRTUAL (user time), ITIMER_PROF and POSIX timers on
//! CLOCK_PROCESS_CPUTIME_ID / CLOCK_THREAD_CPUTIME_ID (user + system
//! time) count the CPU time [`crate::process`] accounts. One host timer
//! per process (the "CPU tick") watches them: it is armed for the wall
//! time at which the earliest one could expire if every running thread
//! kept running (at least 1 ms away), checks them when it fires and arms
//! again. It is armed only while a thread of the process is in the
//! application: a process that sleeps costs nothing.
//!
//! # Signals
//!
//! A POSIX timer's signal carries SI_TIMER, the timer id, its sigev_value
//! and the overrun count. As in Linux, while a timer's signal is queued
//! and not yet delivered, further expirations only count as overruns;
//! delivery (the dequeue hook [`dequeued`], called by
//! [`crate::signal::dequeue`]) reports them in `si_overrun` and makes them
//! what timer_getoverrun answers. The interval timers send SIGALRM,
//! SIGVTALRM and SIGPROF with SI_KERNEL to the process.
//!
//! Left out: TFD_TIMER_CANCEL_ON_SET (accepted, never cancels), the
//! `_ALARM` clocks' wake-ups (they need CAP_WAKE_ALARM and then behave as
//! their base clocks), CPU-clock timers on other processes' clocks
//! (EINVAL), and dropping a deleted timer's queued signal (delivered, as
//! kernels before 6.13 do).

#[cfg(test)]
mod tests;
pub mod timerfd;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, AtomicU8, Ordering};

use spin::Mutex;
use veil_abi::flags::*;
use veil_abi::{Errno, Siginfo};

use crate::host::TimerId;
use crate::kernel::Kernel;
use crate::process::mono_ns;
use crate::signal::{bit, Dest};
use crate::task::{Pid, ThreadGroup};

/// The shortest spacing of two host arms of one interval timer.
pub const MIN_REARM_NS: u64 = 100_000;
/// The shortest wait of the CPU tick.
const MIN_TICK_NS: u64 = 1_000_000;
/// Marks a siginfo queued by a POSIX timer (in `si_sys_private`), so that
/// the dequeue hook ignores a forged SI_TIMER.
const TIMER_MARK: u64 = 0x7e11_7e11;
/// The most POSIX timers one process may have.
pub const MAX_POSIX_TIMERS: usize = 4096;

/// When a timer next expires and how often it repeats, in nanoseconds of
/// its clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// The next expiration; `None` when disarmed.
    pub next: Option<u64>,
    /// The period; 0 for a one-shot timer.
    pub interval: u64,
}

impl Schedule {
    /// Counts the expirations at or before `now` and moves `next` past
    /// `now` (a one-shot timer disarms).
    pub fn expire(&mut self, now: u64) -> u64 {
        let Some(next) = self.next else {
            return 0;
        };
        if now < next {
            return 0;
        }
        if self.interval == 0 {
            self.next = None;
            return 1;
        }
        let n = (now - next) / self.interval + 1;
        self.next = next.checked_add(n.saturating_mul(self.interval));
        n
    }

    /// Time left until the next expiration: 0 when disarmed, and 1 ns
    /// for one that is due but not yet handled (as Linux reports it).
    pub fn remaining(&self, now: u64) -> u64 {
        self.next.map_or(0, |n| n.saturating_sub(now).max(1))
    }
}

/// The host timer currently armed for one object, and the generation
/// that tells its callback from stale ones.
#[derive(Default)]
pub(crate) struct Alarm {
    id: Option<TimerId>,
    gen: u64,
}

impl Alarm {
    /// Cancels the armed host timer, if any; pending callbacks go stale.
    pub(crate) fn cancel(&mut self, kernel: &Kernel) {
        if let Some(id) = self.id.take() {
            if let Some(s) = kernel.timers() {
                s.cancel(id);
            }
        }
        self.gen = self.gen.wrapping_add(1);
    }

    /// Arms a host timer for `deadline` that calls `f` with this arm's
    /// generation (replacing the one armed before).
    pub(crate) fn arm(
        &mut self,
        kernel: &Kernel,
        deadline: u64,
        f: impl FnOnce(u64) + Send + 'static,
    ) {
        self.cancel(kernel);
        let gen = self.gen;
        match kernel.timers() {
            Some(s) => self.id = Some(s.arm(deadline, Box::new(move || f(gen)))),
            None => kernel
                .note_unsupported("timers: the embedder gave no TimerService; timers never expire"),
        }
    }

    /// True if a callback of generation `gen` is the current one; it then
    /// owns the firing (the host timer is spent).
    pub(crate) fn take(&mut self, gen: u64) -> bool {
        if gen != self.gen {
            return false;
        }
        self.id = None;
        true
    }
}

/// What a timer's time is measured on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerClock {
    /// The monotonic clock (MONOTONIC, BOOTTIME, and REALTIME after
    /// conversion).
    Wall,
    /// The process's user time (ITIMER_VIRTUAL).
    ProcessUser,
    /// The process's user + system time (ITIMER_PROF,
    /// CLOCK_PROCESS_CPUTIME_ID).
    ProcessCpu,
    /// One thread's user + system time (CLOCK_THREAD_CPUTIME_ID).
    ThreadCpu(Pid),
}

impl TimerClock {
    /// True for the CPU-time clocks.
    pub fn is_cpu(self) -> bool {
        self != TimerClock::Wall
    }
}

/// What an expiration does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notify {
    /// Nothing (SIGEV_NONE): the timer is only read.
    None,
    /// Queue a signal.
    Signal {
        /// The signal.
        signo: i32,
        /// The thread it goes to (SIGEV_THREAD_ID), else the process.
        tid: Option<Pid>,
        /// sigev_value.
        value: u64,
        /// SI_TIMER (POSIX timers) or SI_KERNEL (interval timers).
        code: i32,
    },
}

struct TimerState {
    sched: Schedule,
    alarm: Alarm,
    /// The signal is queued and not yet delivered.
    queued: bool,
    /// Expirations since the queued signal was sent.
    overrun_acc: u64,
    /// timer_getoverrun's answer.
    overrun_last: i32,
    /// Deleted (or its process exited): never fires again.
    dead: bool,
}

/// A timer that signals: an interval timer or a POSIX timer.
pub struct SigTimer {
    /// The POSIX timer id (-1 for the interval timers).
    pub id: i32,
    /// What it measures.
    pub clock: TimerClock,
    /// Absolute times given to it are CLOCK_REALTIME times (converted to
    /// the monotonic clock when set).
    pub realtime: bool,
    /// What it does.
    pub notify: Notify,
    kernel: Weak<Kernel>,
    tg: Weak<ThreadGroup>,
    st: Mutex<TimerState>,
}

impl SigTimer {
    /// A disarmed timer of `tg`.
    pub fn new(
        kernel: &Arc<Kernel>,
        tg: &Arc<ThreadGroup>,
        id: i32,
        clock: TimerClock,
        notify: Notify,
    ) -> Arc<SigTimer> {
        Arc::new(SigTimer {
            id,
            clock,
            realtime: false,
            notify,
            kernel: Arc::downgrade(kernel),
            tg: Arc::downgrade(tg),
            st: Mutex::new(TimerState {
                sched: Schedule::default(),
                alarm: Alarm::default(),
                queued: false,
                overrun_acc: 0,
                overrun_last: 0,
                dead: false,
            }),
        })
    }

    /// The current time of the timer's clock, in nanoseconds.
    pub fn now(&self, kernel: &Kernel, tg: &ThreadGroup) -> u64 {
        clock_now(kernel, tg, self.clock)
    }

    /// Sets the timer: the first expiration at `first` (nanoseconds of its
    /// clock; `None` disarms) and then every `interval`. Returns the
    /// previous (time left, interval). Overruns are reset.
    pub fn set(self: &Arc<Self>, first: Option<u64>, interval: u64) -> (u64, u64) {
        let (Some(kernel), Some(tg)) = (self.kernel.upgrade(), self.tg.upgrade()) else {
            return (0, 0);
        };
        let now = self.now(&kernel, &tg);
        let mut st = self.st.lock();
        if self.notify == Notify::None {
            st.sched.expire(now);
        }
        let old = (st.sched.remaining(now), st.sched.interval);
        st.alarm.cancel(&kernel);
        if st.dead {
            return old;
        }
        st.sched = Schedule {
            next: first,
            interval: if first.is_some() { interval } else { 0 },
        };
        st.overrun_acc = 0;
        st.overrun_last = 0;
        let cpu = self.arm_locked(&kernel, &mut st, now);
        drop(st);
        if cpu {
            cpu_register(&kernel, &tg, self);
        }
        old
    }

    /// (time left, interval) now.
    pub fn get(&self) -> (u64, u64) {
        let (Some(kernel), Some(tg)) = (self.kernel.upgrade(), self.tg.upgrade()) else {
            return (0, 0);
        };
        let now = self.now(&kernel, &tg);
        let mut st = self.st.lock();
        if self.notify == Notify::None {
            st.sched.expire(now);
        }
        (st.sched.remaining(now), st.sched.interval)
    }

    /// The overrun count of the last delivered signal (timer_getoverrun).
    pub fn overrun(&self) -> i32 {
        self.st.lock().overrun_last
    }

    /// Disarms for good.
    pub fn stop(&self) {
        let mut st = self.st.lock();
        st.dead = true;
        st.sched = Schedule::default();
        if let Some(k) = self.kernel.upgrade() {
            st.alarm.cancel(&k);
        }
    }

    /// True if armed.
    pub fn armed(&self) -> bool {
        self.st.lock().sched.next.is_some()
    }

    /// Arms whatever makes the next expiration happen: a host timer for a
    /// wall-clock timer that notifies. True if the timer is a CPU-time one
    /// the process's CPU tick must watch (the caller registers it once the
    /// timer's lock is dropped).
    fn arm_locked(self: &Arc<Self>, kernel: &Kernel, st: &mut TimerState, now: u64) -> bool {
        let Some(next) = st.sched.next else {
            return false;
        };
        if self.notify == Notify::None {
            return false;
        }
        if self.clock.is_cpu() {
            return true;
        }
        let deadline = if st.sched.interval > 0 && st.sched.interval < MIN_REARM_NS {
            next.max(now.saturating_add(MIN_REARM_NS))
        } else {
            next
        };
        let me = Arc::downgrade(self);
        st.alarm.arm(kernel, deadline, move |gen| {
            if let Some(t) = me.upgrade() {
                t.fire(Some(gen));
            }
        });
        false
    }

    /// An expiration may be due: counts it, sends the signal (or counts an
    /// overrun while the last one is still queued) and arms the next one.
    /// `gen` is the generation of a host-timer callback (checked), `None`
    /// for the CPU tick.
    pub fn fire(self: &Arc<Self>, gen: Option<u64>) {
        let (Some(kernel), Some(tg)) = (self.kernel.upgrade(), self.tg.upgrade()) else {
            return;
        };
        let now = self.now(&kernel, &tg);
        let mut st = self.st.lock();
        if st.dead || gen.is_some_and(|g| !st.alarm.take(g)) {
            return;
        }
        let n = st.sched.expire(now);
        let mut send = None;
        if n > 0 {
            if let Notify::Signal {
                signo,
                tid,
                value,
                code,
            } = self.notify
            {
                if code == SI_TIMER && st.queued && still_queued(&tg, signo, tid) {
                    st.overrun_acc = st.overrun_acc.saturating_add(n);
                } else {
                    let mut info = Siginfo {
                        signo,
                        code,
                        ..Siginfo::default()
                    };
                    if code == SI_TIMER {
                        st.queued = true;
                        st.overrun_acc = n - 1;
                        info.fields[0] = self.id as u32 as u64;
                        info.fields[1] = value;
                        info.fields[2] = TIMER_MARK;
                    }
                    send = Some((info, tid));
                }
            }
        }
        if !self.clock.is_cpu() {
            self.arm_locked(&kernel, &mut st, now);
        }
        drop(st);
        if let Some((info, tid)) = send {
            let dest = tid.map_or(Dest::Group, Dest::Thread);
            let _ = crate::signal::send(&kernel, &tg, dest, info, false, None);
        }
    }

    /// The dequeue side of [`fire`](Self::fire): the queued signal is being
    /// delivered; returns the overrun count it reports.
    fn delivered(&self) -> i32 {
        let mut st = self.st.lock();
        let ov = if st.queued {
            st.queued = false;
            st.overrun_acc.min(DELAYTIMER_MAX as u64) as i32
        } else {
            0
        };
        st.overrun_acc = 0;
        st.overrun_last = ov;
        ov
    }
}

/// True if `signo` is still pending where a timer sent it.
fn still_queued(tg: &ThreadGroup, signo: i32, tid: Option<Pid>) -> bool {
    let g = tg.signals.lock();
    let pending = match tid {
        Some(t) => g.find(t).map_or(0, |th| th.pending.pending()),
        None => g.shared.pending(),
    };
    pending & bit(signo) != 0
}

/// The time of `clock` for `tg`, in nanoseconds.
pub fn clock_now(kernel: &Kernel, tg: &ThreadGroup, clock: TimerClock) -> u64 {
    let now = mono_ns(kernel);
    match clock {
        TimerClock::Wall => now,
        TimerClock::ProcessUser => tg.pm.times(now).utime,
        TimerClock::ProcessCpu => tg.pm.times(now).total(),
        TimerClock::ThreadCpu(tid) => tg.pm.thread_times(tid, now).total(),
    }
}

/// A signal a POSIX timer queued is being delivered (called by
/// [`crate::signal::dequeue`] for SI_TIMER siginfo): fills in
/// `si_overrun` and lets the timer queue its next signal.
pub fn dequeued(tg: &ThreadGroup, info: &mut Siginfo) {
    if info.fields[2] != TIMER_MARK {
        return;
    }
    info.fields[2] = 0;
    let id = info.fields[0] as u32 as i32;
    let Some(t) = tg.pm.timers.posix.lock().get(&id).cloned() else {
        return;
    };
    let ov = t.delivered();
    info.fields[0] = (id as u32 as u64) | ((ov as u32 as u64) << 32);
}

// -------------------------------------------------------------------------
// A process's timers

/// CPU-tick states.
const CPU_NONE: u8 = 0;
const CPU_TICKING: u8 = 1;
const CPU_IDLE: u8 = 2;

#[derive(Default)]
struct CpuTimers {
    timers: Vec<Weak<SigTimer>>,
    alarm: Alarm,
}

/// The timers of one process.
#[derive(Default)]
pub struct ProcTimers {
    /// ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF (made when first set).
    itimers: Mutex<[Option<Arc<SigTimer>>; 3]>,
    posix: Mutex<BTreeMap<i32, Arc<SigTimer>>>,
    next_id: AtomicI32,
    cpu: Mutex<CpuTimers>,
    cpu_state: AtomicU8,
}

/// Interval timer `which` of `tg`, if it was ever set.
pub fn itimer(tg: &ThreadGroup, which: u32) -> Option<Arc<SigTimer>> {
    tg.pm
        .timers
        .itimers
        .lock()
        .get(which as usize)
        .cloned()
        .flatten()
}

/// Interval timer `which` (ITIMER_REAL, _VIRTUAL or _PROF) of `tg`,
/// made if needed.
pub fn itimer_or_new(
    kernel: &Arc<Kernel>,
    tg: &Arc<ThreadGroup>,
    which: u32,
) -> Result<Arc<SigTimer>, Errno> {
    let (clock, signo) = match which {
        ITIMER_REAL => (TimerClock::Wall, SIGALRM),
        ITIMER_VIRTUAL => (TimerClock::ProcessUser, SIGVTALRM),
        ITIMER_PROF => (TimerClock::ProcessCpu, SIGPROF),
        _ => return Err(Errno::EINVAL),
    };
    let mut its = tg.pm.timers.itimers.lock();
    let slot = &mut its[which as usize];
    if let Some(t) = slot {
        return Ok(t.clone());
    }
    let notify = Notify::Signal {
        signo,
        tid: None,
        value: 0,
        code: SI_KERNEL,
    };
    let t = SigTimer::new(kernel, tg, -1, clock, notify);
    *slot = Some(t.clone());
    Ok(t)
}

/// Makes a POSIX timer of `tg` on `clock` (`realtime`: absolute times are
/// CLOCK_REALTIME's); `notify` gets the new id (for the default
/// sigev_value). `EAGAIN` past [`MAX_POSIX_TIMERS`].
pub fn create_posix(
    kernel: &Arc<Kernel>,
    tg: &Arc<ThreadGroup>,
    clock: TimerClock,
    realtime: bool,
    notify: impl FnOnce(i32) -> Notify,
) -> Result<Arc<SigTimer>, Errno> {
    let mut map = tg.pm.timers.posix.lock();
    if map.len() >= MAX_POSIX_TIMERS {
        return Err(Errno::EAGAIN);
    }
    // Ids count up from 0 and are not reused until they wrap.
    let mut id = tg.pm.timers.next_id.fetch_add(1, Ordering::Relaxed) & i32::MAX;
    while map.contains_key(&id) {
        id = tg.pm.timers.next_id.fetch_add(1, Ordering::Relaxed) & i32::MAX;
    }
    let mut t = SigTimer::new(kernel, tg, id, clock, notify(id));
    if let Some(m) = Arc::get_mut(&mut t) {
        m.realtime = realtime;
    }
    map.insert(id, t.clone());
    Ok(t)
}

/// POSIX timer `id` of `tg` (`EINVAL` if there is none).
pub fn posix_timer(tg: &ThreadGroup, id: i32) -> Result<Arc<SigTimer>, Errno> {
    tg.pm
        .timers
        .posix
        .lock()
        .get(&id)
        .cloned()
        .ok_or(Errno::EINVAL)
}

/// Deletes POSIX timer `id` (`EINVAL` if there is none).
pub fn delete_posix(tg: &ThreadGroup, id: i32) -> Result<(), Errno> {
    let t = tg.pm.timers.posix.lock().remove(&id).ok_or(Errno::EINVAL)?;
    t.stop();
    Ok(())
}

/// Deletes every POSIX timer of `tg` (execve).
pub fn delete_posix_timers(tg: &ThreadGroup) {
    let all = core::mem::take(&mut *tg.pm.timers.posix.lock());
    for t in all.values() {
        t.stop();
    }
}

/// Stops every timer of `tg` (the process exited).
pub fn stop_all(kernel: &Kernel, tg: &ThreadGroup) {
    delete_posix_timers(tg);
    let its: Vec<Arc<SigTimer>> = tg
        .pm
        .timers
        .itimers
        .lock()
        .iter()
        .flatten()
        .cloned()
        .collect();
    for t in its {
        t.stop();
    }
    let mut cpu = tg.pm.timers.cpu.lock();
    cpu.timers.clear();
    cpu.alarm.cancel(kernel);
    tg.pm.timers.cpu_state.store(CPU_NONE, Ordering::Relaxed);
}

// -------------------------------------------------------------------------
// The CPU tick

/// A CPU-time timer of `tg` was armed (called without the timer's lock):
/// the tick watches it, from the next switch into the application, or at
/// once if it is already ticking (the new timer may be the earliest).
fn cpu_register(kernel: &Arc<Kernel>, tg: &Arc<ThreadGroup>, t: &Arc<SigTimer>) {
    {
        let mut cpu = tg.pm.timers.cpu.lock();
        cpu.timers.retain(|w| w.strong_count() > 0);
        let w = Arc::downgrade(t);
        if !cpu.timers.iter().any(|x| Weak::ptr_eq(x, &w)) {
            cpu.timers.push(w);
        }
    }
    let state = &tg.pm.timers.cpu_state;
    if state
        .compare_exchange(CPU_NONE, CPU_IDLE, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
        && state.load(Ordering::Acquire) == CPU_TICKING
    {
        schedule_tick(kernel, tg);
    }
}

/// A thread of `tg` is entering the application (from the run loop):
/// starts the CPU tick if CPU-time timers wait for it.
pub fn cpu_user_enter(kernel: &Arc<Kernel>, tg: &Arc<ThreadGroup>) {
    let state = &tg.pm.timers.cpu_state;
    if state.load(Ordering::Relaxed) == CPU_IDLE
        && state
            .compare_exchange(CPU_IDLE, CPU_TICKING, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    {
        schedule_tick(kernel, tg);
    }
}

/// Arms the CPU tick for the earliest CPU-time expiration (the state is
/// CPU_TICKING); with none armed, the state goes back to CPU_NONE.
fn schedule_tick(kernel: &Arc<Kernel>, tg: &Arc<ThreadGroup>) {
    let timers: Vec<Arc<SigTimer>> = tg
        .pm
        .timers
        .cpu
        .lock()
        .timers
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    let mut wait = u64::MAX;
    let mut live = Vec::new();
    for t in &timers {
        let next = t.st.lock().sched.next;
        if let Some(n) = next {
            wait = wait.min(n.saturating_sub(t.now(kernel, tg)));
            live.push(Arc::downgrade(t));
        }
    }
    let running = tg.pm.running_threads().max(1) as u64;
    let mut cpu = tg.pm.timers.cpu.lock();
    // Timers registered meanwhile stay; disarmed ones go.
    cpu.timers.retain(|w| {
        live.iter().any(|l| Weak::ptr_eq(l, w))
            || !timers
                .iter()
                .any(|t| core::ptr::eq(Arc::as_ptr(t), w.as_ptr()))
    });
    if wait == u64::MAX {
        cpu.alarm.cancel(kernel);
        let next = if cpu.timers.is_empty() {
            CPU_NONE
        } else {
            CPU_IDLE
        };
        tg.pm.timers.cpu_state.store(next, Ordering::Release);
        return;
    }
    let deadline = mono_ns(kernel).saturating_add((wait / running).max(MIN_TICK_NS));
    let weak_tg = Arc::downgrade(tg);
    let weak_k = Arc::downgrade(kernel);
    cpu.alarm.arm(kernel, deadline, move |gen| {
        if let (Some(tg), Some(k)) = (weak_tg.upgrade(), weak_k.upgrade()) {
            cpu_tick(&k, &tg, gen);
        }
    });
}

/// The CPU tick fired: checks the CPU-time timers, then ticks again while
/// a thread runs, or goes idle until one enters the application.
fn cpu_tick(kernel: &Arc<Kernel>, tg: &Arc<ThreadGroup>, gen: u64) {
    let timers: Vec<Arc<SigTimer>> = {
        let mut cpu = tg.pm.timers.cpu.lock();
        if !cpu.alarm.take(gen) {
            return;
        }
        cpu.timers.iter().filter_map(Weak::upgrade).collect()
    };
    for t in &timers {
        t.fire(None);
    }
    let state = &tg.pm.timers.cpu_state;
    state.store(CPU_IDLE, Ordering::Release);
    // A thread that entered the application before the store saw
    // CPU_TICKING and did not start the tick: start it for it.
    if tg.pm.running_threads() > 0
        && state
            .compare_exchange(CPU_IDLE, CPU_TICKING, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    {
        schedule_tick(kernel, tg);
    }
}
