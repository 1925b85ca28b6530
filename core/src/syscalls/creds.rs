//! Credentials inside the sandbox: setuid, setgid, setreuid, setregid,
//! setresuid, setresgid, setfsuid, setfsgid, setgroups, capget and
//! capset. (The get* calls are in [`super::misc`].)
//!
//! The rules are Linux's (`kernel/sys.c`, `kernel/capability.c`,
//! `security/commoncap.c`), inside the sandbox's user namespace where
//! every id is valid except `(uid_t)-1`, which means "unchanged":
//! - an id may be changed to any value with CAP_SETUID / CAP_SETGID in the
//!   effective set, otherwise only to one of the current real, effective
//!   or saved ids, as each call allows;
//! - capabilities follow uid changes as `cap_emulate_setxuid` does: when
//!   no id is 0 any more, the permitted and effective sets are cleared
//!   (unless PR_SET_KEEPCAPS); an effective uid leaving 0 clears the
//!   effective set, one becoming 0 raises it to the permitted set; the
//!   fs uid leaving or reaching 0 drops or raises the filesystem
//!   capabilities;
//! - capset may only lower the permitted set, keep effective within
//!   permitted, and add inheritable capabilities only from the permitted
//!   set (any within the bounding set with CAP_SETPCAP);
//! - execve recomputes the sets as Linux does for a file without file
//!   capabilities ([`caps_on_exec`]): root (real or effective uid 0) gets
//!   bounding | inheritable as permitted (and effective if its effective
//!   uid is 0), others get nothing. Set-user-ID files are not honoured.
//!
//! The rest of veil's permission checks look at the ids (fs uid 0 is
//! root), not at the capability sets. capget of another process reports
//! sets derived from its ids (a task's sets are private to it here).

use alloc::vec::Vec;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{CapUserData, CapUserHeader, Errno};

use super::{arg, Handler};
use crate::task::{Capabilities, Credentials, Task};
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        SETUID => sys_setuid,
        SETGID => sys_setgid,
        SETREUID => sys_setreuid,
        SETREGID => sys_setregid,
        SETRESUID => sys_setresuid,
        SETRESGID => sys_setresgid,
        SETFSUID => sys_setfsuid,
        SETFSGID => sys_setfsgid,
        SETGROUPS => sys_setgroups,
        CAPGET => sys_capget,
        CAPSET => sys_capset,
        _ => return None,
    })
}

/// "No change" in the id calls.
const KEEP: u32 = u32::MAX;
/// Linux's NGROUPS_MAX.
const NGROUPS_MAX: u32 = 65536;

/// The capabilities an fs uid of 0 carries (Linux's CAP_FS_MASK).
const CAP_FS_MASK: u64 = (1 << CAP_CHOWN)
    | (1 << CAP_DAC_OVERRIDE)
    | (1 << CAP_DAC_READ_SEARCH)
    | (1 << CAP_FOWNER)
    | (1 << CAP_FSETID)
    | (1 << CAP_LINUX_IMMUTABLE)
    | (1 << CAP_MKNOD)
    | (1 << CAP_MAC_OVERRIDE);

/// The four ids of one kind: real, effective, saved, filesystem.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Ids {
    r: u32,
    e: u32,
    s: u32,
    fs: u32,
}

/// Which kind of ids a call changes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    Group,
}

impl Kind {
    fn cap(self) -> u32 {
        match self {
            Kind::User => CAP_SETUID,
            Kind::Group => CAP_SETGID,
        }
    }

    fn get(self, c: &Credentials) -> Ids {
        match self {
            Kind::User => Ids {
                r: c.uid,
                e: c.euid,
                s: c.suid,
                fs: c.fsuid,
            },
            Kind::Group => Ids {
                r: c.gid,
                e: c.egid,
                s: c.sgid,
                fs: c.fsgid,
            },
        }
    }

    /// Stores `new` in `t`'s credentials; uid changes adjust the
    /// capabilities (`fs_only`: setfsuid's rule), and the process's
    /// dumpability follows ([`committed`]).
    fn set(self, t: &mut Task, new: Ids, fs_only: bool) {
        let before = t.creds.clone();
        self.set_ids(t, new, fs_only);
        committed(t, &before);
    }

    fn set_ids(self, t: &mut Task, new: Ids, fs_only: bool) {
        let old = self.get(&t.creds);
        let c = &mut t.creds;
        match self {
            Kind::User => {
                (c.uid, c.euid, c.suid, c.fsuid) = (new.r, new.e, new.s, new.fs);
                if fs_only {
                    fix_fsuid(&mut c.caps, old.fs, new.fs);
                } else {
                    fix_setuid(&mut c.caps, old, new);
                }
            }
            Kind::Group => {
                (c.gid, c.egid, c.sgid, c.fsgid) = (new.r, new.e, new.s, new.fs);
            }
        }
    }
}

/// Linux's `cap_emulate_setxuid`.
fn fix_setuid(caps: &mut Capabilities, old: Ids, new: Ids) {
    let had_root = old.r == 0 || old.e == 0 || old.s == 0;
    let has_root = new.r == 0 || new.e == 0 || new.s == 0;
    if had_root && !has_root && !caps.keep_caps {
        caps.permitted = 0;
        caps.effective = 0;
    }
    if old.e == 0 && new.e != 0 {
        caps.effective = 0;
    }
    if old.e != 0 && new.e == 0 {
        caps.effective = caps.permitted;
    }
}

/// Linux's `cap_task_fix_setuid` for LSM_SETID_FS.
fn fix_fsuid(caps: &mut Capabilities, old: u32, new: u32) {
    if old == 0 && new != 0 {
        caps.effective &= !CAP_FS_MASK;
    }
    if old != 0 && new == 0 {
        caps.effective |= caps.permitted & CAP_FS_MASK;
    }
}

/// setuid / setgid.
fn set_id(t: &mut Task, kind: Kind, id: u32) -> SysResult {
    if id == KEEP {
        return Err(Errno::EINVAL);
    }
    let old = kind.get(&t.creds);
    let mut new = old;
    if t.creds.capable(kind.cap()) {
        new.r = id;
        new.s = id;
    } else if id != old.r && id != old.s {
        return Err(Errno::EPERM);
    }
    new.e = id;
    new.fs = id;
    kind.set(t, new, false);
    Ok(0)
}

/// setreuid / setregid.
fn set_re(t: &mut Task, kind: Kind, r: u32, e: u32) -> SysResult {
    let old = kind.get(&t.creds);
    let privileged = t.creds.capable(kind.cap());
    let mut new = old;
    if r != KEEP {
        new.r = r;
        if r != old.r && r != old.e && !privileged {
            return Err(Errno::EPERM);
        }
    }
    if e != KEEP {
        new.e = e;
        if e != old.r && e != old.e && e != old.s && !privileged {
            return Err(Errno::EPERM);
        }
    }
    if r != KEEP || (e != KEEP && e != old.r) {
        new.s = new.e;
    }
    new.fs = new.e;
    kind.set(t, new, false);
    Ok(0)
}

/// setresuid / setresgid.
fn set_res(t: &mut Task, kind: Kind, r: u32, e: u32, s: u32) -> SysResult {
    let old = kind.get(&t.creds);
    if (r == KEEP || r == old.r)
        && (e == KEEP || (e == old.e && e == old.fs))
        && (s == KEEP || s == old.s)
    {
        return Ok(0);
    }
    let foreign = |id: u32| id != KEEP && id != old.r && id != old.e && id != old.s;
    if (foreign(r) || foreign(e) || foreign(s)) && !t.creds.capable(kind.cap()) {
        return Err(Errno::EPERM);
    }
    let mut new = old;
    if r != KEEP {
        new.r = r;
    }
    if e != KEEP {
        new.e = e;
    }
    if s != KEEP {
        new.s = s;
    }
    new.fs = new.e;
    kind.set(t, new, false);
    Ok(0)
}

/// setfsuid / setfsgid: always answers the old fs id.
fn set_fs(t: &mut Task, kind: Kind, id: u32) -> SysResult {
    let old = kind.get(&t.creds);
    let allowed = id == old.r || id == old.e || id == old.s || t.creds.capable(kind.cap());
    if id != KEEP && id != old.fs && allowed {
        let mut new = old;
        new.fs = id;
        kind.set(t, new, true);
    }
    Ok(old.fs as u64)
}

fn sys_setuid(t: &mut Task, a: &[u64; 6]) -> SysResult {
    set_id(t, Kind::User, arg::uint(a[0]))
}

fn sys_setgid(t: &mut Task, a: &[u64; 6]) -> SysResult {
    set_id(t, Kind::Group, arg::uint(a[0]))
}

fn sys_setreuid(t: &mut Task, a: &[u64; 6]) -> SysResult {
    set_re(t, Kind::User, arg::uint(a[0]), arg::uint(a[1]))
}

fn sys_setregid(t: &mut Task, a: &[u64; 6]) -> SysResult {
    set_re(t, Kind::Group, arg::uint(a[0]), arg::uint(a[1]))
}

fn sys_setresuid(t: &mut Task, a: &[u64; 6]) -> SysResult {
    set_res(
        t,
        Kind::User,
        arg::uint(a[0]),
        arg::uint(a[1]),
        arg::uint(a[2]),
    )
}

fn sys_setresgid(t: &mut Task, a: &[u64; 6]) -> SysResult {
    set_res(
        t,
        Kind::Group,
        arg::uint(a[0]),
        arg::uint(a[1]),
        arg::uint(a[2]),
    )
}

fn sys_setfsuid(t: &mut Task, a: &[u64; 6]) -> SysResult {
    set_fs(t, Kind::User, arg::uint(a[0]))
}

fn sys_setfsgid(t: &mut Task, a: &[u64; 6]) -> SysResult {
    set_fs(t, Kind::Group, arg::uint(a[0]))
}

fn sys_setgroups(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if !t.creds.capable(CAP_SETGID) {
        return Err(Errno::EPERM);
    }
    let n = arg::uint(a[0]);
    if n > NGROUPS_MAX {
        return Err(Errno::EINVAL);
    }
    let mut bytes = alloc::vec![0u8; n as usize * 4];
    t.mm.copy_in(UserAddr(a[1]), &mut bytes)?;
    let mut groups: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    // Linux keeps them sorted (getgroups answers them so).
    groups.sort_unstable();
    t.creds.groups = groups;
    Ok(0)
}

// -------------------------------------------------------------------------
// Capabilities

/// Linux's `cap_validate_magic`: how many data words the header's version
/// passes; an unknown version is answered with the preferred one written
/// back and `EINVAL`.
fn cap_words(t: &Task, hdr: u64) -> Result<usize, Errno> {
    let h: CapUserHeader = t.mm.read_obj(UserAddr(hdr))?;
    match h.version {
        LINUX_CAPABILITY_VERSION_1 => Ok(1),
        LINUX_CAPABILITY_VERSION_2 | LINUX_CAPABILITY_VERSION_3 => Ok(2),
        _ => {
            t.mm.write_obj(UserAddr(hdr), &LINUX_CAPABILITY_VERSION_3)?;
            Err(Errno::EINVAL)
        }
    }
}

/// The capability sets of thread `pid` as capget sees them.
fn caps_of(t: &Task, pid: i32) -> Result<Capabilities, Errno> {
    if pid == 0 || pid == t.tid {
        return Ok(t.creds.caps);
    }
    let tg = t.kernel.thread_group(pid).ok_or(Errno::ESRCH)?;
    let g = tg.signals.lock();
    let th = g.find(pid).filter(|th| !th.exited).ok_or(Errno::ESRCH)?;
    let (uid, euid, suid) = th.ids;
    let mut c = Capabilities::for_uid(u32::from(uid != 0 && euid != 0 && suid != 0));
    if euid != 0 {
        c.effective = 0;
    }
    Ok(c)
}

fn sys_capget(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let words = match cap_words(t, a[0]) {
        Ok(w) => w,
        // Probing the version with a NULL data pointer succeeds.
        Err(Errno::EINVAL) if a[1] == 0 => return Ok(0),
        Err(e) => return Err(e),
    };
    if a[1] == 0 {
        return Ok(0);
    }
    let h: CapUserHeader = t.mm.read_obj(UserAddr(a[0]))?;
    if h.pid < 0 {
        return Err(Errno::EINVAL);
    }
    let c = caps_of(t, h.pid)?;
    let word = |v: u64, i: usize| (v >> (32 * i)) as u32;
    for i in 0..words {
        let d = CapUserData {
            effective: word(c.effective, i),
            permitted: word(c.permitted, i),
            inheritable: word(c.inheritable, i),
        };
        t.mm.write_obj(UserAddr(a[1] + 12 * i as u64), &d)?;
    }
    Ok(0)
}

fn sys_capset(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let words = cap_words(t, a[0])?;
    let h: CapUserHeader = t.mm.read_obj(UserAddr(a[0]))?;
    if h.pid != 0 && h.pid != t.tid {
        return Err(Errno::EPERM);
    }
    let (mut e, mut p, mut i) = (0u64, 0u64, 0u64);
    for w in 0..words {
        let d: CapUserData = t.mm.read_obj(UserAddr(a[1].wrapping_add(12 * w as u64)))?;
        e |= (d.effective as u64) << (32 * w);
        p |= (d.permitted as u64) << (32 * w);
        i |= (d.inheritable as u64) << (32 * w);
    }
    let (e, p, i) = (
        e & Capabilities::ALL,
        p & Capabilities::ALL,
        i & Capabilities::ALL,
    );
    let old = t.creds.caps;
    let subset = |a: u64, b: u64| a & !b == 0;
    if !old.has(CAP_SETPCAP) && !subset(i, old.inheritable | old.permitted) {
        return Err(Errno::EPERM);
    }
    if !subset(i, old.inheritable | old.bounding) || !subset(p, old.permitted) || !subset(e, p) {
        return Err(Errno::EPERM);
    }
    let c = &mut t.creds.caps;
    c.effective = e;
    c.permitted = p;
    c.inheritable = i;
    Ok(0)
}

/// What execve does to the capability sets (see the module docs).
pub fn caps_on_exec(c: &mut Credentials) {
    let caps = &mut c.caps;
    if c.euid == 0 || c.uid == 0 {
        caps.permitted = (caps.bounding | caps.inheritable) & Capabilities::ALL;
        caps.effective = if c.euid == 0 { caps.permitted } else { 0 };
    } else {
        caps.permitted = 0;
        caps.effective = 0;
    }
    caps.keep_caps = false;
}

/// Linux's `fs.suid_dumpable` (0: a process whose credentials change is
/// not dumpable; veil does not let it be changed).
pub const SUID_DUMPABLE: u8 = 0;

/// A process's dumpability (Linux's `SUID_DUMP_*` in `mm->flags`):
/// 1 (`SUID_DUMP_USER`) by default and after an ordinary exec; 0 after
/// PR_SET_DUMPABLE(0), a credential change ([`committed`]) or a set-ID
/// exec ([`dumpable_on_exec`]). A process that is not dumpable has its
/// `/proc/<pid>` files owned by root and refuses ptrace access to those
/// without CAP_SYS_PTRACE.
pub struct Dumpable(core::sync::atomic::AtomicU8);

impl Default for Dumpable {
    fn default() -> Self {
        Dumpable(core::sync::atomic::AtomicU8::new(1))
    }
}

impl Dumpable {
    /// The value (0, 1 or 2).
    pub fn get(&self) -> u8 {
        self.0.load(core::sync::atomic::Ordering::Acquire)
    }
    /// Sets it.
    pub fn set(&self, v: u8) {
        self.0.store(v, core::sync::atomic::Ordering::Release)
    }
    /// True for `SUID_DUMP_USER`: others may look at the process.
    pub fn user(&self) -> bool {
        self.get() == 1
    }
}

/// Linux's `commit_creds` side effects: when the effective or fs ids
/// change, or the permitted capabilities grow, the process stops being
/// dumpable (`fs.suid_dumpable`) and the parent-death signal is cleared.
pub fn committed(t: &Task, old: &Credentials) {
    let new = &t.creds;
    if old.euid != new.euid
        || old.egid != new.egid
        || old.fsuid != new.fsuid
        || old.fsgid != new.fsgid
        || new.caps.permitted & !old.caps.permitted != 0
    {
        t.tg.pm.dumpable.set(SUID_DUMPABLE);
        t.tg.pm
            .pdeathsig
            .store(0, core::sync::atomic::Ordering::Relaxed);
    }
}

/// execve installed the new credentials (`old` were the caller's): the
/// process is dumpable again unless its real and effective ids differed
/// (Linux's check in `begin_new_exec`), then the change of credentials
/// itself may make it not dumpable ([`committed`]: a set-ID program).
pub fn dumpable_on_exec(t: &Task, old: &Credentials) {
    let d = if old.euid != old.uid || old.egid != old.gid {
        SUID_DUMPABLE
    } else {
        1
    };
    t.tg.pm.dumpable.set(d);
    committed(t, old);
}

/// prctl's capability options: PR_GET_KEEPCAPS, PR_SET_KEEPCAPS,
/// PR_CAPBSET_READ and PR_CAPBSET_DROP. `None` for other options.
pub(crate) fn prctl_caps(t: &mut Task, option: u32, arg2: u64) -> Option<SysResult> {
    let c = &mut t.creds.caps;
    Some(match option {
        PR_GET_KEEPCAPS => Ok(c.keep_caps as u64),
        PR_SET_KEEPCAPS => {
            if arg2 > 1 {
                return Some(Err(Errno::EINVAL));
            }
            c.keep_caps = arg2 == 1;
            Ok(0)
        }
        PR_CAPBSET_READ => {
            if arg2 > CAP_LAST_CAP as u64 {
                return Some(Err(Errno::EINVAL));
            }
            Ok((c.bounding >> arg2) & 1)
        }
        PR_CAPBSET_DROP => {
            if !c.has(CAP_SETPCAP) {
                return Some(Err(Errno::EPERM));
            }
            if arg2 > CAP_LAST_CAP as u64 {
                return Some(Err(Errno::EINVAL));
            }
            c.bounding &= !(1u64 << arg2);
            Ok(0)
        }
        _ => return None,
    })
}
