//! The README's table of served system calls, generated from core's table
//! so that the document cannot drift from the code.

use std::fmt::Write;

use veil_abi::sysno;
use veil_core::syscalls::support;

/// A Markdown table: every known x86-64 syscall, served or ENOSYS.
pub fn markdown() -> String {
    let mut served = Vec::new();
    let mut enosys = Vec::new();
    for nr in 0..sysno::COUNT as u64 {
        if let Some(name) = sysno::name(nr) {
            if support(nr) {
                served.push(format!("`{name}`"));
            } else {
                enosys.push(format!("`{name}`"));
            }
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} of {} x86-64 system calls are served; the rest answer ENOSYS on purpose \
         (logged once per sandbox by name).\n",
        served.len(),
        served.len() + enosys.len()
    );
    let _ = writeln!(out, "| | calls |\n|---|---|");
    let _ = writeln!(out, "| served | {} |", served.join(" "));
    let _ = writeln!(out, "| ENOSYS | {} |", enosys.join(" "));
    out
}
