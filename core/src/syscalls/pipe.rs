//! pipe and pipe2.

use veil_abi::flags::{O_CLOEXEC, O_DIRECT, O_NONBLOCK, O_RDONLY, O_WRONLY, RLIMIT_NOFILE};
use veil_abi::sysno::{PIPE, PIPE2};
use veil_abi::Errno;

use super::{arg, Handler};
use crate::task::Task;
use crate::vfs::pipe::Pipe;
use crate::vfs::OpenFile;
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        PIPE => |t, a| do_pipe2(t, a[0], 0),
        PIPE2 => |t, a| do_pipe2(t, a[0], arg::uint(a[1])),
        _ => return None,
    })
}

fn do_pipe2(t: &mut Task, fds_addr: u64, flags: u32) -> SysResult {
    // O_NOTIFICATION_PIPE aside, only these are accepted.
    if flags & !(O_CLOEXEC | O_NONBLOCK | O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    let (r, w) = Pipe::new_pair();
    let status = flags & (O_NONBLOCK | O_DIRECT);
    let rf = OpenFile::new(r, None, O_RDONLY | status);
    let wf = OpenFile::new(w, None, O_WRONLY | status);
    let cloexec = flags & O_CLOEXEC != 0;
    let limit = t.rlimit(RLIMIT_NOFILE);
    let rfd = t.fds.insert(0, rf, cloexec, limit)?;
    let wfd = match t.fds.insert(0, wf, cloexec, limit) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = t.fds.remove(rfd);
            return Err(e);
        }
    };
    if let Err(e) = t.mm.write_obj(UserAddr(fds_addr), &[rfd, wfd]) {
        let _ = t.fds.remove(rfd);
        let _ = t.fds.remove(wfd);
        return Err(e);
    }
    Ok(0)
}
