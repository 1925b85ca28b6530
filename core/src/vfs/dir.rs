//! Open directories and the records getdents hands out.
//!
//! Core opens every directory itself as a [`DirFile`] (filesystems only
//! list entries through [`Inode::readdir`](super::Inode::readdir)). A
//! listing starts with `.` and `..` and goes on with the filesystem's
//! entries; the description's offset is the cookie: 0 is `.`, 1 is `..`,
//! and `2 + c` is the filesystem cookie `c`. As in Linux, `..` of a
//! filesystem root names the root itself, and `read` on a directory is
//! `EISDIR`; lseek takes SEEK_SET and SEEK_CUR only.
//!
//! [`pack_dirent64`] and [`pack_dirent`] lay out `struct linux_dirent64`
//! and the old `struct linux_dirent` (whose type byte is the record's
//! last), each record padded to 8 bytes.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use veil_abi::flags::DT_DIR;
use veil_abi::{Dirent64Head, Errno, DIRENT64_NAME_OFFSET};
use zerocopy::IntoBytes;

use super::{FileOps, Location};

/// A directory opened for listing.
pub struct DirFile {
    /// Where the directory is.
    pub location: Location,
    /// What lists it, when not the directory's own inode (see
    /// [`Inode::open_dir`](super::Inode::open_dir)).
    lister: Option<super::InodeRef>,
}

/// One entry as getdents reports it.
#[derive(Clone, Copy, Debug)]
pub struct DentRecord<'a> {
    /// Inode number.
    pub ino: u64,
    /// Offset of the next entry (`d_off`).
    pub next: u64,
    /// `DT_*` type.
    pub dtype: u8,
    /// Name.
    pub name: &'a [u8],
}

impl DirFile {
    /// An open directory at `location`.
    pub fn new(location: Location) -> Arc<DirFile> {
        Arc::new(DirFile {
            location,
            lister: None,
        })
    }

    /// An open directory at `location` whose entries `lister` gives.
    pub fn listed_by(location: Location, lister: Option<super::InodeRef>) -> Arc<DirFile> {
        Arc::new(DirFile { location, lister })
    }

    /// Lists entries from offset `pos`, calling `sink` for each until it
    /// returns `false` or the directory ends.
    pub fn list(
        &self,
        pos: u64,
        sink: &mut dyn FnMut(DentRecord<'_>) -> bool,
    ) -> Result<(), Errno> {
        let mut pos = pos;
        if pos == 0 {
            let ino = self.location.inode().attr()?.ino;
            let rec = DentRecord {
                ino,
                next: 1,
                dtype: DT_DIR,
                name: b".",
            };
            if !sink(rec) {
                return Ok(());
            }
            pos = 1;
        }
        if pos == 1 {
            let parent = self
                .location
                .dentry
                .parent()
                .unwrap_or_else(|| self.location.dentry.clone());
            let ino = parent.inode.attr()?.ino;
            let rec = DentRecord {
                ino,
                next: 2,
                dtype: DT_DIR,
                name: b"..",
            };
            if !sink(rec) {
                return Ok(());
            }
            pos = 2;
        }
        let inode = self.lister.as_ref().unwrap_or(self.location.inode());
        inode.readdir(pos - 2, &mut |e| {
            sink(DentRecord {
                ino: e.ino,
                next: e.next.saturating_add(2),
                dtype: e.kind.dirent_type(),
                name: &e.name,
            })
        })
    }
}

impl FileOps for DirFile {
    fn read(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EISDIR)
    }
    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EISDIR)
    }
    /// Directories take SEEK_SET and SEEK_CUR only: SEEK_END (and
    /// SEEK_DATA / SEEK_HOLE) find no size and answer `EINVAL`.
    fn size(&self) -> Result<u64, Errno> {
        Err(Errno::EINVAL)
    }
    fn stat(&self) -> Option<super::InodeAttr> {
        self.location.inode().attr().ok()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Size of a `linux_dirent64` record for a name of `name_len` bytes.
pub fn dirent64_len(name_len: usize) -> usize {
    (DIRENT64_NAME_OFFSET + name_len + 1).next_multiple_of(8)
}

/// Appends a `linux_dirent64` record to `out` if it fits within `cap`
/// bytes in all; returns false (leaving `out` alone) if not.
pub fn pack_dirent64(out: &mut Vec<u8>, cap: usize, rec: &DentRecord<'_>) -> bool {
    let reclen = dirent64_len(rec.name.len());
    if out.len() + reclen > cap {
        return false;
    }
    let head = Dirent64Head {
        d_ino: rec.ino,
        d_off: rec.next.min(i64::MAX as u64) as i64,
        d_reclen: reclen as u16,
        d_type: rec.dtype,
        pad: [0; 5],
    };
    let start = out.len();
    out.extend_from_slice(&head.as_bytes()[..DIRENT64_NAME_OFFSET]);
    out.extend_from_slice(rec.name);
    out.resize(start + reclen, 0);
    true
}

/// Offset of `d_name` in the old `struct linux_dirent`.
const DIRENT_NAME_OFFSET: usize = 18;

/// Size of an old `linux_dirent` record (name, NUL, type byte).
pub fn dirent_len(name_len: usize) -> usize {
    (DIRENT_NAME_OFFSET + name_len + 2).next_multiple_of(8)
}

/// Appends an old `linux_dirent` record (getdents) to `out` if it fits
/// within `cap` bytes in all; returns false if not.
pub fn pack_dirent(out: &mut Vec<u8>, cap: usize, rec: &DentRecord<'_>) -> bool {
    let reclen = dirent_len(rec.name.len());
    if out.len() + reclen > cap {
        return false;
    }
    let start = out.len();
    out.extend_from_slice(&rec.ino.to_ne_bytes());
    out.extend_from_slice(&rec.next.min(i64::MAX as u64).to_ne_bytes());
    out.extend_from_slice(&(reclen as u16).to_ne_bytes());
    out.extend_from_slice(rec.name);
    out.resize(start + reclen, 0);
    out[start + reclen - 1] = rec.dtype;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirent64_layout() {
        assert_eq!(dirent64_len(1), 24);
        assert_eq!(dirent64_len(4), 24);
        assert_eq!(dirent64_len(5), 32);
        let mut out = Vec::new();
        let rec = DentRecord {
            ino: 7,
            next: 3,
            dtype: 8,
            name: b"hello",
        };
        assert!(pack_dirent64(&mut out, 64, &rec));
        assert_eq!(out.len(), 32);
        assert_eq!(u64::from_ne_bytes(out[0..8].try_into().unwrap()), 7);
        assert_eq!(i64::from_ne_bytes(out[8..16].try_into().unwrap()), 3);
        assert_eq!(u16::from_ne_bytes(out[16..18].try_into().unwrap()), 32);
        assert_eq!(out[18], 8);
        assert_eq!(&out[19..24], b"hello");
        assert_eq!(out[24], 0);
        // A second one does not fit in 64 bytes.
        assert!(!pack_dirent64(&mut out, 63, &rec));
        assert_eq!(out.len(), 32);
        assert!(pack_dirent64(&mut out, 64, &rec));
        assert_eq!(out.len(), 64);
    }

    #[test]
    fn old_dirent_layout() {
        let mut out = Vec::new();
        let rec = DentRecord {
            ino: 9,
            next: 1,
            dtype: 4,
            name: b"ab",
        };
        assert!(pack_dirent(&mut out, 24, &rec));
        assert_eq!(out.len(), 24);
        assert_eq!(u16::from_ne_bytes(out[16..18].try_into().unwrap()), 24);
        assert_eq!(&out[18..20], b"ab");
        assert_eq!(out[20], 0);
        assert_eq!(out[23], 4);
        assert!(!pack_dirent(&mut out, 40, &rec));
    }
}
