//! Fuzz target `abi`: see `veil_core::fuzz_harness::run_abi`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| veil_core::fuzz_harness::run_abi(data));
