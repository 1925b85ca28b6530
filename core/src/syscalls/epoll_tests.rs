//! Tests of epoll, eventfd and signalfd on the fake platform: argument
//! checks, level / edge / one-shot reporting, pipe hang-ups, interest
//! ending with the description, nesting and its limits, the wait queue
//! plumbing, and a real sleep woken from another thread.

use alloc::sync::Arc;
extern crate std;
use alloc::vec;
use alloc::vec::Vec;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{EpollEvent, Errno, Pollfd, SignalfdSiginfo, Timespec};

use crate::fake::{FakeBlocker, TestBed};
use crate::host::{Blocker, WakeReason};
use crate::platform::Prot;
use crate::task::Task;
use crate::vfs::epoll::Epoll;
use crate::UserAddr;

const SCRATCH: u64 = 1 << 20;

fn setup() -> (TestBed, Task) {
    let bed = TestBed::new();
    let mut t = bed.task();
    let base =
        t.mm.mmap(
            UserAddr(0),
            SCRATCH,
            Prot::READ | Prot::WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            None,
        )
        .expect("scratch memory");
    t.cpu.regs.r15 = base.0;
    (bed, t)
}

/// Scratch area `n` (64 KiB each).
fn area(t: &Task, n: u64) -> u64 {
    t.cpu.regs.r15 + n * 65536
}

fn call(t: &mut Task, nr: u64, args: &[u64]) -> Result<u64, Errno> {
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    let h = crate::syscalls::lookup(nr).expect("served");
    h(t, &a)
}

fn pipe(t: &mut Task, flags: u32) -> (i32, i32) {
    let at = area(t, 0);
    call(t, PIPE2, &[at, flags as u64]).unwrap();
    let fds: [i32; 2] = t.mm.read_obj(UserAddr(at)).unwrap();
    (fds[0], fds[1])
}

fn epoll(t: &mut Task) -> i32 {
    call(t, EPOLL_CREATE1, &[0]).unwrap() as i32
}

fn ctl(t: &mut Task, ep: i32, op: u32, fd: i32, events: u32, data: u64) -> Result<u64, Errno> {
    let at = area(t, 1);
    let e = EpollEvent {
        events,
        data: data.to_le_bytes(),
    };
    t.mm.write_obj(UserAddr(at), &e).unwrap();
    call(t, EPOLL_CTL, &[ep as u64, op as u64, fd as u64, at])
}

fn add(t: &mut Task, ep: i32, fd: i32, events: u32, data: u64) {
    ctl(t, ep, EPOLL_CTL_ADD, fd, events, data).unwrap();
}

fn wait(t: &mut Task, ep: i32, max: i32, timeout: i32) -> Result<Vec<(u32, u64)>, Errno> {
    let at = area(t, 2);
    let n = call(
        t,
        EPOLL_WAIT,
        &[ep as u64, at, max as u64, timeout as i64 as u64],
    )?;
    Ok((0..n)
        .map(|i| {
            let e: EpollEvent = t.mm.read_obj(UserAddr(at + i * 12)).unwrap();
            (e.events, u64::from_le_bytes(e.data))
        })
        .collect())
}

fn write(t: &mut Task, fd: i32, data: &[u8]) -> Result<u64, Errno> {
    let at = area(t, 3);
    t.mm.copy_out(UserAddr(at), data).unwrap();
    call(t, WRITE, &[fd as u64, at, data.len() as u64])
}

fn read(t: &mut Task, fd: i32, n: u64) -> Result<Vec<u8>, Errno> {
    let at = area(t, 4);
    let got = call(t, READ, &[fd as u64, at, n])?;
    let mut v = vec![0u8; got as usize];
    t.mm.copy_in(UserAddr(at), &mut v).unwrap();
    Ok(v)
}

fn close(t: &mut Task, fd: i32) {
    call(t, CLOSE, &[fd as u64]).unwrap();
}

fn open_file(bed: &TestBed, t: &mut Task, name: &str) -> i32 {
    bed.add_file(name, b"data", 0o644);
    let at = area(t, 5);
    let mut p = name.as_bytes().to_vec();
    p.push(0);
    t.mm.copy_out(UserAddr(at), &p).unwrap();
    call(t, OPEN, &[at, O_RDWR as u64, 0]).unwrap() as i32
}

#[test]
fn create_flags() {
    let (_bed, mut t) = setup();
    assert_eq!(call(&mut t, EPOLL_CREATE, &[0]), Err(Errno::EINVAL));
    assert_eq!(
        call(&mut t, EPOLL_CREATE, &[(-1i64) as u64]),
        Err(Errno::EINVAL)
    );
    let a = call(&mut t, EPOLL_CREATE, &[1]).unwrap();
    assert_eq!(call(&mut t, FCNTL, &[a, F_GETFD as u64]), Ok(0));
    assert_eq!(call(&mut t, EPOLL_CREATE1, &[1]), Err(Errno::EINVAL));
    let b = call(&mut t, EPOLL_CREATE1, &[EPOLL_CLOEXEC as u64]).unwrap();
    assert_eq!(
        call(&mut t, FCNTL, &[b, F_GETFD as u64]),
        Ok(FD_CLOEXEC as u64)
    );
    assert_eq!(call(&mut t, FCNTL, &[b, F_GETFL as u64]), Ok(O_RDWR as u64));
    // An epoll fd is neither read nor written.
    assert_eq!(read(&mut t, b as i32, 8), Err(Errno::EINVAL));
    assert_eq!(write(&mut t, b as i32, b"x"), Err(Errno::EINVAL));
    assert_eq!(call(&mut t, LSEEK, &[b, 0, 0]), Err(Errno::ESPIPE));
}

#[test]
fn ctl_errors() {
    let (bed, mut t) = setup();
    let ep = epoll(&mut t);
    let (r, w) = pipe(&mut t, 0);
    let reg = open_file(&bed, &mut t, "regular");
    assert_eq!(
        ctl(&mut t, 99, EPOLL_CTL_ADD, r, EPOLLIN, 0),
        Err(Errno::EBADF)
    );
    assert_eq!(
        ctl(&mut t, ep, EPOLL_CTL_ADD, 99, EPOLLIN, 0),
        Err(Errno::EBADF)
    );
    assert_eq!(
        ctl(&mut t, ep, EPOLL_CTL_ADD, reg, EPOLLIN, 0),
        Err(Errno::EPERM)
    );
    assert_eq!(
        ctl(&mut t, r, EPOLL_CTL_ADD, w, EPOLLIN, 0),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        ctl(&mut t, ep, EPOLL_CTL_ADD, ep, EPOLLIN, 0),
        Err(Errno::EINVAL)
    );
    assert_eq!(ctl(&mut t, ep, 0, r, EPOLLIN, 0), Err(Errno::EINVAL));
    assert_eq!(ctl(&mut t, ep, 4, r, EPOLLIN, 0), Err(Errno::EINVAL));
    assert_eq!(
        ctl(&mut t, ep, EPOLL_CTL_MOD, r, EPOLLIN, 0),
        Err(Errno::ENOENT)
    );
    assert_eq!(ctl(&mut t, ep, EPOLL_CTL_DEL, r, 0, 0), Err(Errno::ENOENT));
    // A bad event pointer faults, except for DEL, which reads none.
    assert_eq!(
        call(
            &mut t,
            EPOLL_CTL,
            &[ep as u64, EPOLL_CTL_ADD as u64, r as u64, 8]
        ),
        Err(Errno::EFAULT)
    );
    add(&mut t, ep, r, EPOLLIN, 1);
    assert_eq!(
        ctl(&mut t, ep, EPOLL_CTL_ADD, r, EPOLLIN, 0),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        call(
            &mut t,
            EPOLL_CTL,
            &[ep as u64, EPOLL_CTL_DEL as u64, r as u64, 8]
        ),
        Ok(0)
    );
    // EPOLLEXCLUSIVE: not with MOD, not with other bits, never MODded.
    assert_eq!(
        ctl(
            &mut t,
            ep,
            EPOLL_CTL_ADD,
            r,
            EPOLLIN | EPOLLPRI | EPOLLEXCLUSIVE,
            0
        ),
        Err(Errno::EINVAL)
    );
    add(&mut t, ep, r, EPOLLIN | EPOLLEXCLUSIVE, 0);
    assert_eq!(
        ctl(&mut t, ep, EPOLL_CTL_MOD, r, EPOLLIN | EPOLLEXCLUSIVE, 0),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        ctl(&mut t, ep, EPOLL_CTL_MOD, r, EPOLLIN, 0),
        Err(Errno::EINVAL)
    );
    let ep2 = epoll(&mut t);
    assert_eq!(
        ctl(&mut t, ep2, EPOLL_CTL_ADD, ep, EPOLLIN | EPOLLEXCLUSIVE, 0),
        Err(Errno::EINVAL)
    );
}

#[test]
fn wait_argument_checks() {
    let (_bed, mut t) = setup();
    let ep = epoll(&mut t);
    let (r, _w) = pipe(&mut t, 0);
    let at = area(&t, 2);
    let w = |t: &mut Task, fd: i32, addr: u64, max: i64| {
        call(t, EPOLL_WAIT, &[fd as u64, addr, max as u64, 0])
    };
    assert_eq!(w(&mut t, ep, at, 0), Err(Errno::EINVAL));
    assert_eq!(w(&mut t, ep, at, -1), Err(Errno::EINVAL));
    assert_eq!(w(&mut t, ep, at, i32::MAX as i64), Err(Errno::EINVAL));
    assert_eq!(w(&mut t, ep, u64::MAX - 8, 1), Err(Errno::EFAULT));
    assert_eq!(w(&mut t, 99, at, 1), Err(Errno::EBADF));
    assert_eq!(w(&mut t, r, at, 1), Err(Errno::EINVAL));
    assert_eq!(w(&mut t, ep, at, 1), Ok(0));
    // pwait's mask size, pwait2's timespec.
    let mask = area(&t, 6);
    t.mm.write_obj(UserAddr(mask), &0u64).unwrap();
    assert_eq!(
        call(&mut t, EPOLL_PWAIT, &[ep as u64, at, 1, 0, mask, 4]),
        Err(Errno::EINVAL)
    );
    let ts = area(&t, 7);
    t.mm.write_obj(
        UserAddr(ts),
        &Timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000_000,
        },
    )
    .unwrap();
    assert_eq!(
        call(&mut t, EPOLL_PWAIT2, &[ep as u64, at, 1, ts, 0, 8]),
        Err(Errno::EINVAL)
    );
    t.mm.write_obj(UserAddr(ts), &Timespec::default()).unwrap();
    assert_eq!(
        call(&mut t, EPOLL_PWAIT2, &[ep as u64, at, 1, ts, 0, 8]),
        Ok(0)
    );
    // The mask is back after a wait that was not interrupted.
    t.mm.write_obj(UserAddr(mask), &crate::signal::bit(SIGUSR1))
        .unwrap();
    assert_eq!(
        call(&mut t, EPOLL_PWAIT, &[ep as u64, at, 1, 0, mask, 8]),
        Ok(0)
    );
    assert_eq!(t.sigmask, 0);
    // A wait with a timeout times out; one without is ended (the fake
    // blocker never sleeps) and restarts.
    assert_eq!(wait(&mut t, ep, 4, 10).unwrap(), vec![]);
    assert_eq!(wait(&mut t, ep, 4, -1), Err(Errno::ERESTARTNOHAND));
}

#[test]
fn level_triggered_pipe() {
    let (_bed, mut t) = setup();
    let ep = epoll(&mut t);
    let (r, w) = pipe(&mut t, 0);
    add(&mut t, ep, r, EPOLLIN, 7);
    add(&mut t, ep, w, EPOLLOUT, 8);
    assert_eq!(wait(&mut t, ep, 8, 0).unwrap(), vec![(EPOLLOUT, 8)]);
    write(&mut t, w, b"hello").unwrap();
    assert_eq!(
        wait(&mut t, ep, 8, 0).unwrap(),
        vec![(EPOLLOUT, 8), (EPOLLIN, 7)]
    );
    // Still ready: reported again, round-robin.
    assert_eq!(
        wait(&mut t, ep, 8, 0).unwrap(),
        vec![(EPOLLOUT, 8), (EPOLLIN, 7)]
    );
    assert_eq!(read(&mut t, r, 100).unwrap(), b"hello");
    assert_eq!(wait(&mut t, ep, 8, 0).unwrap(), vec![(EPOLLOUT, 8)]);
    // MOD changes the mask and the data.
    ctl(&mut t, ep, EPOLL_CTL_MOD, w, EPOLLIN, 9).unwrap();
    assert_eq!(wait(&mut t, ep, 8, 0).unwrap(), vec![]);
    ctl(&mut t, ep, EPOLL_CTL_DEL, w, 0, 0).unwrap();
    assert_eq!(Epoll::of(&t.fds.file(ep).unwrap()).unwrap().len(), 1);
}

#[test]
fn maxevents_round_robin() {
    let (_bed, mut t) = setup();
    let ep = epoll(&mut t);
    let mut ends = Vec::new();
    for i in 0..3 {
        let (r, w) = pipe(&mut t, 0);
        write(&mut t, w, b"x").unwrap();
        add(&mut t, ep, r, EPOLLIN, i);
        ends.push((r, w));
    }
    let got = |t: &mut Task| -> Vec<u64> {
        wait(t, ep, 2, 0)
            .unwrap()
            .into_iter()
            .map(|e| e.1)
            .collect()
    };
    assert_eq!(got(&mut t), vec![0, 1]);
    assert_eq!(got(&mut t), vec![2, 0]);
    assert_eq!(got(&mut t), vec![1, 2]);
}

#[test]
fn edge_triggered_and_oneshot() {
    let (_bed, mut t) = setup();
    let ep = epoll(&mut t);
    let (r, w) = pipe(&mut t, 0);
    add(&mut t, ep, r, EPOLLIN | EPOLLET, 1);
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![]);
    write(&mut t, w, b"a").unwrap();
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![(EPOLLIN, 1)]);
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![]);
    // Every write is an edge (as Linux's pipes for epoll users).
    write(&mut t, w, b"b").unwrap();
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![(EPOLLIN, 1)]);
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![]);

    let (r2, w2) = pipe(&mut t, 0);
    add(&mut t, ep, r2, EPOLLIN | EPOLLONESHOT, 2);
    write(&mut t, w2, b"x").unwrap();
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![(EPOLLIN, 2)]);
    write(&mut t, w2, b"y").unwrap();
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![]);
    // Disarmed: not even a hang-up is reported.
    close(&mut t, w2);
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![]);
    // MOD re-arms.
    ctl(&mut t, ep, EPOLL_CTL_MOD, r2, EPOLLIN | EPOLLONESHOT, 3).unwrap();
    assert_eq!(
        wait(&mut t, ep, 4, 0).unwrap(),
        vec![(EPOLLIN | EPOLLHUP, 3)]
    );
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![]);
}

#[test]
fn pipe_hangups() {
    let (_bed, mut t) = setup();
    let ep = epoll(&mut t);
    let (r, w) = pipe(&mut t, 0);
    // HUP and ERR are reported even when not asked for.
    add(&mut t, ep, r, EPOLLRDHUP, 1);
    add(&mut t, ep, w, 0, 2);
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![]);
    close(&mut t, w);
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![(EPOLLHUP, 1)]);

    let (r, w) = pipe(&mut t, 0);
    add(&mut t, ep, w, EPOLLOUT, 3);
    close(&mut t, r);
    assert_eq!(
        wait(&mut t, ep, 4, 0).unwrap(),
        vec![(EPOLLHUP, 1), (EPOLLOUT | EPOLLERR, 3)]
    );
}

#[test]
fn interest_ends_with_the_description() {
    let (_bed, mut t) = setup();
    let ep = epoll(&mut t);
    let (r, w) = pipe(&mut t, 0);
    add(&mut t, ep, r, EPOLLIN, 1);
    // A dup keeps the description open: still reported, under the old fd.
    let d = call(&mut t, DUP, &[r as u64]).unwrap() as i32;
    close(&mut t, r);
    write(&mut t, w, b"x").unwrap();
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![(EPOLLIN, 1)]);
    assert_eq!(ctl(&mut t, ep, EPOLL_CTL_DEL, d, 0, 0), Err(Errno::ENOENT));
    // The last close ends it.
    close(&mut t, d);
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![]);
    let e = Epoll::of(&t.fds.file(ep).unwrap()).map(|e| e.len());
    assert_eq!(e, Some(0));
    // The fd number can be watched again.
    let (r2, _w2) = pipe(&mut t, 0);
    assert_eq!(r2, r);
    add(&mut t, ep, r2, EPOLLIN, 2);
    // Closing the epoll takes its watchers off the pipe's queue.
    let file = t.fds.file(w).unwrap();
    let q_watchers = || file.ops.wait_queue().map(|q| q.watcher_count());
    assert_eq!(q_watchers(), Some(0));
    let f2 = t.fds.file(r2).unwrap();
    assert_eq!(f2.ops.wait_queue().map(|q| q.watcher_count()), Some(1));
    close(&mut t, ep);
    assert_eq!(f2.ops.wait_queue().map(|q| q.watcher_count()), Some(0));
}

#[test]
fn nested_epoll_and_loops() {
    let (_bed, mut t) = setup();
    let inner = epoll(&mut t);
    let outer = epoll(&mut t);
    let (r, w) = pipe(&mut t, 0);
    add(&mut t, inner, r, EPOLLIN, 1);
    add(&mut t, outer, inner, EPOLLIN, 2);
    assert_eq!(wait(&mut t, outer, 4, 0).unwrap(), vec![]);
    write(&mut t, w, b"x").unwrap();
    assert_eq!(wait(&mut t, outer, 4, 0).unwrap(), vec![(EPOLLIN, 2)]);
    // poll() on the inner epoll sees it readable.
    let pf = area(&t, 6);
    t.mm.write_obj(
        UserAddr(pf),
        &Pollfd {
            fd: inner,
            events: POLLIN as i16,
            revents: 0,
        },
    )
    .unwrap();
    assert_eq!(call(&mut t, POLL, &[pf, 1, 0]), Ok(1));
    assert_eq!(wait(&mut t, inner, 4, 0).unwrap(), vec![(EPOLLIN, 1)]);
    read(&mut t, r, 10).unwrap();
    assert_eq!(wait(&mut t, outer, 4, 0).unwrap(), vec![]);
    // A cycle is refused.
    assert_eq!(
        ctl(&mut t, inner, EPOLL_CTL_ADD, outer, EPOLLIN, 0),
        Err(Errno::ELOOP)
    );
    // Chains: five instances nest, a sixth does not.
    let chain: Vec<i32> = (0..6).map(|_| epoll(&mut t)).collect();
    for k in 0..4 {
        add(&mut t, chain[k + 1], chain[k], EPOLLIN, 0);
    }
    assert_eq!(
        ctl(&mut t, chain[5], EPOLL_CTL_ADD, chain[4], EPOLLIN, 0),
        Err(Errno::ELOOP)
    );
    // Nor above: a parent over the top of a full chain.
    assert_eq!(
        ctl(&mut t, chain[0], EPOLL_CTL_ADD, chain[5], EPOLLIN, 0),
        Err(Errno::ELOOP)
    );
}

#[test]
fn watched_changes_wake_the_epoll_queue() {
    let (_bed, mut t) = setup();
    let ep = epoll(&mut t);
    let (r, w) = pipe(&mut t, 0);
    add(&mut t, ep, r, EPOLLIN, 1);
    let epf = t.fds.file(ep).unwrap();
    let b: Arc<dyn Blocker> = Arc::new(FakeBlocker::default());
    Epoll::of(&epf).unwrap().queue().register(&b);
    assert_eq!(b.block(Some(0)), WakeReason::TimedOut);
    write(&mut t, w, b"x").unwrap();
    assert_eq!(b.block(Some(0)), WakeReason::Woken);
    // A file without a wait queue is polled: a wait naps (times out).
    Epoll::of(&epf).unwrap().queue().unregister(&b);
}

#[test]
fn eventfd_calls() {
    let (_bed, mut t) = setup();
    assert_eq!(call(&mut t, EVENTFD2, &[0, 0x10]), Err(Errno::EINVAL));
    let e = call(&mut t, EVENTFD2, &[3, (EFD_NONBLOCK | EFD_CLOEXEC) as u64]).unwrap() as i32;
    assert_eq!(
        call(&mut t, FCNTL, &[e as u64, F_GETFL as u64]),
        Ok((O_RDWR | O_NONBLOCK) as u64)
    );
    assert_eq!(
        call(&mut t, FCNTL, &[e as u64, F_GETFD as u64]),
        Ok(FD_CLOEXEC as u64)
    );
    assert_eq!(read(&mut t, e, 4), Err(Errno::EINVAL));
    assert_eq!(read(&mut t, e, 8).unwrap(), 3u64.to_ne_bytes());
    assert_eq!(read(&mut t, e, 8), Err(Errno::EAGAIN));
    assert_eq!(write(&mut t, e, &[1, 2, 3]), Err(Errno::EINVAL));
    assert_eq!(
        write(&mut t, e, &u64::MAX.to_ne_bytes()),
        Err(Errno::EINVAL)
    );
    let ep = epoll(&mut t);
    add(&mut t, ep, e, EPOLLIN | EPOLLOUT | EPOLLET, 5);
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![(EPOLLOUT, 5)]);
    assert_eq!(write(&mut t, e, &2u64.to_ne_bytes()), Ok(8));
    assert_eq!(
        wait(&mut t, ep, 4, 0).unwrap(),
        vec![(EPOLLIN | EPOLLOUT, 5)]
    );
    assert_eq!(
        write(&mut t, e, &(u64::MAX - 1).to_ne_bytes()),
        Err(Errno::EAGAIN)
    );
    // Semaphore mode, blocking: a read of zero would wait (the fake
    // blocker ends the wait as a signal would).
    let s = call(&mut t, EVENTFD, &[1]).unwrap() as i32;
    assert_eq!(read(&mut t, s, 8).unwrap(), 1u64.to_ne_bytes());
    assert_eq!(read(&mut t, s, 8), Err(Errno::ERESTARTSYS));
    let s2 = call(&mut t, EVENTFD2, &[2, EFD_SEMAPHORE as u64]).unwrap() as i32;
    assert_eq!(read(&mut t, s2, 16).unwrap(), 1u64.to_ne_bytes());
    assert_eq!(read(&mut t, s2, 8).unwrap(), 1u64.to_ne_bytes());
}

fn sigset(t: &Task, set: u64) -> u64 {
    let at = area(t, 8);
    t.mm.write_obj(UserAddr(at), &set).unwrap();
    at
}

fn kill_self(t: &Task, sig: i32) {
    let info = crate::signal::user_info(t, sig, SI_USER);
    crate::signal::send(
        &t.kernel,
        &t.tg,
        crate::signal::Dest::Group,
        info,
        false,
        None,
    )
    .unwrap();
}

#[test]
fn signalfd_calls() {
    let (_bed, mut t) = setup();
    let usr = crate::signal::bit(SIGUSR1) | crate::signal::bit(SIGUSR2);
    crate::signal::set_mask(&mut t, usr);
    let m = sigset(&t, usr);
    assert_eq!(
        call(&mut t, SIGNALFD4, &[u64::MAX, m, 4, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        call(&mut t, SIGNALFD4, &[u64::MAX, 8, 8, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        call(&mut t, SIGNALFD4, &[u64::MAX, m, 8, 1]),
        Err(Errno::EINVAL)
    );
    let fd = call(&mut t, SIGNALFD4, &[u64::MAX, m, 8, SFD_NONBLOCK as u64]).unwrap() as i32;
    assert_eq!(read(&mut t, fd, 128), Err(Errno::EAGAIN));
    assert_eq!(read(&mut t, fd, 127), Err(Errno::EINVAL));
    let ep = epoll(&mut t);
    add(&mut t, ep, fd, EPOLLIN, 1);
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![]);
    // A signal queued wakes the queue signalfd readers sleep on.
    let b: Arc<dyn Blocker> = Arc::new(FakeBlocker::default());
    t.tg.signals.signalfd_queue().register(&b);
    kill_self(&t, SIGUSR2);
    kill_self(&t, SIGUSR1);
    assert_eq!(b.block(Some(0)), WakeReason::Woken);
    t.tg.signals.signalfd_queue().unregister(&b);
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![(EPOLLIN, 1)]);
    // Both come out in one read, lowest number first.
    let got = read(&mut t, fd, 1000).unwrap();
    assert_eq!(got.len(), 256);
    let rec = |i: usize| -> SignalfdSiginfo {
        let mut s = SignalfdSiginfo::default();
        zerocopy::IntoBytes::as_mut_bytes(&mut s).copy_from_slice(&got[i * 128..i * 128 + 128]);
        s
    };
    assert_eq!(rec(0).ssi_signo, SIGUSR1 as u32);
    assert_eq!(rec(1).ssi_signo, SIGUSR2 as u32);
    assert_eq!(rec(0).ssi_code, SI_USER);
    assert_eq!(rec(0).ssi_pid, t.pid() as u32);
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![]);
    // Signals outside the mask stay pending.
    let m1 = sigset(&t, crate::signal::bit(SIGUSR1));
    assert_eq!(call(&mut t, SIGNALFD, &[fd as u64, m1, 8]), Ok(fd as u64));
    kill_self(&t, SIGUSR2);
    assert_eq!(read(&mut t, fd, 128), Err(Errno::EAGAIN));
    assert!(t.tg.signals.lock().shared.pending() & crate::signal::bit(SIGUSR2) != 0);
    // Only a signalfd's mask can be changed.
    let (r, _w) = pipe(&mut t, 0);
    assert_eq!(
        call(&mut t, SIGNALFD4, &[r as u64, m1, 8, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(call(&mut t, SIGNALFD4, &[77, m1, 8, 0]), Err(Errno::EBADF));
}

/// A blocker that really sleeps (on a condition variable), for a wait
/// woken from another thread.
#[derive(Default)]
struct CvBlocker {
    state: std::sync::Mutex<(bool, bool)>,
    cv: std::sync::Condvar,
}

impl Blocker for CvBlocker {
    fn block(&self, deadline: Option<u64>) -> WakeReason {
        let mut g = self.state.lock().unwrap();
        loop {
            if core::mem::take(&mut g.0) {
                return WakeReason::Woken;
            }
            if core::mem::take(&mut g.1) {
                return WakeReason::Interrupted;
            }
            if deadline.is_some() {
                return WakeReason::TimedOut;
            }
            let (ng, to) = self
                .cv
                .wait_timeout(g, std::time::Duration::from_secs(10))
                .unwrap();
            g = ng;
            if to.timed_out() {
                return WakeReason::Interrupted;
            }
        }
    }
    fn wake(&self) {
        self.state.lock().unwrap().0 = true;
        self.cv.notify_all();
    }
    fn interrupt(&self) {
        self.state.lock().unwrap().1 = true;
        self.cv.notify_all();
    }
}

#[test]
fn a_sleeping_wait_is_woken_by_another_thread() {
    let (_bed, mut t) = setup();
    t.blocker = Arc::new(CvBlocker::default());
    let outer = epoll(&mut t);
    let inner = epoll(&mut t);
    let (r, w) = pipe(&mut t, 0);
    let e = call(&mut t, EVENTFD2, &[0, 0]).unwrap() as i32;
    add(&mut t, inner, r, EPOLLIN, 1);
    add(&mut t, outer, inner, EPOLLIN, 2);
    add(&mut t, outer, e, EPOLLIN, 3);
    let wf = t.fds.file(w).unwrap();
    let ef = t.fds.file(e).unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        wf.ops.write(b"x", 0).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        ef.ops.write(&1u64.to_ne_bytes(), 0).unwrap();
    });
    assert_eq!(wait(&mut t, outer, 4, -1).unwrap(), vec![(EPOLLIN, 2)]);
    read(&mut t, r, 1).unwrap();
    assert_eq!(wait(&mut t, outer, 4, -1).unwrap(), vec![(EPOLLIN, 3)]);
    writer.join().unwrap();
}

/// A file with no wait queue whose readiness a test sets (as a host fd).
struct Flag(core::sync::atomic::AtomicU32);

impl crate::vfs::FileOps for Flag {
    fn read(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EAGAIN)
    }
    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EAGAIN)
    }
    fn seekable(&self) -> bool {
        false
    }
    fn poll(&self) -> u32 {
        self.0.load(core::sync::atomic::Ordering::SeqCst)
    }
    fn as_any(&self) -> &dyn core::any::Any {
        self
    }
}

#[test]
fn files_without_a_queue_are_polled() {
    use core::sync::atomic::{AtomicU32, Ordering};
    let (bed, mut t) = setup();
    let flag = Arc::new(Flag(AtomicU32::new(0)));
    let file = crate::vfs::OpenFile::new(flag.clone(), None, O_RDWR);
    let fd = t.fds.insert(0, file, false, 1024).unwrap();
    let ep = epoll(&mut t);
    let outer = epoll(&mut t);
    add(&mut t, ep, fd, EPOLLIN, 1);
    add(&mut t, outer, ep, EPOLLIN, 2);
    let epf = t.fds.file(ep).unwrap();
    let (ev, polled) = Epoll::of(&epf).unwrap().collect(4);
    assert!(ev.is_empty() && polled);
    // The outer instance must poll too, through the nested one.
    let of = t.fds.file(outer).unwrap();
    assert!(Epoll::of(&of).unwrap().collect(4).1);
    // A wait naps until its deadline.
    let before = bed.clock.now();
    assert_eq!(wait(&mut t, ep, 4, 30).unwrap(), vec![]);
    assert!(bed.clock.now() >= before + 30_000_000);
    flag.0.store(POLLIN, Ordering::SeqCst);
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![(EPOLLIN, 1)]);
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![(EPOLLIN, 1)]);
    assert_eq!(wait(&mut t, outer, 4, 0).unwrap(), vec![(EPOLLIN, 2)]);
    // Edge-triggered: only a gain of readiness is an edge.
    ctl(
        &mut t,
        ep,
        EPOLL_CTL_MOD,
        fd,
        EPOLLIN | EPOLLOUT | EPOLLET,
        3,
    )
    .unwrap();
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![(EPOLLIN, 3)]);
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![]);
    flag.0.store(POLLIN | POLLOUT, Ordering::SeqCst);
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![(EPOLLOUT, 3)]);
    flag.0.store(0, Ordering::SeqCst);
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![]);
    flag.0.store(POLLIN, Ordering::SeqCst);
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![(EPOLLIN, 3)]);
    // One-shot: once, then disarmed (and no longer polled).
    ctl(&mut t, ep, EPOLL_CTL_MOD, fd, EPOLLIN | EPOLLONESHOT, 4).unwrap();
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![(EPOLLIN, 4)]);
    assert_eq!(wait(&mut t, ep, 4, 0).unwrap(), vec![]);
    assert!(!Epoll::of(&epf).unwrap().collect(4).1);
}

/// Random sequences of the event-file calls (and the calls that change
/// what they watch) with arguments drawn from small pools of fds, flags
/// and pointers, some valid and some not: nothing may panic or hang.
#[test]
fn random_sequences_do_not_panic() {
    let (_bed, mut t) = setup();
    let mut seed = 0x243f_6a88_85a3_08d3u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let ev = area(&t, 1);
    let out = area(&t, 2);
    let buf = area(&t, 3);
    let mask = sigset(
        &t,
        crate::signal::bit(SIGUSR1) | crate::signal::bit(SIGRTMIN),
    );
    crate::signal::set_mask(&mut t, crate::signal::bit(SIGUSR1));
    let ptrs = [ev, out, buf, mask, 0, 8, u64::MAX - 3, area(&t, 15) + 65530];
    let events = [
        EPOLLIN,
        EPOLLOUT,
        EPOLLIN | EPOLLET,
        EPOLLIN | EPOLLONESHOT,
        EPOLLIN | EPOLLEXCLUSIVE,
        EPOLLPRI | EPOLLEXCLUSIVE,
        u32::MAX,
        0,
    ];
    for _ in 0..4000 {
        let fd = next(14) as i64 - 1;
        let fd2 = next(14) as i64 - 1;
        let p = ptrs[next(ptrs.len() as u64) as usize];
        let e = EpollEvent {
            events: events[next(events.len() as u64) as usize],
            data: next(1000).to_le_bytes(),
        };
        t.mm.write_obj(UserAddr(ev), &e).unwrap();
        let _ = match next(14) {
            0 => call(&mut t, EPOLL_CREATE1, &[next(2) * EPOLL_CLOEXEC as u64]),
            1 => call(&mut t, EPOLL_CREATE, &[next(3)]),
            2 | 3 => call(
                &mut t,
                EPOLL_CTL,
                &[
                    fd as u64,
                    next(5),
                    fd2 as u64,
                    if next(4) == 0 { p } else { ev },
                ],
            ),
            4 => call(
                &mut t,
                EPOLL_WAIT,
                &[
                    fd as u64,
                    if next(4) == 0 { p } else { out },
                    next(6),
                    next(3),
                ],
            ),
            5 => call(
                &mut t,
                EPOLL_PWAIT,
                &[
                    fd as u64,
                    out,
                    next(6),
                    0,
                    if next(2) == 0 { 0 } else { p },
                    8,
                ],
            ),
            6 => call(&mut t, PIPE2, &[buf + 256, (next(2) * O_NONBLOCK as u64)]),
            7 => call(
                &mut t,
                EVENTFD2,
                &[next(3), next(2) * (EFD_NONBLOCK | EFD_SEMAPHORE) as u64],
            ),
            8 => call(
                &mut t,
                SIGNALFD4,
                &[fd as u64, p, 8, next(2) * SFD_NONBLOCK as u64],
            ),
            9 => call(&mut t, WRITE, &[fd as u64, buf, next(20)]),
            10 => call(&mut t, READ, &[fd as u64, buf, next(300)]),
            11 => call(&mut t, CLOSE, &[fd as u64]),
            12 => call(&mut t, DUP, &[fd as u64]),
            _ => {
                kill_self(&t, if next(2) == 0 { SIGUSR1 } else { SIGRTMIN });
                Ok(0)
            }
        };
        // What a signal left pending is dropped, as delivery would.
        if next(8) == 0 {
            t.tg.signals.lock().discard(u64::MAX);
        }
    }
}
