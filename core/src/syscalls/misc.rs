//! Process identity, limits, time, randomness, uname, and the other small
//! calls a program makes while starting: everything that is neither file
//! nor memory. The signal calls are in [`super::signal`]; nanosleep and
//! clock_nanosleep use its restart machinery. Process groups are in
//! [`super::pgrp`], credential changes in [`super::creds`], scheduling,
//! getrusage, times and prctl in [`super::sched`], timers in
//! [`super::timers`].

use alloc::vec;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, Rlimit, Sysinfo, Timespec, Timeval, Utsname};

use super::arg;
use super::Handler;
use crate::host::WakeReason;
use crate::process::{mono_ns, ns_ts, valid_ns};
use crate::task::{ExitStatus, Task};
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        GETPID => sys_getpid,
        GETPPID => sys_getppid,
        GETTID => sys_gettid,
        GETUID => |t, _| Ok(t.creds.uid as u64),
        GETEUID => |t, _| Ok(t.creds.euid as u64),
        GETGID => |t, _| Ok(t.creds.gid as u64),
        GETEGID => |t, _| Ok(t.creds.egid as u64),
        GETRESUID => sys_getresuid,
        GETRESGID => sys_getresgid,
        GETGROUPS => sys_getgroups,
        EXIT => sys_exit,
        EXIT_GROUP => sys_exit_group,
        ARCH_PRCTL => sys_arch_prctl,
        SET_TID_ADDRESS => sys_set_tid_address,
        RSEQ => sys_rseq,
        PRLIMIT64 => sys_prlimit64,
        GETRLIMIT => sys_getrlimit,
        SETRLIMIT => sys_setrlimit,
        GETRANDOM => sys_getrandom,
        UNAME => sys_uname,
        CLOCK_GETTIME => sys_clock_gettime,
        CLOCK_GETRES => sys_clock_getres,
        GETTIMEOFDAY => sys_gettimeofday,
        TIME => sys_time,
        NANOSLEEP => sys_nanosleep,
        CLOCK_NANOSLEEP => sys_clock_nanosleep,
        SYSINFO => sys_sysinfo,
        _ => return None,
    })
}

fn sys_getpid(t: &mut Task, _a: &[u64; 6]) -> SysResult {
    Ok(t.pid() as u64)
}

fn sys_getppid(t: &mut Task, _a: &[u64; 6]) -> SysResult {
    Ok(*t.tg.ppid.lock() as u64)
}

fn sys_gettid(t: &mut Task, _a: &[u64; 6]) -> SysResult {
    Ok(t.tid as u64)
}

fn put_ids(t: &Task, a: &[u64; 6], ids: [u32; 3]) -> SysResult {
    for (i, id) in ids.iter().enumerate() {
        t.mm.write_obj(UserAddr(a[i]), id)?;
    }
    Ok(0)
}

fn sys_getresuid(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let c = &t.creds;
    put_ids(t, a, [c.uid, c.euid, c.suid])
}

fn sys_getresgid(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let c = &t.creds;
    put_ids(t, a, [c.gid, c.egid, c.sgid])
}

fn sys_getgroups(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let size = arg::int(a[0]);
    let n = t.creds.groups.len();
    if size < 0 {
        return Err(Errno::EINVAL);
    }
    if size == 0 {
        return Ok(n as u64);
    }
    if (size as usize) < n {
        return Err(Errno::EINVAL);
    }
    let mut bytes = vec![0u8; n * 4];
    for (i, g) in t.creds.groups.iter().enumerate() {
        bytes[i * 4..i * 4 + 4].copy_from_slice(&g.to_ne_bytes());
    }
    t.mm.copy_out(UserAddr(a[1]), &bytes)?;
    Ok(n as u64)
}

fn sys_exit(t: &mut Task, a: &[u64; 6]) -> SysResult {
    t.exit_thread(ExitStatus::Exited(a[0] as i32 & 0xff));
    Ok(0)
}

fn sys_exit_group(t: &mut Task, a: &[u64; 6]) -> SysResult {
    t.exit_group(ExitStatus::Exited(a[0] as i32 & 0xff));
    Ok(0)
}

/// Linux's TASK_SIZE_MAX: an fs/gs base at or above it is refused (EPERM).
const TASK_SIZE_MAX: u64 = 0x7fff_ffff_f000;

fn sys_arch_prctl(t: &mut Task, a: &[u64; 6]) -> SysResult {
    match a[0] {
        ARCH_SET_FS | ARCH_SET_GS => {
            if a[1] >= TASK_SIZE_MAX {
                return Err(Errno::EPERM);
            }
            if a[0] == ARCH_SET_FS {
                t.cpu.regs.fs_base = a[1];
            } else {
                t.cpu.regs.gs_base = a[1];
            }
            Ok(0)
        }
        ARCH_GET_FS => {
            t.mm.write_obj(UserAddr(a[1]), &t.cpu.regs.fs_base)?;
            Ok(0)
        }
        ARCH_GET_GS => {
            t.mm.write_obj(UserAddr(a[1]), &t.cpu.regs.gs_base)?;
            Ok(0)
        }
        // CPUID faulting is not offered: report it enabled, refuse changes.
        ARCH_GET_CPUID => Ok(1),
        ARCH_SET_CPUID => Err(Errno::ENODEV),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_set_tid_address(t: &mut Task, a: &[u64; 6]) -> SysResult {
    t.clear_child_tid = a[0];
    Ok(t.tid as u64)
}

/// Restartable sequences are not offered; glibc and musl fall back to
/// getcpu when registration fails with ENOSYS. Served on purpose, so that
/// it is not reported as a gap.
fn sys_rseq(_t: &mut Task, _a: &[u64; 6]) -> SysResult {
    Err(Errno::ENOSYS)
}

fn sys_prlimit64(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let pid = arg::int(a[0]);
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    if pid != 0 && pid != t.pid() {
        return Err(Errno::ESRCH);
    }
    let resource = arg::uint(a[1]);
    if resource >= RLIM_NLIMITS {
        return Err(Errno::EINVAL);
    }
    let new = if a[2] != 0 {
        let r: Rlimit = t.mm.read_obj(UserAddr(a[2]))?;
        if r.cur > r.max {
            return Err(Errno::EINVAL);
        }
        Some(r)
    } else {
        None
    };
    let old = t.tg.rlimits.lock()[resource as usize];
    if let Some(r) = new {
        // Raising the hard limit needs CAP_SYS_RESOURCE.
        if r.max > old.max && t.creds.euid != 0 {
            return Err(Errno::EPERM);
        }
        if resource == RLIMIT_NOFILE && r.max > NR_OPEN {
            return Err(Errno::EPERM);
        }
    }
    if a[3] != 0 {
        t.mm.write_obj(UserAddr(a[3]), &old)?;
    }
    if let Some(r) = new {
        t.tg.rlimits.lock()[resource as usize] = r;
    }
    Ok(0)
}

/// Linux's fs.nr_open default.
const NR_OPEN: u64 = 1 << 20;

fn sys_getrlimit(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let resource = arg::uint(a[0]);
    if resource >= RLIM_NLIMITS {
        return Err(Errno::EINVAL);
    }
    let r = t.tg.rlimits.lock()[resource as usize];
    t.mm.write_obj(UserAddr(a[1]), &r)?;
    Ok(0)
}

fn sys_setrlimit(t: &mut Task, a: &[u64; 6]) -> SysResult {
    sys_prlimit64(t, &[0, a[0], a[1], 0, 0, 0])
}

fn sys_getrandom(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let flags = arg::uint(a[2]);
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == (GRND_RANDOM | GRND_INSECURE)
    {
        return Err(Errno::EINVAL);
    }
    // Linux caps one call at 32 MiB - 1 (and GRND_RANDOM at 512 bytes).
    let mut len = (a[1] as usize).min(MAX_RW_COUNT).min((32 << 20) - 1);
    if flags & GRND_RANDOM != 0 {
        len = len.min(512);
    }
    let mut buf = [0u8; 4096];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(buf.len());
        t.kernel.random.fill(&mut buf[..n]);
        if let Err(e) = t.mm.copy_out(UserAddr(a[0] + done as u64), &buf[..n]) {
            return if done == 0 { Err(e) } else { Ok(done as u64) };
        }
        done += n;
    }
    Ok(done as u64)
}

fn fill_field(dst: &mut [u8; 65], s: &str) {
    let n = s.len().min(64);
    dst[..n].copy_from_slice(&s.as_bytes()[..n]);
}

fn sys_uname(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let id = &t.kernel.identity;
    let uts = super::admin::uts_of(&t.kernel, &t.tg);
    let mut u = Utsname::default();
    fill_field(&mut u.sysname, "Linux");
    let host = uts.hostname();
    u.nodename[..host.len()].copy_from_slice(&host);
    fill_field(&mut u.release, &id.release);
    fill_field(&mut u.version, &id.version);
    fill_field(&mut u.machine, super::admin::machine(t));
    let domain = uts.domainname();
    u.domainname[..domain.len()].copy_from_slice(&domain);
    t.mm.write_obj(UserAddr(a[0]), &u)?;
    Ok(0)
}

/// The time on `clock`, or `EINVAL` for an unknown clock.
pub fn clock_now(t: &Task, clock: i32) -> Result<Timespec, Errno> {
    let c = &t.kernel.clock;
    if clock < 0 {
        // A CPU-time clock of a process or thread (veil's accounting).
        return super::sched::cpu_clock(t, clock);
    }
    // The coarse clocks move in steps of their resolution, as the vDSO
    // computes them (see crate::vdso).
    let coarse = |mut ts: Timespec| {
        ts.tv_nsec -= ts.tv_nsec % crate::vdso::COARSE_NS as i64;
        ts
    };
    Ok(match clock as u32 {
        CLOCK_REALTIME | CLOCK_TAI | CLOCK_REALTIME_ALARM => c.realtime(),
        CLOCK_REALTIME_COARSE => coarse(c.realtime()),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_BOOTTIME | CLOCK_BOOTTIME_ALARM => {
            c.monotonic()
        }
        CLOCK_MONOTONIC_COARSE => coarse(c.monotonic()),
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => super::sched::cpu_clock(t, clock)?,
        _ => return Err(Errno::EINVAL),
    })
}

fn sys_clock_gettime(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let now = clock_now(t, arg::int(a[0]))?;
    t.mm.write_obj(UserAddr(a[1]), &now)?;
    Ok(0)
}

fn sys_clock_getres(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let clock = arg::int(a[0]);
    clock_now(t, clock)?;
    let coarse = matches!(clock as u32, CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE);
    let res = Timespec {
        tv_sec: 0,
        tv_nsec: if coarse {
            crate::vdso::COARSE_NS as i64
        } else {
            1
        },
    };
    if a[1] != 0 {
        t.mm.write_obj(UserAddr(a[1]), &res)?;
    }
    Ok(0)
}

fn sys_gettimeofday(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if a[0] != 0 {
        let now = t.kernel.clock.realtime();
        let tv = Timeval {
            tv_sec: now.tv_sec,
            tv_usec: now.tv_nsec / 1000,
        };
        t.mm.write_obj(UserAddr(a[0]), &tv)?;
    }
    if a[1] != 0 {
        t.mm.write_obj(UserAddr(a[1]), &veil_abi::Timezone::default())?;
    }
    Ok(0)
}

fn sys_time(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let now = t.kernel.clock.realtime().tv_sec;
    if a[0] != 0 {
        t.mm.write_obj(UserAddr(a[0]), &now)?;
    }
    Ok(now as u64)
}

/// Sleeps until monotonic `deadline_ns`. Interrupted, an absolute sleep
/// (`abs`) answers ERESTARTNOHAND (it is simply restarted); a relative one
/// writes the time left to `rem` (if non-zero) and answers
/// ERESTART_RESTARTBLOCK, leaving a restart block so that
/// `restart_syscall` sleeps until the same deadline (EINTR if a handler
/// runs).
pub(crate) fn sleep_until(t: &mut Task, deadline_ns: u64, rem: u64, abs: bool) -> SysResult {
    loop {
        let now = mono_ns(&t.kernel);
        if now >= deadline_ns {
            return Ok(0);
        }
        match t.blocker.block(Some(deadline_ns)) {
            WakeReason::TimedOut => return Ok(0),
            WakeReason::Woken => continue,
            WakeReason::Interrupted => {
                if abs {
                    return Err(Errno::ERESTARTNOHAND);
                }
                if rem != 0 {
                    let now = mono_ns(&t.kernel);
                    t.mm.write_obj(UserAddr(rem), &ns_ts(deadline_ns.saturating_sub(now)))?;
                }
                t.signals.restart = Some(crate::signal::RestartBlock::Sleep { deadline_ns, rem });
                return Err(Errno::ERESTART_RESTARTBLOCK);
            }
        }
    }
}

fn sys_nanosleep(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let req: Timespec = t.mm.read_obj(UserAddr(a[0]))?;
    let d = valid_ns(&req)?;
    let now = mono_ns(&t.kernel);
    sleep_until(t, now.saturating_add(d), a[1], false)
}

fn sys_clock_nanosleep(t: &mut Task, a: &[u64; 6]) -> SysResult {
    const TIMER_ABSTIME: u32 = 1;
    let clock = arg::int(a[0]);
    let flags = arg::uint(a[1]);
    let req: Timespec = t.mm.read_obj(UserAddr(a[2]))?;
    let d = valid_ns(&req)?;
    let now_clock = valid_ns(&clock_now(t, clock).map_err(|_| Errno::EINVAL)?)?;
    if clock as u32 == CLOCK_THREAD_CPUTIME_ID {
        return Err(Errno::EINVAL);
    }
    let mono = mono_ns(&t.kernel);
    let deadline = if flags & TIMER_ABSTIME != 0 {
        mono.saturating_add(d.saturating_sub(now_clock))
    } else {
        mono.saturating_add(d)
    };
    let abs = flags & TIMER_ABSTIME != 0;
    let rem = if abs { 0 } else { a[3] };
    sleep_until(t, deadline, rem, abs)
}

fn sys_sysinfo(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let id = &t.kernel.identity;
    let up = t.kernel.clock.monotonic();
    let free = id
        .total_memory
        .saturating_sub(t.kernel.mf.resident().unwrap_or(0));
    let info = Sysinfo {
        uptime: up.tv_sec + (up.tv_nsec != 0) as i64,
        totalram: id.total_memory,
        freeram: free,
        procs: 1,
        mem_unit: 1,
        ..Default::default()
    };
    t.mm.write_obj(UserAddr(a[0]), &info)?;
    Ok(0)
}
