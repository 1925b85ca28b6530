//! sysfs and cgroup2: what programs read under `/sys` about the machine
//! they run on and the limits they run under.
//!
//! The sandbox has no devices and no host topology to show, so its sysfs
//! is a small fixed tree built from the sandbox's own configuration
//! ([`SysConfig`]): the top-level directories Linux has (mostly empty),
//! `devices/system/cpu/{online,possible,present,offline}` and one
//! `cpuN/` directory per CPU of the sandbox (each its own core in one
//! package, under `topology/`), `devices/system/node/` with one node
//! holding every CPU, `kernel/mm/transparent_hugepage/` (veil backs
//! nothing with huge pages: `never`), and the empty `fs/cgroup` a cgroup2
//! instance is mounted on.
//!
//! The cgroup2 instance is the sandbox's own cgroup seen from inside its
//! cgroup namespace, as a container sees it: `cgroup.controllers`,
//! `cgroup.procs` and `cgroup.threads` (every process and thread of the
//! sandbox), `cpu.max`, `memory.max`, `pids.max` (the limits, `max` when
//! none), `memory.current` (application memory in use), `pids.current`,
//! `cpu.stat` (CPU time of every process) and the other files a program
//! reads.
//!
//! Files are generated when opened. As kernfs does for attributes without
//! a store method, opening one for writing is `EACCES` (even for root);
//! creating a file is `EACCES`, every other change `EPERM`. The runtime
//! mounts sysfs read-write (writes still fail as above, as on a host) and
//! cgroup2 read-only, as container runtimes do (`EROFS`): veil applies no
//! limit a program writes.

use std::any::Any;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use veil_abi::flags::{O_ACCMODE, O_RDONLY, S_IFDIR, S_IFREG};
use veil_abi::mount::{CGROUP2_SUPER_MAGIC, SYSFS_MAGIC};
use veil_abi::{Errno, Statfs, Timespec};
use veil_core::host::Clock;
use veil_core::task::{Pid, Task};
use veil_core::vfs::mount::{Filesystem, MountOption};
use veil_core::vfs::{DirEntry, FileOps, FileType, Inode, InodeAttr, InodeRef, Owner};

use crate::util::{alloc_dev, refuse_dir_changes, DirChange};

/// The sandbox as sysfs and its cgroup describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysConfig {
    /// CPUs (at least 1).
    pub cpus: u32,
    /// `memory.max` in bytes (`None`: `max`).
    pub memory_max: Option<u64>,
    /// `cpu.max`: quota per period, in microseconds (`None`: `max`).
    pub cpu_quota: Option<u64>,
    /// `cpu.max`'s period in microseconds (Linux's default is 100000).
    pub cpu_period: u64,
    /// `pids.max` (`None`: `max`).
    pub pids_max: Option<u64>,
}

impl SysConfig {
    /// `cpus` CPUs and no limits.
    pub fn unlimited(cpus: u32) -> SysConfig {
        SysConfig {
            cpus: cpus.max(1),
            memory_max: None,
            cpu_quota: None,
            cpu_period: 100_000,
            pids_max: None,
        }
    }
}

/// A CPU list as sysfs shows one: `0`, `0-3`.
fn cpu_list(n: u32) -> String {
    match n {
        0 | 1 => "0".to_string(),
        n => format!("0-{}", n - 1),
    }
}

/// A CPU mask as sysfs shows one: hex words of 32 bits, comma separated,
/// most significant first.
fn cpu_map(n: u32) -> String {
    let words = n.div_ceil(32).max(1);
    let mut parts = Vec::new();
    for w in (0..words).rev() {
        let lo = w * 32;
        let bits = n.saturating_sub(lo).min(32);
        let v: u32 = if bits == 32 {
            u32::MAX
        } else {
            (1u32 << bits) - 1
        };
        parts.push(format!("{v:08x}"));
    }
    parts.join(",")
}

fn limit(v: Option<u64>) -> String {
    v.map_or_else(|| "max".to_string(), |n| n.to_string())
}

/// What a file shows.
enum Content {
    /// Fixed text.
    Text(String),
    /// Text made at open from the sandbox's state.
    Live(fn(&Task) -> String),
}

enum Body {
    Dir(Vec<(String, Arc<SysNode>)>),
    File(Content),
}

/// The two filesystems here differ in magic and file size only.
struct Kind {
    magic: i64,
    /// What stat reports as a file's size (sysfs: a page; cgroup: 0).
    file_size: u64,
}

/// A sysfs or cgroup2 inode.
pub struct SysNode {
    dev: u64,
    ino: u64,
    mode: u32,
    time: Timespec,
    kind: &'static Kind,
    body: Body,
}

static SYSFS: Kind = Kind {
    magic: SYSFS_MAGIC,
    file_size: 4096,
};

static CGROUP2: Kind = Kind {
    magic: CGROUP2_SUPER_MAGIC,
    file_size: 0,
};

/// Builds a tree, numbering inodes in order.
struct Builder {
    dev: u64,
    time: Timespec,
    kind: &'static Kind,
    next: u64,
}

impl Builder {
    fn node(&mut self, mode: u32, body: Body) -> Arc<SysNode> {
        self.next += 1;
        Arc::new(SysNode {
            dev: self.dev,
            ino: self.next,
            mode,
            time: self.time,
            kind: self.kind,
            body,
        })
    }
    fn dir(&mut self, entries: Vec<(&str, Arc<SysNode>)>) -> Arc<SysNode> {
        let entries = entries
            .into_iter()
            .map(|(n, e)| (n.to_string(), e))
            .collect();
        self.node(S_IFDIR | 0o755, Body::Dir(entries))
    }
    fn text(&mut self, mode: u32, text: String) -> Arc<SysNode> {
        self.node(S_IFREG | mode, Body::File(Content::Text(text)))
    }
    fn live(&mut self, mode: u32, f: fn(&Task) -> String) -> Arc<SysNode> {
        self.node(S_IFREG | mode, Body::File(Content::Live(f)))
    }
}

/// A sysfs instance.
pub struct SysFs {
    root: Arc<SysNode>,
}

impl SysFs {
    /// The tree for a sandbox configured as `config`.
    pub fn new(clock: &dyn Clock, config: &SysConfig) -> SysFs {
        let mut b = Builder {
            dev: alloc_dev(),
            time: clock.realtime(),
            kind: &SYSFS,
            next: 0,
        };
        let n = config.cpus.max(1);
        let line = |s: String| format!("{s}\n");
        let mut cpu_entries = Vec::new();
        let mut cpu_dirs = Vec::new();
        for i in 0..n {
            let topology = vec![
                ("core_cpus_list", b.text(0o444, line(i.to_string()))),
                ("core_id", b.text(0o444, line(i.to_string()))),
                ("core_siblings_list", b.text(0o444, line(cpu_list(n)))),
                ("die_id", b.text(0o444, line("0".into()))),
                ("package_cpus_list", b.text(0o444, line(cpu_list(n)))),
                ("physical_package_id", b.text(0o444, line("0".into()))),
                ("thread_siblings_list", b.text(0o444, line(i.to_string()))),
            ];
            let topology = b.dir(topology);
            let mut entries = Vec::new();
            if i > 0 {
                entries.push(("online", b.text(0o644, line("1".into()))));
            }
            entries.push(("topology", topology));
            cpu_dirs.push((format!("cpu{i}"), b.dir(entries)));
        }
        for (name, d) in &cpu_dirs {
            cpu_entries.push((name.as_str(), d.clone()));
        }
        cpu_entries.push(("offline", b.text(0o444, "\n".into())));
        cpu_entries.push(("online", b.text(0o444, line(cpu_list(n)))));
        cpu_entries.push(("possible", b.text(0o444, line(cpu_list(n)))));
        cpu_entries.push(("present", b.text(0o444, line(cpu_list(n)))));
        let cpu = b.dir(cpu_entries);
        let node0 = vec![
            ("cpulist", b.text(0o444, line(cpu_list(n)))),
            ("cpumap", b.text(0o444, line(cpu_map(n)))),
        ];
        let node0 = b.dir(node0);
        let node = vec![
            ("has_cpu", b.text(0o444, line("0".into()))),
            ("node0", node0),
            ("online", b.text(0o444, line("0".into()))),
            ("possible", b.text(0o444, line("0".into()))),
        ];
        let node = b.dir(node);
        let system = b.dir(vec![("cpu", cpu), ("node", node)]);
        let devices = b.dir(vec![("system", system)]);
        let thp = vec![
            (
                "defrag",
                b.text(
                    0o644,
                    line("always defer defer+madvise madvise [never]".into()),
                ),
            ),
            (
                "enabled",
                b.text(0o644, line("always madvise [never]".into())),
            ),
            ("hpage_pmd_size", b.text(0o444, line("2097152".into()))),
        ];
        let thp = b.dir(thp);
        let mm = b.dir(vec![("transparent_hugepage", thp)]);
        let kernel = b.dir(vec![("mm", mm)]);
        let cgroup = b.dir(Vec::new());
        let fs = b.dir(vec![("cgroup", cgroup)]);
        let mut top = Vec::new();
        for name in [
            "block", "bus", "class", "dev", "firmware", "module", "power",
        ] {
            top.push((name, b.dir(Vec::new())));
        }
        top.push(("devices", devices));
        top.push(("fs", fs));
        top.push(("kernel", kernel));
        top.sort_by(|a, b| a.0.cmp(b.0));
        let root = b.dir(top);
        SysFs { root }
    }

    /// The root inode.
    pub fn root(&self) -> InodeRef {
        self.root.clone()
    }
}

impl Filesystem for SysFs {
    fn root(&self) -> InodeRef {
        self.root.clone()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Every process of the sandbox (not zombies), in pid order.
fn processes(t: &Task) -> Vec<Pid> {
    t.kernel
        .thread_groups
        .lock()
        .iter()
        .filter(|(id, w)| {
            w.upgrade()
                .is_some_and(|tg| tg.pid == **id && !tg.dead.load(Ordering::Acquire))
        })
        .map(|(id, _)| *id)
        .collect()
}

/// Every thread of the sandbox, in tid order.
fn threads(t: &Task) -> Vec<Pid> {
    t.kernel
        .thread_groups
        .lock()
        .iter()
        .filter(|(_, w)| {
            w.upgrade()
                .is_some_and(|tg| !tg.dead.load(Ordering::Acquire))
        })
        .map(|(id, _)| *id)
        .collect()
}

fn ids_text(ids: Vec<Pid>) -> String {
    let mut s = String::new();
    for id in ids {
        let _ = writeln!(s, "{id}");
    }
    s
}

fn cpu_stat(t: &Task) -> String {
    let now = veil_core::process::mono_ns(&t.kernel);
    let groups: Vec<_> = t
        .kernel
        .thread_groups
        .lock()
        .iter()
        .filter_map(|(id, w)| w.upgrade().filter(|tg| tg.pid == *id))
        .collect();
    let (mut user, mut system) = (0u64, 0u64);
    for tg in groups {
        let times = tg.pm.times(now);
        user += times.utime / 1000;
        system += times.stime / 1000;
    }
    format!(
        "usage_usec {}\nuser_usec {user}\nsystem_usec {system}\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
        user + system
    )
}

/// A cgroup2 instance: the sandbox's own cgroup.
pub struct CgroupFs {
    root: Arc<SysNode>,
    /// Mount options given (cgroup2's behaviour flags), shown as given.
    options: Mutex<Vec<String>>,
}

/// The cgroup2 mount options Linux knows.
/// The controllers the sandbox's cgroup2 root enables (also listed in
/// /proc/cgroups).
pub const CGROUP_CONTROLLERS: &[&str] = &["cpuset", "cpu", "memory", "pids"];

const CGROUP2_OPTIONS: &[&str] = &[
    "nsdelegate",
    "favordynmods",
    "memory_localevents",
    "memory_recursiveprot",
    "memory_hugetlb_accounting",
    "pids_localevents",
];

impl CgroupFs {
    /// The sandbox's cgroup, with the limits of `config`.
    pub fn new(clock: &dyn Clock, config: &SysConfig) -> CgroupFs {
        let mut b = Builder {
            dev: alloc_dev(),
            time: clock.realtime(),
            kind: &CGROUP2,
            next: 0,
        };
        let line = |s: String| format!("{s}\n");
        let n = config.cpus.max(1);
        let entries = vec![
            (
                "cgroup.controllers",
                b.text(0o444, line(CGROUP_CONTROLLERS.join(" "))),
            ),
            (
                "cgroup.events",
                b.text(0o444, "populated 1\nfrozen 0\n".into()),
            ),
            ("cgroup.freeze", b.text(0o644, line("0".into()))),
            ("cgroup.max.depth", b.text(0o644, line("max".into()))),
            ("cgroup.max.descendants", b.text(0o644, line("max".into()))),
            ("cgroup.procs", b.live(0o644, |t| ids_text(processes(t)))),
            ("cgroup.subtree_control", b.text(0o644, "\n".into())),
            ("cgroup.threads", b.live(0o644, |t| ids_text(threads(t)))),
            ("cgroup.type", b.text(0o644, line("domain".into()))),
            (
                "cpu.max",
                b.text(
                    0o644,
                    format!("{} {}\n", limit(config.cpu_quota), config.cpu_period),
                ),
            ),
            ("cpu.stat", b.live(0o444, cpu_stat)),
            ("cpu.weight", b.text(0o644, line("100".into()))),
            ("cpuset.cpus", b.text(0o644, "\n".into())),
            ("cpuset.cpus.effective", b.text(0o444, line(cpu_list(n)))),
            ("cpuset.mems", b.text(0o644, "\n".into())),
            ("cpuset.mems.effective", b.text(0o444, line("0".into()))),
            (
                "memory.current",
                b.live(0o444, |t| {
                    format!("{}\n", t.kernel.pages.allocated_pages() * 4096)
                }),
            ),
            ("memory.high", b.text(0o644, line("max".into()))),
            ("memory.low", b.text(0o644, line("0".into()))),
            ("memory.max", b.text(0o644, line(limit(config.memory_max)))),
            ("memory.min", b.text(0o644, line("0".into()))),
            ("memory.swap.max", b.text(0o644, line("0".into()))),
            (
                "pids.current",
                b.live(0o444, |t| format!("{}\n", threads(t).len())),
            ),
            ("pids.max", b.text(0o644, line(limit(config.pids_max)))),
        ];
        CgroupFs {
            root: b.dir(entries),
            options: Mutex::new(Vec::new()),
        }
    }

    /// Takes cgroup2's options (`EINVAL` for any other).
    pub fn set_options(&self, opts: &[MountOption]) -> Result<(), Errno> {
        let mut names = Vec::new();
        for o in opts {
            let name = std::str::from_utf8(&o.key).map_err(|_| Errno::EINVAL)?;
            if o.value.is_some() || !CGROUP2_OPTIONS.contains(&name) {
                return Err(Errno::EINVAL);
            }
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
        *self.options.lock().unwrap_or_else(|e| e.into_inner()) = names;
        Ok(())
    }
}

impl Filesystem for CgroupFs {
    fn root(&self) -> InodeRef {
        self.root.clone()
    }
    fn show_options(&self) -> String {
        let opts = self.options.lock().unwrap_or_else(|e| e.into_inner());
        opts.iter().map(|o| format!(",{o}")).collect()
    }
    fn reconfigure(&self, opts: &[MountOption]) -> Result<(), Errno> {
        self.set_options(opts)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl SysNode {
    fn entries(&self) -> Result<&[(String, Arc<SysNode>)], Errno> {
        match &self.body {
            Body::Dir(e) => Ok(e),
            Body::File(_) => Err(Errno::ENOTDIR),
        }
    }
}

impl Inode for SysNode {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        let (nlink, size) = match &self.body {
            Body::Dir(e) => {
                let subdirs = e
                    .iter()
                    .filter(|(_, n)| matches!(n.body, Body::Dir(_)))
                    .count();
                (2 + subdirs as u64, 0)
            }
            Body::File(_) => (1, self.kind.file_size),
        };
        Ok(InodeAttr {
            dev: self.dev,
            ino: self.ino,
            mode: self.mode,
            nlink,
            uid: 0,
            gid: 0,
            rdev: 0,
            size,
            blksize: 4096,
            blocks: 0,
            atime: self.time,
            mtime: self.time,
            ctime: self.time,
            btime: None,
        })
    }

    fn lookup(&self, _cx: &Task, name: &[u8]) -> Result<InodeRef, Errno> {
        let entries = self.entries()?;
        entries
            .iter()
            .find(|(n, _)| n.as_bytes() == name)
            .map(|(_, node)| node.clone() as InodeRef)
            .ok_or(Errno::ENOENT)
    }

    fn readdir(&self, offset: u64, sink: &mut dyn FnMut(DirEntry) -> bool) -> Result<(), Errno> {
        for (i, (name, node)) in self.entries()?.iter().enumerate() {
            let next = i as u64 + 1;
            if next <= offset {
                continue;
            }
            let kind = match node.body {
                Body::Dir(_) => FileType::Directory,
                Body::File(_) => FileType::Regular,
            };
            if !sink(DirEntry {
                ino: node.ino,
                kind,
                name: name.as_bytes().to_vec(),
                next,
            }) {
                break;
            }
        }
        Ok(())
    }

    // A file is not a directory (ENOTDIR); a directory refuses as Linux
    // does one without ->create (EACCES) or the other operations (EPERM).
    refuse_dir_changes!(|n: &SysNode, change: DirChange| match n.entries() {
        Ok(_) => change.errno(),
        Err(e) => e,
    });

    fn open(&self, cx: &Task, flags: u32) -> Result<Arc<dyn FileOps>, Errno> {
        let content = match &self.body {
            Body::Dir(_) => return Err(Errno::EISDIR),
            Body::File(c) => c,
        };
        if flags & O_ACCMODE != O_RDONLY {
            return Err(Errno::EACCES);
        }
        let data = match content {
            Content::Text(t) => t.clone().into_bytes(),
            Content::Live(f) => f(cx).into_bytes(),
        };
        Ok(Arc::new(SysFile { data }))
    }

    fn statfs(&self) -> Result<Statfs, Errno> {
        Ok(Statfs {
            f_type: self.kind.magic,
            f_bsize: 4096,
            f_namelen: 255,
            f_frsize: 4096,
            f_fsid: [0, 0],
            ..Default::default()
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An open sysfs or cgroup file: the text made at open.
struct SysFile {
    data: Vec<u8>,
}

impl FileOps for SysFile {
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        Ok(crate::util::read_snapshot(&self.data, buf, offset))
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }

    fn size(&self) -> Result<u64, Errno> {
        Ok(self.data.len() as u64)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{names, read_all, task, TestClock};
    use veil_abi::flags::O_WRONLY;

    fn text(root: &InodeRef, t: &Task, path: &str) -> String {
        let mut node = root.clone();
        for c in path.split('/') {
            node = node
                .lookup(t, c.as_bytes())
                .unwrap_or_else(|e| panic!("{path}: {e:?}"));
        }
        String::from_utf8(read_all(&*node.open(t, O_RDONLY).unwrap())).unwrap()
    }

    #[test]
    fn cpus_and_layout() {
        let t = task();
        let fs = SysFs::new(&TestClock::default(), &SysConfig::unlimited(4));
        let r = fs.root();
        assert_eq!(
            names(&*r),
            vec![
                "block", "bus", "class", "dev", "devices", "firmware", "fs", "kernel", "module",
                "power"
            ]
        );
        assert_eq!(text(&r, &t, "devices/system/cpu/online"), "0-3\n");
        assert_eq!(text(&r, &t, "devices/system/cpu/possible"), "0-3\n");
        assert_eq!(text(&r, &t, "devices/system/cpu/present"), "0-3\n");
        assert_eq!(text(&r, &t, "devices/system/cpu/offline"), "\n");
        let cpu = r
            .lookup(&t, b"devices")
            .and_then(|d| d.lookup(&t, b"system"))
            .and_then(|d| d.lookup(&t, b"cpu"))
            .unwrap();
        let listed = names(&*cpu);
        for want in ["cpu0", "cpu1", "cpu2", "cpu3", "online"] {
            assert!(listed.iter().any(|n| n == want), "{want} in {listed:?}");
        }
        assert!(!listed.iter().any(|n| n == "cpu4"));
        assert_eq!(cpu.attr().unwrap().nlink, 6);
        assert_eq!(
            text(&r, &t, "devices/system/cpu/cpu2/topology/core_id"),
            "2\n"
        );
        assert_eq!(
            text(&r, &t, "devices/system/node/node0/cpumap"),
            "0000000f\n"
        );
        assert_eq!(
            text(&r, &t, "kernel/mm/transparent_hugepage/enabled"),
            "always madvise [never]\n"
        );
        let one = SysFs::new(&TestClock::default(), &SysConfig::unlimited(1));
        assert_eq!(text(&one.root(), &t, "devices/system/cpu/online"), "0\n");
        assert_eq!(cpu_map(40), "000000ff,ffffffff");
        // Attributes: a page in size, 0444, no writing even for root.
        let online = cpu.lookup(&t, b"online").unwrap();
        let a = online.attr().unwrap();
        assert_eq!((a.mode, a.size, a.uid), (S_IFREG | 0o444, 4096, 0));
        assert_eq!(online.open(&t, O_WRONLY).err(), Some(Errno::EACCES));
        assert_eq!(cpu.lookup(&t, b"nope").err(), Some(Errno::ENOENT));
        assert_eq!(online.lookup(&t, b"x").err(), Some(Errno::ENOTDIR));
        assert_eq!(
            cpu.mknod(b"x", FileType::Regular, 0o644, 0, Owner::default())
                .err(),
            Some(Errno::EACCES)
        );
        assert_eq!(
            cpu.mkdir(b"x", 0o755, Owner::default()).err(),
            Some(Errno::EPERM)
        );
        assert_eq!(cpu.unlink(b"online").err(), Some(Errno::EPERM));
        assert_eq!(online.unlink(b"x").err(), Some(Errno::ENOTDIR));
        assert_eq!(r.statfs().unwrap().f_type, SYSFS_MAGIC);
    }

    #[test]
    fn cgroup_limits_and_processes() {
        let t = task();
        let mut cfg = SysConfig::unlimited(2);
        let cg = CgroupFs::new(&TestClock::default(), &cfg);
        let r = Filesystem::root(&cg);
        assert_eq!(text(&r, &t, "cpu.max"), "max 100000\n");
        assert_eq!(text(&r, &t, "memory.max"), "max\n");
        assert_eq!(text(&r, &t, "pids.max"), "max\n");
        assert_eq!(text(&r, &t, "cgroup.procs"), format!("{}\n", t.pid()));
        assert_eq!(text(&r, &t, "pids.current"), "1\n");
        assert_eq!(text(&r, &t, "cpuset.cpus.effective"), "0-1\n");
        assert!(text(&r, &t, "cpu.stat").starts_with("usage_usec "));
        assert_eq!(
            text(&r, &t, "memory.current"),
            format!("{}\n", t.kernel.pages.allocated_pages() * 4096)
        );
        let a = r.lookup(&t, b"cpu.max").unwrap().attr().unwrap();
        assert_eq!((a.mode, a.size), (S_IFREG | 0o644, 0));
        assert_eq!(r.statfs().unwrap().f_type, CGROUP2_SUPER_MAGIC);
        cfg.memory_max = Some(1 << 30);
        cfg.cpu_quota = Some(50_000);
        cfg.pids_max = Some(64);
        let cg = CgroupFs::new(&TestClock::default(), &cfg);
        let r = Filesystem::root(&cg);
        assert_eq!(text(&r, &t, "cpu.max"), "50000 100000\n");
        assert_eq!(text(&r, &t, "memory.max"), "1073741824\n");
        assert_eq!(text(&r, &t, "pids.max"), "64\n");
        // Options: cgroup2's own, shown as given; anything else EINVAL.
        let opt = |k: &str| MountOption {
            key: k.as_bytes().to_vec(),
            value: None,
        };
        cg.set_options(&[opt("nsdelegate")]).unwrap();
        assert_eq!(cg.show_options(), ",nsdelegate");
        assert_eq!(cg.set_options(&[opt("bogus")]), Err(Errno::EINVAL));
        assert_eq!(cg.show_options(), ",nsdelegate");
    }
}
