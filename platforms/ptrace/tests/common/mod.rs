//! A tiny machine for the tests: a memory file, a ptrace platform, one
//! address space and context, and helpers to place code and data (shared
//! with systrap in `veil_host::testing`).
#![allow(dead_code, unused_imports)]

use std::sync::Arc;

use veil_host::testing::Harness;
use veil_host::HostMemoryFile;
use veil_platform_ptrace::{PtraceAddressSpace, PtraceContext, PtraceOptions, PtracePlatform};

pub use veil_host::testing::pid_exists as process_exists;
pub use veil_host::testing::{
    concat, cpu_time, exit_with_rax, is_syscall, mov_eax, mov_rax, round_trips, task_count,
    task_exists, thread_state, CODE, GETPID_LOOP, JMP_SELF, MOV_RDI_RAX, PAGE, STACK_TOP, SYSCALL,
};

/// How the tests make a ptrace machine.
pub struct Ptrace;

impl Harness for Ptrace {
    type Platform = PtracePlatform;
    type Space = PtraceAddressSpace;
    type Context = PtraceContext;
    type Options = PtraceOptions;
    const NAME: &'static str = "ptrace";
    // ptrace has no page-fault error code: a write to an unmapped page is
    // reported as a read.
    const EXACT_FAULT_ACCESS: bool = false;
    const KEEPS_A_THREAD_PER_SPACE: bool = true;

    fn platform(mf: Arc<HostMemoryFile>, opts: PtraceOptions) -> PtracePlatform {
        PtracePlatform::with_memory_file(mf, opts).unwrap()
    }

    fn default_platform() -> PtracePlatform {
        PtracePlatform::new().unwrap()
    }

    fn new_space(p: &PtracePlatform) -> Arc<PtraceAddressSpace> {
        p.new_ptrace_address_space().unwrap()
    }

    fn new_context(p: &PtracePlatform) -> PtraceContext {
        p.new_ptrace_context()
    }

    fn probe(p: &PtracePlatform) {
        p.probe().unwrap()
    }

    fn live_address_spaces(p: &PtracePlatform) -> usize {
        p.live_address_spaces()
    }

    fn stub_address(p: &PtracePlatform) -> u64 {
        p.stub_address()
    }

    fn stub_pid(space: &PtraceAddressSpace) -> i32 {
        space.stub_pid()
    }

    fn stub_tid(ctx: &PtraceContext) -> Option<i32> {
        ctx.stub_tid()
    }
}

pub type Vm = veil_host::testing::Vm<Ptrace>;
