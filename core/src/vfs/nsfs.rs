//! Namespace files, as Linux's nsfs: what a `/proc/<pid>/ns/<kind>` link
//! leads to. Opening one gives an [`NsFile`] that holds the namespace
//! itself (so it stays joinable after its last process is gone), which
//! setns(2) joins (`syscalls::mount`). Reading or writing one is
//! `EINVAL`, as Linux's nsfs files have neither.
//!
//! veil separates mount, UTS and IPC namespaces. Every other kind
//! (cgroup, net, pid, time, user) has one namespace, everyone's, numbered
//! as Linux numbers the initial ones.

use alloc::sync::Arc;
use core::any::Any;

use veil_abi::mount::{
    CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWTIME,
    CLONE_NEWUSER, CLONE_NEWUTS,
};
use veil_abi::Errno;

use super::node::FileOps;
use super::MountNamespace;
use crate::kernel::Kernel;
use crate::syscalls::admin::{uts_of, UtsNamespace};
use crate::task::ThreadGroup;

/// A kind of namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NsKind {
    /// cgroup (one in veil).
    Cgroup,
    /// System V IPC.
    Ipc,
    /// Mounts.
    Mnt,
    /// Network (one in veil).
    Net,
    /// Process ids (one in veil).
    Pid,
    /// Clocks (one in veil).
    Time,
    /// User and group ids (one in veil).
    User,
    /// Host and domain names.
    Uts,
}

impl NsKind {
    /// The kind a `/proc/<pid>/ns/` entry names (`pid_for_children` is a
    /// pid namespace, `time_for_children` a time namespace).
    pub fn from_name(name: &str) -> Option<NsKind> {
        Some(match name.trim_end_matches("_for_children") {
            "cgroup" => NsKind::Cgroup,
            "ipc" => NsKind::Ipc,
            "mnt" => NsKind::Mnt,
            "net" => NsKind::Net,
            "pid" => NsKind::Pid,
            "time" => NsKind::Time,
            "user" => NsKind::User,
            "uts" => NsKind::Uts,
            _ => return None,
        })
    }

    /// Its `CLONE_NEW*` flag (setns's `nstype`).
    pub fn clone_flag(self) -> u64 {
        match self {
            NsKind::Cgroup => CLONE_NEWCGROUP,
            NsKind::Ipc => CLONE_NEWIPC,
            NsKind::Mnt => CLONE_NEWNS,
            NsKind::Net => CLONE_NEWNET,
            NsKind::Pid => CLONE_NEWPID,
            NsKind::Time => CLONE_NEWTIME,
            NsKind::User => CLONE_NEWUSER,
            NsKind::Uts => CLONE_NEWUTS,
        }
    }

    /// The number of the one namespace of a kind veil does not separate
    /// (Linux's numbers for the initial ones).
    fn single_id(self) -> u64 {
        match self {
            NsKind::Cgroup => 4_026_531_835,
            NsKind::Net => 4_026_531_840,
            NsKind::Pid => 4_026_531_836,
            NsKind::Time => 4_026_531_834,
            NsKind::User => 4_026_531_837,
            // Separate kinds have their own numbers.
            NsKind::Mnt | NsKind::Uts | NsKind::Ipc => 0,
        }
    }
}

/// A namespace, as a namespace file holds it.
#[derive(Clone)]
pub enum Namespace {
    /// A mount namespace.
    Mount(Arc<MountNamespace>),
    /// A UTS namespace.
    Uts(Arc<UtsNamespace>),
    /// An IPC namespace.
    Ipc(Arc<crate::ipc::IpcNamespace>),
    /// The one namespace of a kind veil does not separate.
    Single(NsKind),
}

impl Namespace {
    /// Process `tg`'s namespace of `kind`.
    pub fn of(kernel: &Kernel, tg: &ThreadGroup, kind: NsKind) -> Namespace {
        match kind {
            NsKind::Mnt => Namespace::Mount(tg.mount_namespace(kernel)),
            NsKind::Uts => Namespace::Uts(uts_of(kernel, tg)),
            NsKind::Ipc => Namespace::Ipc(crate::ipc::ns_of(kernel, tg)),
            other => Namespace::Single(other),
        }
    }

    /// Its kind.
    pub fn kind(&self) -> NsKind {
        match self {
            Namespace::Mount(_) => NsKind::Mnt,
            Namespace::Uts(_) => NsKind::Uts,
            Namespace::Ipc(_) => NsKind::Ipc,
            Namespace::Single(k) => *k,
        }
    }

    /// Its number (the inode number of its file, `/proc/<pid>/ns/` links'
    /// `kind:[N]`).
    pub fn id(&self) -> u64 {
        match self {
            Namespace::Mount(ns) => ns.ns_id(),
            Namespace::Uts(ns) => ns.ns_id(),
            Namespace::Ipc(ns) => ns.ns_id(),
            Namespace::Single(k) => k.single_id(),
        }
    }
}

/// An open namespace file.
pub struct NsFile {
    ns: Namespace,
}

impl NsFile {
    /// A file holding `ns`.
    pub fn new(ns: Namespace) -> NsFile {
        NsFile { ns }
    }

    /// The namespace.
    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }
}

impl FileOps for NsFile {
    fn read(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
