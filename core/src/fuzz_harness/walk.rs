//! The path-walk harness: arbitrary trees of directories, files and
//! symlinks (with arbitrary targets), an arbitrary root and working
//! directory, and arbitrary paths resolved from the working directory or
//! from directory fds, with and without following the last symlink,
//! `AT_EMPTY_PATH` and openat2's `RESOLVE_*` flags, by the walker itself
//! and through openat2, readlinkat and newfstatat.
//!
//! Properties: a walk ends (symlink loops are ELOOP); a walk that starts
//! inside the task's root never leaves it (`..` is clamped, absolute
//! symlinks restart at the root); with RESOLVE_BENEATH or
//! RESOLVE_IN_ROOT the result is inside the starting directory; and the
//! path of a result, resolved again from the root without following
//! anything, leads to the same place.

use alloc::sync::Arc;
use alloc::vec::Vec;

use arbitrary::{Arbitrary, Unstructured};
use veil_abi::flags::*;
use veil_abi::sysno::*;

use super::memfs::MemNode;
use super::{put_cstr, sys, Bed, SCRATCH};
use crate::vfs::walk::{self, WalkFlags, RESOLVE_ALL, RESOLVE_BENEATH, RESOLVE_IN_ROOT};
use crate::vfs::{Dentry, Location};

/// The input.
#[derive(Arbitrary, Debug)]
pub struct WalkInput {
    /// Nodes, each under an earlier directory.
    pub nodes: Vec<NodeSpec>,
    /// Which directory is the task's root.
    pub root: u8,
    /// Which directory (under the root) is the working directory.
    pub cwd: u8,
    /// The walks.
    pub queries: Vec<Query>,
}

/// A node of the tree.
#[derive(Arbitrary, Debug)]
pub struct NodeSpec {
    /// Index of the parent among the directories made so far.
    pub parent: u8,
    /// Name (sanitised: no `/`, no NUL, not `.` or `..`).
    pub name: Vec<u8>,
    /// What it is.
    pub kind: Kind,
}

/// A node's type.
#[derive(Arbitrary, Debug)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symlink with this target.
    Symlink(Vec<u8>),
}

/// One walk.
#[derive(Arbitrary, Debug)]
pub struct Query {
    /// 0: the working directory; else a directory fd (index among the
    /// directories under the root).
    pub dirfd: u8,
    /// The path.
    pub path: Vec<u8>,
    /// Follow a symlink at the end.
    pub follow: bool,
    /// AT_EMPTY_PATH.
    pub empty_ok: bool,
    /// openat2 RESOLVE_* flags.
    pub resolve: u8,
}

fn under(anc: &Arc<Dentry>, d: &Arc<Dentry>) -> bool {
    let mut cur = d.clone();
    for _ in 0..4096 {
        if Arc::ptr_eq(&cur, anc) {
            return true;
        }
        match cur.parent() {
            Some(p) => cur = p,
            None => return false,
        }
    }
    panic!("dentry parent chain does not end");
}

/// Runs one input. Panics if core panicked or a walk broke a property.
pub fn run_walk(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(input) = WalkInput::arbitrary(&mut u) else {
        return;
    };
    let bed = Bed::new(false, 0);
    let mut t = bed.task();
    // The tree, and each directory's absolute path.
    let mut dirs: Vec<(Arc<MemNode>, Vec<u8>)> = alloc::vec![(bed.root.clone(), Vec::new())];
    for n in input.nodes.iter().take(48) {
        let name: Vec<u8> = n
            .name
            .iter()
            .copied()
            .filter(|&b| b != b'/' && b != 0)
            .take(32)
            .collect();
        if name.is_empty() || name == b"." || name == b".." {
            continue;
        }
        let (parent, ppath) = dirs[n.parent as usize % dirs.len()].clone();
        match &n.kind {
            Kind::Dir => {
                if let Ok(d) = parent.add_dir(&name) {
                    let mut p = ppath.clone();
                    p.push(b'/');
                    p.extend_from_slice(&name);
                    dirs.push((d, p));
                }
            }
            Kind::File => {
                let _ = parent.add_file(&name, b"x");
            }
            Kind::Symlink(target) => {
                let target: Vec<u8> = target
                    .iter()
                    .copied()
                    .filter(|&b| b != 0)
                    .take(256)
                    .collect();
                if !target.is_empty() {
                    let _ = parent.add_symlink(&name, &target);
                }
            }
        }
    }
    let flags = WalkFlags {
        follow: true,
        empty_ok: false,
    };
    let locate = |t: &crate::task::Task, p: &[u8]| -> Location {
        let p = if p.is_empty() { &b"/"[..] } else { p };
        walk::resolve(t, AT_FDCWD, p, flags).expect("a directory just made")
    };
    let root_path = dirs[input.root as usize % dirs.len()].1.clone();
    let root = locate(&t, &root_path);
    // Directories under the new root, as paths from it.
    let inside: Vec<Vec<u8>> = dirs
        .iter()
        .filter(|(_, p)| {
            p.starts_with(&root_path) && (p.len() == root_path.len() || p[root_path.len()] == b'/')
        })
        .map(|(_, p)| p[root_path.len()..].to_vec())
        .collect();
    {
        let mut fs = t.fs.lock();
        fs.root = root.clone();
        fs.cwd = root.clone();
    }
    let cwd = locate(&t, &inside[input.cwd as usize % inside.len()]);
    t.fs.lock().cwd = cwd.clone();
    // A directory fd for each directory under the root (a few).
    let mut dirfds: Vec<(i32, Location)> = Vec::new();
    for p in inside.iter().take(8) {
        let path = if p.is_empty() { &b"/"[..] } else { &p[..] };
        let a = put_cstr(&t, SCRATCH, path);
        let fl = O_RDONLY | O_DIRECTORY;
        if let Ok(fd) = sys(&mut t, OPENAT, &[AT_FDCWD as u32 as u64, a, fl as u64]) {
            dirfds.push((fd as i32, locate(&t, path)));
        }
    }
    for q in input.queries.iter().take(32) {
        let path: Vec<u8> = q
            .path
            .iter()
            .copied()
            .filter(|&b| b != 0)
            .take(512)
            .collect();
        let (dirfd, start) = match q.dirfd as usize {
            0 => (AT_FDCWD, cwd.clone()),
            i if !dirfds.is_empty() => dirfds[(i - 1) % dirfds.len()].clone(),
            _ => (AT_FDCWD, cwd.clone()),
        };
        let resolve = q.resolve as u64 & RESOLVE_ALL;
        let wf = WalkFlags {
            follow: q.follow,
            empty_ok: q.empty_ok,
        };
        if let Ok(loc) = walk::resolve_with(&t, dirfd, &path, wf, resolve) {
            assert!(
                under(&root.dentry, &loc.dentry),
                "{path:?} from inside the root resolved outside it"
            );
            if resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT) != 0 {
                assert!(
                    under(&start.dentry, &loc.dentry),
                    "{path:?} with RESOLVE_BENEATH/IN_ROOT left the start"
                );
            }
            // The result's own path leads back to it.
            let again = loc.path_from(&root);
            let back = walk::resolve(
                &t,
                AT_FDCWD,
                &again,
                WalkFlags {
                    follow: false,
                    empty_ok: false,
                },
            )
            .unwrap_or_else(|e| panic!("{again:?} (the path of {path:?}) does not resolve: {e:?}"));
            assert!(
                Arc::ptr_eq(back.inode(), loc.inode()),
                "{again:?} (the path of {path:?}) leads elsewhere"
            );
        }
        let _ = walk::resolve_last(&t, dirfd, &path);
        let _ = walk::resolve_parent(&t, dirfd, &path);
        // The same through the syscalls.
        let a = put_cstr(&t, SCRATCH, &path);
        let how = SCRATCH + 0x800;
        let open_flags = O_PATH | if q.follow { 0 } else { O_NOFOLLOW };
        let _ =
            t.mm.write_obj(crate::UserAddr(how), &[open_flags as u64, 0, resolve]);
        if let Ok(fd) = sys(&mut t, OPENAT2, &[dirfd as u32 as u64, a, how, 24]) {
            let _ = sys(&mut t, CLOSE, &[fd]);
        }
        let _ = sys(
            &mut t,
            READLINKAT,
            &[dirfd as u32 as u64, a, SCRATCH + 0x1000, 512],
        );
        let fl = if q.follow { 0 } else { AT_SYMLINK_NOFOLLOW }
            | if q.empty_ok { AT_EMPTY_PATH } else { 0 };
        let _ = sys(
            &mut t,
            NEWFSTATAT,
            &[dirfd as u32 as u64, a, SCRATCH + 0x1000, fl as u64],
        );
    }
    drop((t, root, cwd, dirfds, dirs));
    bed.finish();
}
