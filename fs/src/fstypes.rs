//! The filesystem types mount(2) can make inside the sandbox: the
//! [`FilesystemTypes`] the runtime installs on its mount namespace.
//!
//! - `tmpfs`: a new [`TmpFs`] with Linux's options: `size=` (bytes with a
//!   `k`/`m`/`g`/`t`/`p`/`e` suffix, or `N%` of the sandbox's memory),
//!   `nr_blocks=`, `nr_inodes=` (0 for no limit), `mode=` (octal), `uid=`,
//!   `gid=`, `inode32`, `inode64`, `noswap`, `huge=never`; the defaults
//!   are Linux's (half the memory, as many inodes as half its pages, mode
//!   1777, owned by the caller's fs ids). Remount changes `size=`,
//!   `nr_blocks=` and `nr_inodes=` with Linux's checks and accepts the
//!   rest unchanged. /proc/mounts shows what differs from the defaults.
//!   `huge=` other than `never`, `mpol=` and the quota options are
//!   `EINVAL`, as on a kernel without transparent huge pages, NUMA or
//!   tmpfs quotas.
//! - `proc`: a new procfs instance of the sandbox (as in Linux 5.8+, each
//!   mount its own) with `hidepid=` (0-2, 4 or their names), `gid=` and
//!   `subset=pid`, which a remount changes (see
//!   [`ProcOptions`](crate::procfs::ProcOptions)).
//! - `sysfs` and `cgroup2`: the sandbox's single instances (the same ones
//!   at every mount, as Linux shares them within a namespace).
//! - `devpts`: another view of the sandbox's one devpts instance (its
//!   pseudo-terminals), as Linux's devpts was before every mount became a
//!   new instance; `newinstance` is taken, and `mode=`, `ptmxmode=` and
//!   `max=` only with the instance's own values (0600, 0000, no limit).
//!
//! - `mqueue`: the sandbox's POSIX message queues ([`crate::mqueue`]), the
//!   same ones at every mount; no options.
//!
//! Any other type is `ENODEV`; an unknown option `EINVAL`.

use std::any::Any;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use veil_abi::Errno;
use veil_core::host::{Clock, Random};
use veil_core::kernel::Kernel;
use veil_core::task::Task;
use veil_core::tty::PtyTable;
use veil_core::vfs::mount::{Filesystem, FilesystemTypes, MountOption};
use veil_core::vfs::{InodeRef, Owner};

use crate::devfs::Devices;
use crate::procfs::{HidePid, ProcFs, ProcOptions};
use crate::sysfs::{CgroupFs, SysConfig, SysFs};
use crate::tmpfs::{TmpFs, TmpFsOptions};

const PAGE: u64 = 4096;

/// The filesystem types of a sandbox.
pub struct Filesystems {
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    ptys: Arc<PtyTable>,
    sys: SysConfig,
    sysfs: OnceLock<Arc<SysFs>>,
    cgroup: OnceLock<Arc<CgroupFs>>,
}

impl Filesystems {
    /// The types for `kernel`'s sandbox, whose sysfs and cgroup describe
    /// `sys`.
    pub fn new(kernel: &Kernel, sys: SysConfig) -> Filesystems {
        Filesystems {
            clock: kernel.clock.clone(),
            random: kernel.random.clone(),
            ptys: kernel.ptys.clone(),
            sys,
            sysfs: OnceLock::new(),
            cgroup: OnceLock::new(),
        }
    }

    /// The sandbox's sysfs (made at first use).
    pub fn sysfs(&self) -> Arc<SysFs> {
        self.sysfs
            .get_or_init(|| Arc::new(SysFs::new(&*self.clock, &self.sys)))
            .clone()
    }

    /// The sandbox's cgroup2 (made at first use).
    pub fn cgroup(&self) -> Arc<CgroupFs> {
        self.cgroup
            .get_or_init(|| Arc::new(CgroupFs::new(&*self.clock, &self.sys)))
            .clone()
    }

    fn tmpfs(&self, cx: &Task, opts: &[MountOption]) -> Result<Arc<dyn Filesystem>, Errno> {
        let total_pages = cx.kernel.identity.total_memory / PAGE;
        let defaults = TmpfsLimits {
            pages: Some((total_pages / 2).max(1)),
            inodes: Some((total_pages / 2).max(1)),
        };
        let mut shown = TmpfsShown {
            mode: 0o1777,
            uid: cx.creds.fsuid,
            gid: cx.creds.fsgid,
            inode64: false,
            noswap: false,
        };
        let parsed = parse_tmpfs(opts, total_pages, &mut shown)?;
        let fs = TmpFs::with_options(
            self.clock.clone(),
            TmpFsOptions {
                capacity: None,
                root_mode: shown.mode,
                root_owner: Owner {
                    uid: shown.uid,
                    gid: shown.gid,
                },
                devices: Some(Devices::new(self.random.clone())),
                ..Default::default()
            },
        );
        fs.set_limits(
            parsed.pages.unwrap_or(defaults.pages),
            parsed.inodes.unwrap_or(defaults.inodes),
        );
        Ok(Arc::new(TmpfsInstance {
            fs,
            defaults,
            shown: Mutex::new(shown),
            total_pages,
        }))
    }
}

impl FilesystemTypes for Filesystems {
    fn make(
        &self,
        cx: &Task,
        name: &[u8],
        _source: &[u8],
        opts: &[MountOption],
    ) -> Result<Arc<dyn Filesystem>, Errno> {
        match name {
            b"tmpfs" => self.tmpfs(cx, opts),
            b"proc" => {
                let mut o = ProcOptions::default();
                apply_proc_options(&mut o, opts)?;
                let fs = ProcFs::for_kernel(&cx.kernel);
                fs.set_options(o);
                Ok(Arc::new(fs))
            }
            b"sysfs" => {
                if !opts.is_empty() {
                    return Err(Errno::EINVAL);
                }
                Ok(self.sysfs())
            }
            b"cgroup2" => {
                let cg = self.cgroup();
                cg.set_options(opts)?;
                Ok(cg)
            }
            b"devpts" => {
                check_devpts_options(opts)?;
                Ok(Arc::new(Plain(crate::devpts::new_root(
                    self.ptys.clone(),
                    self.clock.clone(),
                ))))
            }
            b"mqueue" => {
                if !opts.is_empty() {
                    return Err(Errno::EINVAL);
                }
                Ok(Arc::new(Plain(crate::mqueue::new_root(&cx.kernel))))
            }
            _ => Err(Errno::ENODEV),
        }
    }

    fn list(&self) -> Vec<(String, bool)> {
        ["sysfs", "tmpfs", "proc", "cgroup2", "devpts", "mqueue"]
            .iter()
            .map(|n| (n.to_string(), true))
            .collect()
    }
}

/// A filesystem with no options of its own.
struct Plain(InodeRef);

impl Filesystem for Plain {
    fn root(&self) -> InodeRef {
        self.0.clone()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TmpfsLimits {
    /// Most pages (`None`: no limit).
    pages: Option<u64>,
    /// Most inodes (`None`: no limit).
    inodes: Option<u64>,
}

/// The limits an option string set: `Some(limit)` for each it named
/// (`Some(None)`: no limit).
struct TmpfsParsed {
    pages: Option<Option<u64>>,
    inodes: Option<Option<u64>>,
}

/// The options /proc/mounts shows besides the limits.
#[derive(Clone, Copy)]
struct TmpfsShown {
    mode: u32,
    uid: u32,
    gid: u32,
    inode64: bool,
    noswap: bool,
}

/// Linux's memparse: a number in C notation (`0x` hex, leading `0`
/// octal) with an optional binary suffix; returns the value and what
/// follows. `None` if there is no number or it overflows.
fn memparse(s: &[u8]) -> Option<(u64, &[u8])> {
    let (radix, digits) = if s.len() > 1 && s[0] == b'0' && (s[1] | 0x20) == b'x' {
        (16, &s[2..])
    } else if s.first() == Some(&b'0') {
        (8, s)
    } else {
        (10, s)
    };
    let end = digits
        .iter()
        .position(|c| !(*c as char).is_digit(radix))
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    let text = std::str::from_utf8(&digits[..end]).ok()?;
    let mut v = u64::from_str_radix(text, radix).ok()?;
    let mut rest = &digits[end..];
    let shift = match rest.first().map(|c| c | 0x20) {
        Some(b'k') => 10,
        Some(b'm') => 20,
        Some(b'g') => 30,
        Some(b't') => 40,
        Some(b'p') => 50,
        Some(b'e') => 60,
        _ => 0,
    };
    if shift != 0 {
        v = v.checked_mul(1u64 << shift)?;
        rest = &rest[1..];
    }
    Some((v, rest))
}

/// Linux's kstrtouint with `radix` (0: C notation): digits only, a `+`
/// allowed first and one newline last.
fn parse_uint(s: &[u8], radix: u32) -> Option<u32> {
    let s = s.strip_suffix(b"\n").unwrap_or(s);
    let s = s.strip_prefix(b"+").unwrap_or(s);
    let (radix, digits) = match radix {
        0 if s.len() > 1 && s[0] == b'0' && (s[1] | 0x20) == b'x' => (16, &s[2..]),
        0 if s.len() > 1 && s[0] == b'0' => (8, &s[1..]),
        0 => (10, s),
        r => (r, s),
    };
    if digits.is_empty() || !digits.iter().all(|c| (*c as char).is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(digits).ok()?, radix).ok()
}

fn value(o: &MountOption) -> Result<&[u8], Errno> {
    o.value.as_deref().ok_or(Errno::EINVAL)
}

/// Parses tmpfs options into the limits they set and `shown`.
fn parse_tmpfs(
    opts: &[MountOption],
    total_pages: u64,
    shown: &mut TmpfsShown,
) -> Result<TmpfsParsed, Errno> {
    let mut out = TmpfsParsed {
        pages: None,
        inodes: None,
    };
    let limit = |n: u64| if n == 0 { None } else { Some(n) };
    for o in opts {
        match o.key.as_slice() {
            b"size" => {
                let (mut size, mut rest) = memparse(value(o)?).ok_or(Errno::EINVAL)?;
                if rest.first() == Some(&b'%') {
                    size = (size as u128 * PAGE as u128 * total_pages as u128 / 100)
                        .try_into()
                        .map_err(|_| Errno::EINVAL)?;
                    rest = &rest[1..];
                }
                if !rest.is_empty() {
                    return Err(Errno::EINVAL);
                }
                out.pages = Some(limit(size.div_ceil(PAGE)));
            }
            b"nr_blocks" => {
                let (n, rest) = memparse(value(o)?).ok_or(Errno::EINVAL)?;
                if !rest.is_empty() {
                    return Err(Errno::EINVAL);
                }
                out.pages = Some(limit(n));
            }
            b"nr_inodes" => {
                let (n, rest) = memparse(value(o)?).ok_or(Errno::EINVAL)?;
                // Linux keeps inode space as 1 KiB units per inode.
                if !rest.is_empty() || n > u64::MAX / 1024 {
                    return Err(Errno::EINVAL);
                }
                out.inodes = Some(limit(n));
            }
            b"mode" => shown.mode = parse_uint(value(o)?, 8).ok_or(Errno::EINVAL)? & 0o7777,
            b"uid" => {
                let v = parse_uint(value(o)?, 0).ok_or(Errno::EINVAL)?;
                if v == u32::MAX {
                    return Err(Errno::EINVAL);
                }
                shown.uid = v;
            }
            b"gid" => {
                let v = parse_uint(value(o)?, 0).ok_or(Errno::EINVAL)?;
                if v == u32::MAX {
                    return Err(Errno::EINVAL);
                }
                shown.gid = v;
            }
            b"inode32" if o.value.is_none() => shown.inode64 = false,
            b"inode64" if o.value.is_none() => shown.inode64 = true,
            b"noswap" if o.value.is_none() => shown.noswap = true,
            b"huge" if o.value.as_deref() == Some(b"never") => {}
            _ => return Err(Errno::EINVAL),
        }
    }
    Ok(out)
}

/// A mounted tmpfs and the options it shows.
struct TmpfsInstance {
    fs: TmpFs,
    defaults: TmpfsLimits,
    shown: Mutex<TmpfsShown>,
    total_pages: u64,
}

impl Filesystem for TmpfsInstance {
    fn root(&self) -> InodeRef {
        self.fs.root()
    }

    fn show_options(&self) -> String {
        let mut s = String::new();
        let (pages, inodes) = self.fs.limits();
        if pages != self.defaults.pages {
            let _ = write!(s, ",size={}k", pages.unwrap_or(0) * (PAGE / 1024));
        }
        if inodes != self.defaults.inodes {
            let _ = write!(s, ",nr_inodes={}", inodes.unwrap_or(0));
        }
        let shown = *self.shown.lock().unwrap_or_else(|e| e.into_inner());
        if shown.mode != 0o1777 {
            let _ = write!(s, ",mode={:03o}", shown.mode);
        }
        if shown.uid != 0 {
            let _ = write!(s, ",uid={}", shown.uid);
        }
        if shown.gid != 0 {
            let _ = write!(s, ",gid={}", shown.gid);
        }
        if shown.inode64 {
            s.push_str(",inode64");
        }
        if shown.noswap {
            s.push_str(",noswap");
        }
        s
    }

    fn reconfigure(&self, opts: &[MountOption]) -> Result<(), Errno> {
        // mode, uid and gid are parsed (bad values are EINVAL) but a
        // remount keeps them, as Linux's shmem_reconfigure.
        let mut scratch = *self.shown.lock().unwrap_or_else(|e| e.into_inner());
        let parsed = parse_tmpfs(opts, self.total_pages, &mut scratch)?;
        self.fs.change_limits(parsed.pages, parsed.inodes)?;
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        shown.inode64 = scratch.inode64;
        shown.noswap |= scratch.noswap;
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Applies proc's mount options to `o`, all or none (`EINVAL` for an
/// unknown option or a bad value), as Linux's proc_parse_param and
/// proc_apply_options: `hidepid=` a number (C notation) of 0, 1, 2, 4 or
/// `off`, `noaccess`, `invisible`, `ptraceable`; `gid=` a number;
/// `subset=pid` (an empty value is `EINVAL`, as every empty string
/// parameter of the new mount API, so a remount cannot turn the subset
/// off). What is not named stays as it was (a remount changes only what
/// it names).
pub(crate) fn apply_proc_options(o: &mut ProcOptions, opts: &[MountOption]) -> Result<(), Errno> {
    let mut new = *o;
    for opt in opts {
        let v = value(opt)?;
        match opt.key.as_slice() {
            b"hidepid" => {
                new.hidepid = HidePid::parse(v, parse_uint(v, 0)).ok_or(Errno::EINVAL)?;
            }
            b"gid" => new.gid = parse_uint(v, 0).ok_or(Errno::EINVAL)?,
            b"subset" => {
                if v != b"pid" {
                    return Err(Errno::EINVAL);
                }
                new.subset_pid = true;
            }
            _ => return Err(Errno::EINVAL),
        }
    }
    *o = new;
    Ok(())
}

fn check_devpts_options(opts: &[MountOption]) -> Result<(), Errno> {
    for o in opts {
        let ok = match (o.key.as_slice(), o.value.as_deref()) {
            (b"newinstance", None) => true,
            (b"mode", Some(v)) => parse_uint(v, 8) == Some(0o600),
            (b"ptmxmode", Some(v)) => parse_uint(v, 8) == Some(0),
            (b"max", Some(v)) => parse_uint(v, 0) == Some(1 << 20),
            _ => false,
        };
        if !ok {
            return Err(Errno::EINVAL);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::task;
    use veil_core::vfs::mount::parse_options;

    fn make(t: &Task, name: &str, data: &str) -> Result<Arc<dyn Filesystem>, Errno> {
        let fss = Filesystems::new(&t.kernel, SysConfig::unlimited(2));
        fss.make(t, name.as_bytes(), b"none", &parse_options(data.as_bytes()))
    }

    #[test]
    fn memparse_and_uint() {
        assert_eq!(memparse(b"64k"), Some((65536, &b""[..])));
        assert_eq!(memparse(b"0x10M"), Some((16 << 20, &b""[..])));
        assert_eq!(memparse(b"010"), Some((8, &b""[..])));
        assert_eq!(memparse(b"5%"), Some((5, &b"%"[..])));
        assert_eq!(memparse(b"x"), None);
        assert_eq!(memparse(b"99999999999999999999"), None);
        assert_eq!(parse_uint(b"0755", 8), Some(0o755));
        assert_eq!(parse_uint(b"8", 8), None);
        assert_eq!(parse_uint(b"+12\n", 0), Some(12));
        assert_eq!(parse_uint(b"-1", 0), None);
    }

    #[test]
    fn tmpfs_options() {
        let t = task();
        // 4 GiB of memory in the test kernel: 2 GiB and 524288 inodes.
        let fs = make(&t, "tmpfs", "").unwrap();
        assert_eq!(fs.show_options(), "");
        let st = fs.root().statfs().unwrap();
        assert_eq!((st.f_blocks, st.f_files), (524_288, 524_288));
        let fs = make(&t, "tmpfs", "size=64k,nr_inodes=10,mode=0755,uid=5,gid=6").unwrap();
        assert_eq!(
            fs.show_options(),
            ",size=64k,nr_inodes=10,mode=755,uid=5,gid=6"
        );
        let a = fs.root().attr().unwrap();
        assert_eq!((a.mode & 0o7777, a.uid, a.gid), (0o755, 5, 6));
        let st = fs.root().statfs().unwrap();
        assert_eq!((st.f_blocks, st.f_files, st.f_ffree), (16, 10, 9));
        let fs = make(&t, "tmpfs", "size=1").unwrap();
        assert_eq!(fs.show_options(), ",size=4k");
        let fs = make(&t, "tmpfs", "size=50%").unwrap();
        assert_eq!(fs.show_options(), "");
        let fs = make(&t, "tmpfs", "size=0,nr_inodes=0").unwrap();
        assert_eq!(fs.show_options(), ",size=0k,nr_inodes=0");
        for bad in [
            "size=x",
            "size=1q",
            "size",
            "mode=9",
            "uid=-1",
            "bogus",
            "huge=always",
            "mpol=default",
            "inode64=1",
        ] {
            assert_eq!(make(&t, "tmpfs", bad).err(), Some(Errno::EINVAL), "{bad}");
        }
        // Remount: size can grow; limiting an unlimited one is EINVAL.
        let fs = make(&t, "tmpfs", "size=64k").unwrap();
        fs.reconfigure(&parse_options(b"size=128k,mode=700"))
            .unwrap();
        assert_eq!(fs.show_options(), ",size=128k");
        assert_eq!(
            fs.reconfigure(&parse_options(b"size=x")),
            Err(Errno::EINVAL)
        );
        let fs = make(&t, "tmpfs", "size=0").unwrap();
        assert_eq!(
            fs.reconfigure(&parse_options(b"size=1m")),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn other_types() {
        let t = task();
        assert_eq!(make(&t, "ext4", "").err(), Some(Errno::ENODEV));
        assert_eq!(make(&t, "nope", "x").err(), Some(Errno::ENODEV));
        assert_eq!(
            make(&t, "proc", "hidepid=0,gid=3").unwrap().show_options(),
            ",gid=3"
        );
        for (data, shown) in [
            ("", ""),
            ("hidepid=1", ",hidepid=noaccess"),
            ("hidepid=invisible,gid=0x10", ",gid=16,hidepid=invisible"),
            ("hidepid=4,subset=pid", ",hidepid=ptraceable,subset=pid"),
            ("hidepid=2,hidepid=off,subset=pid", ",subset=pid"),
        ] {
            assert_eq!(
                make(&t, "proc", data).unwrap().show_options(),
                shown,
                "{data}"
            );
        }
        for bad in [
            "hidepid=3",
            "hidepid=-1",
            "hidepid=",
            "hidepid",
            "hidepid=Off",
            "gid=x",
            "gid",
            "subset=sys",
            "subset",
            "subset=",
            "pidns=1",
        ] {
            assert_eq!(make(&t, "proc", bad).err(), Some(Errno::EINVAL), "{bad}");
        }
        // Remount changes what it names, or nothing.
        let p = make(&t, "proc", "hidepid=2,gid=7").unwrap();
        p.reconfigure(&parse_options(b"subset=pid")).unwrap();
        assert_eq!(p.show_options(), ",gid=7,hidepid=invisible,subset=pid");
        assert_eq!(
            p.reconfigure(&parse_options(b"hidepid=0,subset=x")),
            Err(Errno::EINVAL)
        );
        assert_eq!(p.show_options(), ",gid=7,hidepid=invisible,subset=pid");
        p.reconfigure(&parse_options(b"hidepid=off,gid=0")).unwrap();
        assert_eq!(p.show_options(), ",subset=pid");
        assert_eq!(make(&t, "sysfs", "x").err(), Some(Errno::EINVAL));
        make(&t, "devpts", "newinstance,mode=0600,ptmxmode=000").unwrap();
        assert_eq!(make(&t, "devpts", "mode=620").err(), Some(Errno::EINVAL));
        // Single instances.
        let fss = Filesystems::new(&t.kernel, SysConfig::unlimited(1));
        let a = fss.make(&t, b"sysfs", b"", &[]).unwrap();
        let b = fss.make(&t, b"sysfs", b"", &[]).unwrap();
        assert!(Arc::ptr_eq(&a.root(), &b.root()));
        let names: Vec<String> = fss.list().into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"tmpfs".to_string()));
    }
}
