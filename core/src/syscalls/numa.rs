//! The NUMA calls as Linux answers them on a machine with one memory node
//! (node 0; `MAX_NUMNODES` 1024): get_mempolicy, set_mempolicy, mbind,
//! set_mempolicy_home_node, migrate_pages and move_pages
//! (`mm/mempolicy.c`, `mm/migrate.c`).
//!
//! Nothing is placed anywhere: every page is on node 0. What is kept is
//! what the calls store, so that get_mempolicy answers what was set: the
//! thread's policy (in its [`SchedAttr`](crate::process::SchedAttr),
//! inherited by fork and clone, kept by exec) and the policies mbind gave
//! address ranges (per process, [`VmaPolicies`]; dropped by exec, copied
//! by fork). Linux keeps the latter in the VMAs; here a range unmapped and
//! mapped again keeps its recorded policy.
//!
//! Node masks are checked as Linux's `get_nodes` (bits past node 1023
//! must be clear, `maxnode` at most a page of bits); nodes other than 0
//! are dropped as offline, and a mask left empty is `EINVAL`. mbind holes
//! are `EFAULT` (Linux 6.x), its flags `MPOL_MF_STRICT`, `MPOL_MF_MOVE`
//! and `MPOL_MF_MOVE_ALL` (CAP_SYS_NICE). move_pages reports node 0 for
//! populated pages, `-ENOENT` for untouched ones and `-EFAULT` outside
//! any mapping; only node 0 is a valid target (`ENODEV`). (veil populates
//! the anonymous pages around a fault, which then count as touched; Linux
//! reports a page read but never written, its zero page, as `-EFAULT`.)

use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;
use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, PAGE_SIZE};

use super::{arg, Handler};
use crate::mm::MemoryManager;
use crate::task::Task;
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        GET_MEMPOLICY => sys_get_mempolicy,
        SET_MEMPOLICY => sys_set_mempolicy,
        MBIND => sys_mbind,
        SET_MEMPOLICY_HOME_NODE => sys_set_mempolicy_home_node,
        MIGRATE_PAGES => sys_migrate_pages,
        MOVE_PAGES => sys_move_pages,
        _ => return None,
    })
}

const MPOL_DEFAULT: u16 = 0;
const MPOL_PREFERRED: u16 = 1;
const MPOL_BIND: u16 = 2;
const MPOL_INTERLEAVE: u16 = 3;
const MPOL_LOCAL: u16 = 4;
const MPOL_PREFERRED_MANY: u16 = 5;
const MPOL_MAX: u16 = 7;
const MPOL_F_STATIC_NODES: u16 = 1 << 15;
const MPOL_F_RELATIVE_NODES: u16 = 1 << 14;
const MPOL_F_NUMA_BALANCING: u16 = 1 << 13;
const MPOL_MODE_FLAGS: u16 = MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING;
const MPOL_F_NODE: u64 = 1;
const MPOL_F_ADDR: u64 = 2;
const MPOL_F_MEMS_ALLOWED: u64 = 4;
const MPOL_MF_STRICT: u64 = 1;
const MPOL_MF_MOVE: u64 = 2;
const MPOL_MF_MOVE_ALL: u64 = 4;
const MPOL_MF_VALID: u64 = MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL;
/// Linux's `MAX_NUMNODES` (CONFIG_NODES_SHIFT 10).
const MAX_NUMNODES: u64 = 1024;
/// Nodes that exist (`nr_node_ids`).
const NR_NODE_IDS: u64 = 1;
/// The online nodes: node 0.
const ONLINE: u64 = 1;

/// A memory policy as set_mempolicy or mbind stored it (`None` where
/// there is none: the default policy).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemPolicy {
    /// `MPOL_*` mode.
    pub mode: u16,
    /// Mode flags (`MPOL_F_STATIC_NODES`, ...).
    pub flags: u16,
    /// The policy's nodes (of the online ones).
    pub nodes: u64,
    /// The mask as given (shown with the static / relative flags).
    pub user_nodes: u64,
    /// set_mempolicy_home_node's node.
    pub home: Option<u64>,
}

/// The policies mbind gave address ranges of one process: disjoint
/// `[start, end)` ranges in address order.
#[derive(Default)]
pub struct VmaPolicies(Mutex<Vec<(u64, u64, MemPolicy)>>);

impl VmaPolicies {
    /// The policy at `addr`.
    pub fn at(&self, addr: u64) -> Option<MemPolicy> {
        self.0
            .lock()
            .iter()
            .find(|(s, e, _)| (*s..*e).contains(&addr))
            .map(|r| r.2)
    }

    /// Gives `[start, end)` the policy `p` (`None`: the default).
    pub fn set(&self, start: u64, end: u64, p: Option<MemPolicy>) {
        let mut v = self.0.lock();
        let mut out = Vec::with_capacity(v.len() + 2);
        for &(s, e, q) in v.iter() {
            if e <= start || s >= end {
                out.push((s, e, q));
                continue;
            }
            if s < start {
                out.push((s, start, q));
            }
            if e > end {
                out.push((end, e, q));
            }
        }
        if let Some(p) = p {
            out.push((start, end, p));
        }
        out.sort_by_key(|r| r.0);
        *v = out;
    }

    /// A copy (fork).
    pub fn copy_from(&self, other: &VmaPolicies) {
        let src = other.0.lock().clone();
        *self.0.lock() = src;
    }

    /// Forgets every range (exec).
    pub fn clear(&self) {
        self.0.lock().clear();
    }
}

/// sanitize_mpol_flags: splits the mode flags off (`EINVAL` for an
/// unknown mode or a bad flag combination).
fn sanitize(mode: i32) -> Result<(u16, u16), Errno> {
    let flags = mode as u32 as u16 & MPOL_MODE_FLAGS;
    let m = mode as u32 & !(MPOL_MODE_FLAGS as u32);
    if m >= MPOL_MAX as u32 {
        return Err(Errno::EINVAL);
    }
    let m = m as u16;
    if flags & MPOL_F_STATIC_NODES != 0 && flags & MPOL_F_RELATIVE_NODES != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MPOL_F_NUMA_BALANCING != 0 && m != MPOL_BIND && m != MPOL_PREFERRED_MANY {
        return Err(Errno::EINVAL);
    }
    Ok((m, flags))
}

/// get_nodes: a user node mask of `maxnode` bits, the nodes below
/// `MAX_NUMNODES` as a word of the first 64 (the higher ones below
/// `MAX_NUMNODES` are dropped as offline), `EINVAL` for set bits past it
/// or more than a page of bits, `EFAULT`.
fn get_nodes(t: &Task, addr: u64, maxnode: u64) -> Result<u64, Errno> {
    let maxnode = maxnode.wrapping_sub(1);
    if maxnode == 0 || addr == 0 {
        return Ok(0);
    }
    if maxnode > PAGE_SIZE * 8 {
        return Err(Errno::EINVAL);
    }
    let words = maxnode.div_ceil(64) as usize;
    let mut buf = alloc::vec![0u8; words * 8];
    t.mm.copy_in(UserAddr(addr), &mut buf)?;
    let word = |i: usize| u64::from_ne_bytes(buf[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    let mask = |i: usize| {
        let bits = maxnode - i as u64 * 64;
        let w = word(i);
        if bits >= 64 {
            w
        } else {
            w & ((1u64 << bits) - 1)
        }
    };
    for i in (MAX_NUMNODES / 64) as usize..words {
        if mask(i) != 0 {
            return Err(Errno::EINVAL);
        }
    }
    Ok(mask(0))
}

/// mpol_new and mpol_set_nodemask: the policy for `mode` over the user
/// mask `user` (`None` for the default), `EINVAL` as Linux.
fn new_policy(mode: u16, flags: u16, user: u64) -> Result<Option<MemPolicy>, Errno> {
    let mut mode = mode;
    match mode {
        MPOL_DEFAULT => {
            return if user != 0 {
                Err(Errno::EINVAL)
            } else {
                Ok(None)
            };
        }
        MPOL_PREFERRED if user == 0 => {
            if flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES) != 0 {
                return Err(Errno::EINVAL);
            }
            mode = MPOL_LOCAL;
        }
        MPOL_LOCAL if user != 0 || flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES) != 0 => {
            return Err(Errno::EINVAL);
        }
        MPOL_LOCAL => {}
        _ if user == 0 => return Err(Errno::EINVAL),
        _ => {}
    }
    let nodes = if mode == MPOL_LOCAL {
        0
    } else {
        // Relative nodes fold onto the online ones: node 0.
        let n = if flags & MPOL_F_RELATIVE_NODES != 0 {
            ONLINE
        } else {
            user & ONLINE
        };
        if n == 0 {
            return Err(Errno::EINVAL);
        }
        n
    };
    Ok(Some(MemPolicy {
        mode,
        flags,
        nodes,
        user_nodes: user,
        home: None,
    }))
}

/// The mask get_mempolicy reports for a policy.
fn reported_nodes(p: Option<MemPolicy>) -> u64 {
    match p {
        None => 0,
        Some(p) if p.flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES) != 0 => p.user_nodes,
        Some(p) if p.mode == MPOL_LOCAL => 0,
        Some(p) => p.nodes,
    }
}

/// copy_nodes_to_user.
fn put_nodes(t: &Task, addr: u64, maxnode: u64, nodes: u64) -> Result<(), Errno> {
    let mut copy = (maxnode - 1).div_ceil(64) * 8;
    let nbytes = NR_NODE_IDS.div_ceil(64) * 8;
    if copy > nbytes {
        if copy > PAGE_SIZE {
            return Err(Errno::EINVAL);
        }
        t.mm.zero_out(UserAddr(addr + nbytes), copy - nbytes)?;
        copy = nbytes;
    }
    t.mm.copy_out(UserAddr(addr), &nodes.to_ne_bytes()[..copy as usize])
}

/// The VMA holding `addr` (start, end, protection).
fn vma_at(t: &Task, addr: u64) -> Option<(u64, u64, crate::platform::Prot)> {
    t.mm.vmas()
        .into_iter()
        .find(|v| (v.start..v.end).contains(&addr))
        .map(|v| (v.start, v.end, v.prot))
}

fn thread_policy(t: &Task) -> Option<MemPolicy> {
    t.tg.pm.sched(t.tid).mempolicy
}

fn sys_get_mempolicy(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (policy_addr, nmask, maxnode, addr, flags) = (a[0], a[1], a[2], a[3], a[4]);
    if nmask != 0 && maxnode < NR_NODE_IDS {
        return Err(Errno::EINVAL);
    }
    if flags & !(MPOL_F_NODE | MPOL_F_ADDR | MPOL_F_MEMS_ALLOWED) != 0 {
        return Err(Errno::EINVAL);
    }
    let (pval, nodes): (i32, u64) = if flags & MPOL_F_MEMS_ALLOWED != 0 {
        if flags & (MPOL_F_NODE | MPOL_F_ADDR) != 0 {
            return Err(Errno::EINVAL);
        }
        (0, ONLINE)
    } else {
        let (pol, mine) = if flags & MPOL_F_ADDR != 0 {
            let (_, _, prot) = vma_at(t, addr).ok_or(Errno::EFAULT)?;
            if flags & MPOL_F_NODE != 0 && !prot.contains(crate::platform::Prot::READ) {
                return Err(Errno::EFAULT);
            }
            (t.tg.pm.vma_policies.at(addr), false)
        } else if addr != 0 {
            return Err(Errno::EINVAL);
        } else {
            (thread_policy(t), true)
        };
        let pval = if flags & MPOL_F_NODE != 0 {
            let interleaving = pol.is_some_and(|p| p.mode == MPOL_INTERLEAVE || p.mode == 6);
            if flags & MPOL_F_ADDR != 0 || (mine && interleaving) {
                0
            } else {
                return Err(Errno::EINVAL);
            }
        } else {
            pol.map_or(0, |p| (p.mode | p.flags) as i32)
        };
        (pval, reported_nodes(pol))
    };
    if policy_addr != 0 {
        t.mm.write_obj(UserAddr(policy_addr), &pval)?;
    }
    if nmask != 0 {
        put_nodes(t, nmask, maxnode, nodes)?;
    }
    Ok(0)
}

fn sys_set_mempolicy(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (mode, flags) = sanitize(arg::int(a[0]))?;
    let user = get_nodes(t, a[1], a[2])?;
    let p = new_policy(mode, flags, user)?;
    t.tg.pm.set_sched(t.tid, |s| s.mempolicy = p);
    Ok(0)
}

/// Checks that every page of `[start, end)` is mapped (`EFAULT`, as
/// Linux's queue_pages_range).
fn check_range(t: &Task, start: u64, end: u64) -> Result<(), Errno> {
    match t.mm.check_mapped(UserAddr(start), end - start) {
        Ok(()) => Ok(()),
        Err(Errno::ENOMEM) => Err(Errno::EFAULT),
        Err(e) => Err(e),
    }
}

fn sys_mbind(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (start, len, flags) = (a[0], a[1], a[5]);
    let (mode, mode_flags) = sanitize(arg::int(a[2]))?;
    let user = get_nodes(t, a[3], a[4])?;
    if flags & !MPOL_MF_VALID != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MPOL_MF_MOVE_ALL != 0 && !t.creds.capable(CAP_SYS_NICE) {
        return Err(Errno::EPERM);
    }
    if start % PAGE_SIZE != 0 {
        return Err(Errno::EINVAL);
    }
    let len = len.checked_add(PAGE_SIZE - 1).map(|l| l & !(PAGE_SIZE - 1));
    let end = len
        .and_then(|l| start.checked_add(l))
        .ok_or(Errno::EINVAL)?;
    if end == start {
        return Ok(0);
    }
    let p = new_policy(mode, mode_flags, user)?;
    check_range(t, start, end)?;
    t.tg.pm.vma_policies.set(start, end, p);
    Ok(0)
}

fn sys_set_mempolicy_home_node(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (start, len, home, flags) = (a[0], a[1], a[2], a[3]);
    if start % PAGE_SIZE != 0 || flags != 0 {
        return Err(Errno::EINVAL);
    }
    if home >= MAX_NUMNODES || ONLINE & (1u64.checked_shl(home as u32).unwrap_or(0)) == 0 {
        return Err(Errno::EINVAL);
    }
    let end = len
        .checked_add(PAGE_SIZE - 1)
        .map(|l| l & !(PAGE_SIZE - 1))
        .and_then(|l| start.checked_add(l))
        .ok_or(Errno::EINVAL)?;
    if end == start {
        return Ok(0);
    }
    // Each VMA of the range with a policy must be BIND or PREFERRED_MANY.
    let mut found = false;
    for v in t.mm.vmas() {
        let (s, e) = (v.start.max(start), v.end.min(end));
        if s >= e {
            continue;
        }
        let pols = &t.tg.pm.vma_policies;
        let Some(mut p) = pols.at(s) else {
            continue;
        };
        if p.mode != MPOL_BIND && p.mode != MPOL_PREFERRED_MANY {
            return Err(Errno::EOPNOTSUPP);
        }
        p.home = Some(home);
        pols.set(s, e, Some(p));
        found = true;
    }
    if found {
        Ok(0)
    } else {
        Err(Errno::ENOENT)
    }
}

/// find_mm_struct's checks for another process: `ESRCH`, and the caller
/// needs the target's real or saved uid or CAP_SYS_NICE (`EPERM`). The
/// target's address space.
fn check_target(t: &Task, pid: i32) -> Result<Arc<MemoryManager>, Errno> {
    if pid == 0 || pid == t.pid() {
        return Ok(t.mm.clone());
    }
    if pid < 0 {
        return Err(Errno::ESRCH);
    }
    let tg = t
        .kernel
        .thread_group(pid)
        .filter(|g| !g.dead.load(core::sync::atomic::Ordering::Acquire))
        .ok_or(Errno::ESRCH)?;
    let view = tg.view.lock().clone();
    let (Some(c), Some(mm)) = (view.creds, view.mm.upgrade()) else {
        return Err(Errno::ESRCH);
    };
    let me = &t.creds;
    let same = [me.uid, me.euid]
        .iter()
        .any(|u| *u == c.uid || *u == c.suid);
    if !same && !me.capable(CAP_SYS_NICE) {
        return Err(Errno::EPERM);
    }
    Ok(mm)
}

fn sys_migrate_pages(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (pid, maxnode) = (arg::int(a[0]), a[1]);
    let _old = get_nodes(t, a[2], maxnode)?;
    let new = get_nodes(t, a[3], maxnode)?;
    let _mm = check_target(t, pid)?;
    // The new nodes must include an allowed one.
    if new & ONLINE == 0 {
        return Err(Errno::EINVAL);
    }
    // Every page is already on node 0: none left unmoved.
    Ok(0)
}

fn sys_move_pages(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (pid, count, pages, nodes, status, flags) = (
        arg::int(a[0]),
        a[1],
        a[2],
        a[3],
        a[4],
        arg::int(a[5]) as u64,
    );
    if flags & !(MPOL_MF_MOVE | MPOL_MF_MOVE_ALL) != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MPOL_MF_MOVE_ALL != 0 && !t.creds.capable(CAP_SYS_NICE) {
        return Err(Errno::EPERM);
    }
    let mm = check_target(t, pid)?;
    for i in 0..count {
        let addr: u64 = t.mm.read_obj(UserAddr(pages.wrapping_add(i * 8)))?;
        if nodes != 0 {
            let node: i32 = t.mm.read_obj(UserAddr(nodes.wrapping_add(i * 4)))?;
            if node != 0 {
                return Err(Errno::ENODEV);
            }
        }
        let mapped = mm.vmas().iter().any(|v| (v.start..v.end).contains(&addr));
        let st: i32 = if !mapped {
            -(Errno::EFAULT as i32)
        } else if mm.translate(UserAddr(addr)).is_some() {
            0
        } else {
            -(Errno::ENOENT as i32)
        };
        t.mm.write_obj(UserAddr(status.wrapping_add(i * 4)), &st)?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_as_linux_makes_them() {
        assert_eq!(new_policy(MPOL_DEFAULT, 0, 0), Ok(None));
        assert_eq!(new_policy(MPOL_DEFAULT, 0, 1), Err(Errno::EINVAL));
        let local = new_policy(MPOL_PREFERRED, 0, 0).unwrap().unwrap();
        assert_eq!((local.mode, reported_nodes(Some(local))), (MPOL_LOCAL, 0));
        assert_eq!(
            new_policy(MPOL_LOCAL, 0, 0).unwrap().unwrap().mode,
            MPOL_LOCAL
        );
        assert_eq!(new_policy(MPOL_LOCAL, 0, 1), Err(Errno::EINVAL));
        assert_eq!(new_policy(MPOL_BIND, 0, 0), Err(Errno::EINVAL));
        assert_eq!(
            new_policy(MPOL_BIND, 0, 2),
            Err(Errno::EINVAL),
            "node 1 is offline"
        );
        let b = new_policy(MPOL_BIND, MPOL_F_STATIC_NODES, 3).unwrap();
        assert_eq!(
            reported_nodes(b),
            3,
            "static nodes report the mask as given"
        );
        assert_eq!(reported_nodes(new_policy(MPOL_BIND, 0, 3).unwrap()), 1);
        assert_eq!(sanitize(7), Err(Errno::EINVAL));
        assert_eq!(sanitize(3 | (1 << 13)), Err(Errno::EINVAL));
        assert_eq!(sanitize(2 | (3 << 14)), Err(Errno::EINVAL));
        assert_eq!(sanitize(2 | (1 << 13)), Ok((2, 1 << 13)));
    }

    #[test]
    fn range_policies_split_and_merge() {
        let v = VmaPolicies::default();
        let p = |mode| MemPolicy {
            mode,
            nodes: 1,
            user_nodes: 1,
            ..Default::default()
        };
        v.set(0x1000, 0x4000, Some(p(MPOL_BIND)));
        v.set(0x2000, 0x3000, Some(p(MPOL_INTERLEAVE)));
        assert_eq!(v.at(0x1000).unwrap().mode, MPOL_BIND);
        assert_eq!(v.at(0x2fff).unwrap().mode, MPOL_INTERLEAVE);
        assert_eq!(v.at(0x3000).unwrap().mode, MPOL_BIND);
        v.set(0x0, 0x2000, None);
        assert_eq!(v.at(0x1000), None);
        assert_eq!(v.at(0x4000), None);
        let w = VmaPolicies::default();
        w.copy_from(&v);
        v.clear();
        assert_eq!(w.at(0x3800).unwrap().mode, MPOL_BIND);
        assert_eq!(v.at(0x3800), None);
    }
}
