//! A tiny machine for the tests: a memory file, a systrap platform, one
//! address space and context, and helpers to place code and data (shared
//! with ptrace in `veil_host::testing`).
#![allow(dead_code, unused_imports)]

use std::sync::Arc;

use veil_host::testing::Harness;
use veil_host::HostMemoryFile;
use veil_platform_systrap::{SystrapAddressSpace, SystrapContext, SystrapOptions, SystrapPlatform};

pub use veil_host::testing::process_live as process_exists;
pub use veil_host::testing::{
    concat, exit_with_rax, maps, mov_eax, mov_rax, mov_reg, CODE, JMP_SELF, MOV_RDI_RAX, PAGE,
    STACK_TOP, SYSCALL,
};

/// How the tests make a systrap machine.
pub struct Systrap;

impl Harness for Systrap {
    type Platform = SystrapPlatform;
    type Space = SystrapAddressSpace;
    type Context = SystrapContext;
    type Options = SystrapOptions;

    fn build(
        mf: Arc<HostMemoryFile>,
        opts: SystrapOptions,
    ) -> (SystrapPlatform, Arc<SystrapAddressSpace>, SystrapContext) {
        let platform = SystrapPlatform::with_memory_file(mf, opts).unwrap();
        let space = platform.new_systrap_address_space().unwrap();
        let ctx = platform.new_systrap_context();
        (platform, space, ctx)
    }

    fn stub_pid(space: &SystrapAddressSpace) -> i32 {
        space.stub_pid()
    }
}

pub type Vm = veil_host::testing::Vm<Systrap>;
