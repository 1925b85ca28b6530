//! Booting a sandbox: the kernel, its filesystems, the first task.
//!
//! `veil do` builds: the ptrace platform over a memfd memory file; a mount
//! tree with an overlay (tmpfs over the host's `/`, or the `--root`
//! directory, read-only) at `/`,
//! devfs at `/dev`, devpts at `/dev/pts`, procfs at `/proc`, sysfs at
//! `/sys` and the sandbox's cgroup2 (read-only) at `/sys/fs/cgroup`; a first
//! task (pid 1) whose fds 0, 1, 2 are the caller's stdin, stdout and
//! stderr, or with `-t` a pseudo-terminal of the sandbox joined to the
//! caller's terminal ([`crate::terminal`]); then it loads the program and
//! runs it on the calling thread until the sandbox exits, passing on the
//! host signals veil gets ([`crate::signals`]).

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;

use spin::Mutex;
use veil_core::host::{Blocker, Identity};
use veil_core::kernel::{KernelOptions, KernelParts};
use veil_core::mm::MemoryManager;
use veil_core::platform::{CpuState, Platform};
use veil_core::task::{Credentials, ExitStatus, Pending, Task, ThreadGroup};
use veil_core::vfs::walk::{self, WalkFlags};
use veil_core::vfs::{Dentry, FdTable, FsContext, MountNamespace};
use veil_core::Kernel;

use crate::cli::{DoArgs, PlatformKind};

/// A failure to start the sandbox, reported as one line.
pub struct BootError {
    /// The message.
    pub msg: String,
    /// The exit status veil ends with.
    pub code: i32,
}

impl BootError {
    fn new(code: i32, msg: impl Into<String>) -> BootError {
        BootError {
            msg: msg.into(),
            code,
        }
    }
}

fn host_identity() -> Identity {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "veil".into());
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    let total_memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(1 << 30);
    Identity {
        hostname,
        release: "6.1.0-veil".into(),
        version: "#1 SMP veil".into(),
        total_memory,
        cpus,
    }
}

/// Starts a host thread per forked task; each task sleeps on its own
/// thread blocker.
struct ThreadSpawner {
    clock: veil_host::HostClock,
}

impl veil_core::host::Spawner for ThreadSpawner {
    fn spawn(&self, f: Box<dyn FnOnce() + Send>) -> Result<(), veil_abi::Errno> {
        std::thread::Builder::new()
            .name("veil-task".into())
            .stack_size(1 << 20)
            .spawn(f)
            .map(|_| ())
            .map_err(|_| veil_abi::Errno::EAGAIN)
    }

    fn new_blocker(&self) -> Arc<dyn Blocker> {
        Arc::new(veil_host::ThreadBlocker::new(self.clock))
    }
}

/// Runs `args` in a new sandbox on the calling thread; returns how the
/// sandbox's first process ended.
pub fn run_do(args: &DoArgs) -> Result<ExitStatus, BootError> {
    if args.tty && !crate::terminal::is_tty(0) {
        return Err(BootError::new(
            125,
            "veil: the input device is not a TTY (-t needs a terminal as standard input)",
        ));
    }
    // Host signals are for the sandbox: blocked before any thread starts,
    // taken by the forwarder once the program runs.
    let signal_set = crate::signals::block(args.tty)
        .map_err(|e| BootError::new(125, format!("veil: cannot block signals: {e}")))?;
    let platform: Arc<dyn Platform> = match args.platform {
        PlatformKind::Ptrace => {
            Arc::new(veil_platform_ptrace::PtracePlatform::new().map_err(|e| {
                BootError::new(125, format!("veil: cannot start the ptrace platform: {e}"))
            })?)
        }
        PlatformKind::Systrap => {
            Arc::new(veil_platform_systrap::SystrapPlatform::new().map_err(|e| {
                BootError::new(125, format!("veil: cannot start the systrap platform: {e}"))
            })?)
        }
    };
    let clock = Arc::new(veil_host::HostClock::new());
    let random = Arc::new(veil_host::HostRandom);
    let logger = Arc::new(veil_host::StderrLogger);

    // The mount tree: overlay over the host's / (or --root DIR), devfs,
    // procfs.
    let host_root = match &args.root {
        Some(dir) => checked_root(dir)?,
        None => PathBuf::from("/"),
    };
    let root = veil_fs::sandbox_root(&host_root, clock.clone(), random.clone()).map_err(|e| {
        BootError::new(
            125,
            format!(
                "veil: cannot serve {} as the root: {e}",
                host_root.display()
            ),
        )
    })?;
    let mounts = MountNamespace::new(Dentry::new_root(root), "overlay", "overlay");

    let kernel = Kernel::new(KernelParts {
        platform: platform.clone(),
        clock: clock.clone(),
        random: random.clone(),
        logger,
        identity: host_identity(),
        mounts: mounts.clone(),
        options: KernelOptions {
            strace: args.strace,
            cpumask_bytes: veil_host::cpumask_bytes(),
        },
    });

    kernel.set_spawner(Arc::new(ThreadSpawner { clock: *clock }));
    kernel.set_timers(Arc::new(veil_host::HostTimers::new(clock.clone())));
    // TIOCSTI answers as the host's (Linux 6.2+ may turn it off).
    if let Ok(v) = std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti") {
        kernel.ptys.set_legacy_tiocsti(v.trim() != "0");
    }

    let space = platform
        .new_address_space()
        .map_err(|e| BootError::new(125, format!("veil: cannot create an address space: {e:?}")))?;
    let mut ctx = platform
        .new_context()
        .map_err(|e| BootError::new(125, format!("veil: cannot create a context: {e:?}")))?;
    let mm = Arc::new(MemoryManager::new(
        space,
        kernel.mf.clone(),
        kernel.pages.clone(),
    ));

    let uid = veil_host::getuid();
    let gid = veil_host::getgid();
    let pid = kernel.alloc_pid();
    let root_loc = mounts.root();
    let fs = Arc::new(Mutex::new(FsContext {
        root: root_loc.clone(),
        cwd: root_loc.clone(),
        umask: veil_host::umask(),
    }));
    let init_tg = Arc::new(ThreadGroup::new(pid, 0));
    kernel.register(&init_tg);
    let blocker: Arc<dyn Blocker> = Arc::new(veil_host::ThreadBlocker::new(clock.clone()));
    let mut task = Task {
        kernel: kernel.clone(),
        tid: pid,
        tg: init_tg,
        mm,
        fds: Arc::new(FdTable::new()),
        fs: fs.clone(),
        creds: Credentials::new(uid, gid, veil_host::getgroups()),
        cpu: CpuState::default(),
        sigmask: 0,
        clear_child_tid: 0,
        robust_list: (0, 0),
        blocker,
        pending: Pending::default(),
        signals: Default::default(),
        seccomp: Default::default(),
    };
    task.publish_view();

    // Kernel filesystems.
    // /dev; with -t it also has /dev/console (the program's terminal).
    let dev = veil_fs::devfs::DevFs::new(clock.clone(), random.clone())
        .map_err(|e| BootError::new(125, format!("veil: cannot make /dev: {}", e.name())))?;
    if args.tty {
        dev.add_console().map_err(|e| {
            BootError::new(125, format!("veil: cannot make /dev/console: {}", e.name()))
        })?;
    }
    mount_at(&task, "/dev", dev.tmpfs().root(), "devtmpfs", "devtmpfs")?;
    mount_at(
        &task,
        "/dev/pts",
        veil_fs::devpts::new_root(kernel.ptys.clone(), clock.clone()),
        "devpts",
        "devpts",
    )?;
    // /proc as a filesystem instance, so that a remount can change its
    // options (hidepid=, gid=, subset=).
    {
        use veil_core::vfs::mount::mnt;
        let at = mount_point(&task, "/proc", "proc")?;
        let procfs = Arc::new(veil_fs::procfs::ProcFs::for_kernel(&kernel));
        let flags = mnt::NOSUID | mnt::NODEV | mnt::NOEXEC | mnt::RELATIME;
        kernel
            .mounts
            .mount_fs(&at, procfs, "proc", "proc", 0, flags);
    }
    // What mount(2) can make; sysfs at /sys, the sandbox's cgroup (read-only).
    let sys = veil_fs::sysfs::SysConfig::unlimited(kernel.identity.cpus);
    let types = Arc::new(veil_fs::Filesystems::new(&kernel, sys));
    kernel.mounts.install_filesystems(types.clone());
    mount_at(&task, "/sys", types.sysfs().root(), "sysfs", "sysfs")?;
    let cgroup = veil_core::vfs::mount::Filesystem::root(&*types.cgroup());
    let cg = mount_at(&task, "/sys/fs/cgroup", cgroup, "cgroup2", "cgroup2")?;
    cg.set_flags(cg.flags() | veil_core::vfs::mount::mnt::READONLY);

    // stdio: the caller's fds 0, 1, 2 (absent ones stay closed), or the
    // slave of a new pty, which becomes the controlling terminal.
    let master = if args.tty {
        Some(open_terminal(&task)?)
    } else {
        for fd in 0..3 {
            if let Some(ops) = veil_fs::hostfd::HostFdFile::from_stdio(fd) {
                task.fds
                    .set(fd, ops.into_open_file(), false, u64::MAX)
                    .map_err(|e| BootError::new(125, format!("veil: stdio: {}", e.name())))?;
            }
        }
        None
    };

    // Working directory: --cwd, `/` with --root, or the caller's.
    let cwd = match &args.cwd {
        Some(c) => c.clone(),
        None if args.root.is_some() => OsString::from("/"),
        None => std::env::current_dir()
            .map(OsString::from)
            .unwrap_or_else(|_| OsString::from("/")),
    };
    let cwd_loc = walk::resolve(
        &task,
        veil_abi::flags::AT_FDCWD,
        cwd.as_bytes(),
        WalkFlags {
            follow: true,
            empty_ok: false,
        },
    )
    .map_err(|e| {
        BootError::new(
            125,
            format!(
                "veil: cannot use {} as the working directory: {}",
                cwd.to_string_lossy(),
                e.name()
            ),
        )
    })?;
    fs.lock().cwd = cwd_loc;

    // The program.
    let env = environment(&args.env);
    let prog = find_program(&task, &args.argv[0], &env)?;
    let argv: Vec<Vec<u8>> = args.argv.iter().map(|a| a.as_bytes().to_vec()).collect();
    veil_core::loader::exec(&mut task, &prog, argv, env).map_err(|e| {
        let shown = args.argv[0].to_string_lossy();
        match e {
            veil_abi::Errno::ENOENT => {
                BootError::new(127, format!("veil: {shown}: no such file or directory"))
            }
            veil_abi::Errno::EACCES => {
                BootError::new(126, format!("veil: {shown}: permission denied"))
            }
            veil_abi::Errno::ENOEXEC => BootError::new(
                126,
                format!("veil: {shown}: not an executable the sandbox can run"),
            ),
            e => BootError::new(126, format!("veil: {shown}: cannot execute: {}", e.name())),
        }
    })?;
    // /proc shows the address space exec made.
    task.publish_view();
    // The host terminal in raw mode, and the copying threads, until the
    // program ends.
    let mut on_winch: Option<Box<dyn Fn() + Send>> = None;
    let (raw, bridge) = match &master {
        Some((file, pty)) => {
            let raw = crate::terminal::RawMode::enter(0).map_err(|e| {
                BootError::new(125, format!("veil: cannot set up the terminal: {e}"))
            })?;
            let bridge = crate::terminal::Bridge::start(file.clone(), *clock).map_err(|e| {
                BootError::new(125, format!("veil: cannot start the terminal: {e}"))
            })?;
            let pty = pty.clone();
            on_winch = Some(Box::new(move || crate::terminal::copy_winsize(&pty)));
            (Some(raw), Some(bridge))
        }
        None => (None, None),
    };
    crate::signals::spawn_forwarder(signal_set, kernel.clone(), pid, on_winch)
        .map_err(|e| BootError::new(125, format!("veil: cannot forward signals: {e}")))?;
    let status = kernel.run(&mut task, ctx.as_mut());
    kernel.exit_task(&mut task);
    if let Some(b) = bridge {
        b.finish(std::time::Duration::from_secs(2));
    }
    drop(raw);
    Ok(status)
}

/// `-t`: a new pty of the sandbox, unlocked, as big as the caller's
/// terminal; its slave, opened by path (so that ttyname works) as the
/// first task's fds 0, 1 and 2, becomes its controlling terminal (the
/// task leads its session). Returns the master.
fn open_terminal(
    task: &Task,
) -> Result<(Arc<veil_core::vfs::OpenFile>, Arc<veil_core::tty::Pty>), BootError> {
    let fail = |e: veil_abi::Errno| {
        BootError::new(125, format!("veil: cannot make a terminal: {}", e.name()))
    };
    let master = veil_core::tty::open_ptmx(task).map_err(fail)?;
    let pty = master.pty().clone();
    task.kernel.console.call_once(|| pty.clone());
    pty.set_locked(false);
    crate::terminal::copy_winsize(&pty);
    let master = veil_core::vfs::OpenFile::new(master, None, veil_abi::flags::O_RDWR);
    let path = format!("/dev/pts/{}", pty.index);
    let how = veil_core::vfs::open::OpenHow::from_open(veil_abi::flags::O_RDWR, 0).map_err(fail)?;
    let slave =
        veil_core::vfs::open::open_at(task, veil_abi::flags::AT_FDCWD, path.as_bytes(), &how)
            .map_err(fail)?;
    for fd in 0..3 {
        task.fds
            .set(fd, slave.clone(), false, u64::MAX)
            .map_err(fail)?;
    }
    Ok((master, pty))
}

/// `--root DIR`: the host resolves DIR once, here (a symlink is followed,
/// as chroot(8) would); the sandbox then holds a directory fd of what it
/// named. One clear error if it is missing or not a directory.
fn checked_root(dir: &OsString) -> Result<PathBuf, BootError> {
    let shown = dir.to_string_lossy();
    let fail = |why: String| BootError::new(125, format!("veil: --root {shown}: {why}"));
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(PathBuf::from(dir)),
        Ok(_) => Err(fail("not a directory".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(fail("no such directory".into())),
        Err(e) => Err(fail(e.to_string())),
    }
}

/// Mounts `root` at `path`, making `path` a directory in the overlay's
/// upper layer first if the root has none (a small `--root` tree without
/// `/dev`, `/proc` or `/sys`); the host is never written.
fn mount_at(
    task: &Task,
    path: &str,
    root: veil_core::vfs::InodeRef,
    fs_type: &str,
    source: &str,
) -> Result<Arc<veil_core::vfs::Mount>, BootError> {
    let at = mount_point(task, path, fs_type)?;
    Ok(task
        .kernel
        .mounts
        .mount(&at, Dentry::new_root(root), fs_type, source))
}

/// The directory `path` to mount a `fs_type` on, made in the overlay's
/// upper layer if the root has none.
fn mount_point(
    task: &Task,
    path: &str,
    fs_type: &str,
) -> Result<veil_core::vfs::Location, BootError> {
    let lookup = || {
        walk::resolve(
            task,
            veil_abi::flags::AT_FDCWD,
            path.as_bytes(),
            WalkFlags {
                follow: true,
                empty_ok: false,
            },
        )
    };
    match lookup() {
        Err(veil_abi::Errno::ENOENT) => veil_core::vfs::pathops::mkdirat(
            task,
            veil_abi::flags::AT_FDCWD,
            path.as_bytes(),
            0o755,
        )
        .and_then(|()| lookup()),
        r => r,
    }
    .map_err(|e| {
        BootError::new(
            125,
            format!("veil: cannot mount {fs_type} at {path}: {}", e.name()),
        )
    })
}

/// The caller's environment with `--env` entries applied.
fn environment(extra: &[OsString]) -> Vec<Vec<u8>> {
    let mut env: Vec<Vec<u8>> = std::env::vars_os()
        .map(|(k, v)| {
            let mut e = k.as_bytes().to_vec();
            e.push(b'=');
            e.extend_from_slice(v.as_bytes());
            e
        })
        .collect();
    for e in extra {
        let bytes = e.as_bytes();
        let key_len = bytes.iter().position(|&c| c == b'=').unwrap_or(bytes.len());
        env.retain(|x| {
            !(x.len() > key_len && x[..key_len] == bytes[..key_len] && x[key_len] == b'=')
        });
        env.push(bytes.to_vec());
    }
    env
}

/// Finds the program as a shell would: a name with `/` is used as is,
/// another is searched in the sandbox's PATH.
fn find_program(task: &Task, name: &OsString, env: &[Vec<u8>]) -> Result<Vec<u8>, BootError> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return Err(BootError::new(127, "veil: empty command name"));
    }
    if bytes.contains(&b'/') {
        return Ok(bytes.to_vec());
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix(b"PATH="))
        .map(|p| p.to_vec())
        .unwrap_or_else(|| {
            b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_vec()
        });
    for dir in path.split(|&c| c == b':') {
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let mut cand = dir.to_vec();
        cand.push(b'/');
        cand.extend_from_slice(bytes);
        if let Ok(loc) = walk::resolve(
            task,
            veil_abi::flags::AT_FDCWD,
            &cand,
            WalkFlags {
                follow: true,
                empty_ok: false,
            },
        ) {
            if let Ok(attr) = loc.inode().attr() {
                if attr.file_type() == Some(veil_core::vfs::FileType::Regular)
                    && attr.mode & 0o111 != 0
                {
                    return Ok(cand);
                }
            }
        }
    }
    Err(BootError::new(
        127,
        format!("veil: {}: command not found", name.to_string_lossy()),
    ))
}
