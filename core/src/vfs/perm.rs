//! Permission checks on mode bits, as Linux's generic_permission does:
//! owner, then group (with supplementary groups), then other; root passes
//! read and write always, and execute when any execute bit is set or the
//! inode is a directory. Also the rules built on it: creating and deleting
//! names in a directory (write and search permission, the sticky bit),
//! ownership (chmod, utimes with explicit times) and the clearing of
//! set-id bits.
//!
//! Root means fsuid 0; capabilities are not modelled separately, and ACLs
//! and LSMs are left out.

use veil_abi::flags::{S_ISGID, S_ISUID, S_ISVTX, W_OK, X_OK};
use veil_abi::Errno;

use super::{FileType, InodeAttr};
use crate::task::Credentials;

/// True if `creds` may access `attr` for `want` (a mask of `R_OK`, `W_OK`,
/// `X_OK`).
pub fn may_access(creds: &Credentials, attr: &InodeAttr, want: u32) -> bool {
    if want == 0 {
        return true;
    }
    if creds.fsuid == 0 {
        if want & X_OK == 0 {
            return true;
        }
        return attr.file_type() == Some(FileType::Directory) || attr.mode & 0o111 != 0;
    }
    let bits = if creds.fsuid == attr.uid {
        (attr.mode >> 6) & 7
    } else if creds.in_group(attr.gid) {
        (attr.mode >> 3) & 7
    } else {
        attr.mode & 7
    };
    bits & want == want
}

/// [`may_access`] as a result: `EACCES` when denied.
pub fn check(creds: &Credentials, attr: &InodeAttr, want: u32) -> Result<(), Errno> {
    if may_access(creds, attr, want) {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}

/// True if `creds` owns `attr` or is root (Linux's inode_owner_or_capable).
pub fn owner_or_root(creds: &Credentials, attr: &InodeAttr) -> bool {
    creds.fsuid == 0 || creds.fsuid == attr.uid
}

/// May a name be created in the directory `dir`: write and search
/// permission (`EACCES`).
pub fn may_create(creds: &Credentials, dir: &InodeAttr) -> Result<(), Errno> {
    check(creds, dir, W_OK | X_OK)
}

/// May `victim` be removed from (or renamed out of, or replaced in) the
/// directory `dir`: write and search permission on `dir` (`EACCES`), and
/// in a sticky directory ownership of the file or the directory (`EPERM`).
pub fn may_delete(creds: &Credentials, dir: &InodeAttr, victim: &InodeAttr) -> Result<(), Errno> {
    check(creds, dir, W_OK | X_OK)?;
    if dir.mode & S_ISVTX != 0
        && creds.fsuid != 0
        && creds.fsuid != victim.uid
        && creds.fsuid != dir.uid
    {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// The permission bits chmod stores: an unprivileged caller not in the
/// file's group loses S_ISGID on a non-directory, as in Linux.
pub fn chmod_bits(creds: &Credentials, attr: &InodeAttr, mode: u32) -> u32 {
    let mut mode = mode & 0o7777;
    if creds.fsuid != 0
        && attr.file_type() != Some(FileType::Directory)
        && !creds.in_group(attr.gid)
    {
        mode &= !S_ISGID;
    }
    mode
}

/// The mode after a chown of `attr`: Linux clears S_ISUID, and S_ISGID
/// when group execute is set, on a non-directory; `None` if unchanged.
pub fn chown_clears(attr: &InodeAttr) -> Option<u32> {
    if attr.file_type() == Some(FileType::Directory) {
        return None;
    }
    let mut mode = attr.mode & 0o7777;
    let old = mode;
    mode &= !S_ISUID;
    if mode & 0o010 != 0 {
        mode &= !S_ISGID;
    }
    (mode != old).then_some(mode)
}

/// May `creds` make `attr` owned by `uid` / `gid` (`None`: unchanged):
/// root may do anything; the owner may give the file to a group it is in;
/// nobody else may change anything (`EPERM`).
pub fn may_chown(
    creds: &Credentials,
    attr: &InodeAttr,
    uid: Option<u32>,
    gid: Option<u32>,
) -> Result<(), Errno> {
    if creds.fsuid == 0 {
        return Ok(());
    }
    if let Some(u) = uid {
        if u != attr.uid || creds.fsuid != attr.uid {
            return Err(Errno::EPERM);
        }
    }
    if let Some(g) = gid {
        if creds.fsuid != attr.uid || (g != attr.gid && !creds.in_group(g)) {
            return Err(Errno::EPERM);
        }
    }
    Ok(())
}

/// Linux's "protected hardlinks" rule (on by default): a caller that does
/// not own `attr` may only link to a regular, non-set-id file it can read
/// and write.
pub fn may_hardlink(creds: &Credentials, attr: &InodeAttr) -> bool {
    if owner_or_root(creds, attr) {
        return true;
    }
    if attr.file_type() != Some(FileType::Regular) {
        return false;
    }
    if attr.mode & S_ISUID != 0 || attr.mode & (S_ISGID | 0o010) == (S_ISGID | 0o010) {
        return false;
    }
    may_access(creds, attr, veil_abi::flags::R_OK | W_OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn attr(mode: u32, uid: u32, gid: u32) -> InodeAttr {
        InodeAttr {
            mode,
            uid,
            gid,
            ..Default::default()
        }
    }

    #[test]
    fn owner_group_other() {
        let c = Credentials::new(1000, 100, vec![200]);
        assert!(may_access(&c, &attr(0o100600, 1000, 0), 6));
        assert!(!may_access(&c, &attr(0o100060, 1000, 100), 4));
        assert!(may_access(&c, &attr(0o100040, 0, 200), 4));
        assert!(may_access(&c, &attr(0o100004, 0, 0), 4));
        assert!(!may_access(&c, &attr(0o100004, 0, 0), 2));
        let root = Credentials::new(0, 0, vec![]);
        assert!(may_access(&root, &attr(0o100000, 5, 5), 6));
        assert!(!may_access(&root, &attr(0o100000, 5, 5), 1));
        assert!(may_access(&root, &attr(0o040000, 5, 5), 1));
    }

    #[test]
    fn sticky_and_chown() {
        let c = Credentials::new(1000, 100, vec![]);
        let dir = attr(0o041777, 0, 0);
        assert_eq!(
            may_delete(&c, &dir, &attr(0o100644, 1, 1)),
            Err(Errno::EPERM)
        );
        assert_eq!(may_delete(&c, &dir, &attr(0o100644, 1000, 1)), Ok(()));
        let f = attr(0o104755, 1000, 100);
        assert_eq!(may_chown(&c, &f, Some(1), None), Err(Errno::EPERM));
        assert_eq!(may_chown(&c, &f, Some(1000), Some(100)), Ok(()));
        assert_eq!(may_chown(&c, &f, None, Some(5)), Err(Errno::EPERM));
        assert_eq!(chown_clears(&f), Some(0o755));
        assert_eq!(chmod_bits(&c, &attr(0o100644, 1000, 7), 0o2755), 0o755);
    }
}
