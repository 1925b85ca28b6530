//! The stub code: the only instructions a stub runs on the Sentry's
//! behalf, assembled into the Sentry binary with `global_asm!` and copied
//! at run time into the first page of every stub's region.
//!
//! It has no libc, no stack of its own beyond what the kernel gives a
//! signal handler, and no relocations: every address is computed from
//! `rip` (`lea reg, [rip + .Lvs_base]` is the region base `R`), so the
//! page works wherever the region is. Three entry points:
//!
//! - **boot** (jumped to by the forked child once the region is mapped):
//!   unmaps everything below and above the region (all the Sentry memory
//!   the fork copied), sets `no_new_privs`, installs the stub's base
//!   seccomp filter, writes the eventfd to say "ready", and becomes the
//!   **executor**;
//! - the **executor** loop (the stub's first thread, all signals blocked,
//!   never runs application code): waits for a batch of commands in the
//!   read-only control page (spin, then `FUTEX_WAIT` on `C_CMD_SEQ`),
//!   validates and runs each one (`mmap` of the memory file with fixed
//!   flags and descriptor, `munmap`, `mprotect`, or `clone` of a new
//!   application thread into slot N, every range checked against
//!   `C_MAX_ADDR`), stores the raw results, and confirms the batch by
//!   writing the eventfd: 1 if every command succeeded, 2 if one failed
//!   (the application can overwrite the stored results, not that);
//! - **thread start** (a new thread, born from the executor's `clone` on
//!   its slot's start stack): `sigaltstack` onto its slot, unblocks
//!   SIGTRAP only, installs the application filter on itself and
//!   executes `int3`; the handler reports that first trap and the Sentry
//!   (after checking that it is exactly this `int3`) answers by writing
//!   the application's registers and an empty signal mask into the
//!   signal frame, so every entry into the application, the first
//!   included, is an `rt_sigreturn`, and no signal can reach the handler
//!   before the application filter is in place;
//! - the **handler** (every catchable signal, `SA_SIGINFO | SA_ONSTACK`,
//!   all signals blocked while it runs): finds its slot from `rsp`
//!   (refusing any stack outside the slots), records the frame's address
//!   and `fs_base`/`gs_base`, bumps `S_STUB_STATE` (waking the Sentry if
//!   it sleeps), waits for `S_SENTRY_STATE` to change (spin `S_SPIN`
//!   times with `pause`, `sched_yield` `S_YIELDS` times, then
//!   `FUTEX_WAIT`), loads the requested `fs_base`/`gs_base` and returns to
//!   the application with `rt_sigreturn` on the frame the Sentry patched
//!   (or exits the thread if asked to).
//!
//! Any inconsistency (a failed setup call, a handler entered on a foreign
//! stack) executes `ud2` with every signal blocked, which the kernel turns
//! into the death of the whole stub: the Sentry then sees
//! `PlatformError::Lost`, never a half-working stub.

use std::sync::OnceLock;

use crate::layout::*;

/// `SYS_*` numbers used by the stub code.
mod nr {
    pub const WRITE: i64 = 1;
    pub const MMAP: i64 = 9;
    pub const MPROTECT: i64 = 10;
    pub const MUNMAP: i64 = 11;
    pub const RT_SIGPROCMASK: i64 = 14;
    pub const RT_SIGRETURN: i64 = 15;
    pub const SCHED_YIELD: i64 = 24;
    pub const CLONE: i64 = 56;
    pub const EXIT: i64 = 60;
    pub const SIGALTSTACK: i64 = 131;
    pub const PRCTL: i64 = 157;
    pub const ARCH_PRCTL: i64 = 158;
    pub const FUTEX: i64 = 202;
    pub const SECCOMP: i64 = 317;
}

/// The flags of the executor's `clone`: a thread sharing everything,
/// with `fs_base` 0 and its slot's state word cleared (and futex-woken)
/// by the kernel when it exits.
pub(crate) const CLONE_THREAD_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD
    | libc::CLONE_SYSVSEM
    | libc::CLONE_SETTLS
    | libc::CLONE_CHILD_CLEARTID) as u64;
/// `MAP_SHARED | MAP_FIXED`: the only flags the executor maps with.
pub(crate) const MAP_FLAGS: u64 = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
const ARCH_SET_GS: i64 = 0x1001;
const ARCH_SET_FS: i64 = 0x1002;
const ARCH_GET_FS: i64 = 0x1003;
const ARCH_GET_GS: i64 = 0x1004;
const SLOT_MASK: i64 = -(SLOT_SIZE as i64);

std::arch::global_asm!(
    // `vs_syscall`: a `syscall` whose offset goes into the sites table.
    ".macro vs_syscall",
    "771:",
    "syscall",
    ".pushsection .rodata.veil_systrap_sites,\"a\",@progbits",
    ".quad 771b - veil_systrap_stub_start",
    ".popsection",
    ".endm",
    ".pushsection .rodata.veil_systrap_sites,\"a\",@progbits",
    ".p2align 3",
    ".globl veil_systrap_sites_start",
    ".hidden veil_systrap_sites_start",
    "veil_systrap_sites_start:",
    ".popsection",
    ".pushsection .text.veil_systrap_stub,\"ax\",@progbits",
    ".p2align 6",
    ".globl veil_systrap_stub_start",
    ".hidden veil_systrap_stub_start",
    "veil_systrap_stub_start:",
    ".Lvs_base:",
    // ---------------- boot ----------------
    ".globl veil_systrap_stub_boot",
    ".hidden veil_systrap_stub_boot",
    "veil_systrap_stub_boot:",
    "lea rbp, [rip + .Lvs_base]",
    "lea r15, [rbp + {CTL_OFF}]",
    "lea r14, [rbp + {EXR_OFF}]",
    // Block every signal (glibc's sigfillset, used by the spawner, leaves
    // its two internal ones out): the executor never runs the handler.
    "mov eax, {SYS_RT_SIGPROCMASK}",
    "mov edi, {SIG_SETMASK}",
    "lea rsi, [r15 + {C_FULL_SET}]",
    "xor edx, edx",
    "mov r10d, 8",
    "vs_syscall",
    "test rax, rax",
    "jnz .Lvs_die",
    // The FP registers still hold the forking Sentry thread's values:
    // reset them (XRSTOR of an image whose XSTATE_BV is 0 puts every
    // component in its initial state), so no clone ever inherits them.
    "cmp dword ptr [r15 + {C_XSAVE}], 0",
    "je .Lvs_boot_fninit",
    "mov eax, -1",
    "mov edx, -1",
    "xrstor [r15 + {C_XINIT}]",
    "jmp .Lvs_boot_fp_done",
    ".Lvs_boot_fninit:",
    "fninit",
    "pxor xmm0, xmm0", "pxor xmm1, xmm1", "pxor xmm2, xmm2", "pxor xmm3, xmm3",
    "pxor xmm4, xmm4", "pxor xmm5, xmm5", "pxor xmm6, xmm6", "pxor xmm7, xmm7",
    "pxor xmm8, xmm8", "pxor xmm9, xmm9", "pxor xmm10, xmm10", "pxor xmm11, xmm11",
    "pxor xmm12, xmm12", "pxor xmm13, xmm13", "pxor xmm14, xmm14", "pxor xmm15, xmm15",
    ".Lvs_boot_fp_done:",
    // No Sentry stack address survives either (the stub needs no stack).
    "xor esp, esp",
    // munmap(0, R): the Sentry's code, heap, stacks, libraries, vDSO.
    "mov eax, {SYS_MUNMAP}",
    "xor edi, edi",
    "mov rsi, rbp",
    "vs_syscall",
    "test rax, rax",
    "jnz .Lvs_die",
    // munmap(R + REGION_LEN, TASK_SIZE - (R + REGION_LEN)) if not empty.
    "lea rdi, [rbp + {REGION_LEN}]",
    "movabs rsi, {TASK_SIZE}",
    "sub rsi, rdi",
    "jbe .Lvs_boot_nnp",
    "mov eax, {SYS_MUNMAP}",
    "vs_syscall",
    "test rax, rax",
    "jnz .Lvs_die",
    ".Lvs_boot_nnp:",
    "mov eax, {SYS_PRCTL}",
    "mov edi, {PR_SET_NO_NEW_PRIVS}",
    "mov esi, 1",
    "xor edx, edx",
    "xor r10d, r10d",
    "xor r8d, r8d",
    "vs_syscall",
    "test rax, rax",
    "jnz .Lvs_die",
    "mov eax, {SYS_SECCOMP}",
    "mov edi, {SECCOMP_SET_MODE_FILTER}",
    "xor esi, esi",
    "lea rdx, [r15 + {C_FBASE_FPROG}]",
    "vs_syscall",
    "test rax, rax",
    "jnz .Lvs_die",
    // Ready: write(efd, &1, 8).
    "mov eax, {SYS_WRITE}",
    "mov edi, dword ptr [r15 + {C_EFD}]",
    "lea rsi, [r15 + {C_ONE}]",
    "mov edx, 8",
    "vs_syscall",
    "cmp rax, 8",
    "jne .Lvs_die",
    "xor r13d, r13d",
    // ---------------- executor ----------------
    // r15 = control page, r14 = result page, rbp = R, r13d = last batch.
    ".Lvs_exec_loop:",
    "mov eax, dword ptr [r15 + {C_CMD_SEQ}]",
    "cmp eax, r13d",
    "jne .Lvs_exec_work",
    "mov r12d, dword ptr [r15 + {C_EXEC_SPIN}]",
    "mov ebx, {SPIN_YIELD_EVERY}",
    ".Lvs_exec_spin:",
    "test r12d, r12d",
    "jz .Lvs_exec_sleep",
    "pause",
    "dec r12d",
    "mov eax, dword ptr [r15 + {C_CMD_SEQ}]",
    "cmp eax, r13d",
    "jne .Lvs_exec_work",
    "dec ebx",
    "jnz .Lvs_exec_spin",
    "mov eax, {SYS_SCHED_YIELD}",
    "vs_syscall",
    "mov ebx, {SPIN_YIELD_EVERY}",
    "jmp .Lvs_exec_spin",
    ".Lvs_exec_sleep:",
    "mov eax, 1",
    "xchg dword ptr [r14 + {X_SLEEPING}], eax",
    "mov eax, dword ptr [r15 + {C_CMD_SEQ}]",
    "cmp eax, r13d",
    "jne .Lvs_exec_woke",
    "mov eax, {SYS_FUTEX}",
    "lea rdi, [r15 + {C_CMD_SEQ}]",
    "mov esi, {FUTEX_WAIT}",
    "mov edx, r13d",
    "xor r10d, r10d",
    "vs_syscall",
    ".Lvs_exec_woke:",
    "mov dword ptr [r14 + {X_SLEEPING}], 0",
    "jmp .Lvs_exec_loop",
    ".Lvs_exec_work:",
    "mov r13d, eax",
    "mov ebx, dword ptr [r15 + {C_NCMDS}]",
    "mov eax, {MAX_CMDS}",
    "cmp ebx, eax",
    "cmova ebx, eax",
    "xor r12d, r12d",
    ".Lvs_exec_next:",
    "cmp r12, rbx",
    "jae .Lvs_exec_done",
    "mov rcx, r12",
    "shl rcx, 6",
    "add rcx, r15",
    "mov rax, qword ptr [rcx + {C_CMDS}]",
    "mov rdi, qword ptr [rcx + {C_CMDS} + 8]",
    "mov rsi, qword ptr [rcx + {C_CMDS} + 16]",
    "mov rdx, qword ptr [rcx + {C_CMDS} + 24]",
    "mov r10, qword ptr [rcx + {C_CMDS} + 32]",
    "mov r8, qword ptr [rcx + {C_CMDS} + 40]",
    "mov r9, qword ptr [rcx + {C_CMDS} + 48]",
    "cmp rax, {OP_MAP}",
    "je .Lvs_op_map",
    "cmp rax, {OP_UNMAP}",
    "je .Lvs_op_unmap",
    "cmp rax, {OP_PROTECT}",
    "je .Lvs_op_protect",
    "cmp rax, {OP_CLONE}",
    "je .Lvs_op_clone",
    ".Lvs_op_bad:",
    "mov rax, -22",
    "jmp .Lvs_op_failed",
    // mmap(a0, a1, a2 & 7, MAP_SHARED | MAP_FIXED, memfd, a5)
    ".Lvs_op_map:",
    "mov rax, rdi",
    "add rax, rsi",
    "jc .Lvs_op_bad",
    "cmp rax, qword ptr [r15 + {C_MAX_ADDR}]",
    "ja .Lvs_op_bad",
    "and edx, 7",
    "mov r10d, {MAP_FLAGS}",
    "mov r8d, dword ptr [r15 + {C_MEMFD}]",
    "mov eax, {SYS_MMAP}",
    "vs_syscall",
    "cmp rax, rdi",
    "je .Lvs_op_done",
    "jmp .Lvs_op_failed",
    // munmap(a0, a1)
    ".Lvs_op_unmap:",
    "mov rax, rdi",
    "add rax, rsi",
    "jc .Lvs_op_bad",
    "cmp rax, qword ptr [r15 + {C_MAX_ADDR}]",
    "ja .Lvs_op_bad",
    "mov eax, {SYS_MUNMAP}",
    "vs_syscall",
    "test rax, rax",
    "jz .Lvs_op_done",
    "jmp .Lvs_op_failed",
    // mprotect(a0, a1, a2 & 7)
    ".Lvs_op_protect:",
    "mov rax, rdi",
    "add rax, rsi",
    "jc .Lvs_op_bad",
    "cmp rax, qword ptr [r15 + {C_MAX_ADDR}]",
    "ja .Lvs_op_bad",
    "and edx, 7",
    "mov eax, {SYS_MPROTECT}",
    "vs_syscall",
    "test rax, rax",
    "jz .Lvs_op_done",
    "jmp .Lvs_op_failed",
    // clone a thread into slot a0; r9 = its slot (the child keeps it).
    ".Lvs_op_clone:",
    "cmp rdi, {NSLOTS}",
    "jae .Lvs_op_bad",
    "mov r9, rdi",
    "shl r9, {SLOT_SHIFT}",
    "lea r9, [r9 + rbp + {SLOTS_OFF}]",
    "mov edi, {CLONE_FLAGS}",
    "lea rsi, [r9 + {S_START_STACK}]",
    "xor edx, edx",
    "lea r10, [r9 + {S_STUB_STATE}]",
    "xor r8d, r8d",
    "mov eax, {SYS_CLONE}",
    "vs_syscall",
    "test rax, rax",
    "jz .Lvs_thread_start",
    "jg .Lvs_op_done",
    // Any failure sets bit 32 of r13 (the batch number is its low half);
    // the batch is then confirmed with 2 instead of 1.
    ".Lvs_op_failed:",
    "bts r13, 32",
    ".Lvs_op_done:",
    "mov qword ptr [r14 + r12*8 + {X_RESULTS}], rax",
    "inc r12",
    "jmp .Lvs_exec_next",
    ".Lvs_exec_done:",
    "mov dword ptr [r14 + {X_DONE_SEQ}], r13d",
    "lea rsi, [r15 + {C_ONE}]",
    "bt r13, 32",
    "jnc .Lvs_exec_confirm",
    "lea rsi, [r15 + {C_TWO}]",
    ".Lvs_exec_confirm:",
    "mov eax, {SYS_WRITE}",
    "mov edi, dword ptr [r15 + {C_EFD}]",
    "mov edx, 8",
    "vs_syscall",
    "jmp .Lvs_exec_loop",
    // ---------------- thread start ----------------
    // r9 = slot, r15 = control page, rsp = the slot's start stack.
    ".Lvs_thread_start:",
    "mov r12, r9",
    "lea rax, [r12 + {ALT_OFF}]",
    "push {ALT_LEN}",
    "push 0",
    "push rax",
    "mov rdi, rsp",
    "xor esi, esi",
    "mov eax, {SYS_SIGALTSTACK}",
    "vs_syscall",
    "test rax, rax",
    "jnz .Lvs_die",
    // Everything but SIGTRAP stays blocked until the first rt_sigreturn
    // (which loads the frame's empty mask): no signal can run the
    // handler before the application filter is in place.
    "mov eax, {SYS_RT_SIGPROCMASK}",
    "mov edi, {SIG_SETMASK}",
    "lea rsi, [r15 + {C_TRAP_ONLY_SET}]",
    "xor edx, edx",
    "mov r10d, 8",
    "vs_syscall",
    "test rax, rax",
    "jnz .Lvs_die",
    "mov eax, {SYS_SECCOMP}",
    "mov edi, {SECCOMP_SET_MODE_FILTER}",
    "xor esi, esi",
    "lea rdx, [r15 + {C_FAPP_FPROG}]",
    "vs_syscall",
    "test rax, rax",
    "jnz .Lvs_die",
    // The first trap: the Sentry answers with the application's state
    // (and checks that the trap is this one, at the label below).
    "int3",
    ".globl veil_systrap_stub_first_trap",
    ".hidden veil_systrap_stub_first_trap",
    "veil_systrap_stub_first_trap:",
    ".Lvs_die:",
    "ud2",
    // ---------------- handler ----------------
    // rdi = signo, rsi = &siginfo, rdx = &ucontext, rsp = the frame.
    ".globl veil_systrap_stub_handler",
    ".hidden veil_systrap_stub_handler",
    "veil_systrap_stub_handler:",
    "lea rbp, [rip + .Lvs_base]",
    "lea rax, [rbp + {SLOTS_OFF}]",
    "mov rbx, rsp",
    "sub rbx, rax",
    "jb .Lvs_die",
    "cmp rbx, {SLOTS_LEN}",
    "jae .Lvs_die",
    "and rbx, {SLOT_MASK}",
    "add rbx, rax",
    "lea r15, [rbp + {CTL_OFF}]",
    "mov r12, rdx",
    "mov qword ptr [rbx + {S_UCTX}], rdx",
    "cmp dword ptr [r15 + {C_FSGSBASE}], 0",
    "je .Lvs_h_getbase_slow",
    ".byte 0xf3, 0x48, 0x0f, 0xae, 0xc0", // rdfsbase rax
    "mov qword ptr [rbx + {S_FS}], rax",
    ".byte 0xf3, 0x48, 0x0f, 0xae, 0xc8", // rdgsbase rax
    "mov qword ptr [rbx + {S_GS}], rax",
    "jmp .Lvs_h_signal",
    ".Lvs_h_getbase_slow:",
    "mov eax, {SYS_ARCH_PRCTL}",
    "mov edi, {ARCH_GET_FS}",
    "lea rsi, [rbx + {S_FS}]",
    "vs_syscall",
    "mov eax, {SYS_ARCH_PRCTL}",
    "mov edi, {ARCH_GET_GS}",
    "lea rsi, [rbx + {S_GS}]",
    "vs_syscall",
    ".Lvs_h_signal:",
    "mov r13d, dword ptr [rbx + {S_SENTRY_STATE}]",
    "mov eax, dword ptr [rbx + {S_STUB_STATE}]",
    "add eax, 1",
    "jnz .Lvs_h_nz",
    "mov eax, 1",
    ".Lvs_h_nz:",
    "xchg dword ptr [rbx + {S_STUB_STATE}], eax",
    "cmp dword ptr [rbx + {S_SENTRY_SLEEPING}], 0",
    "je .Lvs_h_wait",
    "mov eax, {SYS_FUTEX}",
    "lea rdi, [rbx + {S_STUB_STATE}]",
    "mov esi, {FUTEX_WAKE}",
    "mov edx, 1",
    "vs_syscall",
    ".Lvs_h_wait:",
    "mov r14d, dword ptr [rbx + {S_SPIN}]",
    "mov ecx, {SPIN_YIELD_EVERY}",
    ".Lvs_h_spin:",
    "cmp dword ptr [rbx + {S_SENTRY_STATE}], r13d",
    "jne .Lvs_h_reply",
    "sub r14d, 1",
    "jb .Lvs_h_yield_start",
    // The Sentry zeroes S_SPIN when it needs a CPU meanwhile (to have
    // the executor map a page): then yield at every turn.
    "cmp dword ptr [rbx + {S_SPIN}], 0",
    "je .Lvs_h_spin_wanted",
    "pause",
    "dec ecx",
    "jnz .Lvs_h_spin",
    "jmp .Lvs_h_spin_yield",
    // A yield costs about 8 pauses of the budget.
    ".Lvs_h_spin_wanted:",
    "sub r14d, 7",
    "jae .Lvs_h_spin_yield",
    "xor r14d, r14d",
    ".Lvs_h_spin_yield:",
    "mov eax, {SYS_SCHED_YIELD}",
    "vs_syscall",
    "mov ecx, {SPIN_YIELD_EVERY}",
    "jmp .Lvs_h_spin",
    ".Lvs_h_yield_start:",
    "mov r14d, dword ptr [rbx + {S_YIELDS}]",
    ".Lvs_h_yield:",
    "cmp dword ptr [rbx + {S_SENTRY_STATE}], r13d",
    "jne .Lvs_h_reply",
    "test r14d, r14d",
    "jz .Lvs_h_sleep",
    "mov eax, {SYS_SCHED_YIELD}",
    "vs_syscall",
    "dec r14d",
    "jmp .Lvs_h_yield",
    ".Lvs_h_sleep:",
    "mov eax, 1",
    "xchg dword ptr [rbx + {S_STUB_SLEEPING}], eax",
    "cmp dword ptr [rbx + {S_SENTRY_STATE}], r13d",
    "jne .Lvs_h_woke",
    "mov eax, {SYS_FUTEX}",
    "lea rdi, [rbx + {S_SENTRY_STATE}]",
    "mov esi, {FUTEX_WAIT}",
    "mov edx, r13d",
    "xor r10d, r10d",
    "vs_syscall",
    ".Lvs_h_woke:",
    "mov dword ptr [rbx + {S_STUB_SLEEPING}], 0",
    "cmp dword ptr [rbx + {S_SENTRY_STATE}], r13d",
    "je .Lvs_h_sleep",
    ".Lvs_h_reply:",
    "cmp dword ptr [rbx + {S_ACTION}], {ACTION_EXIT}",
    "je .Lvs_h_exit",
    "cmp dword ptr [r15 + {C_FSGSBASE}], 0",
    "je .Lvs_h_setbase_slow",
    "mov rax, qword ptr [rbx + {S_NEW_FS}]",
    ".byte 0xf3, 0x48, 0x0f, 0xae, 0xd0", // wrfsbase rax
    "mov rax, qword ptr [rbx + {S_NEW_GS}]",
    ".byte 0xf3, 0x48, 0x0f, 0xae, 0xd8", // wrgsbase rax
    "jmp .Lvs_h_return",
    ".Lvs_h_setbase_slow:",
    "mov rsi, qword ptr [rbx + {S_NEW_FS}]",
    "cmp rsi, qword ptr [rbx + {S_FS}]",
    "je .Lvs_h_fs_same",
    "mov eax, {SYS_ARCH_PRCTL}",
    "mov edi, {ARCH_SET_FS}",
    "vs_syscall",
    ".Lvs_h_fs_same:",
    "mov rsi, qword ptr [rbx + {S_NEW_GS}]",
    "cmp rsi, qword ptr [rbx + {S_GS}]",
    "je .Lvs_h_return",
    "mov eax, {SYS_ARCH_PRCTL}",
    "mov edi, {ARCH_SET_GS}",
    "vs_syscall",
    ".Lvs_h_return:",
    "mov rsp, r12",
    "mov eax, {SYS_RT_SIGRETURN}",
    "vs_syscall",
    "ud2",
    ".Lvs_h_exit:",
    "mov eax, {SYS_EXIT}",
    "xor edi, edi",
    "vs_syscall",
    "ud2",
    // ---------------- restorer (SA_RESTORER; the handler never returns) --
    ".globl veil_systrap_stub_restorer",
    ".hidden veil_systrap_stub_restorer",
    "veil_systrap_stub_restorer:",
    "mov eax, {SYS_RT_SIGRETURN}",
    "vs_syscall",
    "ud2",
    ".globl veil_systrap_stub_end",
    ".hidden veil_systrap_stub_end",
    "veil_systrap_stub_end:",
    ".popsection",
    ".pushsection .rodata.veil_systrap_sites,\"a\",@progbits",
    ".globl veil_systrap_sites_end",
    ".hidden veil_systrap_sites_end",
    "veil_systrap_sites_end:",
    ".popsection",
    CTL_OFF = const CTL_OFF,
    EXR_OFF = const EXR_OFF,
    SLOTS_OFF = const SLOTS_OFF,
    SLOTS_LEN = const NSLOTS * SLOT_SIZE,
    SLOT_SHIFT = const SLOT_SHIFT,
    SLOT_MASK = const SLOT_MASK,
    NSLOTS = const NSLOTS,
    REGION_LEN = const REGION_LEN,
    TASK_SIZE = const TASK_SIZE,
    C_CMD_SEQ = const C_CMD_SEQ,
    C_NCMDS = const C_NCMDS,
    C_EXEC_SPIN = const C_EXEC_SPIN,
    C_FSGSBASE = const C_FSGSBASE,
    C_MEMFD = const C_MEMFD,
    C_EFD = const C_EFD,
    C_ONE = const C_ONE,
    C_TWO = const C_TWO,
    C_TRAP_ONLY_SET = const C_TRAP_ONLY_SET,
    C_FULL_SET = const C_FULL_SET,
    C_FBASE_FPROG = const C_FBASE_FPROG,
    C_FAPP_FPROG = const C_FAPP_FPROG,
    C_MAX_ADDR = const C_MAX_ADDR,
    C_XSAVE = const C_XSAVE,
    C_XINIT = const C_XINIT,
    C_CMDS = const C_CMDS,
    MAX_CMDS = const MAX_CMDS,
    OP_MAP = const OP_MAP,
    OP_UNMAP = const OP_UNMAP,
    OP_PROTECT = const OP_PROTECT,
    OP_CLONE = const OP_CLONE,
    X_DONE_SEQ = const X_DONE_SEQ,
    X_SLEEPING = const X_SLEEPING,
    X_RESULTS = const X_RESULTS,
    S_STUB_STATE = const S_STUB_STATE,
    S_STUB_SLEEPING = const S_STUB_SLEEPING,
    S_SENTRY_STATE = const S_SENTRY_STATE,
    S_SENTRY_SLEEPING = const S_SENTRY_SLEEPING,
    S_ACTION = const S_ACTION,
    S_SPIN = const S_SPIN,
    S_YIELDS = const S_YIELDS,
    S_UCTX = const S_UCTX,
    S_FS = const S_FS,
    S_GS = const S_GS,
    S_NEW_FS = const S_NEW_FS,
    S_NEW_GS = const S_NEW_GS,
    S_START_STACK = const S_START_STACK,
    SPIN_YIELD_EVERY = const SPIN_YIELD_EVERY,
    ALT_OFF = const ALT_OFF,
    ALT_LEN = const ALT_LEN,
    ACTION_EXIT = const ACTION_EXIT,
    MAP_FLAGS = const MAP_FLAGS,
    CLONE_FLAGS = const CLONE_THREAD_FLAGS,
    ARCH_SET_FS = const ARCH_SET_FS,
    ARCH_SET_GS = const ARCH_SET_GS,
    ARCH_GET_FS = const ARCH_GET_FS,
    ARCH_GET_GS = const ARCH_GET_GS,
    FUTEX_WAIT = const libc::FUTEX_WAIT,
    FUTEX_WAKE = const libc::FUTEX_WAKE,
    PR_SET_NO_NEW_PRIVS = const libc::PR_SET_NO_NEW_PRIVS,
    SECCOMP_SET_MODE_FILTER = const libc::SECCOMP_SET_MODE_FILTER,
    SIG_SETMASK = const libc::SIG_SETMASK,
    SYS_WRITE = const nr::WRITE,
    SYS_MMAP = const nr::MMAP,
    SYS_MPROTECT = const nr::MPROTECT,
    SYS_MUNMAP = const nr::MUNMAP,
    SYS_RT_SIGPROCMASK = const nr::RT_SIGPROCMASK,
    SYS_RT_SIGRETURN = const nr::RT_SIGRETURN,
    SYS_SCHED_YIELD = const nr::SCHED_YIELD,
    SYS_CLONE = const nr::CLONE,
    SYS_EXIT = const nr::EXIT,
    SYS_SIGALTSTACK = const nr::SIGALTSTACK,
    SYS_PRCTL = const nr::PRCTL,
    SYS_ARCH_PRCTL = const nr::ARCH_PRCTL,
    SYS_FUTEX = const nr::FUTEX,
    SYS_SECCOMP = const nr::SECCOMP,
);

extern "C" {
    static veil_systrap_sites_start: u64;
    static veil_systrap_sites_end: u64;
    fn veil_systrap_stub_start();
    fn veil_systrap_stub_boot();
    fn veil_systrap_stub_first_trap();
    fn veil_systrap_stub_handler();
    fn veil_systrap_stub_restorer();
    fn veil_systrap_stub_end();
}

/// The assembled stub code and where its entry points are.
#[derive(Debug)]
pub(crate) struct StubCode {
    /// The code, as it is copied to `R + CODE_OFF`.
    pub bytes: Vec<u8>,
    /// Offset of the boot entry.
    pub boot: u64,
    /// Offset of the instruction after the new thread's `int3`: where
    /// its first trap must be.
    pub first_trap: u64,
    /// Offset of the signal handler.
    pub handler: u64,
    /// Offset of the `SA_RESTORER` trampoline.
    pub restorer: u64,
    /// Offsets of the `syscall` instructions.
    sites: Vec<u64>,
}

impl StubCode {
    /// The offsets of every `syscall` instruction in the code (for tests
    /// that jump into them).
    pub fn syscall_sites(&self) -> &[u64] {
        &self.sites
    }
}

/// The stub code (assembled once per process).
pub(crate) fn stub_code() -> &'static StubCode {
    static CODE: OnceLock<StubCode> = OnceLock::new();
    CODE.get_or_init(|| {
        let start = veil_systrap_stub_start as *const () as usize;
        let end = veil_systrap_stub_end as *const () as usize;
        assert!(
            end > start && (end - start) as u64 <= CODE_LEN,
            "stub code too large"
        );
        // SAFETY: [start, end) is our own code in the Sentry's text
        // section, mapped readable for the life of the process.
        let bytes = unsafe { std::slice::from_raw_parts(start as *const u8, end - start) }.to_vec();
        let off = |f: usize| (f - start) as u64;
        let (a, b) = (
            &raw const veil_systrap_sites_start as usize,
            &raw const veil_systrap_sites_end as usize,
        );
        // SAFETY: [a, b) is the assembler-built table of u64 offsets in
        // our read-only data, 8-aligned.
        let sites = unsafe { std::slice::from_raw_parts(a as *const u64, (b - a) / 8) }.to_vec();
        assert!(sites
            .iter()
            .all(|&o| bytes[o as usize..o as usize + 2] == [0x0f, 0x05]));
        StubCode {
            bytes,
            boot: off(veil_systrap_stub_boot as *const () as usize),
            first_trap: off(veil_systrap_stub_first_trap as *const () as usize),
            handler: off(veil_systrap_stub_handler as *const () as usize),
            restorer: off(veil_systrap_stub_restorer as *const () as usize),
            sites,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `syscall` instruction in the asm above (keep in sync).
    const SYSCALLS_IN_STUB: usize = 27;

    #[test]
    fn code_fits_its_page_and_has_entries_in_order() {
        let c = stub_code();
        assert!(c.bytes.len() as u64 <= CODE_LEN);
        assert_eq!(c.boot, 0);
        assert!(c.handler > c.boot && c.restorer > c.handler);
        assert!((c.restorer as usize) < c.bytes.len());
        // The restorer is `mov eax, 15; syscall; ud2`.
        let r = c.restorer as usize;
        assert_eq!(
            &c.bytes[r..r + 9],
            &[0xb8, 15, 0, 0, 0, 0x0f, 0x05, 0x0f, 0x0b]
        );
        assert_eq!(c.syscall_sites().len(), SYSCALLS_IN_STUB);
    }
}
