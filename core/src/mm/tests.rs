//! Tests of the page allocator and the memory manager on the fake
//! platform: mapping semantics and errnos, VMA split and merge, faults and
//! fault-around, copy-in / copy-out, file mappings, brk, madvise, mremap,
//! fork and copy-on-write, /proc/self/maps, and scripted programs.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use veil_abi::flags::*;
use veil_abi::{sysno, Errno, PAGE_SIZE};

use super::*;
use crate::fake::{FakeFile, FakeMemoryFile, FakePlatform, Step, TestBed};
use crate::platform::{Access, MemoryFile, Platform, Prot};
use crate::task::{ExitStatus, Task};

const P: u64 = PAGE_SIZE;
const RW: Prot = Prot::READ.union(Prot::WRITE);
const R: Prot = Prot::READ;
const ANON: u32 = MAP_PRIVATE | MAP_ANONYMOUS;

fn bed() -> (TestBed, Task) {
    let tb = TestBed::new();
    let t = tb.task();
    (tb, t)
}

fn anon(mm: &MemoryManager, addr: u64, len: u64, prot: Prot, flags: u32) -> Result<u64, Errno> {
    mm.mmap(UserAddr(addr), len, prot, flags, None).map(|a| a.0)
}

fn file_of(f: &Arc<FakeFile>, name: &str) -> MappedFile {
    MappedFile {
        file: f.ops(),
        name: name.as_bytes().to_vec(),
        dev_ino: (veil_abi::makedev(8, 1), 1234),
        writable: false,
    }
}

fn read(mm: &MemoryManager, addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
    let mut v = vec![0u8; len];
    mm.copy_in(UserAddr(addr), &mut v).map(|_| v)
}

/// Every page the platform maps must be the page core's table names.
fn assert_consistent(tb: &TestBed, t: &Task) {
    let space = tb.space(t);
    for (addr, off, _) in space.mapped() {
        assert_eq!(
            t.mm.translate(UserAddr(addr)).map(|o| o.0),
            Some(off),
            "platform maps {addr:#x} to {off:#x}, core disagrees"
        );
    }
}

// ---------------------------------------------------------------------
// page allocator

#[test]
fn pagealloc_reuses_freed_pages_and_grows_in_chunks() {
    let mf = Arc::new(FakeMemoryFile::new());
    let pa = PageAllocator::new(mf.clone());
    let a = pa.alloc(4).unwrap();
    let b = pa.alloc(4).unwrap();
    assert_eq!(b.0, a.0 + 4 * P);
    assert_eq!(pa.allocated_pages(), 8);
    assert_eq!(mf.grow_calls(), 1, "one growth step covers many pages");
    assert!(mf.size() >= pagealloc::MIN_GROW);
    // Dirty a page, free, and get it back zeroed.
    mf.write(a, b"dirty").unwrap();
    pa.decref(a, 4);
    assert_eq!(pa.allocated_pages(), 4);
    assert_eq!(pa.stats().free, 4);
    let c = pa.alloc(2).unwrap();
    assert_eq!(c, a, "freed pages are reused first");
    let mut buf = [1u8; 5];
    mf.read(c, &mut buf).unwrap();
    assert_eq!(buf, [0; 5], "reused pages read as zero");
    assert!(mf.decommit_calls() >= 1);
    // Freeing neighbours coalesces.
    pa.decref(c, 2);
    pa.decref(b, 4);
    let s = pa.stats();
    assert_eq!(s.allocated, 0);
    assert_eq!(s.free_extents, 1);
    assert_eq!(s.free, 8);
}

#[test]
fn pagealloc_refcounts() {
    let mf = Arc::new(FakeMemoryFile::new());
    let pa = PageAllocator::new(mf);
    let a = pa.alloc(2).unwrap();
    assert_eq!(pa.refcount(a), 1);
    pa.incref(a, 2).unwrap();
    assert_eq!(pa.refcount(a), 2);
    assert!(pa.is_shared(a.add(P)));
    pa.decref(a, 1);
    assert_eq!(pa.refcount(a), 1);
    assert_eq!(pa.refcount(a.add(P)), 2);
    pa.decref(a, 2);
    assert_eq!(pa.refcount(a), 0);
    assert_eq!(pa.refcount(a.add(P)), 1);
    assert_eq!(pa.allocated_pages(), 1);
    // Bad requests.
    assert_eq!(pa.incref(a, 1), Err(Errno::EINVAL), "free page");
    assert_eq!(pa.alloc(0), Err(Errno::EINVAL));
    pa.decref(FileOffset(1 << 40), 1); // unknown: ignored
}

#[test]
fn pagealloc_alloc_upto_takes_runs() {
    let mf = Arc::new(FakeMemoryFile::new());
    let pa = PageAllocator::new(mf);
    let a = pa.alloc(8).unwrap();
    pa.alloc(1).unwrap();
    pa.decref(a.add(2 * P), 3); // free hole of 3
    let (o, n) = pa.alloc_upto(16).unwrap();
    assert_eq!((o, n), (a.add(2 * P), 3), "takes what the hole has");
    let (_, n) = pa.alloc_upto(16).unwrap();
    assert_eq!(n, 16, "fresh pages when no free ones");
}

// ---------------------------------------------------------------------
// mmap

#[test]
fn mmap_anonymous_top_down_and_merging() {
    let (_tb, t) = bed();
    let mm = &t.mm;
    let base = mm.layout().mmap_base;
    let a = anon(mm, 0, 3 * P, RW, ANON).unwrap();
    assert_eq!(a, base - 3 * P);
    let b = anon(mm, 0, P, RW, ANON).unwrap();
    assert_eq!(b, a - P, "next mapping goes just below");
    let v = mm.vmas();
    assert_eq!(v.len(), 1, "adjacent anonymous mappings merge");
    assert_eq!((v[0].start, v[0].end), (b, base));
    // Different protection does not merge.
    let c = anon(mm, 0, P, R, ANON).unwrap();
    assert_eq!(mm.vmas().len(), 2);
    assert_eq!(c, b - P);
    // A hint that is free is used; one that is taken is not.
    let h = anon(mm, 0x1000_0000, P, RW, ANON).unwrap();
    assert_eq!(h, 0x1000_0000);
    let h2 = anon(mm, 0x1000_0000, P, RW, ANON).unwrap();
    assert_ne!(h2, 0x1000_0000);
    // A hint below mmap_min_addr is raised to it.
    let low = anon(mm, 0x1000, P, RW, ANON).unwrap();
    assert_eq!(low, MMAP_MIN_ADDR);
}

#[test]
fn mmap_errors() {
    let (_tb, t) = bed();
    let mm = &t.mm;
    assert_eq!(anon(mm, 0, 0, RW, ANON), Err(Errno::EINVAL));
    assert_eq!(anon(mm, 0, P, RW, MAP_ANONYMOUS), Err(Errno::EINVAL));
    assert_eq!(
        anon(mm, 0, P, RW, MAP_SHARED_VALIDATE | MAP_ANONYMOUS),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        anon(mm, 0x10_0001, P, RW, ANON | MAP_FIXED),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        anon(mm, TASK_SIZE, P, RW, ANON | MAP_FIXED),
        Err(Errno::ENOMEM)
    );
    assert_eq!(anon(mm, 0, u64::MAX - 10, RW, ANON), Err(Errno::ENOMEM));
    assert_eq!(anon(mm, 0, 1 << 47, RW, ANON), Err(Errno::ENOMEM));
    assert_eq!(anon(mm, 0x1000, P, RW, ANON | MAP_FIXED), Err(Errno::EPERM));
    assert_eq!(
        anon(mm, 0, P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN),
        Err(Errno::EINVAL)
    );
    assert_eq!(anon(mm, 0, P, RW, ANON | MAP_HUGETLB), Err(Errno::ENOMEM));
    let a = anon(mm, 0x20_0000, 2 * P, RW, ANON | MAP_FIXED).unwrap();
    assert_eq!(
        anon(mm, a + P, 2 * P, RW, ANON | MAP_FIXED_NOREPLACE),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        anon(mm, a + 2 * P, P, RW, ANON | MAP_FIXED_NOREPLACE),
        Ok(a + 2 * P)
    );
    let f = FakeFile::new(b"x", 0o644);
    let bad_off = mm.mmap(UserAddr(0), P, R, MAP_PRIVATE, Some((file_of(&f, "/f"), 1)));
    assert_eq!(bad_off.err(), Some(Errno::EINVAL));
    // Nothing happened on failures.
    assert_eq!(mm.vmas().len(), 1);
}

#[test]
fn mmap_fixed_replaces_and_frees() {
    let (tb, t) = bed();
    let mm = &t.mm;
    let a = anon(mm, 0x40_0000, 4 * P, RW, ANON | MAP_FIXED).unwrap();
    mm.copy_out(UserAddr(a), &[7u8; 4 * P as usize]).unwrap();
    assert_eq!(tb.kernel.pages.allocated_pages(), 4);
    anon(mm, a + P, 2 * P, R, ANON | MAP_FIXED).unwrap();
    assert_eq!(tb.kernel.pages.allocated_pages(), 2, "replaced pages freed");
    assert_eq!(
        read(mm, a + P, 4).unwrap(),
        vec![0; 4],
        "new mapping is empty"
    );
    assert_eq!(read(mm, a, 1).unwrap(), vec![7]);
    assert_eq!(read(mm, a + 3 * P, 1).unwrap(), vec![7]);
    assert_eq!(mm.vmas().len(), 3);
}

#[test]
fn mmap_32bit_and_growsdown_flags() {
    let (_tb, t) = bed();
    let a = anon(&t.mm, 0, P, RW, ANON | MAP_32BIT).unwrap();
    assert!((0x4000_0000..0x8000_0000).contains(&a));
    let s = anon(
        &t.mm,
        0,
        4 * P,
        RW,
        ANON | MAP_GROWSDOWN | MAP_STACK | MAP_NORESERVE,
    );
    assert!(s.is_ok());
}

// ---------------------------------------------------------------------
// copy-in / copy-out

#[test]
fn copy_roundtrip_and_lazy_zero() {
    let (tb, t) = bed();
    let mm = &t.mm;
    let a = anon(mm, 0, 3 * P, RW, ANON).unwrap();
    assert_eq!(read(mm, a + 100, 10).unwrap(), vec![0; 10]);
    assert_eq!(
        tb.kernel.pages.allocated_pages(),
        0,
        "reading untouched anonymous memory allocates nothing"
    );
    let data: Vec<u8> = (0..2 * P as usize + 50).map(|i| i as u8).collect();
    mm.copy_out(UserAddr(a + 10), &data).unwrap();
    assert_eq!(read(mm, a + 10, data.len()).unwrap(), data);
    assert_eq!(tb.kernel.pages.allocated_pages(), 3);
    mm.write_obj(UserAddr(a + 8), &0x1122_3344_5566_7788u64)
        .unwrap();
    assert_eq!(
        mm.read_obj::<u64>(UserAddr(a + 8)).unwrap(),
        0x1122_3344_5566_7788
    );
    mm.zero_out(UserAddr(a + 8), 8).unwrap();
    assert_eq!(mm.read_obj::<u64>(UserAddr(a + 8)).unwrap(), 0);
}

#[test]
fn copy_efault_cases() {
    let (_tb, t) = bed();
    let mm = &t.mm;
    let a = anon(mm, 0x50_0000, 2 * P, RW, ANON | MAP_FIXED).unwrap();
    let mut b = [0u8; 8];
    assert_eq!(mm.copy_in(UserAddr(0), &mut b), Err(Errno::EFAULT));
    assert_eq!(
        mm.copy_in(UserAddr(a - 4), &mut b),
        Err(Errno::EFAULT),
        "starts in a hole"
    );
    assert_eq!(
        mm.copy_in(UserAddr(a + 2 * P - 4), &mut b),
        Err(Errno::EFAULT),
        "runs into a hole"
    );
    assert_eq!(
        mm.copy_in(UserAddr(u64::MAX - 3), &mut b),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        mm.copy_in(UserAddr(TASK_SIZE - 4), &mut b),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        mm.copy_in(UserAddr(0), &mut []),
        Ok(()),
        "empty copy never faults"
    );
    mm.mprotect(UserAddr(a), P, R).unwrap();
    assert_eq!(
        mm.copy_out(UserAddr(a), &b),
        Err(Errno::EFAULT),
        "read-only"
    );
    assert_eq!(mm.zero_out(UserAddr(a), 8), Err(Errno::EFAULT));
    assert!(mm.copy_in(UserAddr(a), &mut b).is_ok());
    mm.write_force(UserAddr(a), b"force").unwrap();
    assert_eq!(read(mm, a, 5).unwrap(), b"force");
    mm.mprotect(UserAddr(a), P, Prot::empty()).unwrap();
    assert_eq!(
        mm.copy_in(UserAddr(a), &mut b),
        Err(Errno::EFAULT),
        "PROT_NONE"
    );
    // Exec-only memory is readable by the kernel (as on x86).
    mm.mprotect(UserAddr(a), P, Prot::EXEC).unwrap();
    assert!(mm.copy_in(UserAddr(a), &mut b).is_ok());
    // Two adjacent VMAs with different protection: one copy spans both.
    mm.mprotect(UserAddr(a), P, RW).unwrap();
    mm.mprotect(UserAddr(a + P), P, R).unwrap();
    let mut span = [0u8; 16];
    assert!(mm.copy_in(UserAddr(a + P - 8), &mut span).is_ok());
    assert_eq!(mm.copy_out(UserAddr(a + P - 8), &span), Err(Errno::EFAULT));
}

#[test]
fn read_cstring_cases() {
    let (_tb, t) = bed();
    let mm = &t.mm;
    let a = anon(mm, 0x60_0000, 2 * P, RW, ANON | MAP_FIXED).unwrap();
    // A string crossing a page boundary.
    let at = a + P - 3;
    mm.copy_out(UserAddr(at), b"hello\0").unwrap();
    assert_eq!(mm.read_cstring(UserAddr(at), 4096).unwrap(), b"hello");
    assert_eq!(mm.read_cstring(UserAddr(at), 6).unwrap(), b"hello");
    assert_eq!(mm.read_cstring(UserAddr(at), 5), Err(Errno::ENAMETOOLONG));
    // Runs off the end of the mapping with no NUL.
    mm.copy_out(UserAddr(a + 2 * P - 2), b"ab").unwrap();
    assert_eq!(
        mm.read_cstring(UserAddr(a + 2 * P - 2), 4096),
        Err(Errno::EFAULT)
    );
    // Ends exactly at the end of the mapping.
    mm.copy_out(UserAddr(a + 2 * P - 2), b"a\0").unwrap();
    assert_eq!(
        mm.read_cstring(UserAddr(a + 2 * P - 2), 4096).unwrap(),
        b"a"
    );
    assert_eq!(mm.read_cstring(UserAddr(0), 4096), Err(Errno::EFAULT));
}

// ---------------------------------------------------------------------
// faults

#[test]
fn fault_maps_window_in_one_call() {
    let (tb, t) = bed();
    let mm = &t.mm;
    let a = anon(mm, 0x100_0000, 64 * P, RW, ANON | MAP_FIXED).unwrap();
    let space = tb.space(&t);
    mm.handle_fault(UserAddr(a + 20 * P + 5), Access::Write)
        .unwrap();
    assert_eq!(space.calls().map, 1, "one platform call for the window");
    let mapped = space.mapped();
    assert_eq!(mapped.len(), 16);
    assert_eq!(mapped[0].0, a + 16 * P, "aligned window");
    assert!(mapped.iter().all(|m| m.2 == RW));
    // Contiguous in the memory file.
    for w in mapped.windows(2) {
        assert_eq!(w[1].1, w[0].1 + P);
    }
    assert_consistent(&tb, &t);
    // Clipped to the VMA.
    let b = anon(mm, 0x200_0000 + 3 * P, 2 * P, RW, ANON | MAP_FIXED).unwrap();
    mm.handle_fault(UserAddr(b), Access::Read).unwrap();
    assert_eq!(space.mapped().len(), 18);
    assert_consistent(&tb, &t);
}

#[test]
fn fault_errors() {
    let (_tb, t) = bed();
    let mm = &t.mm;
    assert_eq!(
        mm.handle_fault(UserAddr(0x1234), Access::Read),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        mm.handle_fault(UserAddr(u64::MAX), Access::Read),
        Err(Errno::EFAULT)
    );
    let a = anon(mm, 0x300_0000, P, R, ANON | MAP_FIXED).unwrap();
    assert_eq!(
        mm.handle_fault(UserAddr(a), Access::Write),
        Err(Errno::EACCES)
    );
    assert_eq!(
        mm.handle_fault(UserAddr(a), Access::Exec),
        Err(Errno::EACCES)
    );
    assert_eq!(mm.handle_fault(UserAddr(a), Access::Read), Ok(()));
    mm.mprotect(UserAddr(a), P, Prot::empty()).unwrap();
    assert_eq!(
        mm.handle_fault(UserAddr(a), Access::Read),
        Err(Errno::EACCES)
    );
    mm.mprotect(UserAddr(a), P, Prot::WRITE).unwrap();
    assert_eq!(
        mm.handle_fault(UserAddr(a), Access::Read),
        Ok(()),
        "write implies read"
    );
}

#[test]
fn populated_by_copy_then_mapped_by_fault_is_same_page() {
    let (tb, t) = bed();
    let mm = &t.mm;
    let a = anon(mm, 0x400_0000, 4 * P, RW, ANON | MAP_FIXED).unwrap();
    mm.copy_out(UserAddr(a + P), b"abc").unwrap();
    let off = mm.translate(UserAddr(a + P)).unwrap();
    mm.handle_fault(UserAddr(a + P), Access::Read).unwrap();
    assert_eq!(tb.space(&t).lookup(a + P).unwrap().0, off);
    assert_consistent(&tb, &t);
}

// ---------------------------------------------------------------------
// file mappings

#[test]
fn file_mapping_reads_file_and_zero_fills_eof() {
    let (tb, t) = bed();
    let mm = &t.mm;
    let mut content = vec![0u8; 2 * P as usize + 100];
    for (i, b) in content.iter_mut().enumerate() {
        *b = (i % 251) as u8 + 1;
    }
    let f = FakeFile::new(&content, 0o644);
    let a = mm
        .mmap(
            UserAddr(0),
            5 * P,
            R,
            MAP_PRIVATE,
            Some((file_of(&f, "/data"), 0)),
        )
        .unwrap()
        .0;
    assert_eq!(read(mm, a, 16).unwrap(), content[..16].to_vec());
    let tail = read(mm, a + 2 * P, P as usize).unwrap();
    assert_eq!(&tail[..100], &content[2 * P as usize..]);
    assert!(tail[100..].iter().all(|&b| b == 0), "past EOF reads zero");
    // A page wholly past EOF: SIGBUS on fault, EFAULT on copy.
    assert_eq!(
        mm.handle_fault(UserAddr(a + 3 * P), Access::Read),
        Err(Errno::EIO)
    );
    assert_eq!(read(mm, a + 3 * P, 1), Err(Errno::EFAULT));
    // The fault window only maps pages within the file.
    mm.handle_fault(UserAddr(a), Access::Read).unwrap();
    assert_eq!(tb.space(&t).mapped().len(), 3);
    assert_consistent(&tb, &t);
    // With an offset.
    let b = mm
        .mmap(
            UserAddr(0),
            P,
            R,
            MAP_PRIVATE,
            Some((file_of(&f, "/data"), P)),
        )
        .unwrap()
        .0;
    assert_eq!(
        read(mm, b, 4).unwrap(),
        content[P as usize..P as usize + 4].to_vec()
    );
}

#[test]
fn private_file_writes_stay_private() {
    let (_tb, t) = bed();
    let mm = &t.mm;
    let f = FakeFile::new(b"original", 0o644);
    let a = mm
        .mmap(
            UserAddr(0),
            P,
            RW,
            MAP_PRIVATE,
            Some((file_of(&f, "/f"), 0)),
        )
        .unwrap()
        .0;
    mm.copy_out(UserAddr(a), b"changed!").unwrap();
    assert_eq!(read(mm, a, 8).unwrap(), b"changed!");
    let mut buf = [0u8; 8];
    f.ops().read(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"original");
    // MADV_DONTNEED throws the private copy away: the file shows again.
    mm.madvise(UserAddr(a), P, MADV_DONTNEED).unwrap();
    assert_eq!(read(mm, a, 8).unwrap(), b"original");
}

#[test]
fn shared_readonly_file_cannot_become_writable() {
    let (_tb, t) = bed();
    let mm = &t.mm;
    let f = FakeFile::new(b"x", 0o644);
    let a = mm
        .mmap(UserAddr(0), P, R, MAP_SHARED, Some((file_of(&f, "/f"), 0)))
        .unwrap()
        .0;
    assert_eq!(mm.mprotect(UserAddr(a), P, RW), Err(Errno::EACCES));
    assert_eq!(mm.mprotect(UserAddr(a), P, R | Prot::EXEC), Ok(()));
    // A file whose data is not in the memory file (a host fd) may be
    // mapped shared only as a read-only copy, even when open for writing.
    let mut wf = file_of(&f, "/f");
    wf.writable = true;
    assert_eq!(
        mm.mmap(UserAddr(0), P, RW, MAP_SHARED, Some((wf.clone(), 0))),
        Err(Errno::ENODEV)
    );
    let b = mm
        .mmap(UserAddr(0), P, R, MAP_SHARED, Some((wf, 0)))
        .unwrap()
        .0;
    assert_eq!(mm.mprotect(UserAddr(b), P, RW), Err(Errno::EACCES));
    // A memory-backed one open for writing may become writable.
    let (tb, t) = bed();
    let m = memfd(&tb, b"x");
    let c =
        t.mm.mmap(UserAddr(0), P, R, MAP_SHARED, Some((mapped_memfd(&m), 0)))
            .unwrap()
            .0;
    assert_eq!(t.mm.mprotect(UserAddr(c), P, RW), Ok(()));
}

#[test]
fn file_pages_are_read_a_window_at_a_time() {
    // A file mapping bigger than the fault-around window, read page by
    // page through copies: each window costs one file read.
    let (_tb, t) = bed();
    let content: Vec<u8> = (0..64 * P as usize).map(|i| (i / 4096) as u8).collect();
    let f = FakeFile::new(&content, 0o644);
    let a =
        t.mm.mmap(
            UserAddr(0),
            64 * P,
            R,
            MAP_PRIVATE,
            Some((file_of(&f, "/f"), 0)),
        )
        .unwrap()
        .0;
    let mut counts = Vec::new();
    for i in 0..64 {
        assert_eq!(read(&t.mm, a + i * P, 1).unwrap(), vec![i as u8]);
        counts.push(f.read_calls());
    }
    // Windows are aligned to 16 pages of address, so an unaligned mapping
    // takes one more.
    assert!(f.read_calls() <= 5, "{counts:?}");
}

// ---------------------------------------------------------------------
// munmap / mprotect

#[test]
fn munmap_splits_and_frees() {
    let (tb, t) = bed();
    let mm = &t.mm;
    let a = anon(mm, 0x500_0000, 8 * P, RW, ANON | MAP_FIXED).unwrap();
    mm.copy_out(UserAddr(a), &vec![1u8; 8 * P as usize])
        .unwrap();
    mm.handle_fault(UserAddr(a), Access::Read).unwrap();
    mm.munmap(UserAddr(a + 2 * P), 3 * P).unwrap();
    let v = mm.vmas();
    assert_eq!(v.len(), 2);
    assert_eq!((v[0].start, v[0].end), (a, a + 2 * P));
    assert_eq!((v[1].start, v[1].end), (a + 5 * P, a + 8 * P));
    assert_eq!(tb.kernel.pages.allocated_pages(), 5);
    assert!(tb.space(&t).lookup(a + 2 * P).is_none());
    assert!(tb.space(&t).lookup(a).is_some());
    assert_eq!(read(mm, a + 2 * P, 1), Err(Errno::EFAULT));
    // Errors and holes.
    assert_eq!(mm.munmap(UserAddr(a + 1), P), Err(Errno::EINVAL));
    assert_eq!(mm.munmap(UserAddr(a), 0), Err(Errno::EINVAL));
    assert_eq!(mm.munmap(UserAddr(!0xfff), P), Err(Errno::EINVAL));
    assert_eq!(
        mm.munmap(UserAddr(0x7000_0000), P),
        Ok(()),
        "a hole is fine"
    );
    assert_consistent(&tb, &t);
}

#[test]
fn mprotect_splits_merges_and_applies() {
    let (tb, t) = bed();
    let mm = &t.mm;
    let a = anon(mm, 0x600_0000, 4 * P, RW, ANON | MAP_FIXED).unwrap();
    let space = tb.space(&t);
    mm.mprotect(UserAddr(a + P), P, R).unwrap();
    assert_eq!(mm.vmas().len(), 3);
    assert_eq!(space.calls().protect, 0, "nothing mapped: no platform call");
    mm.handle_fault(UserAddr(a), Access::Write).unwrap();
    assert!(
        space.lookup(a + P).is_none(),
        "fault-around stays in the VMA"
    );
    mm.handle_fault(UserAddr(a + P), Access::Read).unwrap();
    assert_eq!(space.lookup(a + P).unwrap().1, R);
    assert_eq!(space.lookup(a).unwrap().1, RW);
    mm.mprotect(UserAddr(a + P), P, RW).unwrap();
    assert_eq!(mm.vmas().len(), 1, "merged back");
    assert_eq!(space.lookup(a + P).unwrap().1, RW);
    // Holes: ENOMEM and nothing changes.
    assert_eq!(mm.mprotect(UserAddr(a), 8 * P, R), Err(Errno::ENOMEM));
    assert_eq!(mm.vmas()[0].prot, RW);
    assert_eq!(mm.mprotect(UserAddr(a + 1), P, R), Err(Errno::EINVAL));
    assert_eq!(mm.mprotect(UserAddr(a), 0, R), Ok(()));
    assert_eq!(mm.mprotect(UserAddr(0x7000_0000), P, R), Err(Errno::ENOMEM));
}

// ---------------------------------------------------------------------
// mremap

#[test]
fn mremap_shrink_grow_and_move() {
    let (tb, t) = bed();
    let mm = &t.mm;
    let a = anon(mm, 0x700_0000, 4 * P, RW, ANON | MAP_FIXED).unwrap();
    mm.copy_out(UserAddr(a), b"keep me").unwrap();
    let off = mm.translate(UserAddr(a)).unwrap();
    // Shrink.
    assert_eq!(
        mm.mremap(UserAddr(a), 4 * P, 2 * P, 0, UserAddr(0)),
        Ok(UserAddr(a))
    );
    assert_eq!(mm.vmas()[0].end, a + 2 * P);
    // Grow in place.
    assert_eq!(
        mm.mremap(UserAddr(a), 2 * P, 6 * P, 0, UserAddr(0)),
        Ok(UserAddr(a))
    );
    assert_eq!(mm.vmas()[0].end, a + 6 * P);
    // Blocked: no MAYMOVE is ENOMEM, MAYMOVE moves.
    anon(mm, a + 6 * P, P, R, ANON | MAP_FIXED).unwrap();
    assert_eq!(
        mm.mremap(UserAddr(a), 6 * P, 8 * P, 0, UserAddr(0)),
        Err(Errno::ENOMEM)
    );
    let n = mm
        .mremap(UserAddr(a), 6 * P, 8 * P, MREMAP_MAYMOVE, UserAddr(0))
        .unwrap()
        .0;
    assert_ne!(n, a);
    assert_eq!(read(mm, n, 7).unwrap(), b"keep me");
    assert_eq!(mm.translate(UserAddr(n)), Some(off), "same page, no copy");
    assert_eq!(read(mm, a, 1), Err(Errno::EFAULT), "old range gone");
    // MREMAP_FIXED.
    let dst = 0x900_0000;
    let m = mm
        .mremap(
            UserAddr(n),
            8 * P,
            2 * P,
            MREMAP_MAYMOVE | MREMAP_FIXED,
            UserAddr(dst),
        )
        .unwrap();
    assert_eq!(m.0, dst);
    assert_eq!(read(mm, dst, 7).unwrap(), b"keep me");
    assert_eq!(tb.kernel.pages.allocated_pages(), 1);
    assert_consistent(&tb, &t);
}

#[test]
fn mremap_errors_and_dontunmap() {
    let (_tb, t) = bed();
    let mm = &t.mm;
    let a = anon(mm, 0x700_0000, 2 * P, RW, ANON | MAP_FIXED).unwrap();
    let e = |r: Result<UserAddr, Errno>| r.err();
    assert_eq!(
        e(mm.mremap(UserAddr(a), P, 2 * P, 8, UserAddr(0))),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        e(mm.mremap(UserAddr(a), P, 2 * P, MREMAP_FIXED, UserAddr(0))),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        e(mm.mremap(UserAddr(a + 1), P, 2 * P, 0, UserAddr(0))),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        e(mm.mremap(UserAddr(a), P, 0, 0, UserAddr(0))),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        e(mm.mremap(UserAddr(0x7100_0000), P, 2 * P, MREMAP_MAYMOVE, UserAddr(0))),
        Some(Errno::EFAULT)
    );
    assert_eq!(
        e(mm.mremap(UserAddr(a), 4 * P, 8 * P, MREMAP_MAYMOVE, UserAddr(0))),
        Some(Errno::EFAULT),
        "old range leaves the VMA"
    );
    assert_eq!(
        e(mm.mremap(
            UserAddr(a),
            2 * P,
            2 * P,
            MREMAP_MAYMOVE | MREMAP_FIXED,
            UserAddr(a + P)
        )),
        Some(Errno::EINVAL),
        "overlap"
    );
    assert_eq!(
        e(mm.mremap(
            UserAddr(a),
            P,
            2 * P,
            MREMAP_MAYMOVE | MREMAP_DONTUNMAP,
            UserAddr(0)
        )),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        e(mm.mremap(UserAddr(a), !0xfff, P, 0, UserAddr(0))),
        Some(Errno::EINVAL),
        "shrinking a range past the address space"
    );
    assert_eq!(
        e(mm.mremap(UserAddr(a), 1 << 62, 1 << 63, MREMAP_MAYMOVE, UserAddr(0))),
        Some(Errno::EFAULT)
    );
    mm.copy_out(UserAddr(a), b"moved").unwrap();
    let n = mm
        .mremap(
            UserAddr(a),
            2 * P,
            2 * P,
            MREMAP_MAYMOVE | MREMAP_DONTUNMAP,
            UserAddr(0),
        )
        .unwrap()
        .0;
    assert_eq!(read(mm, n, 5).unwrap(), b"moved");
    assert_eq!(
        read(mm, a, 5).unwrap(),
        vec![0; 5],
        "old range stays, empty"
    );
}

// ---------------------------------------------------------------------
// brk

#[test]
fn brk_grows_shrinks_and_refuses() {
    let (tb, t) = bed();
    let mm = &t.mm;
    let start = 0x1000_0000;
    mm.set_layout(Layout {
        brk_start: start,
        ..mm.layout()
    });
    assert_eq!(mm.brk(UserAddr(0)).0, start);
    assert_eq!(mm.brk(UserAddr(start + 10)).0, start + 10);
    mm.copy_out(UserAddr(start), b"heap").unwrap();
    assert_eq!(mm.brk(UserAddr(start + 3 * P + 1)).0, start + 3 * P + 1);
    let v = mm.vmas();
    assert_eq!((v[0].start, v[0].end), (start, start + 4 * P));
    assert_eq!(v[0].name, b"[heap]");
    assert_eq!(read(mm, start, 4).unwrap(), b"heap");
    // Shrink frees the pages above.
    mm.copy_out(UserAddr(start + 3 * P), b"x").unwrap();
    assert_eq!(tb.kernel.pages.allocated_pages(), 2);
    assert_eq!(mm.brk(UserAddr(start + P)).0, start + P);
    assert_eq!(tb.kernel.pages.allocated_pages(), 1);
    assert_eq!(read(mm, start + 2 * P, 1), Err(Errno::EFAULT));
    // Below the start: unchanged.
    assert_eq!(mm.brk(UserAddr(start - P)).0, start + P);
    // Into another mapping (keeping a page gap): unchanged.
    anon(mm, start + 10 * P, P, RW, ANON | MAP_FIXED).unwrap();
    assert_eq!(mm.brk(UserAddr(start + 9 * P + 1)).0, start + P);
    assert_eq!(mm.brk(UserAddr(start + 9 * P)).0, start + 9 * P);
    assert_eq!(mm.brk(UserAddr(u64::MAX)).0, start + 9 * P);
    assert_eq!(mm.brk_range(), (UserAddr(start), UserAddr(start + 9 * P)));
}

// ---------------------------------------------------------------------
// madvise

#[test]
fn madvise_semantics() {
    let (tb, t) = bed();
    let mm = &t.mm;
    let a = anon(mm, 0x800_0000, 4 * P, RW, ANON | MAP_FIXED).unwrap();
    mm.copy_out(UserAddr(a), &vec![9u8; 4 * P as usize])
        .unwrap();
    mm.handle_fault(UserAddr(a), Access::Read).unwrap();
    mm.madvise(UserAddr(a + P), 2 * P, MADV_DONTNEED).unwrap();
    assert_eq!(read(mm, a + P, 2).unwrap(), vec![0, 0]);
    assert_eq!(read(mm, a, 1).unwrap(), vec![9]);
    assert_eq!(read(mm, a + 3 * P, 1).unwrap(), vec![9]);
    assert!(
        tb.space(&t).lookup(a + P).is_none(),
        "unmapped from the platform"
    );
    assert_consistent(&tb, &t);
    // Shared anonymous memory keeps its contents.
    let s = anon(mm, 0, P, RW, MAP_SHARED | MAP_ANONYMOUS).unwrap();
    mm.copy_out(UserAddr(s), b"s").unwrap();
    mm.madvise(UserAddr(s), P, MADV_DONTNEED).unwrap();
    assert_eq!(read(mm, s, 1).unwrap(), b"s");
    // Errors.
    assert_eq!(mm.madvise(UserAddr(a), P, 999), Err(Errno::EINVAL));
    assert_eq!(
        mm.madvise(UserAddr(a + 1), P, MADV_NORMAL),
        Err(Errno::EINVAL)
    );
    assert_eq!(mm.madvise(UserAddr(a), 0, MADV_DONTNEED), Ok(()));
    assert_eq!(
        mm.madvise(UserAddr(a), 8 * P, MADV_NORMAL),
        Err(Errno::ENOMEM)
    );
    assert_eq!(mm.madvise(UserAddr(a), P, MADV_HWPOISON), Err(Errno::EPERM));
    assert_eq!(mm.madvise(UserAddr(s), P, MADV_FREE), Err(Errno::EINVAL));
    assert_eq!(mm.madvise(UserAddr(a), P, MADV_REMOVE), Err(Errno::EINVAL));
    assert_eq!(mm.madvise(UserAddr(a), P, MADV_WILLNEED), Ok(()));
    assert_eq!(mm.madvise(UserAddr(a), P, MADV_HUGEPAGE), Ok(()));
    // MADV_FREE on private anonymous memory drops the pages.
    mm.madvise(UserAddr(a), P, MADV_FREE).unwrap();
    assert_eq!(read(mm, a, 1).unwrap(), vec![0]);
}

// ---------------------------------------------------------------------
// stack growth

#[test]
fn growsdown_vma_grows_within_limit() {
    let (_tb, t) = bed();
    let mm = &t.mm;
    mm.set_layout(Layout {
        stack_limit: 64 * P,
        ..mm.layout()
    });
    let top = 0x7000_0000;
    let s = anon(mm, top - 4 * P, 4 * P, RW, ANON | MAP_FIXED | MAP_GROWSDOWN).unwrap();
    mm.handle_fault(UserAddr(s - 10 * P + 8), Access::Write)
        .unwrap();
    assert_eq!(mm.vmas()[0].start, s - 10 * P);
    // A copy below grows it too.
    mm.copy_out(UserAddr(s - 20 * P), b"x").unwrap();
    assert_eq!(mm.vmas()[0].start, s - 20 * P);
    // Not past the limit.
    assert_eq!(
        mm.handle_fault(UserAddr(top - 65 * P), Access::Write),
        Err(Errno::EFAULT)
    );
    // Not into the guard gap of a mapping below.
    anon(mm, top - 40 * P, P, RW, ANON | MAP_FIXED).unwrap();
    assert_eq!(
        mm.handle_fault(UserAddr(top - 30 * P), Access::Write),
        Err(Errno::EFAULT)
    );
}

// ---------------------------------------------------------------------
// /proc/self/maps

#[test]
fn maps_text_format() {
    let (_tb, t) = bed();
    let mm = &t.mm;
    let f = FakeFile::new(&[1u8; 100], 0o755);
    mm.mmap(
        UserAddr(0x40_0000),
        P,
        R | Prot::EXEC,
        MAP_PRIVATE | MAP_FIXED,
        Some((file_of(&f, "/usr/bin/prog"), 0x1000)),
    )
    .unwrap();
    anon(
        mm,
        0x7fff_0000_0000,
        2 * P,
        RW,
        ANON | MAP_FIXED | MAP_GROWSDOWN,
    )
    .unwrap();
    anon(mm, 0x50_0000, P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED).unwrap();
    mm.set_layout(Layout {
        brk_start: 0x60_0000,
        stack_start: 0x7fff_0000_1000,
        ..mm.layout()
    });
    mm.brk(UserAddr(0x60_1000));
    let text = mm.maps_text();
    let expect = "\
00400000-00401000 r-xp 00001000 08:01 1234                               /usr/bin/prog
00500000-00501000 rw-s 00000000 00:00 0 
00600000-00601000 rw-p 00000000 00:00 0                                  [heap]
7fff00000000-7fff00002000 rw-p 00000000 00:00 0                          [stack]
";
    assert_eq!(text, expect);
    for line in text
        .lines()
        .filter(|l| l.ends_with(']') || l.ends_with('g'))
    {
        let name_at = line.rfind(' ').unwrap() + 1;
        assert_eq!(name_at, 73, "names start at column 73: {line:?}");
    }
}

#[test]
fn split_dev_matches_makedev() {
    assert_eq!(split_dev(veil_abi::makedev(8, 1)), (8, 1));
    assert_eq!(split_dev(veil_abi::makedev(0xfe, 0)), (0xfe, 0));
    assert_eq!(split_dev(veil_abi::makedev(259, 300)), (259, 300));
}

// ---------------------------------------------------------------------
// populate, mincore, mlock

#[test]
fn populate_mincore_mlock() {
    let (tb, t) = bed();
    let mm = &t.mm;
    let a = anon(mm, 0, 8 * P, RW, ANON | MAP_POPULATE).unwrap();
    assert_eq!(tb.kernel.pages.allocated_pages(), 8);
    assert_eq!(tb.space(&t).mapped().len(), 8, "MAP_POPULATE maps at once");
    assert_eq!(tb.space(&t).calls().map, 1);
    let b = anon(mm, 0, 4 * P, RW, ANON).unwrap();
    mm.copy_out(UserAddr(b + P), b"x").unwrap();
    let mut v = [9u8; 4];
    mm.mincore(UserAddr(b), &mut v).unwrap();
    assert_eq!(v, [0, 1, 0, 0]);
    assert_eq!(mm.mincore(UserAddr(b + 1), &mut v), Err(Errno::EINVAL));
    assert_eq!(
        mm.mincore(UserAddr(0x1000_0000), &mut v),
        Err(Errno::ENOMEM)
    );
    mm.mlock(UserAddr(b), 4 * P, true).unwrap();
    assert_eq!(tb.kernel.pages.allocated_pages(), 12);
    assert_eq!(mm.mlock(UserAddr(0x1000_0000), P, true), Err(Errno::ENOMEM));
    assert_eq!(mm.check_mapped(UserAddr(a), 8 * P), Ok(()));
    assert_eq!(mm.check_mapped(UserAddr(a), 9 * P), Err(Errno::ENOMEM));
    assert_eq!(mm.populate(UserAddr(b), 4 * P), Ok(()));
}

// ---------------------------------------------------------------------
// fork and copy-on-write

#[test]
fn fork_shares_pages_copy_on_write() {
    let (tb, t) = bed();
    let mm = &t.mm;
    let a = anon(mm, 0xa00_0000, 2 * P, RW, ANON | MAP_FIXED).unwrap();
    mm.copy_out(UserAddr(a), b"parent").unwrap();
    mm.handle_fault(UserAddr(a), Access::Write).unwrap();
    let pspace = tb.space(&t);
    assert_eq!(pspace.lookup(a).unwrap().1, RW);
    let cspace = tb.platform.new_address_space().unwrap();
    let child = mm.fork(cspace).unwrap();
    let off = mm.translate(UserAddr(a)).unwrap();
    assert_eq!(child.translate(UserAddr(a)), Some(off));
    assert_eq!(tb.kernel.pages.refcount(FileOffset(off.0 & !(P - 1))), 2);
    assert_eq!(pspace.lookup(a).unwrap().1, R, "parent write-protected");
    // The child writes: it gets a copy; the parent keeps its page.
    child.copy_out(UserAddr(a), b"child!").unwrap();
    assert_eq!(read(&child, a, 6).unwrap(), b"child!");
    assert_eq!(read(mm, a, 6).unwrap(), b"parent");
    assert_ne!(child.translate(UserAddr(a)), Some(off));
    assert_eq!(tb.kernel.pages.refcount(FileOffset(off.0 & !(P - 1))), 1);
    // The parent's write fault now just maps writable (last owner).
    mm.handle_fault(UserAddr(a), Access::Write).unwrap();
    assert_eq!(mm.translate(UserAddr(a)), Some(off));
    assert_eq!(pspace.lookup(a).unwrap().1, RW);
    // The parent's write fault populated the whole (2-page) VMA.
    assert_eq!(tb.kernel.pages.allocated_pages(), 3);
    drop(child);
    assert_eq!(tb.kernel.pages.allocated_pages(), 2);
}

#[test]
fn cow_break_on_imprecise_read_fault() {
    let (tb, t) = bed();
    let mm = &t.mm;
    let a = anon(mm, 0xb00_0000, P, RW, ANON | MAP_FIXED).unwrap();
    mm.copy_out(UserAddr(a), b"p").unwrap();
    let cspace = tb.platform.new_address_space().unwrap();
    let child = mm.fork(cspace.clone()).unwrap();
    let fake_child = tb.platform.fake_space(&cspace).unwrap();
    // First "read" fault maps the shared page read-only.
    child.handle_fault(UserAddr(a), Access::Read).unwrap();
    assert_eq!(fake_child.lookup(a).unwrap().1, R);
    // A second one on the page already mapped readable must be a write.
    child.handle_fault(UserAddr(a), Access::Read).unwrap();
    assert_eq!(fake_child.lookup(a).unwrap().1, RW);
    assert_ne!(child.translate(UserAddr(a)), mm.translate(UserAddr(a)));
}

#[test]
fn shared_file_pages_follow_the_file_across_fork_and_truncate() {
    use crate::vfs::shmem::{Shmem, ShmemFile, ShmemInit};
    let (tb, t) = bed();
    let init = ShmemInit {
        mode: 0o600,
        uid: 0,
        gid: 0,
        seals: 0,
        hugetlb: false,
    };
    let f: Arc<dyn FileOps> = Arc::new(ShmemFile::new(Shmem::new(&tb.kernel, init)));
    f.truncate(4 * P).unwrap();
    let mapped = || MappedFile {
        file: f.clone(),
        name: b"/memfd:m (deleted)".to_vec(),
        dev_ino: (1, 1),
        writable: true,
    };
    let a =
        t.mm.mmap(UserAddr(0), 4 * P, RW, MAP_SHARED, Some((mapped(), 0)))
            .unwrap()
            .0;
    t.mm.handle_fault(UserAddr(a), Access::Write).unwrap();
    assert_consistent(&tb, &t);
    let base = tb.kernel.pages.allocated_pages();
    // The child copies no entries of the shared mapping: it faults the
    // file's own pages in.
    let child =
        t.mm.fork(tb.kernel.platform.new_address_space().unwrap())
            .unwrap();
    assert_eq!(child.translate(UserAddr(a)), None);
    child.copy_out(UserAddr(a + P + 8), b"child").unwrap();
    assert_eq!(
        child.translate(UserAddr(a + P)),
        t.mm.translate(UserAddr(a + P))
    );
    let mut got = [0u8; 5];
    f.read(&mut got, P + 8).unwrap();
    assert_eq!(&got, b"child");
    assert_eq!(
        tb.kernel.pages.allocated_pages(),
        base,
        "no page was copied"
    );
    // Truncation takes pages 1.. from both address spaces (and the
    // platform); a fault there is SIGBUS, page 0 stays.
    f.truncate(P).unwrap();
    for mm in [&*t.mm, &child] {
        assert_eq!(mm.translate(UserAddr(a + P)), None);
        assert_eq!(
            mm.handle_fault(UserAddr(a + P), Access::Read),
            Err(Errno::EIO)
        );
        assert_eq!(mm.copy_in(UserAddr(a + P), &mut got), Err(Errno::EFAULT));
    }
    assert!(t.mm.translate(UserAddr(a)).is_some());
    assert_consistent(&tb, &t);
    assert_eq!(tb.kernel.pages.allocated_pages(), base - 3);
    // Grown again, everyone sees the same new page.
    f.truncate(2 * P).unwrap();
    t.mm.copy_out(UserAddr(a + P), b"new").unwrap();
    child.copy_in(UserAddr(a + P), &mut got[..3]).unwrap();
    assert_eq!(&got[..3], b"new");
    // MADV_REMOVE punches the file: every mapping reads zeros.
    t.mm.madvise(UserAddr(a + P), P, MADV_REMOVE).unwrap();
    child.copy_in(UserAddr(a + P), &mut got[..3]).unwrap();
    assert_eq!(&got[..3], &[0, 0, 0]);
    // mincore reports the file's pages, whoever touched them.
    let mut res = [9u8; 2];
    child.mincore(UserAddr(a), &mut res).unwrap();
    assert_eq!(res, [1, 1]);
    // msync: ENOMEM for a hole (even after the mapped part), EBUSY for
    // MS_INVALIDATE over locked memory.
    assert_eq!(t.mm.msync(UserAddr(a), 4 * P, false, false), Ok(()));
    t.mm.munmap(UserAddr(a + 2 * P), P).unwrap();
    assert_eq!(
        t.mm.msync(UserAddr(a), 4 * P, false, false),
        Err(Errno::ENOMEM)
    );
    assert_eq!(
        t.mm.msync(UserAddr(a), 4 * P, false, true),
        Err(Errno::ENOMEM)
    );
    t.mm.mlock(UserAddr(a), P, true).unwrap();
    assert_eq!(t.mm.msync(UserAddr(a), P, true, false), Err(Errno::EBUSY));
    assert_eq!(t.mm.msync(UserAddr(a), 0, true, false), Ok(()));
    drop(child);
    t.mm.munmap(UserAddr(a), 4 * P).unwrap();
    drop(f);
    assert_eq!(tb.kernel.pages.allocated_pages(), base - 4);
}

/// A memfd of the test bed's kernel holding `data`.
fn memfd(tb: &TestBed, data: &[u8]) -> Arc<dyn FileOps> {
    use crate::vfs::shmem::{Shmem, ShmemFile, ShmemInit};
    let init = ShmemInit {
        mode: 0o600,
        uid: 0,
        gid: 0,
        seals: 0,
        hugetlb: false,
    };
    let f: Arc<dyn FileOps> = Arc::new(ShmemFile::new(Shmem::new(&tb.kernel, init)));
    f.write(data, 0).unwrap();
    f
}

fn mapped_memfd(f: &Arc<dyn FileOps>) -> MappedFile {
    MappedFile {
        file: f.clone(),
        name: b"/memfd:m (deleted)".to_vec(),
        dev_ino: (1, 1),
        writable: true,
    }
}

fn file_byte(f: &Arc<dyn FileOps>, off: u64) -> u8 {
    let mut b = [0u8; 1];
    f.read(&mut b, off).unwrap();
    b[0]
}

/// The memory-file page (page-aligned) the file holds at page `index`.
fn file_page(f: &Arc<dyn FileOps>, index: u64) -> FileOffset {
    let mut out = Vec::new();
    let mp = f.memory_pages().unwrap();
    mp.get_pages(index, 1, &mut out).unwrap();
    let off = out[0];
    mp.memory().decref_pages(&mut out);
    off
}

fn byte_at(mm: &MemoryManager, addr: u64) -> u8 {
    read(mm, addr, 1).unwrap()[0]
}

#[test]
fn private_file_mapping_shows_the_file_until_written() {
    let (tb, t) = bed();
    let mm = &t.mm;
    let f = memfd(&tb, &[b'a'; 4 * P as usize]);
    let base = tb.kernel.pages.allocated_pages();
    let p = mm
        .mmap(
            UserAddr(0),
            4 * P,
            RW,
            MAP_PRIVATE,
            Some((mapped_memfd(&f), 0)),
        )
        .unwrap()
        .0;
    let r = mm
        .mmap(
            UserAddr(0),
            4 * P,
            R,
            MAP_PRIVATE,
            Some((mapped_memfd(&f), 0)),
        )
        .unwrap()
        .0;
    let s = mm
        .mmap(
            UserAddr(0),
            4 * P,
            RW,
            MAP_SHARED,
            Some((mapped_memfd(&f), 0)),
        )
        .unwrap()
        .0;
    // A read fault maps the file's own page, read-only though the VMA
    // may write: nothing is copied.
    mm.handle_fault(UserAddr(p), Access::Read).unwrap();
    mm.handle_fault(UserAddr(r), Access::Read).unwrap();
    let space = tb.space(&t);
    assert_eq!(space.lookup(p).unwrap(), (file_page(&f, 0), R));
    assert_eq!(space.lookup(p + 3 * P).unwrap(), (file_page(&f, 3), R));
    assert_eq!(space.lookup(r).unwrap(), (file_page(&f, 0), R));
    assert_eq!(tb.kernel.pages.allocated_pages(), base);
    // write(2) and a shared mapping's writes show through.
    f.write(b"b", 0).unwrap();
    assert_eq!((byte_at(mm, p), byte_at(mm, r)), (b'b', b'b'));
    mm.copy_out(UserAddr(s + P), b"c").unwrap();
    assert_eq!((byte_at(mm, p + P), byte_at(mm, r + P)), (b'c', b'c'));
    // mprotect keeps the file's pages read-only in the platform.
    mm.mprotect(UserAddr(r), 4 * P, RW).unwrap();
    assert_eq!(space.lookup(r).unwrap().1, R);
    mm.mprotect(UserAddr(r), 4 * P, R).unwrap();
    // The first write copies: the file is unchanged, and the page no
    // longer follows it.
    mm.handle_fault(UserAddr(p), Access::Write).unwrap();
    let copy = space.lookup(p).unwrap();
    assert_ne!(copy.0, file_page(&f, 0));
    assert_eq!(copy.1, RW);
    mm.copy_out(UserAddr(p), b"P").unwrap();
    assert_eq!(file_byte(&f, 0), b'b');
    f.write(b"d", 0).unwrap();
    assert_eq!((byte_at(mm, p), byte_at(mm, r)), (b'P', b'd'));
    // A kernel write (copy-out) to a page never touched copies too.
    mm.copy_out(UserAddr(p + 2 * P), b"K").unwrap();
    assert_eq!(file_byte(&f, 2 * P), b'a');
    assert_eq!(tb.kernel.pages.allocated_pages(), base + 2);
    // A platform that reports writes as reads: a "read" fault on a page
    // already mapped read-only in a writable VMA copies.
    assert_eq!(space.lookup(p + 3 * P).unwrap(), (file_page(&f, 3), R));
    mm.handle_fault(UserAddr(p + 3 * P), Access::Read).unwrap();
    assert_ne!(space.lookup(p + 3 * P).unwrap().0, file_page(&f, 3));
    assert_eq!(space.lookup(p + 3 * P).unwrap().1, RW);
    assert_consistent(&tb, &t);
    // MADV_DONTNEED drops the copies: the file shows again.
    mm.madvise(UserAddr(p), 4 * P, MADV_DONTNEED).unwrap();
    assert_eq!(byte_at(mm, p), b'd');
    assert_eq!(byte_at(mm, p + 2 * P), b'a');
    assert_eq!(tb.kernel.pages.allocated_pages(), base);
    // mincore: the file's pages are resident.
    let mut res = [9u8; 4];
    mm.mincore(UserAddr(p), &mut res).unwrap();
    assert_eq!(res, [1; 4]);
    mm.munmap(UserAddr(p), 4 * P).unwrap();
    mm.munmap(UserAddr(r), 4 * P).unwrap();
    mm.munmap(UserAddr(s), 4 * P).unwrap();
    drop(f);
    assert_eq!(tb.kernel.pages.allocated_pages(), base - 4);
}

#[test]
fn private_file_write_faults_map_one_page_each() {
    let (tb, t) = bed();
    let mm = &t.mm;
    let f = memfd(&tb, &[b'a'; 16 * P as usize]);
    let p = mm
        .mmap(
            UserAddr(0x4000_0000),
            16 * P,
            RW,
            MAP_PRIVATE | MAP_FIXED,
            Some((mapped_memfd(&f), 0)),
        )
        .unwrap()
        .0;
    let space = tb.space(&t);
    // The first write fault maps the window: the copy writable, the
    // file's pages read-only.
    mm.handle_fault(UserAddr(p), Access::Write).unwrap();
    assert_eq!(space.mapped().len(), 16);
    // Each later write fault copies and maps its own page, no more.
    for i in 1..16 {
        let before = space.calls();
        mm.handle_fault(UserAddr(p + i * P), Access::Write).unwrap();
        let after = space.calls();
        assert_eq!(after.map - before.map, 1, "page {i}");
        assert_eq!(space.lookup(p + i * P).unwrap().1, RW);
    }
    assert_consistent(&tb, &t);
    // So does the write fault of a child on the pages shared by fork.
    let cspace = tb.platform.new_address_space().unwrap();
    let child = mm.fork(cspace.clone()).unwrap();
    let fake_child = tb.platform.fake_space(&cspace).unwrap();
    child.handle_fault(UserAddr(p), Access::Read).unwrap();
    let before = fake_child.calls();
    child
        .handle_fault(UserAddr(p + 5 * P), Access::Write)
        .unwrap();
    assert_eq!(fake_child.calls().map - before.map, 1);
}

#[test]
fn private_file_pages_across_fork_punch_and_truncate() {
    let (tb, t) = bed();
    let mm = &t.mm;
    let f = memfd(&tb, &[b'a'; 4 * P as usize]);
    let base = tb.kernel.pages.allocated_pages();
    let p = mm
        .mmap(
            UserAddr(0),
            4 * P,
            RW,
            MAP_PRIVATE,
            Some((mapped_memfd(&f), 0)),
        )
        .unwrap()
        .0;
    mm.handle_fault(UserAddr(p), Access::Read).unwrap();
    mm.copy_out(UserAddr(p + P), b"W").unwrap();
    let child = mm
        .fork(tb.kernel.platform.new_address_space().unwrap())
        .unwrap();
    // The child shows the same pages: the file's, and the parent's copy
    // (shared copy-on-write).
    for i in 0..4 {
        assert_eq!(
            child.translate(UserAddr(p + i * P)),
            mm.translate(UserAddr(p + i * P))
        );
    }
    f.write(b"bbb", 0).unwrap();
    f.write(b"b", 2 * P).unwrap();
    f.write(b"b", P).unwrap();
    for m in [&**mm, &child] {
        assert_eq!(byte_at(m, p), b'b');
        assert_eq!(byte_at(m, p + P), b'W');
        assert_eq!(byte_at(m, p + 2 * P), b'b');
    }
    // The child writes: its own copy; the parent still follows the file.
    child.copy_out(UserAddr(p), b"C").unwrap();
    f.write(b"e", 0).unwrap();
    assert_eq!((byte_at(mm, p), byte_at(&child, p)), (b'e', b'C'));
    // Hole punching takes the file's pages away (zeros show), not the
    // copies.
    f.memory_pages().unwrap().remove(0, 3 * P).unwrap();
    for m in [&**mm, &child] {
        assert_eq!(byte_at(m, p + P), b'W');
        assert_eq!(byte_at(m, p + 2 * P), 0);
    }
    assert_eq!((byte_at(mm, p), byte_at(&child, p)), (0, b'C'));
    // Truncation takes both kinds away (Linux's even_cows): SIGBUS.
    f.truncate(P / 2).unwrap();
    for m in [&**mm, &child] {
        assert_eq!(
            m.handle_fault(UserAddr(p + P), Access::Read),
            Err(Errno::EIO)
        );
        assert_eq!(
            m.handle_fault(UserAddr(p + 3 * P), Access::Write),
            Err(Errno::EIO)
        );
    }
    assert_eq!(byte_at(mm, p + P / 2 + 10), 0, "the file's tail was zeroed");
    assert_eq!(byte_at(&child, p), b'C', "a copy below the end stays");
    drop(child);
    drop(f);
    mm.munmap(UserAddr(p), 4 * P).unwrap();
    assert_eq!(tb.kernel.pages.allocated_pages(), base - 4);
}

#[test]
fn private_file_mapping_moves_and_populates() {
    let (tb, t) = bed();
    let mm = &t.mm;
    let f = memfd(&tb, &[b'a'; 4 * P as usize]);
    let p = mm
        .mmap(
            UserAddr(0),
            2 * P,
            R,
            MAP_PRIVATE,
            Some((mapped_memfd(&f), 0)),
        )
        .unwrap()
        .0;
    mm.handle_fault(UserAddr(p), Access::Read).unwrap();
    // mremap moves the entries: still the file's pages.
    let q = mm
        .mremap(UserAddr(p), 2 * P, 4 * P, MREMAP_MAYMOVE, UserAddr(0))
        .unwrap()
        .0;
    assert_eq!(mm.translate(UserAddr(q)), Some(file_page(&f, 0)));
    f.write(b"m", 0).unwrap();
    assert_eq!(byte_at(mm, q), b'm');
    f.truncate(0).unwrap();
    assert_eq!(
        mm.translate(UserAddr(q)),
        None,
        "invalidated where it moved"
    );
    f.write(&[b'z'; 4 * P as usize], 0).unwrap();
    // MAP_POPULATE of a private writable mapping copies (a write), of a
    // read-only one maps the file's pages.
    let w = mm
        .mmap(
            UserAddr(0),
            2 * P,
            RW,
            MAP_PRIVATE | MAP_POPULATE,
            Some((mapped_memfd(&f), 0)),
        )
        .unwrap()
        .0;
    let r = mm
        .mmap(
            UserAddr(0),
            2 * P,
            R,
            MAP_PRIVATE | MAP_POPULATE,
            Some((mapped_memfd(&f), 0)),
        )
        .unwrap()
        .0;
    assert_ne!(mm.translate(UserAddr(w + P)), Some(file_page(&f, 1)));
    assert_eq!(mm.translate(UserAddr(r + P)), Some(file_page(&f, 1)));
    assert_eq!(tb.space(&t).lookup(w + P).unwrap().1, RW);
    f.write(b"y", P).unwrap();
    assert_eq!((byte_at(mm, w + P), byte_at(mm, r + P)), (b'z', b'y'));
    assert_consistent(&tb, &t);
}

#[test]
fn fork_shared_anonymous_and_fork_advice() {
    let (tb, t) = bed();
    let mm = &t.mm;
    let s = anon(
        mm,
        0xc00_0000,
        2 * P,
        RW,
        MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
    )
    .unwrap();
    let w = anon(mm, 0xd00_0000, P, RW, ANON | MAP_FIXED).unwrap();
    let d = anon(mm, 0xe00_0000, P, RW, ANON | MAP_FIXED).unwrap();
    mm.copy_out(UserAddr(w), b"w").unwrap();
    mm.madvise(UserAddr(w), P, MADV_WIPEONFORK).unwrap();
    mm.madvise(UserAddr(d), P, MADV_DONTFORK).unwrap();
    let child = mm.fork(tb.platform.new_address_space().unwrap()).unwrap();
    // Shared memory: writes on either side are seen by the other.
    child.copy_out(UserAddr(s + P), b"shared").unwrap();
    assert_eq!(read(mm, s + P, 6).unwrap(), b"shared");
    assert_eq!(read(&child, w, 1).unwrap(), vec![0], "wiped");
    assert_eq!(read(mm, w, 1).unwrap(), b"w");
    assert_eq!(read(&child, d, 1), Err(Errno::EFAULT), "not inherited");
}

// ---------------------------------------------------------------------
// drop

#[test]
fn drop_frees_everything() {
    let (tb, t) = bed();
    let a = anon(&t.mm, 0, 32 * P, RW, ANON).unwrap();
    t.mm.copy_out(UserAddr(a), &vec![1u8; 32 * P as usize])
        .unwrap();
    t.mm.handle_fault(UserAddr(a), Access::Read).unwrap();
    assert_eq!(tb.kernel.pages.allocated_pages(), 32);
    drop(t);
    assert_eq!(tb.kernel.pages.allocated_pages(), 0);
    assert_eq!(tb.platform.fake_memory_file().resident(), Some(0));
}

// ---------------------------------------------------------------------
// scripted programs through the syscall table

fn sys(nr: u64, a: &[u64]) -> Step {
    let mut args = [0u64; 6];
    args[..a.len()].copy_from_slice(a);
    Step::Syscall(nr, args)
}

#[test]
fn scripted_program_maps_touches_and_unmaps() {
    let (tb, mut t) = bed();
    let base = t.mm.layout().mmap_base;
    let a = base - 32 * P;
    let steps = vec![
        sys(
            sysno::MMAP,
            &[
                0,
                32 * P,
                (PROT_READ | PROT_WRITE) as u64,
                ANON as u64,
                u64::MAX,
                0,
            ],
        ),
        Step::Write(a + 5, b"hello".to_vec()),
        Step::Read(a + 5, 5),
        Step::Write(a + 20 * P, b"x".to_vec()),
        sys(sysno::MPROTECT, &[a, P, PROT_READ as u64]),
        Step::Read(a + 5, 5),
        sys(sysno::MUNMAP, &[a, 32 * P]),
        sys(sysno::MMAP, &[0, 0, 3, ANON as u64, u64::MAX, 0]),
        sys(sysno::MMAP, &[0, P, 3, MAP_PRIVATE as u64, 99, 0]),
        sys(sysno::MMAP, &[0, P, 3, MAP_PRIVATE as u64, 99, 1]),
        sys(sysno::BRK, &[0]),
    ];
    let (st, log) = tb.run(&mut t, steps);
    assert_eq!(st, ExitStatus::Exited(0));
    assert_eq!(log.results[0], a);
    assert_eq!(log.reads, vec![b"hello".to_vec(), b"hello".to_vec()]);
    assert_eq!(log.faults.len(), 2, "one fault per 16-page window touched");
    assert_eq!(log.results[1], 0);
    assert_eq!(log.results[2], 0);
    let err = |e: Errno| (-(e as i64)) as u64;
    assert_eq!(log.results[3], err(Errno::EINVAL));
    assert_eq!(log.results[4], err(Errno::EBADF));
    assert_eq!(log.results[5], err(Errno::EINVAL));
    assert_eq!(log.results[6], 0, "no heap without a loaded program");
    assert!(t.mm.vmas().is_empty());
}

#[test]
fn scripted_segfault_and_sigbus() {
    let (tb, mut t) = bed();
    let (st, _) = tb.run(&mut t, vec![Step::Read(0x1234, 1)]);
    assert_eq!(st, ExitStatus::Signaled(SIGSEGV));

    let mut t = tb.task();
    let a = anon(&t.mm, 0x100_0000, P, R, ANON | MAP_FIXED).unwrap();
    let (st, log) = tb.run(&mut t, vec![Step::Write(a, b"x".to_vec())]);
    assert_eq!(st, ExitStatus::Signaled(SIGSEGV));
    assert_eq!(log.faults, vec![(a, Access::Write)]);

    let mut t = tb.task();
    let f = FakeFile::new(b"short", 0o644);
    let m =
        t.mm.mmap(
            UserAddr(0),
            2 * P,
            R,
            MAP_PRIVATE,
            Some((file_of(&f, "/f"), 0)),
        )
        .unwrap()
        .0;
    let (st, log) = tb.run(&mut t, vec![Step::Read(m, 5), Step::Read(m + P, 1)]);
    assert_eq!(st, ExitStatus::Signaled(SIGBUS));
    assert_eq!(log.reads, vec![b"short".to_vec()]);
}

#[test]
fn imprecise_platform_write_to_readonly_ends() {
    // A platform that reports writes as reads: a write to read-only memory
    // must end in SIGSEGV, not loop forever.
    let platform = FakePlatform::new();
    platform
        .imprecise_access
        .store(true, core::sync::atomic::Ordering::Relaxed);
    let tb = TestBed::with_platform(platform);
    let mut t = tb.task();
    let a = anon(&t.mm, 0x100_0000, P, R, ANON | MAP_FIXED).unwrap();
    let (st, log) = tb.run(&mut t, vec![Step::Write(a, b"x".to_vec())]);
    assert_eq!(st, ExitStatus::Signaled(SIGSEGV));
    // Core gives up (not the fake CPU, which would after 128).
    assert!(
        (60..=70).contains(&log.faults.len()),
        "{}",
        log.faults.len()
    );
    // And a write to writable memory works with one fault.
    let mut t = tb.task();
    let b = anon(&t.mm, 0x100_0000, P, RW, ANON | MAP_FIXED).unwrap();
    let (st, log) = tb.run(
        &mut t,
        vec![Step::Write(b, b"x".to_vec()), Step::Read(b, 1)],
    );
    assert_eq!(st, ExitStatus::Exited(0));
    assert_eq!(log.faults.len(), 1);
    assert_eq!(log.reads, vec![b"x".to_vec()]);
}

#[test]
fn scripted_brk_and_mremap() {
    let (tb, mut t) = bed();
    t.mm.set_layout(Layout {
        brk_start: 0x2000_0000,
        ..t.mm.layout()
    });
    let steps = vec![
        sys(sysno::BRK, &[0]),
        sys(sysno::BRK, &[0x2000_0000 + 3 * P]),
        Step::Write(0x2000_0000 + 2 * P, b"heap".to_vec()),
        sys(
            sysno::MREMAP,
            &[0x2000_0000, 3 * P, 6 * P, MREMAP_MAYMOVE as u64, 0],
        ),
    ];
    let (_, log) = tb.run(&mut t, steps);
    assert_eq!(log.results[0], 0x2000_0000);
    assert_eq!(log.results[1], 0x2000_0000 + 3 * P);
    let n = log.results[2];
    assert_eq!(read(&t.mm, n + 2 * P, 4).unwrap(), b"heap");
}

// ---------------------------------------------------------------------
// the syscall handlers (core/src/syscalls/mem.rs)

mod handlers {
    use super::*;
    use crate::vfs::walk::{resolve, WalkFlags};
    use crate::vfs::{FileOps, Inode, InodeAttr, OpenFile};
    use core::any::Any;

    fn call(t: &mut Task, nr: u64, a: &[u64]) -> Result<u64, Errno> {
        let mut args = [0u64; 6];
        args[..a.len()].copy_from_slice(a);
        let h = crate::syscalls::mem::handler(nr).expect("served");
        h(t, &args)
    }

    fn open(t: &Task, path: &str, flags: u32) -> u64 {
        let loc = resolve(
            t,
            AT_FDCWD,
            path.as_bytes(),
            WalkFlags {
                follow: true,
                empty_ok: false,
            },
        )
        .unwrap();
        let ops = loc.inode().open(t, flags).unwrap();
        t.fds
            .insert(3, OpenFile::new(ops, Some(loc), flags), false, 1024)
            .unwrap() as u64
    }

    /// A character device inode (for /dev/zero and /dev/null).
    struct CharDev(u64);
    impl Inode for CharDev {
        fn attr(&self) -> Result<InodeAttr, Errno> {
            Ok(InodeAttr {
                mode: S_IFCHR | 0o666,
                rdev: self.0,
                ..InodeAttr::default()
            })
        }
        fn open(&self, _cx: &Task, _flags: u32) -> Result<Arc<dyn FileOps>, Errno> {
            Ok(FakeFile::new(b"", 0o666).ops())
        }
        fn as_any(&self) -> &dyn Any {
            self
        }
    }

    const RWB: u64 = (PROT_READ | PROT_WRITE) as u64;

    #[test]
    fn mmap_file_descriptor_checks() {
        let (tb, mut t) = bed();
        tb.add_file("/f", b"file data", 0o644);
        tb.root.dir("/d");
        let dev = tb.root.dir("/dev");
        dev.put(b"zero", Arc::new(CharDev(veil_abi::makedev(1, 5))));
        dev.put(b"null", Arc::new(CharDev(veil_abi::makedev(1, 3))));
        let ro = open(&t, "/f", O_RDONLY);
        let wo = open(&t, "/f", O_WRONLY);
        let rw = open(&t, "/f", O_RDWR);
        let (sh, pr) = (MAP_SHARED as u64, MAP_PRIVATE as u64);
        let a = call(&mut t, sysno::MMAP, &[0, P, RWB, pr, ro, 0]).unwrap();
        assert_eq!(read(&t.mm, a, 9).unwrap(), b"file data");
        assert_eq!(t.mm.vmas()[0].name, b"/f");
        assert_eq!(
            call(&mut t, sysno::MMAP, &[0, P, RWB, sh, ro, 0]),
            Err(Errno::EACCES)
        );
        let s = call(&mut t, sysno::MMAP, &[0, P, PROT_READ as u64, sh, ro, 0]).unwrap();
        assert_eq!(
            call(&mut t, sysno::MPROTECT, &[s, P, RWB]),
            Err(Errno::EACCES)
        );
        // The fake file keeps its data outside the memory file, like a
        // host fd: a writable shared mapping could never reach it.
        assert_eq!(
            call(&mut t, sysno::MMAP, &[0, P, RWB, sh, rw, 0]),
            Err(Errno::ENODEV)
        );
        assert!(call(&mut t, sysno::MMAP, &[0, P, PROT_READ as u64, sh, rw, 0]).is_ok());
        assert_eq!(
            call(&mut t, sysno::MMAP, &[0, P, PROT_READ as u64, pr, wo, 0]),
            Err(Errno::EACCES)
        );
        assert_eq!(
            call(&mut t, sysno::MMAP, &[0, P, RWB, pr, 77, 0]),
            Err(Errno::EBADF)
        );
        assert_eq!(
            call(&mut t, sysno::MMAP, &[0, P, RWB, pr, 77, 1]),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            call(&mut t, sysno::MMAP, &[0, 0, RWB, pr, ro, 0]),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            call(&mut t, sysno::MMAP, &[0, P, RWB, 0, ro, 0]),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            call(
                &mut t,
                sysno::MMAP,
                &[
                    0,
                    P,
                    PROT_READ as u64,
                    (MAP_SHARED_VALIDATE | 0x40_0000) as u64,
                    ro,
                    0
                ]
            ),
            Err(Errno::EOPNOTSUPP)
        );
        let dloc = resolve(&t, AT_FDCWD, b"/d", WalkFlags::default()).unwrap();
        let dfile = OpenFile::new(FakeFile::new(b"", 0o600).ops(), Some(dloc), O_RDONLY);
        let d = t.fds.insert(3, dfile, false, 1024).unwrap() as u64;
        assert_eq!(
            call(&mut t, sysno::MMAP, &[0, P, RWB, pr, d, 0]),
            Err(Errno::ENODEV)
        );
        let null = open(&t, "/dev/null", O_RDWR);
        assert_eq!(
            call(&mut t, sysno::MMAP, &[0, P, RWB, pr, null, 0]),
            Err(Errno::ENODEV)
        );
        // /dev/zero maps anonymous memory.
        let zero = open(&t, "/dev/zero", O_RDWR);
        let z = call(&mut t, sysno::MMAP, &[0, P, RWB, sh, zero, 0]).unwrap();
        t.mm.copy_out(UserAddr(z), b"z").unwrap();
        assert!(t
            .mm
            .vmas()
            .iter()
            .any(|v| v.start == z && v.name.is_empty() && v.shared));
        // A description without a path or stat (a pipe, say).
        let pipe = OpenFile::new(FakeFile::new(b"", 0o600).ops(), None, O_RDWR);
        let p = t.fds.insert(3, pipe, false, 1024).unwrap() as u64;
        assert_eq!(
            call(&mut t, sysno::MMAP, &[0, P, RWB, pr, p, 0]),
            Err(Errno::ENODEV)
        );
        // Anonymous mappings ignore the fd.
        assert!(call(&mut t, sysno::MMAP, &[0, P, RWB, ANON as u64, 77, 0]).is_ok());
    }

    #[test]
    fn small_calls() {
        let (_tb, mut t) = bed();
        let a = call(
            &mut t,
            sysno::MMAP,
            &[0, 4 * P, RWB, ANON as u64, u64::MAX, 0],
        )
        .unwrap();
        // mprotect argument checks.
        assert_eq!(
            call(&mut t, sysno::MPROTECT, &[a, P, 0x40]),
            Err(Errno::EINVAL)
        );
        assert_eq!(call(&mut t, sysno::MPROTECT, &[a, 0, 0x40]), Ok(0));
        assert_eq!(
            call(&mut t, sysno::MPROTECT, &[a + 1, P, 1]),
            Err(Errno::EINVAL)
        );
        let both = (PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP) as u64;
        assert_eq!(
            call(&mut t, sysno::MPROTECT, &[a, P, both]),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            call(&mut t, sysno::MPROTECT, &[a, P, (PROT_READ | 0x8) as u64]),
            Ok(0)
        );
        // madvise.
        assert_eq!(
            call(&mut t, sysno::MADVISE, &[a, P, u64::MAX]),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            call(&mut t, sysno::MADVISE, &[a, P, MADV_DONTNEED as u64]),
            Ok(0)
        );
        // msync.
        assert_eq!(call(&mut t, sysno::MSYNC, &[a, P, 1]), Ok(0));
        assert_eq!(call(&mut t, sysno::MSYNC, &[a, P, 5]), Err(Errno::EINVAL));
        assert_eq!(call(&mut t, sysno::MSYNC, &[a, P, 8]), Err(Errno::EINVAL));
        assert_eq!(
            call(&mut t, sysno::MSYNC, &[a + 1, P, 4]),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            call(&mut t, sysno::MSYNC, &[a, 8 * P, 4]),
            Err(Errno::ENOMEM)
        );
        // mincore.
        t.mm.copy_out(UserAddr(a + 2 * P), b"x").unwrap();
        assert_eq!(call(&mut t, sysno::MINCORE, &[a, 4 * P, a + 3 * P]), Ok(0));
        let mut v = [9u8; 4];
        t.mm.copy_in(UserAddr(a + 3 * P), &mut v).unwrap();
        assert_eq!(
            v,
            [0, 0, 1, 0],
            "the vector's own page was untouched when sampled"
        );
        assert_eq!(
            call(&mut t, sysno::MINCORE, &[a, 4 * P, 0x10]),
            Err(Errno::EFAULT)
        );
        assert_eq!(
            call(&mut t, sysno::MINCORE, &[a, 4 * P, u64::MAX - 2]),
            Err(Errno::EFAULT)
        );
        assert_eq!(
            call(&mut t, sysno::MINCORE, &[a + 1, P, a]),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            call(&mut t, sysno::MINCORE, &[a, 8 * P, a + 3 * P]),
            Err(Errno::ENOMEM)
        );
        assert_eq!(
            call(&mut t, sysno::MINCORE, &[a, 1 << 50, a]),
            Err(Errno::ENOMEM)
        );
        // mlock family.
        assert_eq!(call(&mut t, sysno::MLOCK, &[a + 10, P]), Ok(0));
        assert_eq!(call(&mut t, sysno::MLOCK2, &[a, P, 2]), Err(Errno::EINVAL));
        assert_eq!(call(&mut t, sysno::MLOCK2, &[a, P, 1]), Ok(0));
        assert_eq!(call(&mut t, sysno::MUNLOCK, &[a, P]), Ok(0));
        assert_eq!(
            call(&mut t, sysno::MLOCK, &[0x1000_0000, P]),
            Err(Errno::ENOMEM)
        );
        assert_eq!(call(&mut t, sysno::MLOCKALL, &[0]), Err(Errno::EINVAL));
        assert_eq!(call(&mut t, sysno::MLOCKALL, &[4]), Err(Errno::EINVAL));
        assert_eq!(call(&mut t, sysno::MLOCKALL, &[3]), Ok(0));
        assert_eq!(call(&mut t, sysno::MUNLOCKALL, &[]), Ok(0));
        // munmap / mremap go straight through.
        assert_eq!(call(&mut t, sysno::MUNMAP, &[a, 0]), Err(Errno::EINVAL));
        assert_eq!(call(&mut t, sysno::MREMAP, &[a, P, P, 0, 0]), Ok(a));
        assert_eq!(call(&mut t, sysno::MUNMAP, &[a, 4 * P]), Ok(0));
    }

    #[test]
    fn brk_respects_rlimit_data() {
        let (_tb, mut t) = bed();
        t.mm.set_layout(Layout {
            brk_start: 0x1000_0000,
            ..t.mm.layout()
        });
        t.tg.rlimits.lock()[RLIMIT_DATA as usize].cur = 8 * P;
        assert_eq!(
            call(&mut t, sysno::BRK, &[0x1000_0000 + 8 * P]),
            Ok(0x1000_0000 + 8 * P)
        );
        assert_eq!(
            call(&mut t, sysno::BRK, &[0x1000_0000 + 9 * P]),
            Ok(0x1000_0000 + 8 * P)
        );
        assert_eq!(call(&mut t, sysno::BRK, &[0]), Ok(0x1000_0000 + 8 * P));
    }
}

// ---------------------------------------------------------------------
// random operation sequences

/// Checks the invariants of `mm` and its platform address space.
fn check_invariants(tb: &TestBed, t: &Task) {
    let st = t.mm.state.read();
    let vmas: Vec<&vma::Vma> = st.vmas.iter().collect();
    for v in &vmas {
        assert!(v.start < v.end, "empty VMA");
        assert_eq!((v.start | v.end) & (P - 1), 0, "unaligned VMA");
        assert!(v.start >= MMAP_MIN_ADDR && v.end <= t.mm.max_address());
    }
    for w in vmas.windows(2) {
        assert!(w[0].end <= w[1].start, "overlapping VMAs");
        assert!(!w[0].can_merge(w[1]), "unmerged neighbours");
    }
    for &page in st.pt.keys() {
        assert!(
            st.vmas.find(page * P).is_some(),
            "page {:#x} outside VMAs",
            page * P
        );
    }
    assert_eq!(tb.kernel.pages.allocated_pages(), st.pt.len() as u64);
    let space = tb.space(t);
    for (addr, off, prot) in space.mapped() {
        let v = st
            .vmas
            .find(addr)
            .expect("platform maps a page outside VMAs");
        assert!(v.prot.contains(prot), "platform prot exceeds the VMA's");
        let pte = st
            .pt
            .get(&(addr / P))
            .expect("platform maps a page core lacks");
        assert_eq!(pte.off, off, "platform and core disagree at {addr:#x}");
        assert_eq!(pte.mapped, Some(prot), "mapped-state tracking is off");
    }
}

#[test]
fn random_operations_keep_invariants() {
    let (tb, t) = bed();
    let mm = &t.mm;
    let lo = 0x1000_0000u64;
    mm.set_layout(Layout {
        brk_start: lo + (200 << 12),
        ..mm.layout()
    });
    let f = FakeFile::new(&vec![0x5a; 10 * P as usize + 123], 0o644);
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move |n: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s % n
    };
    let prots = [Prot::empty(), R, RW, R | Prot::EXEC, Prot::WRITE];
    let mut oks = 0u32;
    for _ in 0..4000 {
        // Addresses in a small window so that operations collide.
        let addr = lo + rnd(256) * P + if rnd(10) == 0 { rnd(P) } else { 0 };
        let len = rnd(24) * P + if rnd(8) == 0 { rnd(P) } else { 0 };
        let prot = prots[rnd(prots.len() as u64) as usize];
        let ok = match rnd(11) {
            0 => {
                let flags = [
                    ANON | MAP_FIXED,
                    ANON,
                    MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
                    ANON | MAP_FIXED_NOREPLACE,
                ][rnd(4) as usize];
                anon(mm, addr, len, prot, flags).is_ok()
            }
            1 => {
                let file = Some((file_of(&f, "/f"), rnd(12) * P));
                mm.mmap(UserAddr(addr), len, prot, MAP_PRIVATE | MAP_FIXED, file)
                    .is_ok()
            }
            2 => mm.munmap(UserAddr(addr), len).is_ok(),
            3 => mm.mprotect(UserAddr(addr), len, prot).is_ok(),
            4 => {
                let flags = [0, MREMAP_MAYMOVE, MREMAP_MAYMOVE | MREMAP_FIXED][rnd(3) as usize];
                let to = lo + rnd(256) * P;
                mm.mremap(UserAddr(addr), len, rnd(24) * P + 1, flags, UserAddr(to))
                    .is_ok()
            }
            5 => {
                let want = lo + rnd(300) * P + rnd(P);
                mm.brk(UserAddr(want)).0 == want
            }
            6 => {
                let advice =
                    [MADV_DONTNEED, MADV_FREE, MADV_NORMAL, MADV_WILLNEED][rnd(4) as usize];
                mm.madvise(UserAddr(addr), len, advice).is_ok()
            }
            7 => {
                let data = vec![rnd(256) as u8; (len as usize).min(3 * P as usize)];
                mm.copy_out(UserAddr(addr), &data).is_ok()
            }
            8 => {
                let mut buf = vec![0u8; (len as usize).min(3 * P as usize)];
                mm.copy_in(UserAddr(addr), &mut buf).is_ok()
            }
            _ => {
                let access = [Access::Read, Access::Write, Access::Exec][rnd(3) as usize];
                mm.handle_fault(UserAddr(addr), access).is_ok()
            }
        };
        oks += u32::from(ok);
        check_invariants(&tb, &t);
    }
    assert!(
        oks > 1000,
        "too few operations succeeded to mean much: {oks}"
    );
    drop(t);
    assert_eq!(tb.kernel.pages.allocated_pages(), 0);
}

#[test]
fn random_operations_with_fork_keep_refcounts() {
    let (tb, t) = bed();
    let lo = 0x1000_0000u64;
    let parent = &t.mm;
    anon(parent, lo, 64 * P, RW, ANON | MAP_FIXED).unwrap();
    anon(
        parent,
        lo + 64 * P,
        16 * P,
        RW,
        MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
    )
    .unwrap();
    for i in 0..80 {
        parent.copy_out(UserAddr(lo + i * P), &[i as u8]).unwrap();
    }
    let child = Arc::new(
        parent
            .fork(tb.platform.new_address_space().unwrap())
            .unwrap(),
    );
    let mms = [t.mm.clone(), child.clone()];
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move |n: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s % n
    };
    // Each private page starts with its index; writes put a tag of the
    // writer (1 parent, 2 child) so isolation can be checked.
    for _ in 0..3000 {
        let who = rnd(2) as usize;
        let mm = &mms[who];
        let page = rnd(80);
        let addr = lo + page * P;
        match rnd(5) {
            0 => {
                let _ = mm.copy_out(UserAddr(addr + 1), &[who as u8 + 1]);
            }
            1 => {
                let _ = mm.handle_fault(
                    UserAddr(addr),
                    [Access::Read, Access::Write][rnd(2) as usize],
                );
            }
            2 => {
                let _ = mm.madvise(UserAddr(addr), P, MADV_DONTNEED);
            }
            3 => {
                let _ = mm.mprotect(UserAddr(addr), P, [R, RW][rnd(2) as usize]);
            }
            _ => {
                if let Ok(b) = read(mm, addr, 2) {
                    // A private page holds its index (or zero after
                    // DONTNEED) and only this side's tag.
                    if page < 64 {
                        assert!(b[0] == page as u8 || b[0] == 0, "{b:?}");
                        assert!(b[1] == 0 || b[1] == who as u8 + 1, "{b:?} seen by {who}");
                    }
                }
            }
        }
        // Refcounts equal the number of page-table references.
        let mut refs: BTreeMap<u64, u32> = BTreeMap::new();
        for m in &mms {
            for pte in m.state.read().pt.values() {
                *refs.entry(pte.off).or_default() += 1;
            }
        }
        for (&off, &n) in &refs {
            assert_eq!(tb.kernel.pages.refcount(FileOffset(off)), n);
        }
        assert_eq!(tb.kernel.pages.allocated_pages(), refs.len() as u64);
    }
    // Shared memory stays shared.
    child.copy_out(UserAddr(lo + 70 * P), b"S").unwrap();
    assert_eq!(read(parent, lo + 70 * P, 1).unwrap(), b"S");
    drop(mms);
    drop(child);
    drop(t);
    assert_eq!(tb.kernel.pages.allocated_pages(), 0);
}
