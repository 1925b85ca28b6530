//! Replays every committed corpus entry of every fuzz target
//! (`fuzz/corpus/<target>/*`) through the same harness the target runs,
//! so the normal test run checks them without cargo-fuzz.

use std::path::PathBuf;
use std::string::{String, ToString};
use std::vec::Vec;

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

fn replay(target: &str, run: fn(&[u8])) {
    let dir = corpus(target);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    assert!(!entries.is_empty(), "{}: no corpus entries", dir.display());
    let mut failed: Vec<String> = Vec::new();
    for p in &entries {
        let data = std::fs::read(p).unwrap();
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            failed.push(p.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} corpus entries failed: {failed:?}",
        failed.len(),
        entries.len()
    );
}

#[test]
fn replay_syscalls_corpus() {
    replay("syscalls", super::run_syscalls);
}

#[test]
fn replay_elf_corpus() {
    replay("elf", super::run_elf);
}

#[test]
fn replay_walk_corpus() {
    replay("walk", super::run_walk);
}

#[test]
fn replay_pty_corpus() {
    replay("pty", super::run_pty);
}

#[test]
fn replay_abi_corpus() {
    replay("abi", super::run_abi);
}

/// Writes the hand-made seeds of the `elf` target (valid programs the
/// fuzzer mutates from): `cargo test -p veil-core --lib write_elf_seeds
/// -- --ignored`.
#[test]
#[ignore]
fn write_elf_seeds() {
    use crate::fake::ElfBuilder;
    use veil_abi::elf::*;
    let dir = corpus("elf");
    std::fs::create_dir_all(&dir).unwrap();
    let seeds: Vec<(&str, Vec<u8>)> = Vec::from([
        ("seed-static", super::syscalls::tiny_elf()),
        ("seed-interp-dyn", super::elf::tiny_interp()),
        (
            "seed-pie-with-interp",
            ElfBuilder::new(ET_DYN, 0x1000)
                .interp("/lib/ld.so")
                .headers_at(0)
                .segment(0x1000, &[0x90; 16], 16, PF_R | PF_X)
                .segment(0x3000, &[7; 100], 0x4000, PF_R | PF_W)
                .build(),
        ),
        (
            "seed-self-interp",
            ElfBuilder::new(ET_EXEC, 0x40_1000)
                .interp("/lib/x.so")
                .segment(0x40_1000, &[0x90; 16], 16, PF_R | PF_X)
                .build(),
        ),
        ("seed-script", b"#!/bin/prog -a\n".to_vec()),
        ("seed-script-chain", b"#! /bin/x\n".to_vec()),
    ]);
    for (name, data) in seeds {
        std::fs::write(dir.join(name), data).unwrap();
    }
}

/// Runs one input, printing what it decodes to:
/// `VEIL_FUZZ=<target>:<file> cargo test -p veil-core --lib run_one --
/// --ignored --nocapture` (a crash from `fuzz/artifacts/`).
#[test]
#[ignore]
fn run_one() {
    use arbitrary::{Arbitrary, Unstructured};
    let spec = std::env::var("VEIL_FUZZ").expect("VEIL_FUZZ=<target>:<file>");
    let (target, file) = spec.split_once(':').expect("<target>:<file>");
    let data = std::fs::read(file).unwrap();
    match target {
        "syscalls" => {
            if let Ok(p) = super::syscalls::Program::arbitrary(&mut Unstructured::new(&data)) {
                std::eprintln!("{}", super::syscalls::describe(&p));
            }
            super::run_syscalls(&data)
        }
        "walk" => {
            let p = super::walk::WalkInput::arbitrary(&mut Unstructured::new(&data));
            std::eprintln!("{p:#?}");
            super::run_walk(&data)
        }
        "elf" => super::run_elf(&data),
        "abi" => super::run_abi(&data),
        t => panic!("no target {t}"),
    }
}
