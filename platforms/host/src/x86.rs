//! x86-64 Linux conventions every platform applies the same way when it
//! turns a host signal into a [`Trap`] and core's registers into ones the
//! host kernel accepts. Sharing them keeps the platforms' answers
//! identical (the conformance suite checks them).

use veil_core::platform::Trap;

/// The 64-bit user code selector.
pub const USER_CS: u64 = 0x33;
/// The user data / stack selector.
pub const USER_DS: u64 = 0x2b;
/// The user address limit (`TASK_SIZE` with 4-level paging).
pub const TASK_SIZE: u64 = 0x7fff_ffff_f000;
/// `si_code` of a signal the kernel raised for a CPU trap (#GP, int3).
pub const SI_KERNEL: i32 = 0x80;
/// `si_code` of a SIGSEGV on an unmapped address.
pub const SEGV_MAPERR: i32 = 1;
/// `si_code` of a SIGSEGV against a mapping's protection.
pub const SEGV_ACCERR: i32 = 2;

/// What an `int 0x80` (a 32-bit system call, which veil does not serve)
/// is reported as, as by Linux without IA32 emulation: a general
/// protection fault, with `rip` back at the instruction.
pub const INT80_TRAP: Trap = Trap::Exception {
    signo: libc::SIGSEGV,
    code: SI_KERNEL,
    addr: 0,
};

/// Whether signal `signo` with `si_code` `code` is a synchronous fault or
/// trap the kernel raised for the application's own instruction (a
/// [`Trap::PageFault`] or [`Trap::Exception`]). Anything else — sent with
/// kill / tgkill / sigqueue (`code <= 0`), or asynchronous — is only an
/// interruption and never reaches the application.
pub fn is_fault(signo: i32, code: i32) -> bool {
    code > 0
        && matches!(
            signo,
            libc::SIGSEGV
                | libc::SIGBUS
                | libc::SIGILL
                | libc::SIGFPE
                | libc::SIGTRAP
                | libc::SIGSYS
        )
}

/// Whether signal `signo` with `si_code` `code` is a page fault.
pub fn is_page_fault(signo: i32, code: i32) -> bool {
    signo == libc::SIGSEGV && (code == SEGV_MAPERR || code == SEGV_ACCERR)
}

/// A segment selector the kernel accepts for user mode: `v` if it is a
/// 16-bit ring-3 selector, else `default` (for `cs`/`ss`, [`USER_CS`] /
/// [`USER_DS`]; for a data segment, 0, the null selector).
pub fn user_selector(v: u64, default: u64) -> u64 {
    if v == 0 || v > 0xffff || v & 3 != 3 {
        default
    } else {
        v
    }
}

/// An `fs_base` / `gs_base` that can be loaded (PTRACE_SETREGS refuses,
/// and `wrfsbase` faults on, a non-canonical one): anything not a user
/// address becomes 0.
pub fn user_base(v: u64) -> u64 {
    if v < TASK_SIZE {
        v
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_and_bases() {
        assert_eq!(user_selector(0x33, USER_CS), 0x33);
        assert_eq!(user_selector(0x23, USER_CS), 0x23);
        assert_eq!(user_selector(0, USER_CS), 0x33);
        assert_eq!(user_selector(0x10, USER_CS), 0x33);
        assert_eq!(user_selector(0x1_0033, USER_DS), 0x2b);
        assert_eq!(user_selector(0, 0), 0);
        assert_eq!(user_selector(0x18, 0), 0);
        assert_eq!(user_base(0x1000), 0x1000);
        assert_eq!(user_base(TASK_SIZE), 0);
        assert_eq!(user_base(u64::MAX), 0);
    }

    #[test]
    fn faults_and_interruptions() {
        assert!(is_fault(libc::SIGSEGV, SEGV_MAPERR));
        assert!(is_fault(libc::SIGSYS, 1));
        assert!(is_fault(libc::SIGTRAP, SI_KERNEL));
        assert!(!is_fault(libc::SIGSEGV, libc::SI_TKILL));
        assert!(!is_fault(libc::SIGSEGV, libc::SI_USER));
        assert!(!is_fault(libc::SIGURG, 1));
        assert!(is_page_fault(libc::SIGSEGV, SEGV_ACCERR));
        assert!(!is_page_fault(libc::SIGSEGV, SI_KERNEL));
        assert!(!is_page_fault(libc::SIGBUS, SEGV_MAPERR));
    }
}
