//! Issue 4's acceptance, through a real terminal multiplexer: an
//! interactive shell with job control on `veil do -t`, inside a detached
//! tmux session. Keys are typed with `tmux send-keys` and the screen is
//! read with `tmux capture-pane`; every step waits for its text with a
//! timeout. The same script runs natively first (tmux running the shell
//! itself), which confirms the texts the shells print, then under veil on
//! every platform.
//!
//! The script: a typed command and its output; `stty size` is the window;
//! a resize sends SIGWINCH (a trap fires) and changes `stty size`; ^C
//! ends `sleep 100`; ^Z stops it ("Stopped"), `jobs` lists it, `fg`
//! resumes it and ^C ends it; a stopped `head -n1` resumed by `fg` reads
//! the terminal; a background `head -n1` is stopped by SIGTTIN; the exit
//! status of `exit 3` is veil's.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use veil_tests::{platforms, require_file, require_static_busybox, require_tool, Platform};

/// How long one step may wait for its text.
const STEP: Duration = Duration::from_secs(30);

/// How long a job is given to become the foreground group before ^C or ^Z.
const SETTLE: Duration = Duration::from_millis(300);

/// A detached tmux server of our own (its own socket), killed on drop so
/// that a failing test leaves nothing behind.
struct Tmux {
    socket: String,
    /// What runs in the pane, for messages.
    what: String,
    /// Lines of the pane already matched by earlier steps.
    cursor: usize,
    /// When the current step began, and the slow steps so far.
    step_start: Instant,
    slow: Vec<(String, Duration)>,
}

impl Tmux {
    /// Starts `argv` in a 100x30 window; when it ends, the pane shows
    /// `exit-status=N` and stays.
    fn start(tag: &str, what: &str, argv: &[String]) -> Tmux {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let socket = format!(
            "veil-test-{}-{tag}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let script = format!(
            "{}; echo exit-status=$?; exec sleep 3600",
            argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
        );
        let t = Tmux {
            socket,
            what: what.to_string(),
            cursor: 0,
            step_start: Instant::now(),
            slow: Vec::new(),
        };
        t.tmux(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "100",
            "-y",
            "30",
            "/bin/sh",
            "-c",
            &script,
        ]);
        t
    }

    /// Runs one tmux command on our server; panics if it fails.
    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .unwrap_or_else(|e| panic!("cannot run tmux (apt-get install tmux; see .ci/run): {e}"));
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `text` and Enter.
    fn line(&self, text: &str) {
        self.tmux(&["send-keys", "-l", text]);
        self.tmux(&["send-keys", "Enter"]);
    }

    /// Presses a key by tmux's name (`C-c`, `C-z`).
    fn key(&self, name: &str) {
        self.tmux(&["send-keys", name]);
    }

    /// The pane's lines, history included (wrapped lines joined, trailing
    /// blanks trimmed).
    fn lines(&self) -> Vec<String> {
        let text = self.tmux(&["capture-pane", "-p", "-J", "-S", "-"]);
        let mut lines: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        lines
    }

    /// Waits up to `limit` for a line after the cursor that `want`
    /// accepts, and moves the cursor past it. False on timeout.
    fn try_wait(&mut self, limit: Duration, want: &dyn Fn(&str) -> bool) -> bool {
        self.try_wait_line(limit, want, 1)
    }

    /// Waits up to `limit` for a prompt: a line after the cursor that is
    /// only the prompt. The cursor stays on it: what is typed next shows
    /// on that line.
    fn try_prompt(&mut self, limit: Duration) -> bool {
        self.try_wait_line(limit, &|l| l == "$", 0)
    }

    /// The search of [`try_wait`](Self::try_wait); the cursor moves to
    /// the line found plus `past`.
    fn try_wait_line(&mut self, limit: Duration, want: &dyn Fn(&str) -> bool, past: usize) -> bool {
        let end = Instant::now() + limit;
        loop {
            let lines = self.lines();
            if let Some(i) = lines
                .iter()
                .skip(self.cursor)
                .position(|l| want(l))
                .map(|i| i + self.cursor)
            {
                self.cursor = i + past;
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Like [`try_wait`](Self::try_wait) with [`STEP`], panicking with the
    /// screen on timeout.
    fn wait(&mut self, what: &str, want: &dyn Fn(&str) -> bool) {
        if !self.try_wait(STEP, want) {
            self.fail(&format!("no {what} within {STEP:?}"));
        }
        self.step(what);
    }

    /// Waits for a line that is exactly `text`.
    fn wait_line(&mut self, text: &str) {
        self.wait(&format!("line {text:?}"), &|l| l == text);
    }

    /// Waits for a fresh prompt (a line that is only the prompt).
    fn prompt(&mut self) {
        if !self.try_prompt(STEP) {
            self.fail(&format!("no prompt within {STEP:?}"));
        }
        self.step("prompt");
    }

    /// Waits for a job-control line naming `command` with state `state`.
    fn job(&mut self, state: &str, command: &str) {
        self.wait(&format!("job line \"{state} ... {command}\""), &|l| {
            l.contains(state) && l.trim_end().ends_with(command)
        });
    }

    /// Presses `key` until a prompt comes back. Returns the time from the
    /// first press and the number of presses.
    ///
    /// The job's start cannot be seen from outside: the echo of the typed
    /// line comes before the shell forks, and until the child has made
    /// itself the terminal's foreground group a ^C or ^Z reaches the shell
    /// alone, which only notes it. So the first press comes after a
    /// settling time, and a press that was too early is repeated.
    fn key_until_prompt(&mut self, key: &str, limit: Duration) -> (Duration, u32) {
        std::thread::sleep(SETTLE);
        let start = Instant::now();
        let mut presses = 0;
        while start.elapsed() < limit {
            self.key(key);
            presses += 1;
            if self.try_prompt(Duration::from_secs(2)) {
                self.step(&format!("{key} to prompt ({presses} presses)"));
                return (start.elapsed(), presses);
            }
        }
        self.fail(&format!("{key} did not bring the prompt back"));
    }

    /// Presses `key` until a job line "Stopped ... command" shows (after
    /// the settling time of [`key_until_prompt`](Self::key_until_prompt)).
    fn key_until_stopped(&mut self, key: &str, command: &str) -> u32 {
        std::thread::sleep(SETTLE);
        for presses in 1..=10 {
            self.key(key);
            if self.try_wait(Duration::from_secs(2), &|l| {
                l.contains("Stopped") && l.ends_with(command)
            }) {
                self.step(&format!("{key} to Stopped {command} ({presses} presses)"));
                return presses;
            }
        }
        self.fail(&format!("{key} did not stop {command}"));
    }

    /// Ends a step of the script: remembers it if it took over a second.
    fn step(&mut self, name: &str) {
        let took = self.step_start.elapsed();
        if took > Duration::from_secs(1) {
            self.slow.push((name.to_string(), took));
        }
        self.step_start = Instant::now();
    }

    fn fail(&self, msg: &str) -> ! {
        panic!(
            "{} — {msg}; the pane (from line {}) shows:\n{}",
            self.what,
            self.cursor,
            self.lines().join("\n")
        );
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .env_remove("TMUX")
            .output();
    }
}

/// `s` quoted for /bin/sh.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// What one run measured.
struct Figures {
    /// Steps over a second, with their times.
    slow: Vec<(String, Duration)>,
    total: Duration,
    ctrl_c: Duration,
    presses: u32,
}

/// Runs the script against `shell` (its argv), natively (`veil` None) or
/// under `veil do -t` on `platform`.
fn script(tag: &str, shell: &[&str], platform: Option<&Platform>) -> Figures {
    let start = Instant::now();
    let mut argv: Vec<String> = vec!["env".into(), "-i".into()];
    for (k, v) in veil_tests::ENV {
        argv.push(format!("{k}={v}"));
    }
    argv.extend(["HOME=/".into(), "TERM=screen".into(), "PS1=$ ".into()]);
    let what = match platform {
        None => format!("{} natively", shell.join(" ")),
        Some(p) => {
            argv.push(veil_tests::veil_bin().display().to_string());
            argv.push("do".into());
            argv.extend(p.flags());
            argv.extend(["-t".into(), "--".into()]);
            format!("{} in veil do -t on {p}", shell.join(" "))
        }
    };
    argv.extend(shell.iter().map(|s| s.to_string()));
    let mut t = Tmux::start(tag, &what, &argv);

    // Typing runs a command; the window is the terminal's size.
    t.prompt();
    t.line("echo hi $((6*7))");
    t.wait_line("hi 42");
    t.prompt();
    t.line("stty size");
    t.wait_line("30 100");
    t.prompt();

    // A resize: SIGWINCH reaches the shell (in the foreground, waiting for
    // a background job), and the size changes.
    // The trap also ends the background job, so that `wait` returns at
    // once even if the signal came just before it began. (With SIGKILL:
    // the job's process may not have run yet, and until it does it still
    // ignores SIGTERM as the interactive shell it was forked from does.)
    t.line("trap 'echo WINCH; kill -9 %1' WINCH; sleep 20 & echo armed; wait; wait; echo waited");
    t.wait_line("armed");
    t.tmux(&["resize-window", "-x", "80", "-y", "24"]);
    t.wait_line("WINCH");
    t.wait_line("waited");
    t.prompt();
    t.line("stty size");
    t.wait_line("24 80");
    t.prompt();

    // ^C ends the foreground job, not the shell.
    t.line("sleep 100");
    t.wait_line("$ sleep 100");
    let (ctrl_c, presses) = t.key_until_prompt("C-c", STEP);

    // ^Z stops it; jobs lists it; fg resumes it in the foreground, where
    // ^C ends it.
    t.line("sleep 100");
    t.wait_line("$ sleep 100");
    t.key_until_stopped("C-z", "sleep 100");
    t.prompt();
    t.line("jobs");
    t.job("Stopped", "sleep 100");
    t.prompt();
    t.line("fg");
    t.wait_line("sleep 100");
    t.key_until_prompt("C-c", STEP);
    t.line("jobs; echo no-jobs");
    t.wait_line("no-jobs");
    t.prompt();

    // A stopped reader, resumed by fg, has the terminal again.
    t.line("head -n1");
    t.wait_line("$ head -n1");
    t.key_until_stopped("C-z", "head -n1");
    t.prompt();
    t.line("fg");
    t.wait_line("head -n1");
    t.line("resumed");
    t.wait_line("resumed"); // the terminal's echo
    t.wait_line("resumed"); // head's copy
    t.prompt();

    // A background reader is stopped by SIGTTIN.
    t.line("head -n1 &");
    t.prompt();
    // (The stop can come a moment after the prompt.)
    let end = Instant::now() + STEP;
    loop {
        t.line("jobs");
        t.wait_line("$ jobs");
        if t.try_wait(Duration::from_millis(500), &|l| {
            l.contains("Stopped") && l.ends_with("head -n1")
        }) {
            break;
        }
        if Instant::now() >= end {
            t.fail("the background head -n1 was not stopped by SIGTTIN");
        }
    }
    t.step("SIGTTIN stop");
    t.prompt();
    t.line("fg");
    t.wait_line("head -n1");
    t.line("x");
    t.wait_line("x");
    t.wait_line("x");
    t.prompt();

    // The shell's exit status is what runs in the pane's.
    t.line("exit 3");
    t.wait_line("exit-status=3");
    Figures {
        slow: core::mem::take(&mut t.slow),
        total: start.elapsed(),
        ctrl_c,
        presses,
    }
}

/// The script natively, then under veil on every platform.
fn check(tag: &str, shell: &[&str]) {
    let native = script(tag, shell, None);
    eprintln!(
        "{} natively: {:.1?} (^C to prompt {:.0?}, {} press(es))",
        shell.join(" "),
        native.total,
        native.ctrl_c,
        native.presses
    );
    for p in platforms() {
        let f = script(tag, shell, Some(&p));
        eprintln!(
            "{} on {p}: {:.1?} (^C to prompt {:.0?}, {} press(es))",
            shell.join(" "),
            f.total,
            f.ctrl_c,
            f.presses
        );
        for (what, took) in &f.slow {
            eprintln!("  slow step: {what}: {took:.1?}");
        }
        assert!(
            f.ctrl_c < Duration::from_secs(5),
            "^C took {:?} to bring the prompt back on {p}",
            f.ctrl_c
        );
    }
}

fn require_tmux() {
    require_tool("tmux", "apt-get install tmux");
}

#[test]
fn bash_job_control_in_tmux() {
    require_tmux();
    require_file("/bin/bash", "bash is in Debian's base system");
    require_file("/usr/bin/head", "apt-get install coreutils");
    check("bash", &["/bin/bash", "--norc", "--noprofile", "-i"]);
}

#[test]
fn busybox_sh_job_control_in_tmux() {
    require_tmux();
    require_static_busybox();
    require_file("/usr/bin/head", "apt-get install coreutils");
    check("busybox", &["/bin/busybox", "sh", "-i"]);
}
