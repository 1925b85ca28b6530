//! Where everything lives: the stub region's layout, the fields of the
//! pages the Sentry shares with a stub, and the kernel structures the
//! Sentry reads from signal frames.
//!
//! # The stub region
//!
//! Every stub maps one region at the same address `R` (just below the top
//! of the 47-bit address space; [`crate::SystrapPlatform::max_user_address`]
//! is `R`, so core never maps over it):
//!
//! | offset            | size      | stub view | contents |
//! |-------------------|-----------|-----------|----------|
//! | `CODE_OFF`        | 1 page    | `r-x`, private | the stub code ([`crate::stub_code`]) |
//! | `CTL_OFF`         | 2 pages   | `r--`, shared  | the *control* page: executor commands, seccomp programs, constants |
//! | `EXR_OFF`         | 1 page    | `rw-`, shared  | the executor's results |
//! | `SLOTS_OFF`       | `NSLOTS` × `SLOT_SIZE` | `rw-`, shared | one slot per application thread |
//!
//! Everything from `CTL_OFF` on is one memfd per stub, mapped read-write
//! in the Sentry. The control page is read-only in the stub: it is the
//! only memory whose contents make the stub perform a host system call
//! with chosen arguments (`mmap` of the memory file, `clone`), and the
//! application can neither write it nor `mprotect` it. Everything the stub
//! can write, the Sentry treats as untrusted input.
//!
//! A slot is a state page (the hand-off words, below) followed by the
//! thread's alternate signal stack, on which the kernel writes the signal
//! frame (`ucontext` + XSAVE area) at every trap. The Sentry reads and
//! patches that frame in place through its own mapping, so a trap copies
//! nothing between the processes.

/// A page.
pub(crate) const PAGE: u64 = 4096;
/// One past the highest user address of a 4-level-paging x86-64 process.
pub(crate) const TASK_SIZE: u64 = 0x7fff_ffff_f000;

/// The stub code.
pub(crate) const CODE_OFF: u64 = 0;
/// Bytes reserved for the stub code.
pub(crate) const CODE_LEN: u64 = PAGE;
/// The control page (read-only in the stub).
pub(crate) const CTL_OFF: u64 = 0x1000;
/// Its length.
pub(crate) const CTL_LEN: u64 = 2 * PAGE;
/// The executor's result page.
pub(crate) const EXR_OFF: u64 = 0x3000;
/// The first slot.
pub(crate) const SLOTS_OFF: u64 = 0x4000;
/// Bytes per slot (a power of two).
pub(crate) const SLOT_SIZE: u64 = 0x8000;
/// log2(SLOT_SIZE).
pub(crate) const SLOT_SHIFT: u32 = 15;
/// Application threads one stub can hold at once.
pub(crate) const NSLOTS: u64 = 256;
/// The whole region.
pub(crate) const REGION_LEN: u64 = SLOTS_OFF + NSLOTS * SLOT_SIZE;
/// The per-stub memfd: everything from the control page on.
pub(crate) const SHARED_LEN: u64 = REGION_LEN - CTL_OFF;

const _: () = assert!(1 << SLOT_SHIFT == SLOT_SIZE);

// ---- The control page (offsets from CTL_OFF) ----

/// `u32`: bumped by the Sentry for each batch of commands (the executor's
/// futex word).
pub(crate) const C_CMD_SEQ: u64 = 0x00;
/// `u32`: commands in the batch.
pub(crate) const C_NCMDS: u64 = 0x04;
/// `u32`: `pause` iterations the executor spins before sleeping.
pub(crate) const C_EXEC_SPIN: u64 = 0x08;
/// `u32`: nonzero if `rdfsbase`/`wrfsbase` work (HWCAP2_FSGSBASE).
pub(crate) const C_FSGSBASE: u64 = 0x0c;
/// `u32`: the memory file's descriptor in the stub.
pub(crate) const C_MEMFD: u64 = 0x10;
/// `u32`: the eventfd the executor confirms batches on.
pub(crate) const C_EFD: u64 = 0x14;
/// `u64`: the constant 1 (the eventfd write buffer).
pub(crate) const C_ONE: u64 = 0x18;
/// `u64`: every signal but SIGTRAP (a new thread's mask until its first
/// `rt_sigreturn`).
pub(crate) const C_TRAP_ONLY_SET: u64 = 0x28;
/// `u64`: the constant 2 (the eventfd write buffer of a failed batch).
pub(crate) const C_TWO: u64 = 0x60;
/// `u64`: every signal (the executor's mask).
pub(crate) const C_FULL_SET: u64 = 0x20;
/// `struct sock_fprog` of the stub's base filter.
pub(crate) const C_FBASE_FPROG: u64 = 0x30;
/// `struct sock_fprog` of the application threads' filter.
pub(crate) const C_FAPP_FPROG: u64 = 0x40;
/// `u64`: one past the highest address the executor may touch (`R`).
pub(crate) const C_MAX_ADDR: u64 = 0x50;
/// `u32`: nonzero if the CPU has XSAVE (the boot code resets the FP
/// state it inherited from the Sentry with XRSTOR of `C_XINIT`).
pub(crate) const C_XSAVE: u64 = 0x58;
/// A 576-byte XSAVE image of the initial FP state (64-byte aligned).
pub(crate) const C_XINIT: u64 = 0xc00;
/// The base filter's instructions.
pub(crate) const C_FBASE: u64 = 0x100;
/// The application filter's instructions.
pub(crate) const C_FAPP: u64 = 0x400;
/// Room for each filter, in instructions.
pub(crate) const FILTER_MAX: usize = 96;
/// The command array.
pub(crate) const C_CMDS: u64 = 0x1000;
/// Bytes per command: `op, a0 .. a5` as `u64`, padded.
pub(crate) const CMD_SIZE: u64 = 64;
/// Commands per batch.
pub(crate) const MAX_CMDS: u64 = 64;

const _: () = assert!(C_FBASE + 8 * FILTER_MAX as u64 <= C_FAPP);
const _: () = assert!(C_FAPP + 8 * FILTER_MAX as u64 <= C_CMDS);
const _: () = assert!(C_FAPP + 8 * FILTER_MAX as u64 <= C_XINIT && C_XINIT + 576 <= C_CMDS);
const _: () = assert!(C_CMDS + MAX_CMDS * CMD_SIZE <= CTL_LEN);

/// Executor operations.
pub(crate) const OP_MAP: u64 = 1;
/// `munmap`.
pub(crate) const OP_UNMAP: u64 = 2;
/// `mprotect`.
pub(crate) const OP_PROTECT: u64 = 3;
/// `clone` a new application thread into slot `a0`.
pub(crate) const OP_CLONE: u64 = 4;

// ---- The executor's result page (offsets from EXR_OFF) ----

/// `u32`: the last batch the executor finished (a hint; the eventfd is
/// the proof).
pub(crate) const X_DONE_SEQ: u64 = 0x00;
/// `u32`: nonzero while the executor sleeps on `C_CMD_SEQ`.
pub(crate) const X_SLEEPING: u64 = 0x04;
/// `i64` per command: the raw system call result.
pub(crate) const X_RESULTS: u64 = 0x100;

// ---- A slot's state page (offsets from the slot) ----

/// `u32`: bumped by the handler at every trap (never to 0); the kernel
/// clears it (CLONE_CHILD_CLEARTID) when the thread exits.
pub(crate) const S_STUB_STATE: u64 = 0x00;
/// `u32`: nonzero while the handler sleeps on `S_SENTRY_STATE`.
pub(crate) const S_STUB_SLEEPING: u64 = 0x04;
/// `u32`: bumped by the Sentry for every reply.
pub(crate) const S_SENTRY_STATE: u64 = 0x08;
/// `u32`: nonzero while the Sentry sleeps on `S_STUB_STATE`.
pub(crate) const S_SENTRY_SLEEPING: u64 = 0x0c;
/// `u32`: what the handler does on a reply (`ACTION_*`).
pub(crate) const S_ACTION: u64 = 0x10;
/// `u32`: `pause` iterations the handler spins for a reply (it yields
/// the CPU every `SPIN_YIELD_EVERY` of them).
pub(crate) const S_SPIN: u64 = 0x14;
/// `u64`: the handler's `ucontext *` (its `siginfo_t` follows at
/// `+ UC_SIZE`, as in the kernel's `struct rt_sigframe`).
pub(crate) const S_UCTX: u64 = 0x18;
/// `u64`: `fs_base` at the trap.
pub(crate) const S_FS: u64 = 0x20;
/// `u64`: `gs_base` at the trap.
pub(crate) const S_GS: u64 = 0x28;
/// `u64`: `fs_base` to load.
pub(crate) const S_NEW_FS: u64 = 0x30;
/// `u64`: `gs_base` to load.
pub(crate) const S_NEW_GS: u64 = 0x38;
/// `u32`: `sched_yield`s the handler makes before sleeping.
pub(crate) const S_YIELDS: u64 = 0x40;
/// A spinning stub (handler or executor) yields the CPU after this many
/// `pause`s, so that a third runnable thread (the executor, while the
/// Sentry and the handler both wait) is never starved on a busy CPU.
pub(crate) const SPIN_YIELD_EVERY: u32 = 32;
/// Top of the stack a new thread starts on (inside its state page).
pub(crate) const S_START_STACK: u64 = PAGE;
/// The alternate signal stack.
pub(crate) const ALT_OFF: u64 = PAGE;
/// Its size.
pub(crate) const ALT_LEN: u64 = SLOT_SIZE - ALT_OFF;

/// Reply actions.
pub(crate) const ACTION_RESUME: u32 = 0;
/// Exit the thread (its slot is being released).
pub(crate) const ACTION_EXIT: u32 = 1;

// ---- The kernel's x86-64 signal frame ----

/// `sizeof(struct ucontext)` (kernel layout).
pub(crate) const UC_SIZE: u64 = 304;
/// `uc_flags`.
pub(crate) const UC_FLAGS: u64 = 0;
/// `uc_mcontext` (`struct sigcontext`).
pub(crate) const UC_MCONTEXT: u64 = 40;
/// `uc_sigmask`.
pub(crate) const UC_SIGMASK: u64 = 296;
/// `struct sigcontext` (from `uc_mcontext`) starts with r8 .. r15, rdi,
/// rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags as `u64`; then
/// `cs`, `gs`, `fs`, `ss` as four `u16`.
pub(crate) const SC_CS: u64 = 144;
/// `ss` (`u16`).
pub(crate) const SC_SS: u64 = 150;
/// The page-fault error code.
pub(crate) const SC_ERR: u64 = 152;
/// The trap number.
pub(crate) const SC_TRAPNO: u64 = 160;
/// The XSAVE area's address.
pub(crate) const SC_FPSTATE: u64 = 184;
/// Bytes of `siginfo_t` the Sentry reads.
pub(crate) const SI_SIZE: u64 = 128;
