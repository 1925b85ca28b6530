//! Test support: a kernel and a task over an inert platform, so that
//! `Inode` methods that take a `&Task` can be called with no host process.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use veil_abi::Timespec;
use veil_core::fake::{FakeBlocker, FakeClock, FakeLogger, FakePlatform};
use veil_core::host::{Clock, Identity, Random};
use veil_core::kernel::{Kernel, KernelOptions, KernelParts};
use veil_core::mm::MemoryManager;
use veil_core::platform::CpuState;
use veil_core::task::{Credentials, Pending, Task, ThreadGroup};
use veil_core::vfs::{Dentry, FdTable, FsContext, MountNamespace};

/// A clock tests can move: realtime starts at 1_000_000 s.
#[derive(Default)]
pub struct TestClock {
    /// Nanoseconds added to the start.
    pub ns: AtomicI64,
}

impl TestClock {
    /// Moves time forward by `secs`.
    pub fn advance(&self, secs: i64) {
        self.ns.fetch_add(secs * 1_000_000_000, Ordering::Relaxed);
    }
}

impl Clock for TestClock {
    fn realtime(&self) -> Timespec {
        let ns = self.ns.load(Ordering::Relaxed);
        Timespec {
            tv_sec: 1_000_000 + ns / 1_000_000_000,
            tv_nsec: ns % 1_000_000_000,
        }
    }
    fn monotonic(&self) -> Timespec {
        let ns = self.ns.load(Ordering::Relaxed);
        Timespec {
            tv_sec: 100 + ns / 1_000_000_000,
            tv_nsec: ns % 1_000_000_000,
        }
    }
}

/// Deterministic "random" bytes.
#[derive(Default)]
pub struct TestRandom(AtomicU64);

impl Random for TestRandom {
    fn fill(&self, buf: &mut [u8]) {
        for b in buf {
            *b = (self.0.fetch_add(1, Ordering::Relaxed) as u8) | 0x80;
        }
    }
}

/// A kernel whose root filesystem is `root` (on the fake platform).
pub fn kernel_with_root(root: Arc<Dentry>) -> Arc<Kernel> {
    let clock: Arc<dyn Clock> = Arc::new(FakeClock::new());
    let mounts = MountNamespace::new(root, "tmpfs", "none");
    Kernel::new(KernelParts {
        platform: FakePlatform::new(),
        clock,
        random: Arc::new(TestRandom::default()),
        logger: Arc::new(FakeLogger::default()),
        identity: Identity {
            hostname: "veil".into(),
            release: "6.1.0".into(),
            version: "#1 SMP veil".into(),
            total_memory: 4 << 30,
            cpus: 2,
        },
        mounts,
        options: KernelOptions::default(),
    })
}

/// A new process (uid 0) in `kernel`, rooted at the namespace root.
pub fn task_in(kernel: &Arc<Kernel>) -> Task {
    let kernel = kernel.clone();
    let pid = kernel.alloc_pid();
    let mm = MemoryManager::for_kernel(&kernel).expect("fake address space");
    let root_loc = kernel.mounts.root();
    let tg = Arc::new(ThreadGroup::new(pid, 0));
    *tg.comm.lock() = "test".into();
    kernel.register(&tg);
    Task {
        kernel,
        tid: pid,
        tg,
        mm: Arc::new(mm),
        fds: Arc::new(FdTable::new()),
        fs: Arc::new(spin::Mutex::new(FsContext {
            root: root_loc.clone(),
            cwd: root_loc,
            umask: 0o022,
        })),
        creds: Credentials::new(0, 0, vec![]),
        cpu: CpuState::default(),
        sigmask: 0,
        clear_child_tid: 0,
        robust_list: (0, 0),
        blocker: Arc::new(FakeBlocker::with_clock(Arc::new(FakeClock::new()))),
        pending: Pending::default(),
        signals: Default::default(),
        seccomp: Default::default(),
    }
}

/// A task whose root and cwd are the root of `root`.
pub fn task_with_root(root: Arc<Dentry>) -> Task {
    task_in(&kernel_with_root(root))
}

/// A task over an empty tmpfs root.
pub fn task() -> Task {
    let fs = crate::tmpfs::TmpFs::new(Arc::new(TestClock::default()));
    task_with_root(fs.root_dentry())
}

/// The names a directory lists, in order.
pub fn names(dir: &dyn veil_core::vfs::Inode) -> Vec<String> {
    let mut out = Vec::new();
    dir.readdir(0, &mut |e| {
        out.push(String::from_utf8_lossy(&e.name).into_owned());
        true
    })
    .expect("readdir");
    out
}

/// The names a directory lists, sorted.
pub fn sorted_names(dir: &dyn veil_core::vfs::Inode) -> Vec<String> {
    let mut v = names(dir);
    v.sort();
    v
}

/// Reads a whole file from offset 0.
pub fn read_all(f: &dyn veil_core::vfs::FileOps) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1000];
    loop {
        let n = f.read(&mut buf, out.len() as u64).expect("read");
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// A fresh empty directory under the system temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// Creates it.
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "veil-fs-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).expect("mkdir temp");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
