//! System V shared memory: shmget, shmat, shmdt, shmctl (Linux's
//! `ipc/shm.c`).
//!
//! A segment's memory is a memory-backed file ([`Shmem`], what memfds
//! are), sized to the segment. shmat maps it `MAP_SHARED` through the
//! memory manager's ordinary file-mapping path, so every attachment in
//! every process maps the same memory-file pages. What the mapping holds
//! is a [`ShmAttach`] made per shmat: the VMAs it ends up in (split by
//! mprotect, copied by fork) each hold one reference, so a segment's
//! `shm_nattch` is, as in Linux, the number of VMAs mapping it — the sum
//! of its attachments' reference counts. When the last VMA of a removed
//! (`SHM_DEST`) segment goes — shmdt, munmap, exit or exec — the
//! attachment's drop destroys the segment.
//!
//! The mapping shows in `/proc/<pid>/maps` as `/SYSV<key> (deleted)` on
//! device 00:01 with the id as inode, which is also how shmdt and exit
//! recognise attachments among the VMAs. shmdt follows Linux's walk: the
//! attachment whose VMA starts at the address (with offset 0, or the part
//! of a split one whose offset matches), then the other VMAs of the same
//! segment within its size.
//!
//! Left out: `shm_lpid` / `shm_dtime` are updated by shmat, shmdt and
//! exit, not by a plain munmap or a fork (`dtime` is, when the last VMA
//! of an attachment goes); `SHM_LOCK` only sets the mode bit.

use alloc::format;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;

use veil_abi::flags::{MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_SHARED, RLIMIT_MEMLOCK};
use veil_abi::ipc::*;
use veil_abi::{Errno, PAGE_SIZE};

use super::{now_secs, IpcNamespace, IpcObject, Lookup, Perm};
use crate::host::Clock;
use crate::mm::{MappedFile, VmaInfo};
use crate::platform::Prot;
use crate::task::Task;
use crate::vfs::node::{FileOps, Inode, MemoryPages};
use crate::vfs::shmem::{Shmem, ShmemFile, ShmemInit, SHMEM_DEV};
use crate::UserAddr;

/// A segment's memory, shared by the table entry and its attachments.
pub(crate) struct SegmentMemory {
    file: ShmemFile,
    /// The key the segment was made with (its mappings' name keeps it
    /// after IPC_RMID makes the key private).
    key: i32,
}

/// One segment (Linux's `shmid_kernel`).
pub(crate) struct Segment {
    pub perm: Perm,
    pub size: u64,
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
    pub cpid: i32,
    pub lpid: i32,
    mem: Arc<SegmentMemory>,
    /// Every shmat's mapping object (dead ones pruned at the next shmat).
    attaches: Vec<Weak<ShmAttach>>,
}

impl IpcObject for Segment {
    fn perm(&self) -> &Perm {
        &self.perm
    }
}

impl Segment {
    /// VMAs mapping the segment.
    pub fn nattch(&self) -> u64 {
        self.attaches.iter().map(|w| w.strong_count() as u64).sum()
    }

    fn pages(&self) -> u64 {
        self.size.div_ceil(PAGE_SIZE)
    }

    /// Pages of the segment that hold memory.
    fn resident(&self) -> u64 {
        self.mem
            .file
            .shmem()
            .attr()
            .map_or(0, |a| a.blocks / (PAGE_SIZE / 512))
    }

    fn stat(&self) -> Shmid64Ds {
        Shmid64Ds {
            shm_perm: self.perm.to_abi(),
            shm_segsz: self.size,
            shm_atime: self.atime,
            shm_dtime: self.dtime,
            shm_ctime: self.ctime,
            shm_cpid: self.cpid,
            shm_lpid: self.lpid,
            shm_nattch: self.nattch(),
            ..Shmid64Ds::default()
        }
    }
}

/// What one shmat's VMAs hold: the segment's memory, and the way back to
/// the segment for its attach count.
pub struct ShmAttach {
    mem: Arc<SegmentMemory>,
    ns: Arc<IpcNamespace>,
    id: i32,
    clock: Arc<dyn Clock>,
}

impl Drop for ShmAttach {
    /// The last VMA of this attachment went: a removed segment with no
    /// other attachment is destroyed.
    fn drop(&mut self) {
        let gone = {
            let mut tab = self.ns.shm.lock();
            let Ok(seg) = tab.get_mut(self.id) else {
                return;
            };
            if !Arc::ptr_eq(&seg.mem, &self.mem) {
                return;
            }
            seg.dtime = self.clock.realtime().tv_sec;
            if seg.perm.mode & SHM_DEST != 0 && seg.nattch() == 0 {
                tab.remove(self.id)
            } else {
                None
            }
        };
        // The memory is freed outside the table's lock.
        drop(gone);
    }
}

impl FileOps for ShmAttach {
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.mem.file.read(buf, offset)
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }

    fn size(&self) -> Result<u64, Errno> {
        self.mem.file.size()
    }

    fn memory_pages(&self) -> Option<&dyn MemoryPages> {
        self.mem.file.memory_pages()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// shmget(2).
pub fn shmget(t: &Task, key: i32, size: u64, flags: u32) -> Result<i32, Errno> {
    let ns = super::ns(t);
    let mut tab = ns.shm.lock();
    let more = |s: &Segment| {
        if s.size < size {
            Err(Errno::EINVAL)
        } else {
            Ok(())
        }
    };
    if let Lookup::Found(id) = tab.lookup(&t.creds, key, flags, more)? {
        return Ok(id as i32);
    }
    if !(SHMMIN..=SHMMAX).contains(&size) {
        return Err(Errno::EINVAL);
    }
    let pages = size.div_ceil(PAGE_SIZE);
    let total: u64 = tab.entries.values().map(Segment::pages).sum();
    if total.checked_add(pages).is_none_or(|n| n > SHMALL) {
        return Err(Errno::ENOSPC);
    }
    if flags & SHM_HUGETLB != 0 {
        // No huge pages are reserved.
        return Err(Errno::ENOMEM);
    }
    let (idx, id) = tab.alloc()?;
    let inode = Shmem::new(
        &t.kernel,
        ShmemInit {
            mode: flags & 0o777,
            uid: t.creds.euid,
            gid: t.creds.egid,
            seals: 0,
            hugetlb: false,
        },
    );
    let file = ShmemFile::new(inode);
    file.truncate(size)?;
    let now = now_secs(&t.kernel);
    tab.entries.insert(
        idx,
        Segment {
            perm: Perm::new(&t.creds, key, id, flags),
            size,
            atime: 0,
            dtime: 0,
            ctime: now,
            cpid: t.pid(),
            lpid: 0,
            mem: Arc::new(SegmentMemory { file, key }),
            attaches: Vec::new(),
        },
    );
    Ok(id)
}

/// shmat(2): the address the segment is attached at.
pub fn shmat(t: &Task, id: i32, addr: u64, flags: u32) -> Result<u64, Errno> {
    if id < 0 {
        return Err(Errno::EINVAL);
    }
    let mut addr = addr;
    let mut mflags = MAP_SHARED;
    if addr != 0 {
        if addr & (SHMLBA - 1) != 0 {
            if flags & SHM_RND == 0 {
                return Err(Errno::EINVAL);
            }
            addr &= !(SHMLBA - 1);
            if addr == 0 && flags & SHM_REMAP != 0 {
                return Err(Errno::EINVAL);
            }
        }
        mflags |= MAP_FIXED;
    } else if flags & SHM_REMAP != 0 {
        return Err(Errno::EINVAL);
    }
    let (mut prot, mut acc) = if flags & SHM_RDONLY != 0 {
        (Prot::READ, 0o444)
    } else {
        (Prot::READ | Prot::WRITE, 0o666)
    };
    if flags & SHM_EXEC != 0 {
        prot |= Prot::EXEC;
        acc |= 0o111;
    }
    let ns = super::ns(t);
    let (attach, size) = {
        let mut tab = ns.shm.lock();
        let seg = tab.get_mut(id)?;
        seg.perm.check(&t.creds, acc)?;
        let a = Arc::new(ShmAttach {
            mem: seg.mem.clone(),
            ns: ns.clone(),
            id,
            clock: t.kernel.clock.clone(),
        });
        seg.attaches.retain(|w| w.strong_count() > 0);
        seg.attaches.push(Arc::downgrade(&a));
        (a, seg.size)
    };
    if addr != 0 && flags & SHM_REMAP == 0 {
        if addr.checked_add(size).is_none() {
            return Err(Errno::EINVAL);
        }
        // Linux refuses an overlap with EINVAL.
        mflags = (mflags & !MAP_FIXED) | MAP_FIXED_NOREPLACE;
    }
    let name = format!("/SYSV{:08x} (deleted)", attach.mem.key as u32).into_bytes();
    let file = MappedFile {
        file: attach.clone(),
        name,
        dev_ino: (SHMEM_DEV, id as u64),
        writable: flags & SHM_RDONLY == 0,
    };
    let at = match t
        .mm
        .mmap(UserAddr(addr), size, prot, mflags, Some((file, 0)))
    {
        Ok(a) => a.0,
        Err(Errno::EEXIST) => return Err(Errno::EINVAL),
        Err(e) => return Err(e),
    };
    drop(attach);
    if let Ok(seg) = ns.shm.lock().get_mut(id) {
        seg.atime = now_secs(&t.kernel);
        seg.lpid = t.pid();
    }
    Ok(at)
}

/// True if `v` is a SysV attachment's VMA (device 00:01, named /SYSV...).
fn is_attachment(v: &VmaInfo) -> bool {
    v.dev_ino.0 == SHMEM_DEV && v.name.starts_with(b"/SYSV")
}

/// shmdt(2).
pub fn shmdt(t: &Task, addr: u64) -> Result<(), Errno> {
    if addr & (PAGE_SIZE - 1) != 0 {
        return Err(Errno::EINVAL);
    }
    let vmas = t.mm.vmas();
    let starts_here = |v: &VmaInfo| is_attachment(v) && v.start.wrapping_sub(addr) == v.offset;
    let mut rest = vmas.iter().filter(|v| v.end > addr);
    let first = rest
        .by_ref()
        .find(|v| starts_here(v))
        .ok_or(Errno::EINVAL)?;
    let id = first.dev_ino.1 as i32;
    let ns = super::ns(t);
    let size = {
        let mut tab = ns.shm.lock();
        match tab.get_mut(id) {
            Ok(seg) => {
                seg.lpid = t.pid();
                seg.dtime = now_secs(&t.kernel);
                seg.size
            }
            Err(_) => first.end - first.start,
        }
    };
    let size = size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
    let mut unmap = alloc::vec![(first.start, first.end)];
    for v in rest {
        if v.end - addr > size {
            break;
        }
        if starts_here(v) && v.dev_ino.1 == first.dev_ino.1 {
            unmap.push((v.start, v.end));
        }
    }
    for (s, e) in unmap {
        t.mm.munmap(UserAddr(s), e - s)?;
    }
    Ok(())
}

/// Detaches every segment of an exiting process.
pub(crate) fn detach_all(t: &Task) {
    let ns = super::ns(t);
    for v in t.mm.vmas().iter().filter(|v| is_attachment(v)) {
        if let Ok(seg) = ns.shm.lock().get_mut(v.dev_ino.1 as i32) {
            seg.lpid = t.pid();
        }
        let _ = t.mm.munmap(UserAddr(v.start), v.end - v.start);
    }
}

/// shmctl(2): the value to return; `buf` is the user structure.
pub fn shmctl(t: &Task, id: i32, cmd: i32, buf: u64) -> Result<u64, Errno> {
    if cmd < 0 || id < 0 {
        return Err(Errno::EINVAL);
    }
    let ns = super::ns(t);
    let out = UserAddr(buf);
    match cmd {
        IPC_INFO => {
            let max = ns.shm.lock().max_idx();
            let info = Shminfo64 {
                shmmax: SHMMAX,
                shmmin: SHMMIN,
                shmmni: SHMMNI as u64,
                shmseg: SHMMNI as u64,
                shmall: SHMALL,
                ..Shminfo64::default()
            };
            t.mm.write_obj(out, &info)?;
            Ok(max)
        }
        SHM_INFO => {
            let (info, max) = {
                let tab = ns.shm.lock();
                let info = ShmInfo {
                    used_ids: tab.entries.len() as i32,
                    shm_tot: tab.entries.values().map(Segment::pages).sum(),
                    shm_rss: tab.entries.values().map(Segment::resident).sum(),
                    ..ShmInfo::default()
                };
                (info, tab.max_idx())
            };
            t.mm.write_obj(out, &info)?;
            Ok(max)
        }
        IPC_STAT | SHM_STAT | SHM_STAT_ANY => {
            let (ds, ret) = {
                let tab = ns.shm.lock();
                let seg = if cmd == IPC_STAT {
                    tab.get(id)?
                } else {
                    tab.at_index(id)?
                };
                if cmd != SHM_STAT_ANY {
                    seg.perm.check(&t.creds, 0o444)?;
                }
                let ret = if cmd == IPC_STAT { 0 } else { seg.perm.id };
                (seg.stat(), ret)
            };
            t.mm.write_obj(out, &ds)?;
            Ok(ret as u64)
        }
        IPC_SET => {
            let ds: Shmid64Ds = t.mm.read_obj(out)?;
            let mut tab = ns.shm.lock();
            let seg = tab.get_mut(id)?;
            seg.perm.check_owner(&t.creds)?;
            seg.perm.set(&ds.shm_perm)?;
            seg.ctime = now_secs(&t.kernel);
            Ok(0)
        }
        IPC_RMID => {
            let gone = {
                let mut tab = ns.shm.lock();
                let seg = tab.get_mut(id)?;
                seg.perm.check_owner(&t.creds)?;
                if seg.nattch() > 0 {
                    seg.perm.mode |= SHM_DEST;
                    seg.perm.key = IPC_PRIVATE;
                    None
                } else {
                    tab.remove(id)
                }
            };
            drop(gone);
            Ok(0)
        }
        SHM_LOCK | SHM_UNLOCK => {
            let mut tab = ns.shm.lock();
            let seg = tab.get_mut(id)?;
            if !t.creds.capable(CAP_IPC_LOCK) {
                let euid = t.creds.euid;
                if euid != seg.perm.uid && euid != seg.perm.cuid {
                    return Err(Errno::EPERM);
                }
                if cmd == SHM_LOCK && t.rlimit(RLIMIT_MEMLOCK) == 0 {
                    return Err(Errno::EPERM);
                }
            }
            if cmd == SHM_LOCK {
                seg.perm.mode |= SHM_LOCKED;
            } else {
                seg.perm.mode &= !SHM_LOCKED;
            }
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// `/proc/sysvipc/shm`.
pub(crate) fn proc_text(ns: &IpcNamespace) -> String {
    let mut s = String::from(
        "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n",
    );
    let tab = ns.shm.lock();
    for seg in tab.entries.values() {
        let p = &seg.perm;
        s.push_str(&format!(
            "{:10} {:10}  {:4o} {:21} {:5} {:5}  {:5} {:5} {:5} {:5} {:5} {:10} {:10} {:10} {:21} {:21}\n",
            p.key,
            p.id,
            p.mode,
            seg.size,
            seg.cpid,
            seg.lpid,
            seg.nattch(),
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            seg.atime,
            seg.dtime,
            seg.ctime,
            seg.resident() * PAGE_SIZE,
            0
        ));
    }
    s
}
