//! The fd table against a model: a map from fd number to (open file
//! description, close-on-exec). Operations go through the syscall layer
//! (open, pipe2, dup, dup2, dup3, fcntl F_DUPFD / F_DUPFD_CLOEXEC /
//! F_GETFD / F_SETFD, close, close_range) and a real execve of a small
//! static ELF; RLIMIT_NOFILE is low so EMFILE and the EBADF of targets
//! past the limit come up.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;
use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, Rlimit};

use crate::fake::ElfBuilder;
use crate::fuzz_harness::{put_cstr, sys, Bed, SCRATCH, SCRATCH_LEN};
use crate::task::Task;
use crate::vfs::OpenFile;
use crate::UserAddr;

const LIMIT: i32 = 20;

#[derive(Clone, Debug)]
enum Op {
    Open(bool),
    Pipe(bool),
    Dup(i32),
    Dup2(i32, i32),
    Dup3(i32, i32, u32),
    DupFd(i32, i32, bool),
    Close(i32),
    CloseRange(u32, u32, u32),
    SetFd(i32, bool),
    GetFd(i32),
    Exec,
}

fn fd() -> impl Strategy<Value = i32> {
    prop_oneof![8 => 0..LIMIT + 3, 1 => Just(-1), 1 => Just(1 << 20)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<bool>().prop_map(Op::Open),
        2 => any::<bool>().prop_map(Op::Pipe),
        2 => fd().prop_map(Op::Dup),
        3 => (fd(), fd()).prop_map(|(a, b)| Op::Dup2(a, b)),
        2 => (fd(), fd(), prop_oneof![Just(0), Just(O_CLOEXEC), Just(O_NONBLOCK)])
            .prop_map(|(a, b, f)| Op::Dup3(a, b, f)),
        2 => (fd(), fd(), any::<bool>()).prop_map(|(a, b, c)| Op::DupFd(a, b, c)),
        3 => fd().prop_map(Op::Close),
        1 => (0u32..(LIMIT as u32 + 4), 0u32..(LIMIT as u32 + 4), prop_oneof![
                Just(0), Just(CLOSE_RANGE_CLOEXEC), Just(CLOSE_RANGE_UNSHARE), Just(8)])
            .prop_map(|(a, b, f)| Op::CloseRange(a, b, f)),
        2 => (fd(), any::<bool>()).prop_map(|(a, b)| Op::SetFd(a, b)),
        1 => fd().prop_map(Op::GetFd),
        1 => Just(Op::Exec),
    ]
}

/// The model: fd -> (description id, cloexec). `broken` makes it pick the
/// highest free number instead of the lowest.
struct Model {
    fds: BTreeMap<i32, (u32, bool)>,
    next: u32,
    broken: bool,
}

impl Model {
    fn lowest_free(&self, min: i32) -> Option<i32> {
        if self.broken {
            return (min..LIMIT).rev().find(|f| !self.fds.contains_key(f));
        }
        (min..LIMIT).find(|f| !self.fds.contains_key(f))
    }

    fn new_desc(&mut self) -> u32 {
        self.next += 1;
        self.next
    }

    fn apply(&mut self, op: &Op) -> Result<u64, Errno> {
        let valid = |m: &Model, f: i32| m.fds.contains_key(&f);
        match *op {
            Op::Open(cloexec) => {
                let fd = self.lowest_free(0).ok_or(Errno::EMFILE)?;
                let d = self.new_desc();
                self.fds.insert(fd, (d, cloexec));
                Ok(fd as u64)
            }
            Op::Pipe(cloexec) => {
                let r = self.lowest_free(0).ok_or(Errno::EMFILE)?;
                let d = self.new_desc();
                self.fds.insert(r, (d, cloexec));
                let Some(w) = self.lowest_free(0) else {
                    self.fds.remove(&r);
                    return Err(Errno::EMFILE);
                };
                let d = self.new_desc();
                self.fds.insert(w, (d, cloexec));
                Ok(0)
            }
            Op::Dup(old) => {
                let (d, _) = *self.fds.get(&old).ok_or(Errno::EBADF)?;
                let fd = self.lowest_free(0).ok_or(Errno::EMFILE)?;
                self.fds.insert(fd, (d, false));
                Ok(fd as u64)
            }
            Op::Dup2(old, new) => {
                if old == new {
                    return if valid(self, old) {
                        Ok(new as u64)
                    } else {
                        Err(Errno::EBADF)
                    };
                }
                self.dup3(old, new, 0)
            }
            Op::Dup3(old, new, flags) => self.dup3(old, new, flags),
            Op::DupFd(old, min, cloexec) => {
                let (d, _) = *self.fds.get(&old).ok_or(Errno::EBADF)?;
                if !(0..LIMIT).contains(&min) {
                    return Err(Errno::EINVAL);
                }
                let fd = self.lowest_free(min).ok_or(Errno::EMFILE)?;
                self.fds.insert(fd, (d, cloexec));
                Ok(fd as u64)
            }
            Op::Close(fd) => self.fds.remove(&fd).map(|_| 0).ok_or(Errno::EBADF),
            Op::CloseRange(first, last, flags) => {
                if flags & !(CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE) != 0 || first > last {
                    return Err(Errno::EINVAL);
                }
                let keys: Vec<i32> = self
                    .fds
                    .range(first as i32..=last as i32)
                    .map(|(&k, _)| k)
                    .collect();
                for k in keys {
                    if flags & CLOSE_RANGE_CLOEXEC != 0 {
                        self.fds.get_mut(&k).unwrap().1 = true;
                    } else {
                        self.fds.remove(&k);
                    }
                }
                Ok(0)
            }
            Op::SetFd(fd, on) => {
                let e = self.fds.get_mut(&fd).ok_or(Errno::EBADF)?;
                e.1 = on;
                Ok(0)
            }
            Op::GetFd(fd) => self
                .fds
                .get(&fd)
                .map(|e| u64::from(e.1))
                .ok_or(Errno::EBADF),
            Op::Exec => {
                self.fds.retain(|_, e| !e.1);
                Ok(0)
            }
        }
    }

    fn dup3(&mut self, old: i32, new: i32, flags: u32) -> Result<u64, Errno> {
        if flags & !O_CLOEXEC != 0 || old == new {
            return Err(Errno::EINVAL);
        }
        if !(0..LIMIT).contains(&new) {
            return Err(Errno::EBADF);
        }
        let (d, _) = *self.fds.get(&old).ok_or(Errno::EBADF)?;
        self.fds.insert(new, (d, flags & O_CLOEXEC != 0));
        Ok(new as u64)
    }
}

/// The core side: a task with RLIMIT_NOFILE = LIMIT, `/f` to open and
/// `/bin/true` to exec.
struct Core {
    _bed: Bed,
    t: Task,
    /// Descriptions seen so far and their model ids (kept alive so that
    /// pointers stay unique).
    known: Vec<(Arc<OpenFile>, u32)>,
}

const PATH_F: u64 = SCRATCH;
const PATH_TRUE: u64 = SCRATCH + 16;
const FDS: u64 = SCRATCH + 64;

impl Core {
    fn new() -> Core {
        let bed = Bed::new(false, 0);
        bed.root.add_file(b"f", b"data").unwrap();
        let elf = ElfBuilder::new(veil_abi::elf::ET_EXEC, 0x40_1000)
            .segment(
                0x40_1000,
                &[0x90; 16],
                16,
                veil_abi::elf::PF_R | veil_abi::elf::PF_X,
            )
            .build();
        let bin = bed.root.add_dir(b"bin").unwrap();
        let exe = bin.add_file(b"true", &elf).unwrap();
        crate::vfs::Inode::set_attr(
            &*exe,
            &crate::vfs::SetAttr {
                mode: Some(0o755),
                ..Default::default()
            },
        )
        .unwrap();
        let t = bed.task();
        t.tg.rlimits.lock()[RLIMIT_NOFILE as usize] = Rlimit {
            cur: LIMIT as u64,
            max: LIMIT as u64,
        };
        let mut c = Core {
            _bed: bed,
            t,
            known: Vec::new(),
        };
        c.write_paths();
        c
    }

    fn write_paths(&mut self) {
        put_cstr(&self.t, PATH_F, b"/f");
        put_cstr(&self.t, PATH_TRUE, b"/bin/true");
    }

    fn apply(&mut self, op: &Op) -> Result<u64, Errno> {
        let t = &mut self.t;
        match *op {
            Op::Open(cloexec) => {
                let fl = O_RDWR | if cloexec { O_CLOEXEC } else { 0 };
                sys(t, OPEN, &[PATH_F, fl as u64])
            }
            Op::Pipe(cloexec) => {
                let fl = if cloexec { O_CLOEXEC } else { 0 };
                sys(t, PIPE2, &[FDS, fl as u64])
            }
            Op::Dup(a) => sys(t, DUP, &[a as u32 as u64]),
            Op::Dup2(a, b) => sys(t, DUP2, &[a as u32 as u64, b as u32 as u64]),
            Op::Dup3(a, b, f) => sys(t, DUP3, &[a as u32 as u64, b as u32 as u64, f as u64]),
            Op::DupFd(a, min, cloexec) => {
                let cmd = if cloexec { F_DUPFD_CLOEXEC } else { F_DUPFD };
                sys(t, FCNTL, &[a as u32 as u64, cmd as u64, min as i64 as u64])
            }
            Op::Close(a) => sys(t, CLOSE, &[a as u32 as u64]),
            Op::CloseRange(a, b, f) => sys(t, CLOSE_RANGE, &[a as u64, b as u64, f as u64]),
            Op::SetFd(a, on) => sys(
                t,
                FCNTL,
                &[
                    a as u32 as u64,
                    F_SETFD as u64,
                    u64::from(on) * FD_CLOEXEC as u64,
                ],
            ),
            Op::GetFd(a) => sys(t, FCNTL, &[a as u32 as u64, F_GETFD as u64]),
            Op::Exec => {
                let r = crate::loader::exec(t, b"/bin/true", vec![b"true".to_vec()], Vec::new());
                // The new image has no scratch area: map it again.
                let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
                let rw = crate::platform::Prot::READ | crate::platform::Prot::WRITE;
                t.mm.mmap(UserAddr(SCRATCH), SCRATCH_LEN, rw, flags, None)
                    .unwrap();
                self.write_paths();
                r.map(|_| 0)
            }
        }
    }

    /// The table as (fd, description id, cloexec), naming descriptions
    /// first seen now after the model's ids at the same fds.
    fn table(&mut self, model: &Model) -> Vec<(i32, u32, bool)> {
        let mut out = Vec::new();
        for (fd, e) in self.t.fds.list() {
            let id = match self.known.iter().find(|(f, _)| Arc::ptr_eq(f, &e.file)) {
                Some((_, id)) => *id,
                None => {
                    let id = model.fds.get(&fd).map_or(u32::MAX, |m| m.0);
                    self.known.push((e.file.clone(), id));
                    id
                }
            };
            out.push((fd, id, e.cloexec));
        }
        out
    }
}

fn check(ops: Vec<Op>, broken: bool) -> Result<(), TestCaseError> {
    let mut core = Core::new();
    let mut model = Model {
        fds: BTreeMap::new(),
        next: 0,
        broken,
    };
    for (i, op) in ops.iter().enumerate() {
        let got = core.apply(op);
        let want = model.apply(op);
        step_eq!(i, op, got, want);
        let table = core.table(&model);
        let expect: Vec<(i32, u32, bool)> =
            model.fds.iter().map(|(&f, &(d, c))| (f, d, c)).collect();
        step_eq!(i, op, table, expect);
    }
    Ok(())
}

proptest! {
    #![proptest_config(super::config(2000))]

    #[test]
    fn fd_table_matches_model(ops in proptest::collection::vec(op(), 1..80)) {
        check(ops, false)?;
    }
}

#[test]
fn fd_table_broken_model_is_caught() {
    super::must_fail(
        "fd table",
        proptest::collection::vec(op(), 1..80),
        200,
        |ops| check(ops, true),
    );
}
