//! The VFS against a tree model, through the syscall layer on the fake
//! platform over [`MemNode`](crate::fuzz_harness::memfs::MemNode):
//! mkdir, open(O_CREAT|O_EXCL), mknod, link, unlink, rmdir, rename (with
//! RENAME_NOREPLACE / RENAME_EXCHANGE), symlink, readlink, open + pwrite,
//! open + pread, truncate and fstatat, on paths made of a few names, `.`,
//! `..` and trailing slashes, absolute or relative, through symlinks.
//!
//! The model is a table of inodes (directories with children and a
//! parent, files with contents shared by their hard links, symlinks) and
//! Linux's path resolution (symlinks followed in the middle of a path and,
//! where the call follows, at its end; 40 links at most; a trailing slash
//! asks for a directory) and the errno order of each call (`namei.c`).
//! After every step the answer must match, inode numbers must pair with
//! the model's inodes one to one, and at the end the whole tree (names,
//! types, contents, targets, link counts) must be the model's.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;
use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, Stat};

use crate::fuzz_harness::memfs::MemNode;
use crate::fuzz_harness::{get, put_cstr, sys, Bed, SCRATCH};
use crate::task::Task;
use crate::vfs::FileType;
use crate::UserAddr;

/// A path: absolute or not, components (0: `.`, 1: `..`, else a name
/// index), trailing slash.
#[derive(Clone, Debug)]
struct Path {
    abs: bool,
    comps: Vec<u8>,
    trailing: bool,
}

const NAMES: &[&[u8]] = &[b"a", b"b", b"c"];

impl Path {
    fn text(&self) -> Vec<u8> {
        let mut s = Vec::new();
        if self.abs {
            s.push(b'/');
        }
        for (i, c) in self.comps.iter().enumerate() {
            if i > 0 {
                s.push(b'/');
            }
            s.extend_from_slice(match c {
                0 => b".",
                1 => b"..",
                n => NAMES[(*n as usize - 2) % NAMES.len()],
            });
        }
        if self.trailing || self.comps.is_empty() {
            s.push(b'/');
        }
        s
    }
}

fn path() -> impl Strategy<Value = Path> {
    let comp = prop_oneof![10 => 2u8..5, 1 => Just(0u8), 1 => Just(1u8)];
    (
        prop_oneof![3 => Just(true), 1 => Just(false)],
        // Mostly short paths, so that names meet.
        (
            proptest::collection::vec(comp, 3),
            prop_oneof![3 => Just(1usize), 3 => Just(2), 1 => Just(3)],
        )
            .prop_map(|(mut c, n)| {
                c.truncate(n);
                c
            }),
        prop_oneof![9 => Just(false), 1 => Just(true)],
    )
        .prop_map(|(abs, comps, trailing)| Path {
            abs,
            comps,
            trailing,
        })
}

#[derive(Clone, Debug)]
enum Op {
    Mkdir(Path),
    Create(Path),
    Mknod(Path),
    Link(Path, Path),
    Unlink(Path),
    Rmdir(Path),
    Rename(Path, Path, u32),
    Symlink(Path, Path),
    Readlink(Path),
    Write(Path, u8, Vec<u8>),
    Read(Path),
    Truncate(Path, u8),
    Stat(Path, bool),
}

fn op() -> impl Strategy<Value = Op> {
    let rflags = prop_oneof![
        4 => Just(0u32),
        1 => Just(RENAME_NOREPLACE),
        1 => Just(RENAME_EXCHANGE)
    ];
    prop_oneof![
        4 => path().prop_map(Op::Mkdir),
        4 => path().prop_map(Op::Create),
        1 => path().prop_map(Op::Mknod),
        2 => (path(), path()).prop_map(|(a, b)| Op::Link(a, b)),
        2 => path().prop_map(Op::Unlink),
        2 => path().prop_map(Op::Rmdir),
        3 => (path(), path(), rflags).prop_map(|(a, b, f)| Op::Rename(a, b, f)),
        2 => (path(), path()).prop_map(|(a, b)| Op::Symlink(a, b)),
        1 => path().prop_map(Op::Readlink),
        3 => (path(), 0u8..16, proptest::collection::vec(any::<u8>(), 0..12))
            .prop_map(|(p, o, d)| Op::Write(p, o, d)),
        2 => path().prop_map(Op::Read),
        1 => (path(), 0u8..24).prop_map(|(p, l)| Op::Truncate(p, l)),
        2 => (path(), any::<bool>()).prop_map(|(p, f)| Op::Stat(p, f)),
    ]
}

// ---------------------------------------------------------------------
// The model

type Id = usize;

#[derive(Clone, Debug)]
enum Node {
    Dir {
        children: BTreeMap<Vec<u8>, Id>,
        parent: Id,
    },
    File {
        data: Vec<u8>,
        nlink: u64,
    },
    Symlink {
        target: Vec<u8>,
        nlink: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Comp {
    Dot,
    DotDot,
    Name(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Last {
    Name(usize),
    Dot,
    DotDot,
    Root,
}

/// The model tree. `broken` lets rmdir remove non-empty directories.
struct Model {
    nodes: Vec<Node>,
    broken: bool,
}

const ROOT: Id = 0;

fn comps_of(text: &[u8]) -> (bool, VecDeque<Comp>, bool) {
    let abs = text.first() == Some(&b'/');
    let trailing = text.len() > 1 && text.last() == Some(&b'/');
    let comps = text
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .map(|c| match c {
            b"." => Comp::Dot,
            b".." => Comp::DotDot,
            n => Comp::Name(NAMES.iter().position(|x| *x == n).unwrap_or(99)),
        })
        .collect();
    (abs, comps, trailing)
}

impl Model {
    fn is_dir(&self, id: Id) -> bool {
        matches!(self.nodes[id], Node::Dir { .. })
    }

    fn children(&self, id: Id) -> &BTreeMap<Vec<u8>, Id> {
        match &self.nodes[id] {
            Node::Dir { children, .. } => children,
            _ => unreachable!(),
        }
    }

    fn children_mut(&mut self, id: Id) -> &mut BTreeMap<Vec<u8>, Id> {
        match &mut self.nodes[id] {
            Node::Dir { children, .. } => children,
            _ => unreachable!(),
        }
    }

    fn parent(&self, id: Id) -> Id {
        match &self.nodes[id] {
            Node::Dir { parent, .. } => *parent,
            _ => unreachable!(),
        }
    }

    fn lookup(&self, dir: Id, n: usize) -> Option<Id> {
        let name = NAMES.get(n)?;
        self.children(dir).get(*name).copied()
    }

    /// Walks `comps` from `cur`, following symlinks (the last one only if
    /// `follow_last`).
    fn walk(
        &self,
        mut cur: Id,
        mut comps: VecDeque<Comp>,
        follow_last: bool,
        links: &mut u32,
    ) -> Result<Id, Errno> {
        while let Some(c) = comps.pop_front() {
            if !self.is_dir(cur) {
                return Err(Errno::ENOTDIR);
            }
            match c {
                Comp::Dot => {}
                Comp::DotDot => cur = self.parent(cur),
                Comp::Name(n) => {
                    let child = self.lookup(cur, n).ok_or(Errno::ENOENT)?;
                    match &self.nodes[child] {
                        Node::Symlink { target, .. } if !comps.is_empty() || follow_last => {
                            *links += 1;
                            if *links > 40 {
                                return Err(Errno::ELOOP);
                            }
                            let (abs, mut tc, trailing) = comps_of(target);
                            if trailing {
                                tc.push_back(Comp::Dot);
                            }
                            for c in tc.into_iter().rev() {
                                comps.push_front(c);
                            }
                            if abs {
                                cur = ROOT;
                            }
                        }
                        _ => cur = child,
                    }
                }
            }
        }
        Ok(cur)
    }

    /// Resolves a whole path (a trailing slash asks for a directory).
    fn resolve(&self, p: &Path, follow: bool) -> Result<Id, Errno> {
        let (abs, mut comps, trailing) = comps_of(&p.text());
        let _ = abs;
        if trailing {
            comps.push_back(Comp::Dot);
        }
        self.walk(ROOT, comps, follow, &mut 0)
    }

    /// Resolves all but the last component: (directory, last, trailing).
    fn resolve_last(&self, p: &Path) -> Result<(Id, Last, bool), Errno> {
        let (_, mut comps, trailing) = comps_of(&p.text());
        let Some(last) = comps.pop_back() else {
            return Ok((ROOT, Last::Root, trailing));
        };
        let dir = self.walk(ROOT, comps, true, &mut 0)?;
        if !self.is_dir(dir) {
            return Err(Errno::ENOTDIR);
        }
        let last = match last {
            Comp::Dot => Last::Dot,
            Comp::DotDot => Last::DotDot,
            Comp::Name(n) => Last::Name(n),
        };
        Ok((dir, last, trailing))
    }

    fn add(&mut self, dir: Id, n: usize, node: Node) -> Id {
        self.nodes.push(node);
        let id = self.nodes.len() - 1;
        self.children_mut(dir).insert(NAMES[n].to_vec(), id);
        id
    }

    /// The creating calls' prelude: (directory, name).
    fn create_prelude(&self, p: &Path, want_dir: bool) -> Result<(Id, usize), Errno> {
        let (dir, last, trailing) = self.resolve_last(p)?;
        let Last::Name(n) = last else {
            return Err(Errno::EEXIST);
        };
        if self.lookup(dir, n).is_some() {
            return Err(Errno::EEXIST);
        }
        if trailing && !want_dir {
            return Err(Errno::ENOENT);
        }
        Ok((dir, n))
    }

    fn is_ancestor(&self, anc: Id, mut d: Id) -> bool {
        loop {
            if d == anc {
                return true;
            }
            if d == ROOT || !self.is_dir(d) {
                return false;
            }
            d = self.parent(d);
        }
    }

    fn unlink_node(&mut self, id: Id) {
        if let Node::File { nlink, .. } | Node::Symlink { nlink, .. } = &mut self.nodes[id] {
            *nlink -= 1;
        }
    }

    fn apply(&mut self, op: &Op) -> Result<Answer, Errno> {
        match op {
            Op::Mkdir(p) => {
                let (dir, n) = self.create_prelude(p, true)?;
                self.add(
                    dir,
                    n,
                    Node::Dir {
                        children: BTreeMap::new(),
                        parent: dir,
                    },
                );
                Ok(Answer::Done)
            }
            Op::Mknod(p) => {
                let (dir, n) = self.create_prelude(p, false)?;
                self.add(
                    dir,
                    n,
                    Node::File {
                        data: Vec::new(),
                        nlink: 1,
                    },
                );
                Ok(Answer::Done)
            }
            Op::Create(p) => {
                let (dir, last, trailing) = self.resolve_last(p)?;
                let Last::Name(n) = last else {
                    return Err(Errno::EISDIR);
                };
                if trailing {
                    return Err(Errno::EISDIR);
                }
                if self.lookup(dir, n).is_some() {
                    return Err(Errno::EEXIST);
                }
                self.add(
                    dir,
                    n,
                    Node::File {
                        data: Vec::new(),
                        nlink: 1,
                    },
                );
                Ok(Answer::Done)
            }
            Op::Symlink(target, p) => {
                let (dir, n) = self.create_prelude(p, false)?;
                self.add(
                    dir,
                    n,
                    Node::Symlink {
                        target: target.text(),
                        nlink: 1,
                    },
                );
                Ok(Answer::Done)
            }
            Op::Link(old, new) => {
                let o = self.resolve(old, false)?;
                let (dir, n) = self.create_prelude(new, false)?;
                if self.is_dir(o) {
                    return Err(Errno::EPERM);
                }
                if let Node::File { nlink, .. } | Node::Symlink { nlink, .. } = &mut self.nodes[o] {
                    *nlink += 1;
                }
                self.children_mut(dir).insert(NAMES[n].to_vec(), o);
                Ok(Answer::Done)
            }
            Op::Unlink(p) => {
                let (dir, last, trailing) = self.resolve_last(p)?;
                let Last::Name(n) = last else {
                    return Err(Errno::EISDIR);
                };
                let c = self.lookup(dir, n).ok_or(Errno::ENOENT)?;
                if trailing || self.is_dir(c) {
                    return Err(if self.is_dir(c) {
                        Errno::EISDIR
                    } else {
                        Errno::ENOTDIR
                    });
                }
                self.children_mut(dir).remove(NAMES[n]);
                self.unlink_node(c);
                Ok(Answer::Done)
            }
            Op::Rmdir(p) => {
                let (dir, last, _) = self.resolve_last(p)?;
                let n = match last {
                    Last::Name(n) => n,
                    Last::DotDot => return Err(Errno::ENOTEMPTY),
                    Last::Dot => return Err(Errno::EINVAL),
                    Last::Root => return Err(Errno::EBUSY),
                };
                let c = self.lookup(dir, n).ok_or(Errno::ENOENT)?;
                if !self.is_dir(c) {
                    return Err(Errno::ENOTDIR);
                }
                if !self.children(c).is_empty() && !self.broken {
                    return Err(Errno::ENOTEMPTY);
                }
                self.children_mut(dir).remove(NAMES[n]);
                Ok(Answer::Done)
            }
            Op::Rename(old, new, flags) => self.rename(old, new, *flags),
            Op::Readlink(p) => {
                let id = self.resolve(p, false)?;
                match &self.nodes[id] {
                    Node::Symlink { target, .. } => Ok(Answer::Bytes(target.clone())),
                    _ => Err(Errno::EINVAL),
                }
            }
            Op::Write(p, off, data) => {
                let id = self.resolve(p, true)?;
                match &mut self.nodes[id] {
                    Node::Dir { .. } => Err(Errno::EISDIR),
                    Node::File { data: d, .. } => {
                        let off = *off as usize;
                        if !data.is_empty() {
                            if d.len() < off + data.len() {
                                d.resize(off + data.len(), 0);
                            }
                            d[off..off + data.len()].copy_from_slice(data);
                        }
                        Ok(Answer::N(data.len() as u64))
                    }
                    Node::Symlink { .. } => Err(Errno::ELOOP),
                }
            }
            Op::Read(p) => {
                let id = self.resolve(p, true)?;
                match &self.nodes[id] {
                    Node::Dir { .. } => Err(Errno::EISDIR),
                    Node::File { data, .. } => Ok(Answer::Bytes(data.clone())),
                    Node::Symlink { .. } => Err(Errno::ELOOP),
                }
            }
            Op::Truncate(p, len) => {
                let id = self.resolve(p, true)?;
                match &mut self.nodes[id] {
                    Node::Dir { .. } => Err(Errno::EISDIR),
                    Node::File { data, .. } => {
                        data.resize(*len as usize, 0);
                        Ok(Answer::Done)
                    }
                    Node::Symlink { .. } => Err(Errno::ELOOP),
                }
            }
            Op::Stat(p, follow) => {
                let id = self.resolve(p, *follow)?;
                let (kind, nlink, size) = match &self.nodes[id] {
                    Node::Dir { children, .. } => {
                        let subdirs = children.values().filter(|&&c| self.is_dir(c)).count();
                        (S_IFDIR, 2 + subdirs as u64, 4096)
                    }
                    Node::File { data, nlink } => (S_IFREG, *nlink, data.len() as u64),
                    Node::Symlink { target, nlink } => (S_IFLNK, *nlink, target.len() as u64),
                };
                Ok(Answer::Stat(kind, nlink, size, id as u64))
            }
        }
    }

    fn rename(&mut self, old: &Path, new: &Path, flags: u32) -> Result<Answer, Errno> {
        let exchange = flags & RENAME_EXCHANGE != 0;
        let (od, ol, ot) = self.resolve_last(old)?;
        let (nd, nl, nt) = self.resolve_last(new)?;
        let Last::Name(on) = ol else {
            return Err(Errno::EBUSY);
        };
        let Last::Name(nn) = nl else {
            return Err(if flags & RENAME_NOREPLACE != 0 {
                Errno::EEXIST
            } else {
                Errno::EBUSY
            });
        };
        let o = self.lookup(od, on).ok_or(Errno::ENOENT)?;
        let n = self.lookup(nd, nn);
        if flags & RENAME_NOREPLACE != 0 && n.is_some() {
            return Err(Errno::EEXIST);
        }
        let old_dir = self.is_dir(o);
        let new_dir = n.is_some_and(|n| self.is_dir(n));
        if exchange {
            if n.is_none() {
                return Err(Errno::ENOENT);
            }
            if !new_dir && nt {
                return Err(Errno::ENOTDIR);
            }
        }
        if !old_dir && (ot || (!exchange && nt)) {
            return Err(Errno::ENOTDIR);
        }
        if self.is_ancestor(o, nd) {
            return Err(Errno::EINVAL);
        }
        if let Some(n) = n {
            if self.is_ancestor(n, od) {
                return Err(if exchange {
                    Errno::EINVAL
                } else {
                    Errno::ENOTEMPTY
                });
            }
            if n == o {
                return Ok(Answer::Done);
            }
            if !exchange {
                if old_dir && !new_dir {
                    return Err(Errno::ENOTDIR);
                }
                if !old_dir && new_dir {
                    return Err(Errno::EISDIR);
                }
                if new_dir && !self.children(n).is_empty() {
                    return Err(Errno::ENOTEMPTY);
                }
            }
        }
        if exchange {
            let n = n.unwrap();
            self.children_mut(od).insert(NAMES[on].to_vec(), n);
            self.children_mut(nd).insert(NAMES[nn].to_vec(), o);
            if let Node::Dir { parent, .. } = &mut self.nodes[n] {
                *parent = od;
            }
            if let Node::Dir { parent, .. } = &mut self.nodes[o] {
                *parent = nd;
            }
            return Ok(Answer::Done);
        }
        self.children_mut(od).remove(NAMES[on]);
        if let Some(n) = self.children_mut(nd).insert(NAMES[nn].to_vec(), o) {
            self.unlink_node(n);
        }
        if let Node::Dir { parent, .. } = &mut self.nodes[o] {
            *parent = nd;
        }
        Ok(Answer::Done)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    Done,
    N(u64),
    Bytes(Vec<u8>),
    /// Type, link count, size, inode (the model's id, or core's ino).
    Stat(u32, u64, u64, u64),
}

// ---------------------------------------------------------------------
// The core side

const P1: u64 = SCRATCH;
const P2: u64 = SCRATCH + 0x100;
const BUF: u64 = SCRATCH + 0x1000;

fn call(t: &mut Task, op: &Op) -> Result<Answer, Errno> {
    let cwd = AT_FDCWD as u32 as u64;
    let p1 = |t: &Task, p: &Path| put_cstr(t, P1, &p.text());
    let p2 = |t: &Task, p: &Path| put_cstr(t, P2, &p.text());
    let done = |r: Result<u64, Errno>| r.map(|_| Answer::Done);
    match op {
        Op::Mkdir(p) => {
            let a = p1(t, p);
            done(sys(t, MKDIRAT, &[cwd, a, 0o755]))
        }
        Op::Mknod(p) => {
            let a = p1(t, p);
            done(sys(t, MKNODAT, &[cwd, a, (S_IFREG | 0o644) as u64, 0]))
        }
        Op::Create(p) => {
            let a = p1(t, p);
            let fl = O_CREAT | O_EXCL | O_WRONLY;
            let fd = sys(t, OPENAT, &[cwd, a, fl as u64, 0o644])?;
            sys(t, CLOSE, &[fd]).unwrap();
            Ok(Answer::Done)
        }
        Op::Symlink(target, p) => {
            let a = p1(t, target);
            let b = p2(t, p);
            done(sys(t, SYMLINKAT, &[a, cwd, b]))
        }
        Op::Link(old, new) => {
            let a = p1(t, old);
            let b = p2(t, new);
            done(sys(t, LINKAT, &[cwd, a, cwd, b, 0]))
        }
        Op::Unlink(p) => {
            let a = p1(t, p);
            done(sys(t, UNLINKAT, &[cwd, a, 0]))
        }
        Op::Rmdir(p) => {
            let a = p1(t, p);
            done(sys(t, UNLINKAT, &[cwd, a, AT_REMOVEDIR as u64]))
        }
        Op::Rename(old, new, flags) => {
            let a = p1(t, old);
            let b = p2(t, new);
            done(sys(t, RENAMEAT2, &[cwd, a, cwd, b, *flags as u64]))
        }
        Op::Readlink(p) => {
            let a = p1(t, p);
            let n = sys(t, READLINKAT, &[cwd, a, BUF, 256])?;
            Ok(Answer::Bytes(get(t, BUF, n as usize).unwrap()))
        }
        Op::Write(p, off, data) => {
            let a = p1(t, p);
            let fd = sys(t, OPENAT, &[cwd, a, O_WRONLY as u64])?;
            t.mm.copy_out(UserAddr(BUF), data).unwrap();
            let r = sys(t, PWRITE64, &[fd, BUF, data.len() as u64, *off as u64]);
            sys(t, CLOSE, &[fd]).unwrap();
            r.map(Answer::N)
        }
        Op::Read(p) => {
            let a = p1(t, p);
            let fd = sys(t, OPENAT, &[cwd, a, O_RDONLY as u64])?;
            let r = sys(t, PREAD64, &[fd, BUF, 4096, 0]);
            sys(t, CLOSE, &[fd]).unwrap();
            let n = r?;
            Ok(Answer::Bytes(get(t, BUF, n as usize).unwrap()))
        }
        Op::Truncate(p, len) => {
            let a = p1(t, p);
            done(sys(t, TRUNCATE, &[a, *len as u64]))
        }
        Op::Stat(p, follow) => {
            let a = p1(t, p);
            let fl = if *follow { 0 } else { AT_SYMLINK_NOFOLLOW };
            sys(t, NEWFSTATAT, &[cwd, a, BUF, fl as u64])?;
            let st: Stat = t.mm.read_obj(UserAddr(BUF)).unwrap();
            Ok(Answer::Stat(
                st.st_mode & S_IFMT,
                st.st_nlink,
                st.st_size as u64,
                st.st_ino,
            ))
        }
    }
}

/// Compares the memfs tree under `node` with the model's under `id`.
fn same_tree(m: &Model, node: &MemNode, id: Id, at: &mut Vec<u8>) -> Result<(), TestCaseError> {
    match &m.nodes[id] {
        Node::Dir { children, .. } => {
            prop_assert_eq!(node.kind(), FileType::Directory, "{:?}", at);
            let names = node.names();
            let want: Vec<Vec<u8>> = children.keys().cloned().collect();
            prop_assert_eq!(&names, &want, "entries of {:?}", at);
            let subdirs = children.values().filter(|&&c| m.is_dir(c)).count() as u64;
            prop_assert_eq!(node.nlink(), 2 + subdirs, "link count of {:?}", at);
            for (name, &c) in children {
                let child = node.child(name).unwrap();
                let len = at.len();
                at.push(b'/');
                at.extend_from_slice(name);
                same_tree(m, &child, c, at)?;
                at.truncate(len);
            }
        }
        Node::File { data, nlink } => {
            prop_assert_eq!(node.kind(), FileType::Regular, "{:?}", at);
            prop_assert_eq!(&node.data(), data, "contents of {:?}", at);
            prop_assert_eq!(node.nlink(), *nlink, "link count of {:?}", at);
        }
        Node::Symlink { target, nlink } => {
            prop_assert_eq!(node.kind(), FileType::Symlink, "{:?}", at);
            prop_assert_eq!(&node.data(), target, "target of {:?}", at);
            prop_assert_eq!(node.nlink(), *nlink, "link count of {:?}", at);
        }
    }
    Ok(())
}

fn check(ops: Vec<Op>, broken: bool) -> Result<(), TestCaseError> {
    let bed = Bed::new(false, 0);
    let mut t = bed.task();
    let mut m = Model {
        nodes: vec![Node::Dir {
            children: BTreeMap::new(),
            parent: ROOT,
        }],
        broken,
    };
    // Model inode id <-> core inode number.
    let mut inos: BTreeMap<u64, u64> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        let got = call(&mut t, op);
        let want = m.apply(op);
        match (&got, &want) {
            (Ok(Answer::Stat(k1, n1, s1, ino)), Ok(Answer::Stat(k2, n2, s2, id))) => {
                step_eq!(i, op, (k1, n1, s1), (k2, n2, s2));
                let known = *inos.entry(*id).or_insert(*ino);
                step_eq!(i, op, *ino, known);
                let ids: Vec<u64> = inos
                    .iter()
                    .filter(|(_, &v)| v == *ino)
                    .map(|(&k, _)| k)
                    .collect();
                prop_assert_eq!(ids.len(), 1, "step {}: inode {} has two model ids", i, ino);
            }
            _ => step_eq!(i, op, got, want),
        }
    }
    same_tree(&m, &bed.root, ROOT, &mut Vec::new())
}

proptest! {
    #![proptest_config(super::config(4000))]

    #[test]
    fn vfs_matches_tree_model(ops in proptest::collection::vec(op(), 1..50)) {
        check(ops, false)?;
    }
}

#[test]
fn vfs_broken_model_is_caught() {
    super::must_fail("vfs", proptest::collection::vec(op(), 1..50), 500, |ops| {
        check(ops, true)
    });
}
