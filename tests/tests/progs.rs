//! The C programs in tests/progs, one per syscall family, each built with
//! musl (static) and glibc (dynamic), run natively and under veil on every
//! platform; output and exit status must be equal.

use veil_tests::{check_prog, prog_names, Libc, Stdin};

/// One test module per program, with a test per C library.
macro_rules! prog_tests {
    ($($name:ident),* $(,)?) => {
        /// Every program listed here; `every_program_has_a_test` checks
        /// that this is all of tests/progs/*.c.
        const LISTED: &[&str] = &[$(stringify!($name)),*];
        $(
            mod $name {
                use super::*;
                #[test]
                fn musl() {
                    check_prog(stringify!($name), Libc::Musl, Stdin::Null);
                }
                #[test]
                fn glibc() {
                    check_prog(stringify!($name), Libc::Glibc, Stdin::Null);
                }
            }
        )*
    };
}

prog_tests!(
    admin,
    chains,
    creds,
    dirs,
    dumpable,
    enosys,
    epoll,
    eventfd,
    execthreads,
    exit,
    fallocate,
    fifo,
    fileio,
    futex,
    ident,
    inotify,
    ioctl,
    links,
    locks,
    mapprivate,
    mapshared,
    membarrier,
    memfd,
    mm,
    mountapi,
    mounts,
    mqueue,
    numa,
    peers,
    perms,
    pgrp,
    pipebufs,
    procfs,
    procmount,
    procself,
    propagation,
    pty,
    robust,
    sched,
    seccomp,
    setid,
    sigio,
    sigioperm,
    sigmask,
    signals,
    splice,
    stat,
    sysvmsg,
    sysvsem,
    sysvshm,
    task,
    threads,
    time,
    timers,
    tmpfile,
    trunc,
    ttyctl,
    unix,
    unixgc,
    unixoob,
    vdso,
    whiteout,
    xattr,
);

#[test]
fn every_program_has_a_test() {
    let mut listed: Vec<String> = LISTED.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        prog_names(),
        listed,
        "tests/progs/*.c and the prog_tests! list in tests/tests/progs.rs differ"
    );
}

/// The ioctl program again, with a pseudo-terminal as standard input: TCGETS
/// and TIOCGWINSZ succeed and report the terminal's settings and size.
mod ioctl_on_a_terminal {
    use super::*;
    const PTY: Stdin = Stdin::Pty { rows: 33, cols: 99 };
    #[test]
    fn musl() {
        check_prog("ioctl", Libc::Musl, PTY);
    }
    #[test]
    fn glibc() {
        check_prog("ioctl", Libc::Glibc, PTY);
    }
}
