//! Command-line parsing for `veil`. Hand-written: the grammar is small and
//! every bad input must end in one clear line and a non-zero exit.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// Exit status for a usage error or a failure of veil itself (as env(1)
/// and docker use 125).
pub const EXIT_VEIL_ERROR: i32 = 125;

/// Which platform runs application code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformKind {
    /// PTRACE_SYSEMU stubs.
    Ptrace,
    /// seccomp SECCOMP_RET_TRAP stubs with a shared-memory hand-off.
    Systrap,
}

impl PlatformKind {
    fn parse(s: &str) -> Result<PlatformKind, String> {
        match s {
            "ptrace" => Ok(PlatformKind::Ptrace),
            "systrap" => Ok(PlatformKind::Systrap),
            "kvm" => Err(format!(
                "platform '{s}' is not available yet (use systrap or ptrace)"
            )),
            _ => Err(format!("unknown platform '{s}' (choose systrap or ptrace)")),
        }
    }
}

/// `veil do` options.
#[derive(Clone, Debug)]
pub struct DoArgs {
    /// Platform.
    pub platform: PlatformKind,
    /// Print syscalls.
    pub strace: bool,
    /// Working directory inside the sandbox (default: the caller's, or
    /// `/` with `--root`).
    pub cwd: Option<OsString>,
    /// `--root DIR`: the host directory served as the sandbox's `/`
    /// (default: the host's `/`).
    pub root: Option<OsString>,
    /// Extra environment entries `K=V`.
    pub env: Vec<OsString>,
    /// `-t` / `--tty`: give the program a pseudo-terminal of the sandbox,
    /// joined to the caller's terminal.
    pub tty: bool,
    /// The command and its arguments.
    pub argv: Vec<OsString>,
}

/// A parsed command line.
#[derive(Debug)]
pub enum Command {
    /// Run a program in a sandbox over the host's root.
    Do(DoArgs),
    /// Print usage.
    Help,
    /// Print the version.
    Version,
    /// Print the syscall support table (Markdown).
    SyscallTable,
}

/// Usage text.
pub const USAGE: &str = "\
usage: veil do [--platform=systrap|ptrace] [--strace] [-t|--tty] [--root DIR] [--cwd DIR] [--env K=V]... [--] CMD [ARGS...]
       veil syscalls        print which system calls are served (Markdown)
       veil --help | --version

veil do runs CMD in a sandbox: every system call is served by veil's own
kernel. The sandbox sees the host's / (or with --root, the host directory
DIR) read-only as its /, with writes kept in memory; CMD and --cwd are
found inside it.
With -t, CMD runs on a pseudo-terminal of the sandbox joined to yours (which
must be a terminal). SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2
sent to veil are passed on to CMD.";

/// Parses `args` (without the program name).
pub fn parse(args: Vec<OsString>) -> Result<Command, String> {
    let mut it = args.into_iter();
    let Some(sub) = it.next() else {
        return Err("missing command (try 'veil --help')".into());
    };
    match sub.to_str() {
        Some("do") => parse_do(it.collect()).map(Command::Do),
        Some("syscalls") => Ok(Command::SyscallTable),
        Some("-h") | Some("--help") | Some("help") => Ok(Command::Help),
        Some("-V") | Some("--version") => Ok(Command::Version),
        _ => Err(format!(
            "unknown command '{}' (try 'veil --help')",
            sub.to_string_lossy()
        )),
    }
}

fn parse_do(args: Vec<OsString>) -> Result<DoArgs, String> {
    let mut out = DoArgs {
        platform: PlatformKind::Systrap,
        strace: false,
        cwd: None,
        root: None,
        env: Vec::new(),
        tty: false,
        argv: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].clone().into_vec();
        if a == b"--" {
            i += 1;
            break;
        }
        if !a.starts_with(b"-") || a == b"-" {
            break;
        }
        let s = String::from_utf8_lossy(&a).into_owned();
        let (name, inline) = match s.split_once('=') {
            Some((n, v)) => (
                n.to_string(),
                Some(OsString::from_vec(v.as_bytes().to_vec())),
            ),
            None => (s.clone(), None),
        };
        let value = |i: &mut usize| -> Result<OsString, String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            *i += 1;
            args.get(*i)
                .cloned()
                .ok_or_else(|| format!("option {name} needs a value"))
        };
        match name.as_str() {
            "--platform" => {
                let v = value(&mut i)?;
                out.platform = PlatformKind::parse(&v.to_string_lossy())?;
            }
            "--strace" => {
                if inline.is_some() {
                    return Err("option --strace takes no value".into());
                }
                out.strace = true;
            }
            "-t" | "--tty" => {
                if inline.is_some() {
                    return Err(format!("option {name} takes no value"));
                }
                out.tty = true;
            }
            "--cwd" => out.cwd = Some(value(&mut i)?),
            "--root" => {
                let v = value(&mut i)?;
                if v.is_empty() {
                    return Err("option --root needs a directory".into());
                }
                out.root = Some(v);
            }
            "--env" | "-e" => {
                let v = value(&mut i)?;
                if !v.as_encoded_bytes().contains(&b'=') {
                    return Err(format!("--env wants K=V, got '{}'", v.to_string_lossy()));
                }
                out.env.push(v);
            }
            _ => return Err(format!("unknown option '{s}' (try 'veil --help')")),
        }
        i += 1;
    }
    out.argv = args[i..].to_vec();
    if out.argv.is_empty() {
        return Err("veil do: missing command to run".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Result<Command, String> {
        parse(v.iter().map(OsString::from).collect())
    }

    #[test]
    fn parses_do() {
        let Ok(Command::Do(d)) = p(&[
            "do",
            "--strace",
            "--env",
            "A=1",
            "--cwd=/tmp",
            "--root",
            "/srv/rootfs",
            "--",
            "ls",
            "-l",
        ]) else {
            panic!("parse failed");
        };
        assert!(d.strace);
        assert!(!d.tty);
        assert_eq!(d.env, vec![OsString::from("A=1")]);
        assert_eq!(d.cwd, Some(OsString::from("/tmp")));
        assert_eq!(d.root, Some(OsString::from("/srv/rootfs")));
        assert_eq!(d.argv, vec![OsString::from("ls"), OsString::from("-l")]);
    }

    #[test]
    fn parses_tty() {
        for flag in ["-t", "--tty"] {
            let Ok(Command::Do(d)) = p(&["do", flag, "sh"]) else {
                panic!("parse failed");
            };
            assert!(d.tty);
        }
        assert!(p(&["do", "--tty=yes", "sh"]).is_err());
    }

    #[test]
    fn command_options_stop_parsing() {
        let Ok(Command::Do(d)) = p(&["do", "ls", "--strace"]) else {
            panic!("parse failed");
        };
        assert!(!d.strace);
        assert_eq!(d.argv.len(), 2);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(p(&[]).is_err());
        assert!(p(&["frobnicate"]).is_err());
        assert!(p(&["do"]).is_err());
        assert!(p(&["do", "--bogus", "ls"]).is_err());
        assert!(p(&["do", "--platform=vax", "ls"]).is_err());
        assert!(p(&["do", "--env", "NOEQUALS", "ls"]).is_err());
        assert!(p(&["do", "--cwd"]).is_err());
        assert!(p(&["do", "--root"]).is_err());
        assert!(p(&["do", "--root=", "ls"]).is_err());
    }
}
