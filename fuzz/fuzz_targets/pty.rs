//! Fuzz target `pty`: see `veil_core::fuzz_harness::run_pty`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| veil_core::fuzz_harness::run_pty(data));
