//! Tests of the file system calls and the VFS under them, on the fake
//! platform with a small but complete in-memory filesystem ([`MemNode`]:
//! permissions, owners, times, hard links, rename with its flags; its
//! FIFO nodes open as core's pipes).

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::any::Any;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, Iovec, Stat, Statx, Timespec};

use crate::fake::{FakeBlocker, FakeClock, FakeLogger, FakePlatform};
use crate::fuzz_harness::memfs::MemNode;
use crate::kernel::{Kernel, KernelOptions};
use crate::platform::Prot;
use crate::task::{Credentials, Task};
use crate::vfs::{
    Dentry, FileOps, FileType, Inode, InodeAttr, MountNamespace, OpenFile, Owner, SetAttr,
};
use crate::UserAddr;

// ---------------------------------------------------------------------
// The filesystem is the fuzz harnesses' in-memory one ([`MemNode`]); a
// FIFO node never reaches its `open` (the VFS opens FIFOs as core's pipes).

/// A runtime-style stdio file: no location, reports a character device.
struct TtyOps;

impl FileOps for TtyOps {
    fn read(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Ok(0)
    }
    fn write(&self, buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Ok(buf.len())
    }
    fn seekable(&self) -> bool {
        false
    }
    fn stat(&self) -> Option<InodeAttr> {
        Some(InodeAttr {
            mode: S_IFCHR | 0o620,
            rdev: veil_abi::makedev(136, 0),
            ino: 3,
            ..Default::default()
        })
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

// ---------------------------------------------------------------------
// Harness

const DEV: u64 = veil_abi::makedev(0, 50);
const DEV2: u64 = veil_abi::makedev(0, 51);

struct Env {
    kernel: Arc<Kernel>,
    root: Arc<MemNode>,
    clock: Arc<FakeClock>,
}

fn env() -> Env {
    let root = MemNode::new_root_on(DEV);
    let mounts = MountNamespace::new(Dentry::new_root(root.clone()), "memfs", "none");
    let clock = Arc::new(FakeClock::new());
    let kernel = crate::fake::new_kernel(
        FakePlatform::new(),
        mounts,
        clock.clone(),
        Arc::new(FakeLogger::default()),
        KernelOptions::default(),
    );
    Env {
        kernel,
        root,
        clock,
    }
}

impl Env {
    fn task_as(&self, creds: Credentials) -> Task {
        let blocker = Arc::new(FakeBlocker::with_clock(self.clock.clone()));
        let mut t = crate::fake::new_task(&self.kernel, creds, blocker);
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
        t
    }

    fn task(&self) -> Task {
        self.task_as(Credentials::new(0, 0, Vec::new()))
    }

    fn user(&self) -> Task {
        self.task_as(Credentials::new(1000, 1000, Vec::new()))
    }

    /// Mounts a fresh memfs at `path` (which must exist).
    fn mount(&self, t: &Task, path: &str, read_only: bool) -> Arc<MemNode> {
        let at = crate::vfs::walk::resolve(
            t,
            AT_FDCWD,
            path.as_bytes(),
            crate::vfs::walk::WalkFlags {
                follow: true,
                empty_ok: false,
            },
        )
        .expect("mount point");
        let r = MemNode::new_root_on(DEV2);
        r.set_attr(&SetAttr {
            mode: Some(0o777),
            ..Default::default()
        })
        .expect("chmod");
        self.kernel
            .mounts
            .mount_with(&at, Dentry::new_root(r.clone()), "memfs", "m", read_only);
        r
    }
}

/// Bytes of scratch memory each task gets (its base is kept in r15).
const SCRATCH: u64 = 1 << 20;

/// Scratch memory: path strings at +0..64K, buffers after.
fn scratch(t: &Task) -> u64 {
    t.cpu.regs.r15
}

fn call(t: &mut Task, nr: u64, args: &[u64]) -> Result<u64, Errno> {
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    let h = crate::syscalls::lookup(nr).expect("served");
    h(t, &a)
}

/// Puts `s` (NUL-terminated) in string slot `slot` and returns its address.
fn s(t: &Task, slot: u64, text: &str) -> u64 {
    let addr = scratch(t) + slot * 8192;
    let mut v = text.as_bytes().to_vec();
    v.push(0);
    t.mm.copy_out(UserAddr(addr), &v).unwrap();
    addr
}

/// A buffer area (after the string slots).
fn buf(t: &Task, n: u64) -> u64 {
    scratch(t) + 65536 + n * 65536
}

fn open(t: &mut Task, path: &str, flags: u32, mode: u32) -> Result<i32, Errno> {
    let p = s(t, 0, path);
    call(t, OPEN, &[p, flags as u64, mode as u64]).map(|v| v as i32)
}

fn write_str(t: &mut Task, fd: i32, data: &str) -> Result<u64, Errno> {
    let b = buf(t, 0);
    t.mm.copy_out(UserAddr(b), data.as_bytes()).unwrap();
    call(t, WRITE, &[fd as u64, b, data.len() as u64])
}

fn read_n(t: &mut Task, fd: i32, n: u64) -> Result<Vec<u8>, Errno> {
    let b = buf(t, 1);
    let got = call(t, READ, &[fd as u64, b, n])?;
    let mut v = vec![0u8; got as usize];
    t.mm.copy_in(UserAddr(b), &mut v).unwrap();
    Ok(v)
}

fn stat(t: &mut Task, path: &str) -> Result<Stat, Errno> {
    let p = s(t, 0, path);
    let b = buf(t, 2);
    call(t, STAT, &[p, b])?;
    Ok(t.mm.read_obj(UserAddr(b)).unwrap())
}

fn lstat(t: &mut Task, path: &str) -> Result<Stat, Errno> {
    let p = s(t, 0, path);
    let b = buf(t, 2);
    call(t, LSTAT, &[p, b])?;
    Ok(t.mm.read_obj(UserAddr(b)).unwrap())
}

fn mkdir(t: &mut Task, path: &str) -> Result<u64, Errno> {
    let p = s(t, 0, path);
    call(t, MKDIR, &[p, 0o755])
}

fn symlink(t: &mut Task, target: &str, path: &str) -> Result<u64, Errno> {
    let a = s(t, 0, target);
    let b = s(t, 1, path);
    call(t, SYMLINK, &[a, b])
}

fn rename(t: &mut Task, from: &str, to: &str, flags: u32) -> Result<u64, Errno> {
    let a = s(t, 0, from);
    let b = s(t, 1, to);
    call(
        t,
        RENAMEAT2,
        &[AT_FDCWD as u64, a, AT_FDCWD as u64, b, flags as u64],
    )
}

fn getcwd(t: &mut Task) -> Vec<u8> {
    let b = buf(t, 3);
    let n = call(t, GETCWD, &[b, 4096]).unwrap();
    let mut v = vec![0u8; n as usize - 1];
    t.mm.copy_in(UserAddr(b), &mut v).unwrap();
    v
}

fn file(e: &Env, path: &str, data: &[u8], perm: u32) {
    let mut dir = e.root.clone();
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    for p in &parts[..parts.len() - 1] {
        dir = match dir.child(p.as_bytes()) {
            Some(d) => d,
            None => dir.add_dir(p.as_bytes()).unwrap(),
        };
    }
    let f = dir
        .add_file(parts[parts.len() - 1].as_bytes(), data)
        .unwrap();
    f.set_attr(&SetAttr {
        mode: Some(perm),
        ..Default::default()
    })
    .unwrap();
}

// ---------------------------------------------------------------------
// The walk

#[test]
fn dotdot_at_root_stays() {
    let e = env();
    let mut t = e.task();
    file(&e, "/a/f", b"x", 0o644);
    let root_ino = stat(&mut t, "/").unwrap().st_ino;
    assert_eq!(stat(&mut t, "/../..").unwrap().st_ino, root_ino);
    assert_eq!(stat(&mut t, "/a/../../..").unwrap().st_ino, root_ino);
    assert_eq!(stat(&mut t, "/../a/../a/f").unwrap().st_size, 1);
    let p = s(&t, 0, "/../../a");
    call(&mut t, CHDIR, &[p]).unwrap();
    assert_eq!(getcwd(&mut t), b"/a");
    let p = s(&t, 0, "../../..");
    call(&mut t, CHDIR, &[p]).unwrap();
    assert_eq!(getcwd(&mut t), b"/");
}

#[test]
fn symlink_loops_and_limits() {
    let e = env();
    let mut t = e.task();
    file(&e, "/f", b"data", 0o644);
    symlink(&mut t, "self", "/self").unwrap();
    assert_eq!(stat(&mut t, "/self").unwrap_err(), Errno::ELOOP);
    assert_eq!(lstat(&mut t, "/self").unwrap().st_mode & S_IFMT, S_IFLNK);
    symlink(&mut t, "b", "/a").unwrap();
    symlink(&mut t, "a", "/b").unwrap();
    assert_eq!(stat(&mut t, "/a").unwrap_err(), Errno::ELOOP);
    assert_eq!(open(&mut t, "/a/x", O_RDONLY, 0).unwrap_err(), Errno::ELOOP);
    // A chain of 40 links resolves, 41 does not.
    symlink(&mut t, "/f", "/l0").unwrap();
    for i in 1..=40 {
        symlink(
            &mut t,
            &alloc::format!("l{}", i - 1),
            &alloc::format!("/l{i}"),
        )
        .unwrap();
    }
    assert_eq!(stat(&mut t, "/l39").unwrap().st_size, 4);
    assert_eq!(stat(&mut t, "/l40").unwrap_err(), Errno::ELOOP);
    // O_NOFOLLOW on a final symlink.
    assert_eq!(
        open(&mut t, "/l0", O_RDONLY | O_NOFOLLOW, 0).unwrap_err(),
        Errno::ELOOP
    );
    let fd = open(&mut t, "/l0", O_PATH | O_NOFOLLOW, 0).unwrap();
    let b = buf(&t, 2);
    call(&mut t, FSTAT, &[fd as u64, b]).unwrap();
    let st: Stat = t.mm.read_obj(UserAddr(b)).unwrap();
    assert_eq!(st.st_mode & S_IFMT, S_IFLNK);
    // Relative links resolve from their directory; `..` in a link.
    mkdir(&mut t, "/d").unwrap();
    symlink(&mut t, "../f", "/d/up").unwrap();
    assert_eq!(stat(&mut t, "/d/up").unwrap().st_size, 4);
    symlink(&mut t, "/d", "/dl").unwrap();
    assert_eq!(stat(&mut t, "/dl/up").unwrap().st_size, 4);
    // Dangling.
    symlink(&mut t, "nowhere", "/dang").unwrap();
    assert_eq!(stat(&mut t, "/dang").unwrap_err(), Errno::ENOENT);
}

#[test]
fn name_too_long() {
    let e = env();
    let mut t = e.task();
    let long = "x".repeat(256);
    assert_eq!(
        stat(&mut t, &alloc::format!("/{long}")).unwrap_err(),
        Errno::ENAMETOOLONG
    );
    assert_eq!(
        stat(&mut t, &alloc::format!("/{long}/y")).unwrap_err(),
        Errno::ENAMETOOLONG
    );
    let ok = "x".repeat(255);
    assert_eq!(
        stat(&mut t, &alloc::format!("/{ok}")).unwrap_err(),
        Errno::ENOENT
    );
    // A path of PATH_MAX bytes or more.
    let path = "/a".repeat(2048);
    assert_eq!(stat(&mut t, &path).unwrap_err(), Errno::ENAMETOOLONG);
    let path = "/a".repeat(2047);
    assert_eq!(stat(&mut t, &path).unwrap_err(), Errno::ENOENT);
}

#[test]
fn trailing_slash() {
    let e = env();
    let mut t = e.task();
    file(&e, "/f", b"", 0o644);
    mkdir(&mut t, "/d").unwrap();
    assert_eq!(stat(&mut t, "/f/").unwrap_err(), Errno::ENOTDIR);
    assert_eq!(stat(&mut t, "/f/.").unwrap_err(), Errno::ENOTDIR);
    assert_eq!(
        open(&mut t, "/f/", O_RDONLY, 0).unwrap_err(),
        Errno::ENOTDIR
    );
    assert!(stat(&mut t, "/d/").is_ok());
    assert!(stat(&mut t, "/d//.//").is_ok());
    assert_eq!(
        open(&mut t, "/new/", O_CREAT | O_WRONLY, 0o644).unwrap_err(),
        Errno::EISDIR
    );
    assert_eq!(
        open(&mut t, "/d/", O_CREAT | O_WRONLY, 0o644).unwrap_err(),
        Errno::EISDIR
    );
    let p = s(&t, 0, "/f/");
    assert_eq!(call(&mut t, UNLINK, &[p]).unwrap_err(), Errno::ENOTDIR);
    let p = s(&t, 0, "/d/");
    assert_eq!(call(&mut t, UNLINK, &[p]).unwrap_err(), Errno::EISDIR);
    mkdir(&mut t, "/e/").unwrap();
    let p = s(&t, 0, "/e/");
    call(&mut t, RMDIR, &[p]).unwrap();
    // A symlink to a directory with a trailing slash is followed.
    symlink(&mut t, "d", "/dl").unwrap();
    assert_eq!(lstat(&mut t, "/dl/").unwrap().st_mode & S_IFMT, S_IFDIR);
    symlink(&mut t, "f", "/fl").unwrap();
    assert_eq!(lstat(&mut t, "/fl/").unwrap_err(), Errno::ENOTDIR);
    // mknod / symlink with a trailing slash: ENOENT.
    let a = s(&t, 0, "f");
    let b = s(&t, 1, "/sl/");
    assert_eq!(call(&mut t, SYMLINK, &[a, b]).unwrap_err(), Errno::ENOENT);
}

#[test]
fn search_permission_and_enotdir() {
    let e = env();
    let mut root = e.task();
    file(&e, "/locked/f", b"x", 0o644);
    file(&e, "/plain", b"x", 0o644);
    let p = s(&root, 0, "/locked");
    call(&mut root, CHMOD, &[p, 0o700]).unwrap();
    let mut u = e.user();
    assert_eq!(stat(&mut u, "/locked/f").unwrap_err(), Errno::EACCES);
    assert_eq!(stat(&mut u, "/locked/..").unwrap_err(), Errno::EACCES);
    assert!(stat(&mut u, "/locked").is_ok());
    assert_eq!(stat(&mut u, "/plain/x").unwrap_err(), Errno::ENOTDIR);
    assert_eq!(stat(&mut root, "/locked/f").unwrap().st_size, 1);
}

// ---------------------------------------------------------------------
// open

#[test]
fn creat_excl_trunc_append() {
    let e = env();
    let mut t = e.task();
    let fd = open(&mut t, "/n", O_CREAT | O_EXCL | O_RDWR, 0o666).unwrap();
    assert_eq!(fd, 0);
    assert_eq!(stat(&mut t, "/n").unwrap().st_mode, S_IFREG | 0o644);
    assert_eq!(
        open(&mut t, "/n", O_CREAT | O_EXCL | O_RDWR, 0o666).unwrap_err(),
        Errno::EEXIST
    );
    write_str(&mut t, fd, "hello").unwrap();
    // O_EXCL refuses a dangling symlink; O_CREAT alone creates its target.
    symlink(&mut t, "target", "/dang").unwrap();
    assert_eq!(
        open(&mut t, "/dang", O_CREAT | O_EXCL | O_WRONLY, 0o600).unwrap_err(),
        Errno::EEXIST
    );
    let fd2 = open(&mut t, "/dang", O_CREAT | O_WRONLY, 0o600).unwrap();
    assert_eq!(stat(&mut t, "/target").unwrap().st_mode, S_IFREG | 0o600);
    call(&mut t, CLOSE, &[fd2 as u64]).unwrap();
    // O_TRUNC empties; O_APPEND writes at the end.
    let fd3 = open(&mut t, "/n", O_WRONLY | O_APPEND, 0).unwrap();
    write_str(&mut t, fd3, " world").unwrap();
    let fd4 = open(&mut t, "/n", O_RDONLY, 0).unwrap();
    assert_eq!(read_n(&mut t, fd4, 100).unwrap(), b"hello world");
    // pwrite on O_APPEND appends too (as Linux does).
    let b = buf(&t, 0);
    t.mm.copy_out(UserAddr(b), b"!").unwrap();
    call(&mut t, PWRITE64, &[fd3 as u64, b, 1, 0]).unwrap();
    assert_eq!(stat(&mut t, "/n").unwrap().st_size, 12);
    let fd5 = open(&mut t, "/n", O_WRONLY | O_TRUNC, 0).unwrap();
    assert_eq!(stat(&mut t, "/n").unwrap().st_size, 0);
    let _ = fd5;
    // umask.
    let p = s(&t, 0, "");
    let _ = p;
    assert_eq!(call(&mut t, UMASK, &[0o077]).unwrap(), 0o022);
    open(&mut t, "/m", O_CREAT | O_WRONLY, 0o666).unwrap();
    assert_eq!(stat(&mut t, "/m").unwrap().st_mode, S_IFREG | 0o600);
    // creat.
    let p = s(&t, 0, "/c");
    let fd = call(&mut t, CREAT, &[p, 0o644]).unwrap() as i32;
    assert_eq!(
        call(&mut t, FCNTL, &[fd as u64, F_GETFL as u64]).unwrap() as u32 & O_ACCMODE,
        O_WRONLY
    );
    // O_TMPFILE: EINVAL without write access, EOPNOTSUPP otherwise.
    assert_eq!(
        open(&mut t, "/", O_TMPFILE | O_RDONLY, 0o600).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(
        open(&mut t, "/", O_TMPFILE | O_RDWR, 0o600).unwrap_err(),
        Errno::EOPNOTSUPP
    );
    assert_eq!(
        open(&mut t, "/x", O_CREAT | O_DIRECTORY, 0o600).unwrap_err(),
        Errno::EINVAL
    );
}

#[test]
fn open_directories_and_types() {
    let e = env();
    let mut t = e.task();
    file(&e, "/f", b"abc", 0o644);
    mkdir(&mut t, "/d").unwrap();
    assert_eq!(open(&mut t, "/d", O_WRONLY, 0).unwrap_err(), Errno::EISDIR);
    assert_eq!(open(&mut t, "/d", O_RDWR, 0).unwrap_err(), Errno::EISDIR);
    assert_eq!(
        open(&mut t, "/d", O_RDONLY | O_TRUNC, 0).unwrap_err(),
        Errno::EISDIR
    );
    assert_eq!(
        open(&mut t, "/f", O_DIRECTORY, 0).unwrap_err(),
        Errno::ENOTDIR
    );
    let fd = open(&mut t, "/d", O_RDONLY | O_DIRECTORY, 0).unwrap();
    assert_eq!(read_n(&mut t, fd, 10).unwrap_err(), Errno::EISDIR);
    assert_eq!(read_n(&mut t, fd, 0).unwrap_err(), Errno::EISDIR);
    assert_eq!(write_str(&mut t, fd, "x").unwrap_err(), Errno::EBADF);
    assert_eq!(
        open(&mut t, "/missing", O_RDONLY, 0).unwrap_err(),
        Errno::ENOENT
    );
    assert_eq!(
        open(&mut t, "/missing/x", O_CREAT | O_RDWR, 0o600).unwrap_err(),
        Errno::ENOENT
    );
    // Wrong direction.
    let r = open(&mut t, "/f", O_RDONLY, 0).unwrap();
    assert_eq!(write_str(&mut t, r, "x").unwrap_err(), Errno::EBADF);
    let w = open(&mut t, "/f", O_WRONLY, 0).unwrap();
    assert_eq!(read_n(&mut t, w, 1).unwrap_err(), Errno::EBADF);
    // O_PATH: only a place.
    let p = open(&mut t, "/f", O_PATH | O_RDWR, 0).unwrap();
    assert_eq!(read_n(&mut t, p, 1).unwrap_err(), Errno::EBADF);
    assert_eq!(
        call(&mut t, FCNTL, &[p as u64, F_GETFL as u64]).unwrap() as u32,
        O_PATH
    );
    assert_eq!(
        call(&mut t, FCNTL, &[p as u64, F_SETFL as u64, 0]).unwrap_err(),
        Errno::EBADF
    );
    assert_eq!(
        call(&mut t, LSEEK, &[p as u64, 0, 0]).unwrap_err(),
        Errno::EBADF
    );
    let b = buf(&t, 2);
    call(&mut t, FSTAT, &[p as u64, b]).unwrap();
    let dp = open(&mut t, "/d", O_PATH, 0).unwrap();
    call(&mut t, FCHDIR, &[dp as u64]).unwrap();
    assert_eq!(getcwd(&mut t), b"/d");
    let rel = s(&t, 0, "../f");
    let fd = call(&mut t, OPENAT, &[dp as u64, rel, O_RDONLY as u64]).unwrap() as i32;
    assert_eq!(read_n(&mut t, fd, 10).unwrap(), b"abc");
    // A file as dirfd.
    assert_eq!(
        call(&mut t, OPENAT, &[r as u64, rel, O_RDONLY as u64]).unwrap_err(),
        Errno::ENOTDIR
    );
    // Absolute paths ignore dirfd, even a bad one.
    let abs = s(&t, 0, "/f");
    assert!(call(&mut t, OPENAT, &[999, abs, O_RDONLY as u64]).is_ok());
    let rel = s(&t, 0, "f");
    assert_eq!(
        call(&mut t, OPENAT, &[999, rel, O_RDONLY as u64]).unwrap_err(),
        Errno::EBADF
    );
    // Bad pointer.
    assert_eq!(
        call(&mut t, OPEN, &[0, O_RDONLY as u64]).unwrap_err(),
        Errno::EFAULT
    );
    // A FIFO opens as a stream.
    let p = s(&t, 0, "/fifo");
    call(&mut t, MKNOD, &[p, (S_IFIFO | 0o644) as u64, 0]).unwrap();
    let ff = open(&mut t, "/fifo", O_RDWR, 0).unwrap();
    assert_eq!(
        call(&mut t, LSEEK, &[ff as u64, 0, 0]).unwrap_err(),
        Errno::ESPIPE
    );
    let b = buf(&t, 0);
    assert_eq!(
        call(&mut t, PREAD64, &[ff as u64, b, 1, 0]).unwrap_err(),
        Errno::ESPIPE
    );
    // Devices cannot be made.
    let p = s(&t, 0, "/dev0");
    assert_eq!(
        call(&mut t, MKNOD, &[p, (S_IFCHR | 0o644) as u64, 0]).unwrap_err(),
        Errno::EPERM
    );
    assert_eq!(
        call(&mut t, MKNOD, &[p, (S_IFDIR | 0o644) as u64, 0]).unwrap_err(),
        Errno::EPERM
    );
    assert_eq!(
        call(&mut t, MKNOD, &[p, 0o170644, 0]).unwrap_err(),
        Errno::EINVAL
    );
}

#[test]
fn permissions_and_rofs() {
    let e = env();
    let mut root = e.task();
    file(&e, "/secret", b"s", 0o600);
    file(&e, "/pub", b"p", 0o644);
    mkdir(&mut root, "/mnt").unwrap();
    mkdir(&mut root, "/ro").unwrap();
    e.mount(&root, "/mnt", false);
    let ro = e.mount(&root, "/ro", true);
    ro.mknod(b"file", FileType::Regular, 0o666, 0, Owner::default())
        .unwrap();
    let mut u = e.user();
    assert_eq!(
        open(&mut u, "/secret", O_RDONLY, 0).unwrap_err(),
        Errno::EACCES
    );
    assert!(open(&mut u, "/pub", O_RDONLY, 0).is_ok());
    assert_eq!(
        open(&mut u, "/pub", O_WRONLY, 0).unwrap_err(),
        Errno::EACCES
    );
    assert_eq!(
        open(&mut u, "/new", O_CREAT | O_WRONLY, 0o644).unwrap_err(),
        Errno::EACCES
    );
    let fd = open(&mut u, "/mnt/mine", O_CREAT | O_WRONLY, 0o644).unwrap();
    assert!(fd >= 0);
    let st = stat(&mut u, "/mnt/mine").unwrap();
    assert_eq!((st.st_uid, st.st_gid, st.st_dev), (1000, 1000, DEV2));
    // Read-only mount.
    assert!(open(&mut root, "/ro/file", O_RDONLY, 0).is_ok());
    assert_eq!(
        open(&mut root, "/ro/file", O_WRONLY, 0).unwrap_err(),
        Errno::EROFS
    );
    assert_eq!(
        open(&mut root, "/ro/new", O_CREAT | O_WRONLY, 0o644).unwrap_err(),
        Errno::EROFS
    );
    assert_eq!(mkdir(&mut root, "/ro/d").unwrap_err(), Errno::EROFS);
    assert_eq!(mkdir(&mut root, "/ro/file").unwrap_err(), Errno::EEXIST);
    let p = s(&root, 0, "/ro/file");
    assert_eq!(call(&mut root, UNLINK, &[p]).unwrap_err(), Errno::EROFS);
    assert_eq!(
        call(&mut root, ACCESS, &[p, W_OK as u64]).unwrap_err(),
        Errno::EROFS
    );
    assert_eq!(
        call(&mut root, CHMOD, &[p, 0o600]).unwrap_err(),
        Errno::EROFS
    );
    let b = buf(&root, 2);
    call(&mut root, STATFS, &[p, b]).unwrap();
    let sf: veil_abi::Statfs = root.mm.read_obj(UserAddr(b)).unwrap();
    assert_eq!(sf.f_flags & 1, 1);
    // access uses the real ids.
    let p = s(&u, 0, "/secret");
    assert_eq!(
        call(&mut u, ACCESS, &[p, R_OK as u64]).unwrap_err(),
        Errno::EACCES
    );
    assert_eq!(call(&mut u, ACCESS, &[p, F_OK as u64]).unwrap(), 0);
    assert_eq!(call(&mut u, ACCESS, &[p, 8]).unwrap_err(), Errno::EINVAL);
    let p = s(&u, 0, "/pub");
    assert_eq!(call(&mut u, ACCESS, &[p, R_OK as u64]).unwrap(), 0);
    assert_eq!(
        call(
            &mut u,
            FACCESSAT2,
            &[AT_FDCWD as u64, p, R_OK as u64, 0x8000]
        )
        .unwrap_err(),
        Errno::EINVAL
    );
    // chmod by a non-owner.
    assert_eq!(call(&mut u, CHMOD, &[p, 0o777]).unwrap_err(), Errno::EPERM);
    assert_eq!(
        call(&mut u, CHOWN, &[p, 1000, u32::MAX as u64]).unwrap_err(),
        Errno::EPERM
    );
}

#[test]
fn openat2_resolve() {
    let e = env();
    let mut t = e.task();
    file(&e, "/top", b"t", 0o644);
    file(&e, "/jail/in", b"i", 0o644);
    symlink(&mut t, "/top", "/jail/abs").unwrap();
    symlink(&mut t, "in", "/jail/rel").unwrap();
    let jail = open(&mut t, "/jail", O_PATH | O_DIRECTORY, 0).unwrap() as u64;
    let how = buf(&t, 4);
    let go = |t: &mut Task, path: &str, flags: u64, resolve: u64, size: u64| {
        let p = s(t, 0, path);
        t.mm.write_obj(UserAddr(how), &[flags, 0u64, resolve, 0])
            .unwrap();
        call(t, OPENAT2, &[jail, p, how, size])
    };
    use crate::vfs::walk::*;
    assert!(go(&mut t, "in", 0, 0, 24).is_ok());
    assert_eq!(go(&mut t, "in", 0, 0, 16).unwrap_err(), Errno::EINVAL);
    assert!(go(&mut t, "in", 0, 0, 32).is_ok());
    assert_eq!(go(&mut t, "in", 0, 0, 8192).unwrap_err(), Errno::E2BIG);
    assert_eq!(go(&mut t, "in", 1 << 40, 0, 24).unwrap_err(), Errno::EINVAL);
    assert_eq!(go(&mut t, "in", 0, 0x1000, 24).unwrap_err(), Errno::EINVAL);
    assert_eq!(
        go(&mut t, "in", 0, RESOLVE_BENEATH | RESOLVE_IN_ROOT, 24).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(
        go(&mut t, "../top", 0, RESOLVE_BENEATH, 24).unwrap_err(),
        Errno::EXDEV
    );
    assert_eq!(
        go(&mut t, "/top", 0, RESOLVE_BENEATH, 24).unwrap_err(),
        Errno::EXDEV
    );
    assert_eq!(
        go(&mut t, "abs", 0, RESOLVE_BENEATH, 24).unwrap_err(),
        Errno::EXDEV
    );
    assert!(go(&mut t, "rel", 0, RESOLVE_BENEATH, 24).is_ok());
    assert!(go(&mut t, "./x/../in", 0, RESOLVE_BENEATH, 24).is_err());
    assert_eq!(
        go(&mut t, "rel", 0, RESOLVE_NO_SYMLINKS, 24).unwrap_err(),
        Errno::ELOOP
    );
    // In-root: `..` and absolute paths stay in the jail.
    assert_eq!(
        go(&mut t, "../../in", 0, RESOLVE_IN_ROOT, 24).map(|_| ()),
        Ok(())
    );
    assert_eq!(
        go(&mut t, "/in", 0, RESOLVE_IN_ROOT, 24).map(|_| ()),
        Ok(())
    );
    assert_eq!(
        go(&mut t, "/top", 0, RESOLVE_IN_ROOT, 24).unwrap_err(),
        Errno::ENOENT
    );
    // Mount crossing.
    mkdir(&mut t, "/jail/m").unwrap();
    e.mount(&t, "/jail/m", false);
    assert_eq!(
        go(&mut t, "m", 0, RESOLVE_NO_XDEV, 24).unwrap_err(),
        Errno::EXDEV
    );
    assert!(go(&mut t, "m", 0, 0, 24).is_ok());
    // Stray mode bits, O_PATH with other flags.
    let p = s(&t, 0, "in");
    t.mm.write_obj(UserAddr(how), &[0u64, 0o644, 0, 0]).unwrap();
    assert_eq!(
        call(&mut t, OPENAT2, &[jail, p, how, 24]).unwrap_err(),
        Errno::EINVAL
    );
    t.mm.write_obj(
        UserAddr(how),
        &[(O_PATH | O_RDWR | O_APPEND) as u64, 0, 0, 0],
    )
    .unwrap();
    assert_eq!(
        call(&mut t, OPENAT2, &[jail, p, how, 24]).unwrap_err(),
        Errno::EINVAL
    );
    // Non-zero bytes past the known struct.
    t.mm.write_obj(UserAddr(how), &[0u64, 0, 0, 1]).unwrap();
    assert_eq!(
        call(&mut t, OPENAT2, &[jail, p, how, 32]).unwrap_err(),
        Errno::E2BIG
    );
}

// ---------------------------------------------------------------------
// Descriptors

#[test]
fn dup_family() {
    let e = env();
    let mut t = e.task();
    file(&e, "/f", b"0123456789", 0o644);
    let fd = open(&mut t, "/f", O_RDONLY, 0).unwrap();
    assert_eq!(
        call(&mut t, DUP2, &[fd as u64, fd as u64]).unwrap(),
        fd as u64
    );
    assert_eq!(call(&mut t, DUP2, &[50, 50]).unwrap_err(), Errno::EBADF);
    assert_eq!(
        call(&mut t, DUP3, &[fd as u64, fd as u64, 0]).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(
        call(&mut t, DUP3, &[fd as u64, 9, 1]).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(
        call(&mut t, DUP2, &[fd as u64, 1 << 20]).unwrap_err(),
        Errno::EBADF
    );
    assert_eq!(
        call(&mut t, DUP3, &[fd as u64, 9, O_CLOEXEC as u64]).unwrap(),
        9
    );
    assert_eq!(
        call(&mut t, FCNTL, &[9, F_GETFD as u64]).unwrap(),
        FD_CLOEXEC as u64
    );
    // dup2 onto an open fd replaces it and clears close-on-exec.
    assert_eq!(call(&mut t, DUP2, &[fd as u64, 9]).unwrap(), 9);
    assert_eq!(call(&mut t, FCNTL, &[9, F_GETFD as u64]).unwrap(), 0);
    // The offset is shared.
    assert_eq!(read_n(&mut t, fd, 3).unwrap(), b"012");
    assert_eq!(read_n(&mut t, 9, 3).unwrap(), b"345");
    let d = call(&mut t, DUP, &[fd as u64]).unwrap();
    assert_eq!(d, 1);
    assert_eq!(call(&mut t, DUP, &[77]).unwrap_err(), Errno::EBADF);
    assert_eq!(call(&mut t, CLOSE, &[77]).unwrap_err(), Errno::EBADF);
    call(&mut t, CLOSE, &[d]).unwrap();
    assert_eq!(call(&mut t, CLOSE, &[d]).unwrap_err(), Errno::EBADF);
}

#[test]
fn close_range_calls() {
    let e = env();
    let mut t = e.task();
    file(&e, "/f", b"", 0o644);
    for _ in 0..8 {
        open(&mut t, "/f", O_RDONLY, 0).unwrap();
    }
    assert_eq!(
        call(&mut t, CLOSE_RANGE, &[5, 4, 0]).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(
        call(&mut t, CLOSE_RANGE, &[0, 1, 1]).unwrap_err(),
        Errno::EINVAL
    );
    call(&mut t, CLOSE_RANGE, &[2, 3, CLOSE_RANGE_CLOEXEC as u64]).unwrap();
    assert_eq!(call(&mut t, FCNTL, &[2, F_GETFD as u64]).unwrap(), 1);
    assert_eq!(call(&mut t, FCNTL, &[4, F_GETFD as u64]).unwrap(), 0);
    call(&mut t, CLOSE_RANGE, &[5, u32::MAX as u64, 0]).unwrap();
    assert_eq!(
        call(&mut t, FCNTL, &[5, F_GETFD as u64]).unwrap_err(),
        Errno::EBADF
    );
    assert_eq!(call(&mut t, FCNTL, &[4, F_GETFD as u64]).unwrap(), 0);
    let shared = t.fds.clone();
    call(&mut t, CLOSE_RANGE, &[0, 0, CLOSE_RANGE_UNSHARE as u64]).unwrap();
    assert!(shared.get(0).is_ok());
    assert!(t.fds.get(0).is_err());
    assert_eq!(open(&mut t, "/f", O_RDONLY, 0).unwrap(), 0);
}

#[test]
fn fcntl_flags() {
    let e = env();
    let mut t = e.task();
    file(&e, "/f", b"", 0o644);
    let fd = open(&mut t, "/f", O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0).unwrap() as u64;
    let fl = call(&mut t, FCNTL, &[fd, F_GETFL as u64]).unwrap() as u32;
    assert_eq!(fl, O_RDWR | O_APPEND | O_LARGEFILE);
    assert_eq!(call(&mut t, FCNTL, &[fd, F_GETFD as u64]).unwrap(), 1);
    call(
        &mut t,
        FCNTL,
        &[fd, F_SETFL as u64, (O_NONBLOCK | O_WRONLY) as u64],
    )
    .unwrap();
    let fl = call(&mut t, FCNTL, &[fd, F_GETFL as u64]).unwrap() as u32;
    assert_eq!(fl, O_RDWR | O_NONBLOCK | O_LARGEFILE);
    call(&mut t, FCNTL, &[fd, F_SETFD as u64, 0]).unwrap();
    assert_eq!(call(&mut t, FCNTL, &[fd, F_GETFD as u64]).unwrap(), 0);
    assert_eq!(call(&mut t, FCNTL, &[fd, F_DUPFD as u64, 10]).unwrap(), 10);
    assert_eq!(call(&mut t, FCNTL, &[fd, F_DUPFD as u64, 10]).unwrap(), 11);
    assert_eq!(
        call(&mut t, FCNTL, &[fd, F_DUPFD_CLOEXEC as u64, 3]).unwrap(),
        3
    );
    assert_eq!(call(&mut t, FCNTL, &[3, F_GETFD as u64]).unwrap(), 1);
    assert_eq!(
        call(&mut t, FCNTL, &[fd, F_DUPFD as u64, 1024]).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(call(&mut t, FCNTL, &[fd, 9999]).unwrap_err(), Errno::EINVAL);
    assert_eq!(
        call(&mut t, FCNTL, &[99, F_GETFD as u64]).unwrap_err(),
        Errno::EBADF
    );
    assert_eq!(
        call(&mut t, FCNTL, &[fd, F_GETPIPE_SZ as u64]).unwrap_err(),
        Errno::EBADF
    );
    // Locks: GETLK reports unlocked.
    let b = buf(&t, 2);
    let mut fl = [0u8; 32];
    fl[0..2].copy_from_slice(&1i16.to_ne_bytes());
    t.mm.copy_out(UserAddr(b), &fl).unwrap();
    call(&mut t, FCNTL, &[fd, F_GETLK as u64, b]).unwrap();
    let out: [u8; 32] = t.mm.read_obj(UserAddr(b)).unwrap();
    assert_eq!(i16::from_ne_bytes([out[0], out[1]]), 2);
    t.mm.copy_out(UserAddr(b), &fl).unwrap();
    call(&mut t, FCNTL, &[fd, F_SETLK as u64, b]).unwrap();
    fl[0..2].copy_from_slice(&7i16.to_ne_bytes());
    t.mm.copy_out(UserAddr(b), &fl).unwrap();
    assert_eq!(
        call(&mut t, FCNTL, &[fd, F_SETLK as u64, b]).unwrap_err(),
        Errno::EINVAL
    );
    // ioctl: FIOCLEX, FIONBIO, TCGETS on a file.
    call(&mut t, IOCTL, &[fd, FIOCLEX as u64]).unwrap();
    assert_eq!(call(&mut t, FCNTL, &[fd, F_GETFD as u64]).unwrap(), 1);
    call(&mut t, IOCTL, &[fd, FIONCLEX as u64]).unwrap();
    assert_eq!(call(&mut t, FCNTL, &[fd, F_GETFD as u64]).unwrap(), 0);
    t.mm.write_obj(UserAddr(b), &0i32).unwrap();
    call(&mut t, IOCTL, &[fd, FIONBIO as u64, b]).unwrap();
    let fl = call(&mut t, FCNTL, &[fd, F_GETFL as u64]).unwrap() as u32;
    assert_eq!(fl & O_NONBLOCK, 0);
    assert_eq!(
        call(&mut t, IOCTL, &[fd, TCGETS as u64, b]).unwrap_err(),
        Errno::ENOTTY
    );
    assert_eq!(
        call(&mut t, IOCTL, &[fd, FIONBIO as u64, 0]).unwrap_err(),
        Errno::EFAULT
    );
}

// ---------------------------------------------------------------------
// I/O

#[test]
fn lseek_edges() {
    let e = env();
    let mut t = e.task();
    file(&e, "/f", b"0123456789", 0o644);
    mkdir(&mut t, "/d").unwrap();
    let fd = open(&mut t, "/f", O_RDONLY, 0).unwrap() as u64;
    let neg = |v: i64| v as u64;
    assert_eq!(
        call(&mut t, LSEEK, &[fd, neg(-1), SEEK_SET as u64]).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(call(&mut t, LSEEK, &[fd, 4, SEEK_SET as u64]).unwrap(), 4);
    assert_eq!(
        call(&mut t, LSEEK, &[fd, neg(-5), SEEK_CUR as u64]).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(
        call(&mut t, LSEEK, &[fd, neg(-2), SEEK_CUR as u64]).unwrap(),
        2
    );
    assert_eq!(call(&mut t, LSEEK, &[fd, 0, SEEK_END as u64]).unwrap(), 10);
    assert_eq!(call(&mut t, LSEEK, &[fd, 5, SEEK_END as u64]).unwrap(), 15);
    assert_eq!(read_n(&mut t, fd as i32, 5).unwrap(), b"");
    assert_eq!(
        call(&mut t, LSEEK, &[fd, neg(-11), SEEK_END as u64]).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(call(&mut t, LSEEK, &[fd, 3, SEEK_DATA as u64]).unwrap(), 3);
    assert_eq!(call(&mut t, LSEEK, &[fd, 3, SEEK_HOLE as u64]).unwrap(), 10);
    assert_eq!(
        call(&mut t, LSEEK, &[fd, 10, SEEK_DATA as u64]).unwrap_err(),
        Errno::ENXIO
    );
    assert_eq!(call(&mut t, LSEEK, &[fd, 0, 5]).unwrap_err(), Errno::EINVAL);
    assert_eq!(
        call(&mut t, LSEEK, &[fd, i64::MAX as u64, SEEK_SET as u64]).unwrap(),
        i64::MAX as u64
    );
    assert_eq!(
        call(&mut t, LSEEK, &[fd, 1, SEEK_CUR as u64]).unwrap_err(),
        Errno::EINVAL
    );
    let b = buf(&t, 0);
    assert_eq!(call(&mut t, READ, &[fd, b, 4]).unwrap_err(), Errno::EINVAL);
    let dfd = open(&mut t, "/d", O_RDONLY, 0).unwrap() as u64;
    assert_eq!(
        call(&mut t, LSEEK, &[dfd, 0, SEEK_END as u64]).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(call(&mut t, LSEEK, &[dfd, 0, SEEK_SET as u64]).unwrap(), 0);
    assert_eq!(
        call(&mut t, LSEEK, &[99, 0, SEEK_SET as u64]).unwrap_err(),
        Errno::EBADF
    );
}

#[test]
fn read_write_vectors_and_faults() {
    let e = env();
    let mut t = e.task();
    let fd = open(&mut t, "/f", O_CREAT | O_RDWR, 0o644).unwrap() as u64;
    // Large write crosses several chunks.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let b = buf(&t, 3);
    t.mm.copy_out(UserAddr(b), &big).unwrap();
    assert_eq!(
        call(&mut t, WRITE, &[fd, b, big.len() as u64]).unwrap(),
        200_000
    );
    assert_eq!(call(&mut t, LSEEK, &[fd, 0, 0]).unwrap(), 0);
    let b2 = buf(&t, 7);
    assert_eq!(call(&mut t, READ, &[fd, b2, 300_000]).unwrap(), 200_000);
    let mut back = vec![0u8; 200_000];
    t.mm.copy_in(UserAddr(b2), &mut back).unwrap();
    assert_eq!(back, big);
    // pread / pwrite leave the offset.
    let pos = call(&mut t, LSEEK, &[fd, 0, SEEK_CUR as u64]).unwrap();
    t.mm.copy_out(UserAddr(b), b"XY").unwrap();
    assert_eq!(call(&mut t, PWRITE64, &[fd, b, 2, 1]).unwrap(), 2);
    assert_eq!(call(&mut t, PREAD64, &[fd, b2, 4, 0]).unwrap(), 4);
    let got: [u8; 4] = t.mm.read_obj(UserAddr(b2)).unwrap();
    assert_eq!(got, [0, b'X', b'Y', 3]);
    assert_eq!(call(&mut t, LSEEK, &[fd, 0, SEEK_CUR as u64]).unwrap(), pos);
    assert_eq!(
        call(&mut t, PREAD64, &[fd, b2, 4, (-1i64) as u64]).unwrap_err(),
        Errno::EINVAL
    );
    // readv / writev.
    call(&mut t, FTRUNCATE, &[fd, 0]).unwrap();
    call(&mut t, LSEEK, &[fd, 0, 0]).unwrap();
    t.mm.copy_out(UserAddr(b), b"abcdef").unwrap();
    let iov = buf(&t, 5);
    let v = [
        Iovec { base: b, len: 2 },
        Iovec { base: b, len: 0 },
        Iovec {
            base: b + 2,
            len: 4,
        },
    ];
    t.mm.write_obj(UserAddr(iov), &v).unwrap();
    assert_eq!(call(&mut t, WRITEV, &[fd, iov, 3]).unwrap(), 6);
    let v = [
        Iovec { base: b2, len: 1 },
        Iovec {
            base: b2 + 10,
            len: 10,
        },
    ];
    t.mm.write_obj(UserAddr(iov), &v).unwrap();
    assert_eq!(call(&mut t, PREADV, &[fd, iov, 2, 0]).unwrap(), 6);
    let mut one = [0u8; 1];
    t.mm.copy_in(UserAddr(b2), &mut one).unwrap();
    assert_eq!(&one, b"a");
    let mut rest = [0u8; 5];
    t.mm.copy_in(UserAddr(b2 + 10), &mut rest).unwrap();
    assert_eq!(&rest, b"bcdef");
    assert_eq!(
        call(&mut t, READV, &[fd, iov, 1025]).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(call(&mut t, READV, &[fd, iov, 0]).unwrap(), 0);
    assert_eq!(call(&mut t, READV, &[fd, 0, 1]).unwrap_err(), Errno::EFAULT);
    let v = [Iovec {
        base: b2,
        len: u64::MAX,
    }];
    t.mm.write_obj(UserAddr(iov), &v).unwrap();
    assert_eq!(
        call(&mut t, READV, &[fd, iov, 1]).unwrap_err(),
        Errno::EINVAL
    );
    // preadv2 with flags.
    let v = [Iovec { base: b2, len: 3 }];
    t.mm.write_obj(UserAddr(iov), &v).unwrap();
    assert_eq!(call(&mut t, PREADV2, &[fd, iov, 1, 1, 0, 0]).unwrap(), 3);
    assert_eq!(
        call(&mut t, PREADV2, &[fd, iov, 1, 1, 0, 0x100]).unwrap_err(),
        Errno::EOPNOTSUPP
    );
    // Bad buffers: nothing moved is EFAULT; a partial move counts.
    call(&mut t, LSEEK, &[fd, 0, 0]).unwrap();
    assert_eq!(call(&mut t, READ, &[fd, 0, 4]).unwrap_err(), Errno::EFAULT);
    assert_eq!(call(&mut t, WRITE, &[fd, 0, 4]).unwrap_err(), Errno::EFAULT);
    assert_eq!(
        call(&mut t, READ, &[fd, u64::MAX - 2, 4]).unwrap_err(),
        Errno::EFAULT
    );
    let end = scratch(&t) + SCRATCH - 2;
    call(&mut t, LSEEK, &[fd, 0, 0]).unwrap();
    assert_eq!(call(&mut t, READ, &[fd, end, 6]).unwrap(), 2);
    let v = [Iovec { base: b, len: 3 }, Iovec { base: 8, len: 3 }];
    t.mm.write_obj(UserAddr(iov), &v).unwrap();
    assert_eq!(call(&mut t, WRITEV, &[fd, iov, 2]).unwrap(), 3);
    // Zero counts.
    assert_eq!(call(&mut t, READ, &[fd, 0, 0]).unwrap(), 0);
    assert_eq!(call(&mut t, WRITE, &[fd, 0, 0]).unwrap(), 0);
    assert_eq!(call(&mut t, READ, &[99, b, 1]).unwrap_err(), Errno::EBADF);
}

#[test]
fn stream_reads_return_what_is_there() {
    let e = env();
    let mut t = e.task();
    let p = s(&t, 0, "/fifo");
    call(&mut t, MKNOD, &[p, (S_IFIFO | 0o644) as u64, 0]).unwrap();
    // A FIFO is a pipe: O_RDWR never waits for the other end.
    let fd = open(&mut t, "/fifo", O_RDWR, 0).unwrap();
    write_str(&mut t, fd, "0123456789").unwrap();
    // One read call per read(2) on a stream: at most what the file gives.
    assert_eq!(read_n(&mut t, fd, 100).unwrap(), b"0123456789");
    write_str(&mut t, fd, "abcdef").unwrap();
    assert_eq!(read_n(&mut t, fd, 100).unwrap(), b"abcdef");
    // Every opener shares the one pipe; it empties when the last goes.
    let fd2 = open(&mut t, "/fifo", O_WRONLY | O_NONBLOCK, 0).unwrap();
    write_str(&mut t, fd2, "xyz").unwrap();
    assert_eq!(read_n(&mut t, fd, 100).unwrap(), b"xyz");
    write_str(&mut t, fd2, "lost").unwrap();
    call(&mut t, CLOSE, &[fd2 as u64]).unwrap();
    call(&mut t, CLOSE, &[fd as u64]).unwrap();
    let fd = open(&mut t, "/fifo", O_RDONLY | O_NONBLOCK, 0).unwrap();
    assert_eq!(read_n(&mut t, fd, 100).unwrap(), b"");
    assert_eq!(
        open(&mut t, "/fifo", O_WRONLY | O_NONBLOCK | 2, 0).unwrap_err(),
        Errno::EINVAL
    );
}

#[test]
fn getdents64_small_buffers() {
    let e = env();
    let mut t = e.task();
    mkdir(&mut t, "/d").unwrap();
    for name in ["alpha", "beta", "gamma"] {
        open(
            &mut t,
            &alloc::format!("/d/{name}"),
            O_CREAT | O_WRONLY,
            0o644,
        )
        .unwrap();
    }
    mkdir(&mut t, "/d/sub").unwrap();
    let fd = open(&mut t, "/d", O_RDONLY | O_DIRECTORY, 0).unwrap() as u64;
    let b = buf(&t, 2);
    // Too small for the first record.
    assert_eq!(
        call(&mut t, GETDENTS64, &[fd, b, 10]).unwrap_err(),
        Errno::EINVAL
    );
    // One record at a time.
    let mut names = Vec::new();
    let mut types = Vec::new();
    loop {
        let n = call(&mut t, GETDENTS64, &[fd, b, 32]).unwrap() as usize;
        if n == 0 {
            break;
        }
        let mut raw = vec![0u8; n];
        t.mm.copy_in(UserAddr(b), &mut raw).unwrap();
        let reclen = u16::from_ne_bytes([raw[16], raw[17]]) as usize;
        assert_eq!(reclen, n);
        let name: Vec<u8> = raw[19..].iter().take_while(|&&c| c != 0).copied().collect();
        names.push(name);
        types.push(raw[18]);
    }
    assert_eq!(
        names,
        [&b"."[..], b"..", b"alpha", b"beta", b"gamma", b"sub"]
    );
    assert_eq!(types, [DT_DIR, DT_DIR, DT_REG, DT_REG, DT_REG, DT_DIR]);
    // Rewind and read all at once; `alpha` (5 bytes) needs 32.
    call(&mut t, LSEEK, &[fd, 0, 0]).unwrap();
    let n = call(&mut t, GETDENTS64, &[fd, b, 4096]).unwrap();
    assert_eq!(n, 24 + 24 + 32 + 24 + 32 + 24);
    // Seeking to a d_off resumes there.
    let mut raw = vec![0u8; n as usize];
    t.mm.copy_in(UserAddr(b), &mut raw).unwrap();
    let off_after_dotdot = i64::from_ne_bytes(raw[24 + 8..24 + 16].try_into().unwrap());
    call(&mut t, LSEEK, &[fd, off_after_dotdot as u64, 0]).unwrap();
    let n = call(&mut t, GETDENTS64, &[fd, b, 40]).unwrap();
    assert_eq!(n, 32);
    // Old getdents; not a directory; bad buffer.
    call(&mut t, LSEEK, &[fd, 0, 0]).unwrap();
    let n = call(&mut t, GETDENTS, &[fd, b, 4096]).unwrap();
    assert_eq!(n, 24 + 24 + 32 + 24 + 32 + 24);
    let f = open(&mut t, "/d/alpha", O_RDONLY, 0).unwrap() as u64;
    assert_eq!(
        call(&mut t, GETDENTS64, &[f, b, 4096]).unwrap_err(),
        Errno::ENOTDIR
    );
    call(&mut t, LSEEK, &[fd, 0, 0]).unwrap();
    assert_eq!(
        call(&mut t, GETDENTS64, &[fd, 0, 4096]).unwrap_err(),
        Errno::EFAULT
    );
    // The failed call did not consume entries.
    assert_eq!(call(&mut t, GETDENTS64, &[fd, b, 24]).unwrap(), 24);
}

// ---------------------------------------------------------------------
// Names

#[test]
fn rename_rules() {
    let e = env();
    let mut t = e.task();
    mkdir(&mut t, "/a").unwrap();
    mkdir(&mut t, "/a/b").unwrap();
    mkdir(&mut t, "/full").unwrap();
    file(&e, "/full/x", b"", 0o644);
    file(&e, "/f", b"1", 0o644);
    file(&e, "/g", b"22", 0o644);
    assert_eq!(
        rename(&mut t, "/a", "/a/b/c", 0).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(rename(&mut t, "/a", "/a/c", 0).unwrap_err(), Errno::EINVAL);
    assert_eq!(
        rename(&mut t, "/a/b", "/a", 0).unwrap_err(),
        Errno::ENOTEMPTY
    );
    assert_eq!(
        rename(&mut t, "/a", "/full", 0).unwrap_err(),
        Errno::ENOTEMPTY
    );
    assert_eq!(rename(&mut t, "/f", "/a", 0).unwrap_err(), Errno::EISDIR);
    assert_eq!(rename(&mut t, "/a", "/f", 0).unwrap_err(), Errno::ENOTDIR);
    assert_eq!(
        rename(&mut t, "/f", "/g", RENAME_NOREPLACE).unwrap_err(),
        Errno::EEXIST
    );
    assert_eq!(rename(&mut t, "/f", "/g", 8).unwrap_err(), Errno::EINVAL);
    assert_eq!(
        rename(&mut t, "/f", "/g", RENAME_NOREPLACE | RENAME_EXCHANGE).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(rename(&mut t, "/nope", "/g", 0).unwrap_err(), Errno::ENOENT);
    assert_eq!(rename(&mut t, "/f/", "/h", 0).unwrap_err(), Errno::ENOTDIR);
    assert_eq!(rename(&mut t, "/", "/h", 0).unwrap_err(), Errno::EBUSY);
    assert_eq!(rename(&mut t, "/a/.", "/h", 0).unwrap_err(), Errno::EBUSY);
    // Replace a file; the dentry cache follows.
    rename(&mut t, "/f", "/g", 0).unwrap();
    assert_eq!(stat(&mut t, "/g").unwrap().st_size, 1);
    assert_eq!(stat(&mut t, "/f").unwrap_err(), Errno::ENOENT);
    // Exchange.
    file(&e, "/h", b"333", 0o644);
    rename(&mut t, "/g", "/h", RENAME_EXCHANGE).unwrap();
    assert_eq!(stat(&mut t, "/g").unwrap().st_size, 3);
    assert_eq!(stat(&mut t, "/h").unwrap().st_size, 1);
    // Moving the cwd's parent: getcwd follows.
    let p = s(&t, 0, "/a/b");
    call(&mut t, CHDIR, &[p]).unwrap();
    rename(&mut t, "/a", "/z", 0).unwrap();
    assert_eq!(getcwd(&mut t), b"/z/b");
    assert!(stat(&mut t, "/z/b").is_ok());
    assert_eq!(stat(&mut t, "/a").unwrap_err(), Errno::ENOENT);
    // Across mounts.
    mkdir(&mut t, "/mnt").unwrap();
    e.mount(&t, "/mnt", false);
    assert_eq!(rename(&mut t, "/g", "/mnt/g", 0).unwrap_err(), Errno::EXDEV);
    assert_eq!(
        rename(&mut t, "/mnt", "/mnt2", 0).unwrap_err(),
        Errno::EBUSY
    );
    // Renaming a name onto a hard link of itself does nothing.
    let a = s(&t, 0, "/g");
    let b = s(&t, 1, "/g2");
    call(&mut t, LINK, &[a, b]).unwrap();
    rename(&mut t, "/g", "/g2", 0).unwrap();
    assert!(stat(&mut t, "/g").is_ok());
}

#[test]
fn unlink_rmdir_link_symlink() {
    let e = env();
    let mut t = e.task();
    mkdir(&mut t, "/d").unwrap();
    mkdir(&mut t, "/full").unwrap();
    file(&e, "/full/x", b"", 0o644);
    file(&e, "/f", b"abc", 0o644);
    let rm = |t: &mut Task, p: &str| {
        let a = s(t, 0, p);
        call(t, RMDIR, &[a])
    };
    assert_eq!(rm(&mut t, "/d/.").unwrap_err(), Errno::EINVAL);
    assert_eq!(rm(&mut t, "/d/..").unwrap_err(), Errno::ENOTEMPTY);
    assert_eq!(rm(&mut t, "/").unwrap_err(), Errno::EBUSY);
    assert_eq!(rm(&mut t, "/f").unwrap_err(), Errno::ENOTDIR);
    assert_eq!(rm(&mut t, "/full").unwrap_err(), Errno::ENOTEMPTY);
    assert_eq!(rm(&mut t, "/none").unwrap_err(), Errno::ENOENT);
    mkdir(&mut t, "/mnt").unwrap();
    e.mount(&t, "/mnt", false);
    assert_eq!(rm(&mut t, "/mnt").unwrap_err(), Errno::EBUSY);
    rm(&mut t, "/d").unwrap();
    assert_eq!(stat(&mut t, "/d").unwrap_err(), Errno::ENOENT);
    let p = s(&t, 0, "/full");
    assert_eq!(call(&mut t, UNLINK, &[p]).unwrap_err(), Errno::EISDIR);
    let p = s(&t, 0, "/");
    assert_eq!(call(&mut t, UNLINK, &[p]).unwrap_err(), Errno::EISDIR);
    let p = s(&t, 0, "/full");
    assert_eq!(
        call(&mut t, UNLINKAT, &[AT_FDCWD as u64, p, 0x1]).unwrap_err(),
        Errno::EINVAL
    );
    let p = s(&t, 0, "/full/x");
    call(&mut t, UNLINKAT, &[AT_FDCWD as u64, p, 0]).unwrap();
    let p = s(&t, 0, "/full");
    call(&mut t, UNLINKAT, &[AT_FDCWD as u64, p, AT_REMOVEDIR as u64]).unwrap();
    // Hard links.
    let a = s(&t, 0, "/f");
    let b = s(&t, 1, "/f2");
    call(&mut t, LINK, &[a, b]).unwrap();
    assert_eq!(stat(&mut t, "/f2").unwrap().st_nlink, 2);
    assert_eq!(call(&mut t, LINK, &[a, b]).unwrap_err(), Errno::EEXIST);
    let b = s(&t, 1, "/mnt/f");
    assert_eq!(call(&mut t, LINK, &[a, b]).unwrap_err(), Errno::EXDEV);
    mkdir(&mut t, "/plaindir").unwrap();
    let a = s(&t, 0, "/plaindir");
    let b = s(&t, 1, "/dirlink");
    assert_eq!(call(&mut t, LINK, &[a, b]).unwrap_err(), Errno::EPERM);
    // linkat: symlinks are not followed unless asked.
    symlink(&mut t, "f", "/sl").unwrap();
    let a = s(&t, 0, "/sl");
    let b = s(&t, 1, "/sl2");
    call(&mut t, LINKAT, &[AT_FDCWD as u64, a, AT_FDCWD as u64, b, 0]).unwrap();
    assert_eq!(lstat(&mut t, "/sl2").unwrap().st_mode & S_IFMT, S_IFLNK);
    let b = s(&t, 1, "/sl3");
    call(
        &mut t,
        LINKAT,
        &[
            AT_FDCWD as u64,
            a,
            AT_FDCWD as u64,
            b,
            AT_SYMLINK_FOLLOW as u64,
        ],
    )
    .unwrap();
    assert_eq!(lstat(&mut t, "/sl3").unwrap().st_mode & S_IFMT, S_IFREG);
    assert_eq!(
        call(
            &mut t,
            LINKAT,
            &[AT_FDCWD as u64, a, AT_FDCWD as u64, b, 0x2]
        )
        .unwrap_err(),
        Errno::EINVAL
    );
    // AT_EMPTY_PATH links an open file.
    let fd = open(&mut t, "/f", O_RDONLY, 0).unwrap() as u64;
    let a = s(&t, 0, "");
    let b = s(&t, 1, "/f4");
    call(
        &mut t,
        LINKAT,
        &[fd, a, AT_FDCWD as u64, b, AT_EMPTY_PATH as u64],
    )
    .unwrap();
    // f, f2, sl3 (the followed link) and f4.
    assert_eq!(stat(&mut t, "/f4").unwrap().st_nlink, 4);
    // readlink.
    let p = s(&t, 0, "/sl");
    let b = buf(&t, 0);
    assert_eq!(
        call(&mut t, READLINK, &[p, b, 0]).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(call(&mut t, READLINK, &[p, b, 100]).unwrap(), 1);
    let p = s(&t, 0, "/f");
    assert_eq!(
        call(&mut t, READLINK, &[p, b, 100]).unwrap_err(),
        Errno::EINVAL
    );
    symlink(&mut t, "a/long/target", "/lt").unwrap();
    let p = s(&t, 0, "/lt");
    assert_eq!(call(&mut t, READLINK, &[p, b, 4]).unwrap(), 4);
    let mut got = [0u8; 4];
    t.mm.copy_in(UserAddr(b), &mut got).unwrap();
    assert_eq!(&got, b"a/lo");
    let e2 = s(&t, 0, "");
    assert_eq!(
        call(&mut t, READLINKAT, &[fd, e2, b, 100]).unwrap_err(),
        Errno::ENOENT
    );
    let a = s(&t, 0, "");
    let b = s(&t, 1, "/empty");
    assert_eq!(call(&mut t, SYMLINK, &[a, b]).unwrap_err(), Errno::ENOENT);
    // mkdir over an existing name, and the dot cases.
    assert_eq!(mkdir(&mut t, "/f").unwrap_err(), Errno::EEXIST);
    assert_eq!(mkdir(&mut t, "/").unwrap_err(), Errno::EEXIST);
    assert_eq!(mkdir(&mut t, "/mnt/..").unwrap_err(), Errno::EEXIST);
}

#[test]
fn sticky_directories() {
    let e = env();
    let mut root = e.task();
    mkdir(&mut root, "/tmp").unwrap();
    let p = s(&root, 0, "/tmp");
    call(&mut root, CHMOD, &[p, 0o1777]).unwrap();
    file(&e, "/tmp/roots", b"", 0o666);
    let mut u = e.user();
    open(&mut u, "/tmp/mine", O_CREAT | O_WRONLY, 0o644).unwrap();
    let p = s(&u, 0, "/tmp/roots");
    assert_eq!(call(&mut u, UNLINK, &[p]).unwrap_err(), Errno::EPERM);
    let p = s(&u, 0, "/tmp/mine");
    call(&mut u, UNLINK, &[p]).unwrap();
}

// ---------------------------------------------------------------------
// Attributes

#[test]
fn stat_family() {
    let e = env();
    let mut t = e.task();
    file(&e, "/f", b"hello", 0o640);
    symlink(&mut t, "f", "/l").unwrap();
    let st = stat(&mut t, "/l").unwrap();
    assert_eq!(
        (st.st_mode, st.st_size, st.st_dev),
        (S_IFREG | 0o640, 5, DEV)
    );
    let st = lstat(&mut t, "/l").unwrap();
    assert_eq!(st.st_mode & S_IFMT, S_IFLNK);
    // newfstatat with AT_EMPTY_PATH and flags.
    let fd = open(&mut t, "/f", O_RDONLY, 0).unwrap() as u64;
    let e0 = s(&t, 5, "");
    let b = buf(&t, 2);
    call(&mut t, NEWFSTATAT, &[fd, e0, b, AT_EMPTY_PATH as u64]).unwrap();
    let st: Stat = t.mm.read_obj(UserAddr(b)).unwrap();
    assert_eq!(st.st_size, 5);
    assert_eq!(
        call(&mut t, NEWFSTATAT, &[fd, e0, b, 0]).unwrap_err(),
        Errno::ENOENT
    );
    assert_eq!(
        call(&mut t, NEWFSTATAT, &[fd, e0, b, 0x4]).unwrap_err(),
        Errno::EINVAL
    );
    call(&mut t, NEWFSTATAT, &[fd, 0, b, AT_EMPTY_PATH as u64]).unwrap();
    let p = s(&t, 0, "/l");
    call(
        &mut t,
        NEWFSTATAT,
        &[AT_FDCWD as u64, p, b, AT_SYMLINK_NOFOLLOW as u64],
    )
    .unwrap();
    let st: Stat = t.mm.read_obj(UserAddr(b)).unwrap();
    assert_eq!(st.st_mode & S_IFMT, S_IFLNK);
    assert_eq!(call(&mut t, STAT, &[p, 0]).unwrap_err(), Errno::EFAULT);
    assert_eq!(call(&mut t, FSTAT, &[99, b]).unwrap_err(), Errno::EBADF);
    // statx.
    call(
        &mut t,
        STATX,
        &[AT_FDCWD as u64, p, 0, STATX_BASIC_STATS as u64, b],
    )
    .unwrap();
    let sx: Statx = t.mm.read_obj(UserAddr(b)).unwrap();
    assert_eq!(sx.stx_mask, STATX_BASIC_STATS | STATX_MNT_ID);
    assert_eq!((sx.stx_size, sx.stx_mode as u32), (5, S_IFREG | 0o640));
    assert_eq!((sx.stx_dev_major, sx.stx_dev_minor), (0, 50));
    // Mount 1 is the namespace's hidden rootfs; the root is 2.
    assert_eq!(sx.stx_mnt_id, 2);
    call(
        &mut t,
        STATX,
        &[
            AT_FDCWD as u64,
            p,
            AT_SYMLINK_NOFOLLOW as u64,
            STATX_BASIC_STATS as u64,
            b,
        ],
    )
    .unwrap();
    let sx: Statx = t.mm.read_obj(UserAddr(b)).unwrap();
    assert_eq!(sx.stx_mode as u32 & S_IFMT, S_IFLNK);
    assert_eq!(
        call(&mut t, STATX, &[AT_FDCWD as u64, p, 0x6000, 0, b]).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(
        call(
            &mut t,
            STATX,
            &[AT_FDCWD as u64, p, 0, STATX__RESERVED as u64, b]
        )
        .unwrap_err(),
        Errno::EINVAL
    );
    // A runtime-provided stdio file without a path.
    t.fds
        .set(
            7,
            OpenFile::new(Arc::new(TtyOps), None, O_RDWR),
            false,
            1024,
        )
        .unwrap();
    call(&mut t, FSTAT, &[7, b]).unwrap();
    let st: Stat = t.mm.read_obj(UserAddr(b)).unwrap();
    assert_eq!(st.st_mode, S_IFCHR | 0o620);
    assert_eq!(st.st_rdev, veil_abi::makedev(136, 0));
    call(&mut t, STATX, &[7, e0, AT_EMPTY_PATH as u64, 0, b]).unwrap();
    let sx: Statx = t.mm.read_obj(UserAddr(b)).unwrap();
    assert_eq!((sx.stx_rdev_major, sx.stx_mask), (136, STATX_BASIC_STATS));
    assert_eq!(call(&mut t, LSEEK, &[7, 0, 0]).unwrap_err(), Errno::ESPIPE);
    assert_eq!(
        call(&mut t, GETDENTS64, &[7, b, 100]).unwrap_err(),
        Errno::ENOTDIR
    );
    assert_eq!(call(&mut t, FCHDIR, &[7]).unwrap_err(), Errno::ENOTDIR);
    call(&mut t, FSTATFS, &[7, b]).unwrap();
}

#[test]
fn chmod_chown_truncate_utimes() {
    let e = env();
    let mut t = e.task();
    file(&e, "/f", b"hello", 0o644);
    let p = s(&t, 0, "/f");
    call(&mut t, CHMOD, &[p, 0o4755]).unwrap();
    assert_eq!(stat(&mut t, "/f").unwrap().st_mode, S_IFREG | 0o4755);
    call(&mut t, CHOWN, &[p, 1000, 1000]).unwrap();
    let st = stat(&mut t, "/f").unwrap();
    assert_eq!(
        (st.st_uid, st.st_gid, st.st_mode),
        (1000, 1000, S_IFREG | 0o755)
    );
    call(&mut t, CHOWN, &[p, u32::MAX as u64, 5]).unwrap();
    assert_eq!(stat(&mut t, "/f").unwrap().st_uid, 1000);
    assert_eq!(stat(&mut t, "/f").unwrap().st_gid, 5);
    // fchmodat2 with AT_SYMLINK_NOFOLLOW on a symlink.
    symlink(&mut t, "f", "/l").unwrap();
    let l = s(&t, 1, "/l");
    assert_eq!(
        call(
            &mut t,
            FCHMODAT2,
            &[AT_FDCWD as u64, l, 0o600, AT_SYMLINK_NOFOLLOW as u64]
        )
        .unwrap_err(),
        Errno::EOPNOTSUPP
    );
    call(&mut t, FCHMODAT, &[AT_FDCWD as u64, l, 0o600]).unwrap();
    assert_eq!(stat(&mut t, "/f").unwrap().st_mode, S_IFREG | 0o600);
    // truncate.
    assert_eq!(
        call(&mut t, TRUNCATE, &[p, (-1i64) as u64]).unwrap_err(),
        Errno::EINVAL
    );
    call(&mut t, TRUNCATE, &[p, 2]).unwrap();
    assert_eq!(stat(&mut t, "/f").unwrap().st_size, 2);
    let d = s(&t, 1, "/");
    assert_eq!(call(&mut t, TRUNCATE, &[d, 2]).unwrap_err(), Errno::EISDIR);
    let fd = open(&mut t, "/f", O_RDONLY, 0).unwrap() as u64;
    assert_eq!(
        call(&mut t, FTRUNCATE, &[fd, 0]).unwrap_err(),
        Errno::EINVAL
    );
    let wfd = open(&mut t, "/f", O_RDWR, 0).unwrap() as u64;
    call(&mut t, FTRUNCATE, &[wfd, 8]).unwrap();
    assert_eq!(stat(&mut t, "/f").unwrap().st_size, 8);
    call(&mut t, FALLOCATE, &[wfd, 0, 4, 20]).unwrap();
    assert_eq!(stat(&mut t, "/f").unwrap().st_size, 24);
    call(&mut t, FALLOCATE, &[wfd, 1, 4, 100]).unwrap();
    assert_eq!(stat(&mut t, "/f").unwrap().st_size, 24);
    assert_eq!(
        call(&mut t, FALLOCATE, &[wfd, 0, 4, 0]).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(
        call(&mut t, FALLOCATE, &[fd, 0, 4, 4]).unwrap_err(),
        Errno::EBADF
    );
    assert_eq!(
        call(&mut t, FALLOCATE, &[wfd, 0x8, 4, 4]).unwrap_err(),
        Errno::EOPNOTSUPP
    );
    call(&mut t, FSYNC, &[wfd]).unwrap();
    call(&mut t, FDATASYNC, &[wfd]).unwrap();
    assert_eq!(call(&mut t, FSYNC, &[99]).unwrap_err(), Errno::EBADF);
    // utimensat.
    let ts = buf(&t, 4);
    let times = [
        Timespec {
            tv_sec: 100,
            tv_nsec: 5,
        },
        Timespec {
            tv_sec: 200,
            tv_nsec: UTIME_OMIT,
        },
    ];
    t.mm.write_obj(UserAddr(ts), &times).unwrap();
    call(&mut t, UTIMENSAT, &[AT_FDCWD as u64, p, ts, 0]).unwrap();
    let st = stat(&mut t, "/f").unwrap();
    assert_eq!((st.st_atime, st.st_atime_nsec), (100, 5));
    let times = [
        Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        },
        Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        },
    ];
    t.mm.write_obj(UserAddr(ts), &times).unwrap();
    let missing = s(&t, 1, "/missing");
    assert_eq!(
        call(&mut t, UTIMENSAT, &[AT_FDCWD as u64, missing, ts, 0]).unwrap(),
        0
    );
    let bad = [Timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000_000,
    }; 2];
    t.mm.write_obj(UserAddr(ts), &bad).unwrap();
    assert_eq!(
        call(&mut t, UTIMENSAT, &[AT_FDCWD as u64, p, ts, 0]).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(
        call(&mut t, UTIMENSAT, &[AT_FDCWD as u64, 0, 0, 0]).unwrap_err(),
        Errno::EFAULT
    );
    call(&mut t, UTIMENSAT, &[wfd, 0, 0, 0]).unwrap();
    assert_eq!(
        call(&mut t, UTIMENSAT, &[wfd, 0, 0, AT_SYMLINK_NOFOLLOW as u64]).unwrap_err(),
        Errno::EINVAL
    );
    // A non-owner may touch with write permission but not set times.
    call(&mut t, CHMOD, &[p, 0o666]).unwrap();
    call(&mut t, CHOWN, &[p, 0, 0]).unwrap();
    let mut u = e.user();
    let pu = s(&u, 0, "/f");
    call(&mut u, UTIMENSAT, &[AT_FDCWD as u64, pu, 0, 0]).unwrap();
    let ts = buf(&u, 4);
    u.mm.write_obj(UserAddr(ts), &[Timespec::default(); 2])
        .unwrap();
    assert_eq!(
        call(&mut u, UTIMENSAT, &[AT_FDCWD as u64, pu, ts, 0]).unwrap_err(),
        Errno::EPERM
    );
    u.mm.write_obj(UserAddr(ts), &[7i64, 8i64]).unwrap();
    assert_eq!(call(&mut u, UTIME, &[pu, ts]).unwrap_err(), Errno::EPERM);
    let ts = buf(&t, 4);
    t.mm.write_obj(UserAddr(ts), &[7i64, 8i64]).unwrap();
    call(&mut t, UTIME, &[p, ts]).unwrap();
    assert_eq!(stat(&mut t, "/f").unwrap().st_mtime, 8);
}

#[test]
fn getcwd_and_chdir() {
    let e = env();
    let mut t = e.task();
    mkdir(&mut t, "/a").unwrap();
    mkdir(&mut t, "/a/bb").unwrap();
    file(&e, "/file", b"", 0o644);
    let p = s(&t, 0, "/a/bb");
    call(&mut t, CHDIR, &[p]).unwrap();
    assert_eq!(getcwd(&mut t), b"/a/bb");
    let b = buf(&t, 3);
    assert_eq!(call(&mut t, GETCWD, &[b, 5]).unwrap_err(), Errno::ERANGE);
    assert_eq!(call(&mut t, GETCWD, &[b, 6]).unwrap(), 6);
    assert_eq!(call(&mut t, GETCWD, &[b, 0]).unwrap_err(), Errno::ERANGE);
    assert_eq!(call(&mut t, GETCWD, &[0, 100]).unwrap_err(), Errno::EFAULT);
    let p = s(&t, 0, "/file");
    assert_eq!(call(&mut t, CHDIR, &[p]).unwrap_err(), Errno::ENOTDIR);
    let p = s(&t, 0, "..");
    call(&mut t, CHDIR, &[p]).unwrap();
    assert_eq!(getcwd(&mut t), b"/a");
    // Across a mount and back.
    mkdir(&mut t, "/a/m").unwrap();
    e.mount(&t, "/a/m", false);
    let p = s(&t, 0, "m");
    call(&mut t, CHDIR, &[p]).unwrap();
    mkdir(&mut t, "inner").unwrap();
    let p = s(&t, 0, "inner");
    call(&mut t, CHDIR, &[p]).unwrap();
    assert_eq!(getcwd(&mut t), b"/a/m/inner");
    let p = s(&t, 0, "../..");
    call(&mut t, CHDIR, &[p]).unwrap();
    assert_eq!(getcwd(&mut t), b"/a");
    // A user without search permission.
    let p = s(&t, 0, "/a");
    call(&mut t, CHMOD, &[p, 0o700]).unwrap();
    let mut u = e.user();
    let p = s(&u, 0, "/a");
    assert_eq!(call(&mut u, CHDIR, &[p]).unwrap_err(), Errno::EACCES);
}

#[test]
fn sendfile_and_copy_range() {
    let e = env();
    let mut t = e.task();
    let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    file(&e, "/src", &data, 0o644);
    let src = open(&mut t, "/src", O_RDONLY, 0).unwrap() as u64;
    let dst = open(&mut t, "/dst", O_CREAT | O_RDWR, 0o644).unwrap() as u64;
    assert_eq!(
        call(&mut t, SENDFILE, &[dst, src, 0, 70_000]).unwrap(),
        70_000
    );
    assert_eq!(
        call(&mut t, LSEEK, &[src, 0, SEEK_CUR as u64]).unwrap(),
        70_000
    );
    let off = buf(&t, 4);
    t.mm.write_obj(UserAddr(off), &10i64).unwrap();
    assert_eq!(call(&mut t, SENDFILE, &[dst, src, off, 5]).unwrap(), 5);
    assert_eq!(t.mm.read_obj::<i64>(UserAddr(off)).unwrap(), 15);
    assert_eq!(
        call(&mut t, LSEEK, &[src, 0, SEEK_CUR as u64]).unwrap(),
        70_000
    );
    assert_eq!(stat(&mut t, "/dst").unwrap().st_size, 70_005);
    assert_eq!(
        call(&mut t, SENDFILE, &[src, dst, 0, 5]).unwrap_err(),
        Errno::EBADF
    );
    // copy_file_range.
    let out = open(&mut t, "/out", O_CREAT | O_RDWR, 0o644).unwrap() as u64;
    let oin = buf(&t, 5);
    t.mm.write_obj(UserAddr(oin), &99_990i64).unwrap();
    assert_eq!(
        call(&mut t, COPY_FILE_RANGE, &[src, oin, out, 0, 100, 0]).unwrap(),
        10
    );
    assert_eq!(t.mm.read_obj::<i64>(UserAddr(oin)).unwrap(), 100_000);
    assert_eq!(stat(&mut t, "/out").unwrap().st_size, 10);
    assert_eq!(
        call(&mut t, COPY_FILE_RANGE, &[src, 0, out, 0, 100, 1]).unwrap_err(),
        Errno::EINVAL
    );
    let d = open(&mut t, "/", O_RDONLY, 0).unwrap() as u64;
    assert_eq!(
        call(&mut t, COPY_FILE_RANGE, &[d, 0, out, 0, 100, 0]).unwrap_err(),
        Errno::EISDIR
    );
    // Same file, overlapping.
    t.mm.write_obj(UserAddr(oin), &0i64).unwrap();
    let oout = buf(&t, 6);
    t.mm.write_obj(UserAddr(oout), &5i64).unwrap();
    assert_eq!(
        call(&mut t, COPY_FILE_RANGE, &[out, oin, out, oout, 8, 0]).unwrap_err(),
        Errno::EINVAL
    );
    let mut back = vec![0u8; 10];
    let fd = open(&mut t, "/out", O_RDONLY, 0).unwrap() as u64;
    let b = buf(&t, 1);
    call(&mut t, READ, &[fd, b, 10]).unwrap();
    t.mm.copy_in(UserAddr(b), &mut back).unwrap();
    assert_eq!(back, &data[99_990..]);
}

#[test]
fn served_calls_are_in_the_table() {
    for nr in [
        READ,
        WRITE,
        OPEN,
        CLOSE,
        STAT,
        FSTAT,
        LSTAT,
        LSEEK,
        IOCTL,
        PREAD64,
        PWRITE64,
        READV,
        WRITEV,
        ACCESS,
        DUP,
        DUP2,
        SENDFILE,
        FCNTL,
        FSYNC,
        FDATASYNC,
        TRUNCATE,
        FTRUNCATE,
        GETDENTS,
        GETCWD,
        CHDIR,
        FCHDIR,
        RENAME,
        MKDIR,
        RMDIR,
        CREAT,
        LINK,
        UNLINK,
        SYMLINK,
        READLINK,
        CHMOD,
        FCHMOD,
        CHOWN,
        FCHOWN,
        LCHOWN,
        UMASK,
        UTIME,
        MKNOD,
        STATFS,
        FSTATFS,
        SYNC,
        GETDENTS64,
        UTIMES,
        OPENAT,
        MKDIRAT,
        MKNODAT,
        FCHOWNAT,
        FUTIMESAT,
        NEWFSTATAT,
        UNLINKAT,
        RENAMEAT,
        LINKAT,
        SYMLINKAT,
        READLINKAT,
        FCHMODAT,
        FACCESSAT,
        UTIMENSAT,
        FALLOCATE,
        DUP3,
        PREADV,
        PWRITEV,
        SYNCFS,
        RENAMEAT2,
        COPY_FILE_RANGE,
        PREADV2,
        PWRITEV2,
        STATX,
        CLOSE_RANGE,
        OPENAT2,
        FACCESSAT2,
        FCHMODAT2,
    ] {
        assert!(crate::syscalls::support(nr), "{nr} not served");
    }
}

#[test]
fn memfd_shared_mappings_are_the_file() {
    let e = env();
    let mut t = e.task();
    let name = s(&t, 0, "m");
    let fd = call(&mut t, MEMFD_CREATE, &[name, MFD_ALLOW_SEALING as u64]).unwrap();
    write_str(&mut t, fd as i32, "hello").unwrap();
    let rw = (PROT_READ | PROT_WRITE) as u64;
    let a = call(&mut t, MMAP, &[0, 8192, rw, MAP_SHARED as u64, fd, 0]).unwrap();
    let mut got = [0u8; 5];
    t.mm.copy_in(UserAddr(a), &mut got).unwrap();
    assert_eq!(&got, b"hello");
    // A write through the mapping is a write to the file.
    t.mm.copy_out(UserAddr(a), b"HE").unwrap();
    let b = buf(&t, 1);
    assert_eq!(call(&mut t, PREAD64, &[fd, b, 5, 0]).unwrap(), 5);
    t.mm.copy_in(UserAddr(b), &mut got).unwrap();
    assert_eq!(&got, b"HEllo");
    // And a write to the file shows in the mapping.
    write_str(&mut t, fd as i32, "!").unwrap();
    t.mm.copy_in(UserAddr(a + 5), &mut got[..1]).unwrap();
    assert_eq!(got[0], b'!');
    // The second page lies past the end of the file.
    assert_eq!(
        t.mm.copy_in(UserAddr(a + 4096), &mut got).unwrap_err(),
        Errno::EFAULT
    );
    // A shared mapping that may write stops F_SEAL_WRITE.
    let seal = |t: &mut Task| call(t, FCNTL, &[fd, F_ADD_SEALS as u64, F_SEAL_WRITE as u64]);
    assert_eq!(seal(&mut t).unwrap_err(), Errno::EBUSY);
    call(&mut t, MUNMAP, &[a, 8192]).unwrap();
    seal(&mut t).unwrap();
    assert_eq!(
        call(&mut t, MMAP, &[0, 4096, rw, MAP_SHARED as u64, fd, 0]).unwrap_err(),
        Errno::EPERM
    );
    // The file's page goes with its last reference.
    let before = e.kernel.pages.allocated_pages();
    call(&mut t, CLOSE, &[fd]).unwrap();
    assert_eq!(e.kernel.pages.allocated_pages(), before - 1);
}

#[test]
fn record_locks_go_with_any_close_of_the_file() {
    let e = env();
    file(&e, "/f", b"data", 0o644);
    let mut t = e.task();
    let mut u = e.task();
    let a = open(&mut t, "/f", O_RDWR, 0).unwrap() as u64;
    let other = open(&mut t, "/f", O_RDONLY, 0).unwrap() as u64;
    let c = open(&mut u, "/f", O_RDWR, 0).unwrap() as u64;
    let lock = |t: &mut Task, fd: u64, cmd: u32, kind: i16| {
        let p = buf(t, 2);
        let fl = veil_abi::Flock {
            l_type: kind,
            l_start: 1,
            l_len: 2,
            ..Default::default()
        };
        t.mm.write_obj(UserAddr(p), &fl).unwrap();
        let r = call(t, FCNTL, &[fd, cmd as u64, p]);
        (r, t.mm.read_obj::<veil_abi::Flock>(UserAddr(p)).unwrap())
    };
    lock(&mut t, a, F_SETLK, F_WRLCK).0.unwrap();
    assert_eq!(lock(&mut u, c, F_SETLK, F_RDLCK).0, Err(Errno::EAGAIN));
    let (r, fl) = lock(&mut u, c, F_GETLK, F_RDLCK);
    r.unwrap();
    assert_eq!(
        (fl.l_type, fl.l_start, fl.l_len, fl.l_pid),
        (F_WRLCK, 1, 2, t.tg.pid)
    );
    // Closing another descriptor of the file drops the lock.
    call(&mut t, CLOSE, &[other]).unwrap();
    lock(&mut u, c, F_SETLK, F_RDLCK).0.unwrap();
    // An OFD lock stays until its own description goes.
    lock(&mut u, c, F_SETLK, F_UNLCK).0.unwrap();
    lock(&mut t, a, F_OFD_SETLK, F_WRLCK).0.unwrap();
    let dup = call(&mut t, DUP, &[a]).unwrap();
    call(&mut t, CLOSE, &[dup]).unwrap();
    let (_, fl) = lock(&mut u, c, F_GETLK, F_RDLCK);
    assert_eq!((fl.l_type, fl.l_pid), (F_WRLCK, -1));
    call(&mut t, CLOSE, &[a]).unwrap();
    lock(&mut u, c, F_SETLK, F_WRLCK).0.unwrap();
}
