//! `veil`: run unmodified Linux programs in a sandbox whose every system
//! call is served by veil's own kernel.

mod cli;
mod sandbox;
mod signals;
mod syscall_table;
mod terminal;

use std::process::ExitCode;

use cli::{Command, EXIT_VEIL_ERROR, USAGE};

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let cmd = match cli::parse(args) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("veil: {msg}");
            return ExitCode::from(EXIT_VEIL_ERROR as u8);
        }
    };
    match cmd {
        Command::Help => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("veil {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::SyscallTable => {
            print!("{}", syscall_table::markdown());
            ExitCode::SUCCESS
        }
        Command::Do(args) => match sandbox::run_do(&args) {
            Ok(status) => ExitCode::from(status.shell_code() as u8),
            Err(e) => {
                eprintln!("{}", e.msg);
                ExitCode::from(e.code as u8)
            }
        },
    }
}
