//! Permission checks on mode bits, as Linux's generic_permission does:
//! owner, then group (with supplementary groups), then other; root passes
//! read and write always, and execute when any execute bit is set or the
//! inode is a directory.

use super::{FileType, InodeAttr};
use crate::task::Credentials;

/// True if `creds` may access `attr` for `want` (a mask of `R_OK`, `W_OK`,
/// `X_OK`).
pub fn may_access(creds: &Credentials, attr: &InodeAttr, want: u32) -> bool {
    if want == 0 {
        return true;
    }
    if creds.fsuid == 0 {
        if want & veil_abi::flags::X_OK == 0 {
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
