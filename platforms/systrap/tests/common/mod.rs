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
    concat, exit_with_rax, maps, mov_eax, mov_rax, mov_reg, round_trips, CODE, GETPID_LOOP,
    JMP_SELF, MOV_RDI_RAX, PAGE, STACK_TOP, SYSCALL,
};

/// How the tests make a systrap machine.
pub struct Systrap;

impl Harness for Systrap {
    type Platform = SystrapPlatform;
    type Space = SystrapAddressSpace;
    type Context = SystrapContext;
    type Options = SystrapOptions;
    const NAME: &'static str = "systrap";
    // The signal frame carries the hardware page-fault error code.
    const EXACT_FAULT_ACCESS: bool = true;
    // Switching into another space lets the old stub thread exit.
    const KEEPS_A_THREAD_PER_SPACE: bool = false;

    fn platform(mf: Arc<HostMemoryFile>, opts: SystrapOptions) -> SystrapPlatform {
        SystrapPlatform::with_memory_file(mf, opts).unwrap()
    }

    fn default_platform() -> SystrapPlatform {
        SystrapPlatform::new().unwrap()
    }

    fn new_space(p: &SystrapPlatform) -> Arc<SystrapAddressSpace> {
        p.new_systrap_address_space().unwrap()
    }

    fn new_context(p: &SystrapPlatform) -> SystrapContext {
        p.new_systrap_context()
    }

    fn probe(p: &SystrapPlatform) {
        p.probe().unwrap()
    }

    fn live_address_spaces(p: &SystrapPlatform) -> usize {
        p.live_address_spaces()
    }

    fn stub_address(p: &SystrapPlatform) -> u64 {
        p.stub_address()
    }

    fn stub_pid(space: &SystrapAddressSpace) -> i32 {
        space.stub_pid()
    }

    fn stub_tid(ctx: &SystrapContext) -> Option<i32> {
        ctx.stub_tid()
    }
}

pub type Vm = veil_host::testing::Vm<Systrap>;
