//! Diagnostics to the host's stderr.

use veil_core::host::Logger;

/// Writes each line to the host's stderr (fd 2) with a single write(2), so
/// lines from several Sentry threads never interleave mid-line (for lines
/// up to PIPE_BUF on a pipe; on a terminal or file, in practice always).
#[derive(Clone, Copy, Debug, Default)]
pub struct StderrLogger;

impl StderrLogger {
    /// A logger to fd 2.
    pub fn new() -> StderrLogger {
        StderrLogger
    }
}

/// Writes `line` plus a newline to `fd`: one write(2) unless the kernel
/// takes less; errors are dropped (there is nowhere to report them).
pub(crate) fn write_line(fd: libc::c_int, line: &str) {
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    let mut rest = &buf[..];
    while !rest.is_empty() {
        // SAFETY: `rest` is a valid buffer of `rest.len()` bytes.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n > 0 {
            rest = &rest[n as usize..];
        } else if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        } else {
            return;
        }
    }
}

impl Logger for StderrLogger {
    fn line(&self, s: &str) {
        write_line(libc::STDERR_FILENO, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_call() {
        let mut fds = [0; 2];
        // SAFETY: `fds` is a valid out-array of two ints.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        write_line(fds[1], "hello");
        write_line(fds[1], "");
        write_line(fds[1], "world");
        // SAFETY: closing our own write end.
        unsafe { libc::close(fds[1]) };
        let mut out = Vec::new();
        let mut b = [0u8; 64];
        loop {
            // SAFETY: reading into a local buffer.
            let n = unsafe { libc::read(fds[0], b.as_mut_ptr().cast(), b.len()) };
            if n <= 0 {
                break;
            }
            out.extend_from_slice(&b[..n as usize]);
        }
        // SAFETY: closing our own read end.
        unsafe { libc::close(fds[0]) };
        assert_eq!(out, b"hello\n\nworld\n");
        // The real thing does not fail.
        StderrLogger::new().line("veil-host logger test line");
    }
}
