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
    concat, cpu_time, exit_with_rax, is_syscall, mov_eax, mov_rax, task_count, task_exists,
    thread_state, CODE, JMP_SELF, MOV_RDI_RAX, PAGE, STACK_TOP, SYSCALL,
};

/// How the tests make a ptrace machine.
pub struct Ptrace;

impl Harness for Ptrace {
    type Platform = PtracePlatform;
    type Space = PtraceAddressSpace;
    type Context = PtraceContext;
    type Options = PtraceOptions;

    fn build(
        mf: Arc<HostMemoryFile>,
        opts: PtraceOptions,
    ) -> (PtracePlatform, Arc<PtraceAddressSpace>, PtraceContext) {
        let platform = PtracePlatform::with_memory_file(mf, opts).unwrap();
        let space = platform.new_ptrace_address_space().unwrap();
        let ctx = platform.new_ptrace_context();
        (platform, space, ctx)
    }

    fn stub_pid(space: &PtraceAddressSpace) -> i32 {
        space.stub_pid()
    }
}

pub type Vm = veil_host::testing::Vm<Ptrace>;
