//! System V IPC on the fake platform: the calls through the syscall table,
//! with user memory in a mapping of each task.

use alloc::string::String;
use alloc::vec::Vec;

use veil_abi::flags::{MAP_ANONYMOUS, MAP_PRIVATE};
use veil_abi::ipc::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, Timespec};
use zerocopy::IntoBytes;

use super::{proc_text, Ids, Perm, ProcFile};
use crate::fake::TestBed;
use crate::platform::Prot;
use crate::task::{Credentials, Task};
use crate::UserAddr;

fn sys(t: &mut Task, nr: u64, a: [u64; 6]) -> Result<u64, Errno> {
    (crate::syscalls::lookup(nr).expect("served"))(t, &a)
}

fn task_as(tb: &TestBed, uid: u32) -> Task {
    let t = tb.task_as(Credentials::new(uid, uid, Vec::new()));
    tb.kernel.register(&t.tg);
    t.publish_view();
    t
}

/// A scratch page of `t`'s memory.
fn scratch(t: &Task) -> u64 {
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

fn shm_stat(t: &mut Task, id: u64, buf: u64) -> Shmid64Ds {
    sys(t, SHMCTL, [id, IPC_STAT as u64, buf, 0, 0, 0]).expect("IPC_STAT");
    t.mm.read_obj(UserAddr(buf)).unwrap()
}

#[test]
fn ids_are_cyclic_with_a_sequence() {
    let c = Credentials::new(0, 0, Vec::new());
    let mut ids: Ids<Perm> = Ids::new(3);
    let take = |ids: &mut Ids<Perm>| {
        let (idx, id) = ids.alloc().unwrap();
        ids.entries.insert(idx, Perm::new(&c, 0, id, 0o600));
        id
    };
    assert_eq!(take(&mut ids), 0);
    assert_eq!(take(&mut ids), 1);
    ids.remove(0);
    // Index 0 is free, but the search goes on from 2 first.
    assert_eq!(take(&mut ids), 2);
    // Then wraps to 0 with the next sequence number.
    assert_eq!(take(&mut ids), IPCMNI as i32);
    assert_eq!(ids.alloc().err(), Some(Errno::ENOSPC));
    assert_eq!(ids.get(0).err(), Some(Errno::EINVAL));
    assert!(ids.get(IPCMNI as i32).is_ok());
    assert_eq!(ids.max_idx(), 2);
}

impl super::IpcObject for Perm {
    fn perm(&self) -> &Perm {
        self
    }
}

#[test]
fn perms_follow_ipcperms() {
    let owner = Credentials::new(1000, 1000, Vec::new());
    let other = Credentials::new(2000, 2000, Vec::new());
    let group = Credentials::new(3000, 1000, Vec::new());
    let root = Credentials::new(0, 0, Vec::new());
    let p = Perm::new(&owner, 1, 0, 0o640);
    assert!(p.allows(&owner, 0o600));
    assert!(p.allows(&group, 0o444));
    assert!(!p.allows(&group, 0o222));
    assert!(!p.allows(&other, 0o444));
    assert!(p.allows(&other, 0));
    assert!(p.allows(&root, 0o666));
    assert_eq!(p.check_owner(&other), Err(Errno::EPERM));
    assert_eq!(p.check_owner(&owner), Ok(()));
    assert_eq!(p.check_owner(&root), Ok(()));
}

#[test]
fn shm_attachments_share_memory_and_count_vmas() {
    let tb = TestBed::new();
    let mut a = task_as(&tb, 0);
    let mut b = task_as(&tb, 0);
    let buf = scratch(&a);
    let id = sys(
        &mut a,
        SHMGET,
        [0x10, 3 * 4096, (IPC_CREAT | 0o600) as u64, 0, 0, 0],
    )
    .unwrap();
    assert_eq!(
        sys(
            &mut a,
            SHMGET,
            [0x10, 4096, (IPC_CREAT | IPC_EXCL) as u64, 0, 0, 0]
        ),
        Err(Errno::EEXIST)
    );
    let pa = sys(&mut a, SHMAT, [id, 0, 0, 0, 0, 0]).unwrap();
    let pb = sys(&mut b, SHMAT, [id, 0, 0, 0, 0, 0]).unwrap();
    a.mm.copy_out(UserAddr(pa + 4096), b"shared").unwrap();
    let mut got = [0u8; 6];
    b.mm.copy_in(UserAddr(pb + 4096), &mut got).unwrap();
    assert_eq!(&got, b"shared");
    assert_eq!(shm_stat(&mut a, id, buf).shm_nattch, 2);
    // A split attachment counts once per VMA, as Linux's shm_open does.
    a.mm.mprotect(UserAddr(pa + 4096), 4096, Prot::READ)
        .unwrap();
    assert_eq!(shm_stat(&mut a, id, buf).shm_nattch, 4);
    let maps = a.mm.maps_text();
    assert!(maps.contains("/SYSV00000010 (deleted)"), "{maps}");
    // Removed while attached: the key goes private, the segment stays.
    assert_eq!(
        sys(&mut a, SHMCTL, [id, IPC_RMID as u64, 0, 0, 0, 0]),
        Ok(0)
    );
    let ds = shm_stat(&mut a, id, buf);
    assert_eq!((ds.shm_perm.key, ds.shm_perm.mode), (0, SHM_DEST | 0o600));
    assert_eq!(
        sys(&mut a, SHMGET, [0x10, 4096, 0, 0, 0, 0]),
        Err(Errno::ENOENT)
    );
    // shmdt takes every VMA of the attachment.
    assert_eq!(
        sys(&mut a, SHMDT, [pa + 4096, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(sys(&mut a, SHMDT, [pa, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(shm_stat(&mut a, id, buf).shm_nattch, 1);
    assert_eq!(sys(&mut a, SHMDT, [pa, 0, 0, 0, 0, 0]), Err(Errno::EINVAL));
    // The last detach (here: the process's exit) destroys it.
    super::exit_task(&b);
    assert_eq!(
        sys(&mut a, SHMCTL, [id, IPC_STAT as u64, buf, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(proc_text(&tb.kernel.ipc, ProcFile::Shm).lines().count(), 1);
}

#[test]
fn shm_checks_sizes_addresses_and_permissions() {
    let tb = TestBed::new();
    let mut root = task_as(&tb, 0);
    let mut user = task_as(&tb, 1000);
    let buf = scratch(&user);
    assert_eq!(
        sys(&mut root, SHMGET, [0, 0, IPC_CREAT as u64, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    let id = sys(
        &mut root,
        SHMGET,
        [0, 100, (IPC_CREAT | 0o604) as u64, 0, 0, 0],
    )
    .unwrap();
    assert_eq!(
        sys(&mut user, SHMAT, [id, 0, 0, 0, 0, 0]),
        Err(Errno::EACCES)
    );
    let p = sys(&mut user, SHMAT, [id, 0, SHM_RDONLY as u64, 0, 0, 0]).unwrap();
    assert_eq!(
        user.mm
            .mprotect(UserAddr(p), 4096, Prot::READ | Prot::WRITE),
        Err(Errno::EACCES)
    );
    assert_eq!(
        sys(&mut user, SHMCTL, [id, IPC_RMID as u64, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    assert_eq!(
        sys(&mut user, SHMCTL, [id, SHM_LOCK as u64, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    // Fixed addresses: an overlap needs SHM_REMAP, unaligned needs SHM_RND.
    assert_eq!(
        sys(&mut user, SHMAT, [id, p, SHM_RDONLY as u64, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut user, SHMAT, [id, p + 1, SHM_RDONLY as u64, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    let flags = (SHM_RDONLY | SHM_RND | SHM_REMAP) as u64;
    assert_eq!(sys(&mut user, SHMAT, [id, p + 1, flags, 0, 0, 0]), Ok(p));
    assert_eq!(
        sys(&mut user, SHMAT, [id, 0, SHM_REMAP as u64, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut user, SHMCTL, [id, IPC_STAT as u64, 1, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        sys(&mut user, SHMCTL, [id, 99, buf, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    let max = sys(&mut user, SHMCTL, [0, IPC_INFO as u64, buf, 0, 0, 0]).unwrap();
    let info: Shminfo64 = user.mm.read_obj(UserAddr(buf)).unwrap();
    assert_eq!((max, info.shmmni, info.shmmax), (0, 4096, SHMMAX));
    assert_eq!(
        sys(&mut user, SHMCTL, [0, SHM_STAT_ANY as u64, buf, 0, 0, 0]),
        Ok(id)
    );
}

#[test]
fn unshare_gives_a_fresh_namespace() {
    let tb = TestBed::new();
    let mut a = task_as(&tb, 0);
    let mut b = task_as(&tb, 0);
    let id = sys(&mut a, MSGGET, [5, (IPC_CREAT | 0o600) as u64, 0, 0, 0, 0]).unwrap();
    super::unshare(&b);
    assert_eq!(sys(&mut b, MSGGET, [5, 0, 0, 0, 0, 0]), Err(Errno::ENOENT));
    assert_eq!(sys(&mut a, MSGGET, [5, 0, 0, 0, 0, 0]), Ok(id));
    assert_ne!(super::ns(&a).ns_id(), super::ns(&b).ns_id());
}

fn sops(t: &Task, at: u64, ops: &[(u16, i16, i16)]) -> u64 {
    let v: Vec<Sembuf> = ops
        .iter()
        .map(|&(sem_num, sem_op, sem_flg)| Sembuf {
            sem_num,
            sem_op,
            sem_flg,
        })
        .collect();
    t.mm.copy_out(UserAddr(at), v.as_bytes()).unwrap();
    at
}

#[test]
fn semop_is_atomic_and_checks_ranges() {
    let tb = TestBed::new();
    let mut t = task_as(&tb, 0);
    let buf = scratch(&t);
    let id = sys(&mut t, SEMGET, [0, 2, (IPC_CREAT | 0o600) as u64, 0, 0, 0]).unwrap();
    let nowait = IPC_NOWAIT as i16;
    let ops = sops(&t, buf, &[(0, 1, 0), (1, -1, nowait)]);
    assert_eq!(
        sys(&mut t, SEMOP, [id, ops, 2, 0, 0, 0]),
        Err(Errno::EAGAIN)
    );
    assert_eq!(sys(&mut t, SEMCTL, [id, 0, GETVAL as u64, 0, 0, 0]), Ok(0));
    let ops = sops(&t, buf, &[(0, 2, 0), (0, -1, 0), (1, 3, 0)]);
    assert_eq!(sys(&mut t, SEMOP, [id, ops, 3, 0, 0, 0]), Ok(0));
    sys(&mut t, SEMCTL, [id, 0, GETALL as u64, buf + 64, 0, 0]).unwrap();
    let mut vals = [0u16; 2];
    t.mm.copy_in(UserAddr(buf + 64), vals.as_mut_bytes())
        .unwrap();
    assert_eq!(vals, [1, 3]);
    assert_eq!(
        sys(&mut t, SEMCTL, [id, 0, SETVAL as u64, 32768, 0, 0]),
        Err(Errno::ERANGE)
    );
    sys(&mut t, SEMCTL, [id, 0, SETVAL as u64, 32767, 0, 0]).unwrap();
    let ops = sops(&t, buf, &[(1, -1, 0), (0, 1, 0)]);
    assert_eq!(
        sys(&mut t, SEMOP, [id, ops, 2, 0, 0, 0]),
        Err(Errno::ERANGE)
    );
    assert_eq!(sys(&mut t, SEMCTL, [id, 1, GETVAL as u64, 0, 0, 0]), Ok(3));
    let ops = sops(&t, buf, &[(2, 1, 0)]);
    assert_eq!(sys(&mut t, SEMOP, [id, ops, 1, 0, 0, 0]), Err(Errno::EFBIG));
    assert_eq!(
        sys(&mut t, SEMOP, [id, ops, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut t, SEMOP, [id, ops, 501, 0, 0, 0]),
        Err(Errno::E2BIG)
    );
    assert_eq!(sys(&mut t, SEMOP, [id, 1, 1, 0, 0, 0]), Err(Errno::EFAULT));
}

#[test]
fn semop_blocks_interruptibly_with_a_deadline() {
    let tb = TestBed::new();
    let mut t = task_as(&tb, 0);
    let buf = scratch(&t);
    let id = sys(&mut t, SEMGET, [0, 1, (IPC_CREAT | 0o600) as u64, 0, 0, 0]).unwrap();
    let ops = sops(&t, buf, &[(0, -1, 0)]);
    // The fake blocker: no deadline means a signal came.
    assert_eq!(sys(&mut t, SEMOP, [id, ops, 1, 0, 0, 0]), Err(Errno::EINTR));
    let ts = Timespec {
        tv_sec: 0,
        tv_nsec: 1000,
    };
    t.mm.write_obj(UserAddr(buf + 64), &ts).unwrap();
    assert_eq!(
        sys(&mut t, SEMTIMEDOP, [id, ops, 1, buf + 64, 0, 0]),
        Err(Errno::EAGAIN)
    );
    // Nobody is left counted as waiting.
    assert_eq!(sys(&mut t, SEMCTL, [id, 0, GETNCNT as u64, 0, 0, 0]), Ok(0));
    t.mm.write_obj(
        UserAddr(buf + 64),
        &Timespec {
            tv_sec: -1,
            tv_nsec: 0,
        },
    )
    .unwrap();
    assert_eq!(
        sys(&mut t, SEMTIMEDOP, [id, ops, 1, buf + 64, 0, 0]),
        Err(Errno::EINVAL)
    );
}

#[test]
fn sem_undo_is_applied_when_the_last_holder_exits() {
    let tb = TestBed::new();
    let mut t = task_as(&tb, 0);
    let buf = scratch(&t);
    let id = sys(&mut t, SEMGET, [0, 2, (IPC_CREAT | 0o600) as u64, 0, 0, 0]).unwrap();
    sys(&mut t, SEMCTL, [id, 0, SETVAL as u64, 10, 0, 0]).unwrap();
    let undo = SEM_UNDO;
    let ops = sops(&t, buf, &[(0, -4, undo), (1, 5, undo)]);
    sys(&mut t, SEMOP, [id, ops, 2, 0, 0, 0]).unwrap();
    // SETVAL clears the adjustment of what it sets.
    sys(&mut t, SEMCTL, [id, 1, SETVAL as u64, 2, 0, 0]).unwrap();
    let other = task_as(&tb, 0);
    *other.tg.sysvsem.lock() = t.tg.sysvsem.lock().clone();
    super::exit_task(&t);
    // The list is still held by the CLONE_SYSVSEM sharer.
    assert_eq!(sys(&mut t, SEMCTL, [id, 0, GETVAL as u64, 0, 0, 0]), Ok(6));
    super::exit_task(&other);
    assert_eq!(sys(&mut t, SEMCTL, [id, 0, GETVAL as u64, 0, 0, 0]), Ok(10));
    assert_eq!(sys(&mut t, SEMCTL, [id, 1, GETVAL as u64, 0, 0, 0]), Ok(2));
    // Applied adjustments are clamped at zero.
    let ops = sops(&t, buf, &[(1, 2, undo)]);
    sys(&mut t, SEMOP, [id, ops, 1, 0, 0, 0]).unwrap();
    sys(&mut t, SEMCTL, [id, 1, SETVAL as u64, 1, 0, 0]).unwrap();
    let ops = sops(&t, buf, &[(1, 1, 0)]);
    sys(&mut t, SEMOP, [id, ops, 1, 0, 0, 0]).unwrap();
    assert_eq!(sys(&mut t, SEMCTL, [id, 1, GETVAL as u64, 0, 0, 0]), Ok(2));
    let ops = sops(&t, buf, &[(1, 3, undo)]);
    sys(&mut t, SEMOP, [id, ops, 1, 0, 0, 0]).unwrap();
    let ops = sops(&t, buf, &[(1, -4, 0)]);
    sys(&mut t, SEMOP, [id, ops, 1, 0, 0, 0]).unwrap();
    super::exit_task(&t);
    assert_eq!(sys(&mut t, SEMCTL, [id, 1, GETVAL as u64, 0, 0, 0]), Ok(0));
    assert_eq!(
        sys(&mut t, SEMCTL, [id, 0, IPC_RMID as u64, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(
        sys(&mut t, SEMCTL, [id, 0, GETVAL as u64, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
}

fn send(t: &mut Task, buf: u64, id: u64, ty: i64, text: &[u8]) -> Result<u64, Errno> {
    t.mm.write_obj(UserAddr(buf), &ty).unwrap();
    t.mm.copy_out(UserAddr(buf + 8), text).unwrap();
    sys(
        t,
        MSGSND,
        [id, buf, text.len() as u64, IPC_NOWAIT as u64, 0, 0],
    )
}

fn recv(
    t: &mut Task,
    buf: u64,
    id: u64,
    size: u64,
    ty: i64,
    flags: u32,
) -> Result<(i64, String), Errno> {
    let n = sys(t, MSGRCV, [id, buf, size, ty as u64, flags as u64, 0])?;
    let ty: i64 = t.mm.read_obj(UserAddr(buf)).unwrap();
    let mut text = alloc::vec![0u8; n as usize];
    t.mm.copy_in(UserAddr(buf + 8), &mut text).unwrap();
    Ok((ty, String::from_utf8(text).unwrap()))
}

#[test]
fn msgrcv_picks_by_type() {
    let tb = TestBed::new();
    let mut t = task_as(&tb, 0);
    let buf = scratch(&t);
    let id = sys(&mut t, MSGGET, [0, (IPC_CREAT | 0o600) as u64, 0, 0, 0, 0]).unwrap();
    for (ty, text) in [(3, "c"), (1, "a"), (2, "b"), (1, "aa"), (4, "dddd")] {
        send(&mut t, buf, id, ty, text.as_bytes()).unwrap();
    }
    assert_eq!(send(&mut t, buf, id, 0, b"x"), Err(Errno::EINVAL));
    let nowait = IPC_NOWAIT;
    let r = |t: &mut Task, size, ty, f| recv(t, buf + 0x1000, id, size, ty, f);
    assert_eq!(r(&mut t, 10, 1, MSG_COPY | nowait), Ok((1, "a".into())));
    assert_eq!(r(&mut t, 10, 0, MSG_COPY), Err(Errno::EINVAL));
    assert_eq!(r(&mut t, 10, 9, MSG_COPY | nowait), Err(Errno::ENOMSG));
    assert_eq!(r(&mut t, 10, -2, 0), Ok((1, "a".into())));
    assert_eq!(r(&mut t, 10, 3, MSG_EXCEPT), Ok((2, "b".into())));
    assert_eq!(r(&mut t, 2, 4, 0), Err(Errno::E2BIG));
    assert_eq!(r(&mut t, 2, 4, MSG_NOERROR), Ok((4, "dd".into())));
    assert_eq!(r(&mut t, 10, 0, 0), Ok((3, "c".into())));
    assert_eq!(r(&mut t, 10, 5, nowait), Err(Errno::ENOMSG));
    assert_eq!(r(&mut t, 10, 0, 0), Ok((1, "aa".into())));
    // Blocking on an empty queue: a signal (the fake blocker) ends it.
    assert_eq!(r(&mut t, 10, 0, 0), Err(Errno::ERESTARTNOHAND));
    let text = proc_text(&tb.kernel.ipc, ProcFile::Msg);
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[test]
fn msg_queue_bytes_limit_sends() {
    let tb = TestBed::new();
    let mut t = task_as(&tb, 0);
    let mut user = task_as(&tb, 1000);
    let buf = scratch(&t);
    let ubuf = scratch(&user);
    let id = sys(&mut t, MSGGET, [7, (IPC_CREAT | 0o622) as u64, 0, 0, 0, 0]).unwrap();
    sys(&mut t, MSGCTL, [id, IPC_STAT as u64, buf, 0, 0, 0]).unwrap();
    let mut ds: Msqid64Ds = t.mm.read_obj(UserAddr(buf)).unwrap();
    assert_eq!(ds.msg_qbytes, MSGMNB as u64);
    ds.msg_qbytes = 4;
    t.mm.write_obj(UserAddr(buf), &ds).unwrap();
    sys(&mut t, MSGCTL, [id, IPC_SET as u64, buf, 0, 0, 0]).unwrap();
    assert_eq!(send(&mut user, ubuf, id, 1, b"abc"), Ok(0));
    assert_eq!(send(&mut user, ubuf, id, 1, b"de"), Err(Errno::EAGAIN));
    assert_eq!(send(&mut user, ubuf, id, 1, b"d"), Ok(0));
    assert_eq!(
        recv(&mut user, ubuf, id, 10, 0, IPC_NOWAIT),
        Err(Errno::EACCES)
    );
    assert_eq!(
        sys(&mut user, MSGCTL, [id, IPC_RMID as u64, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    let mx = sys(&mut t, MSGCTL, [0, MSG_INFO as u64, buf, 0, 0, 0]).unwrap();
    let info: Msginfo = t.mm.read_obj(UserAddr(buf)).unwrap();
    assert_eq!((mx, info.msgpool, info.msgmap, info.msgtql), (0, 1, 2, 4));
    assert_eq!(
        sys(&mut t, MSGCTL, [id, IPC_RMID as u64, 0, 0, 0, 0]),
        Ok(0)
    );
}
