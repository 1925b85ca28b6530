//! Python's own tests (issue 4's acceptance): ten modules of CPython's
//! regression suite from Debian's `libpython3.11-testsuite`, run with
//! `/usr/bin/python3 -m test -v MODULE` natively and under veil, each in
//! a fresh scratch directory. The outcome of every test case (ok, FAIL,
//! ERROR, skipped, expected failure, unexpected success) must be the same
//! on both sides, except for the cases in [`KNOWN`], which list what veil
//! does differently and why (the README's compatibility table says the
//! same). A listed case must still differ in the listed way: one that
//! matches native again fails the test, so the list stays true.
//!
//! Platforms: the default (systrap) and `--platform=ptrace`, or those in
//! `VEIL_TEST_PLATFORMS` (an explicit `systrap` is the default run again,
//! so it is not repeated).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use veil_tests::{
    default_timeout, platforms, run_native, run_veil, veil_bin, Opts, Output, Scratch,
};

const PYTHON: &str = "/usr/bin/python3";

/// The platform `veil do` uses without `--platform`.
const DEFAULT_PLATFORM: &str = "systrap";

/// Cases whose outcome in veil differs from native: (case id, veil's
/// outcome, why). Keep the README's compatibility table in step.
const KNOWN: &[(&str, &str, &str)] = &[
    (
        "test.test_os.TestSendfile.test_invalid_offset",
        "ERROR",
        NO_INET,
    ),
    ("test.test_os.TestSendfile.test_keywords", "ERROR", NO_INET),
    (
        "test.test_os.TestSendfile.test_offset_overflow",
        "ERROR",
        NO_INET,
    ),
    (
        "test.test_os.TestSendfile.test_send_at_certain_offset",
        "ERROR",
        NO_INET,
    ),
    (
        "test.test_os.TestSendfile.test_send_whole_file",
        "ERROR",
        NO_INET,
    ),
];

const NO_INET: &str = "no AF_INET sockets yet: the asyncio TCP server of its setUp has no socket";

/// One module, natively and on each platform.
fn check_module(module: &str) {
    require_testsuite(module);
    veil_bin(); // built (if need be) before anything is timed
    let native = run_module(module, None);
    let native_cases = outcomes(&native, true);
    let mut failures = Vec::new();
    for p in platforms() {
        if p.0.as_deref() == Some(DEFAULT_PLATFORM) {
            continue;
        }
        let started = Instant::now();
        let veil = run_module(module, Some(&p));
        eprintln!(
            "{module} on {p}: {:.1} s (native {:.1} s)",
            started.elapsed().as_secs_f64(),
            native.1.as_secs_f64()
        );
        let veil_cases = outcomes(&veil, false);
        let diffs = compare(module, &native_cases, &veil_cases);
        if veil.0.timed_out || !diffs.is_empty() {
            failures.push(format!(
                "=== {module} on {p}{}:\n{}\n--- veil stdout (tail):\n{}\n--- veil stderr (tail):\n{}",
                if veil.0.timed_out { " (TIMED OUT)" } else { "" },
                diffs.join("\n"),
                tail(&veil.0.out(), 40),
                tail(&veil.0.err(), 20),
            ));
        }
    }
    if !failures.is_empty() {
        panic!("{}", failures.join("\n"));
    }
}

/// Fails loudly unless Debian's test suite is installed.
fn require_testsuite(module: &str) {
    let file = format!("/usr/lib/python3.11/test/{module}.py");
    assert!(
        Path::new(PYTHON).is_file() && Path::new(&file).is_file(),
        "{file} is missing: apt-get install python3 libpython3.11-testsuite (see .ci/run)"
    );
}

/// Runs `python3 -m test -v MODULE` in a fresh scratch directory, with
/// regrtest's work directory inside it; natively when `platform` is None.
fn run_module(module: &str, platform: Option<&veil_tests::Platform>) -> (Output, Duration) {
    let scratch = Scratch::new(&format!(
        "py-{module}-{}",
        platform.map_or("native".into(), |p| p.to_string().replace([' ', '='], "-"))
    ));
    let tempdir = format!("--tempdir={}/tmp", scratch.as_str());
    let argv = [PYTHON, "-m", "test", "-v", &tempdir, module];
    let opts = Opts {
        cwd: scratch.path().to_path_buf(),
        // test_os takes a minute in veil on a busy machine.
        timeout: default_timeout().max(Duration::from_secs(600)),
        ..Opts::default()
    };
    let started = Instant::now();
    let out = match platform {
        None => run_native(&argv, &opts),
        Some(p) => run_veil(p, &[], &argv, &opts),
    };
    let took = started.elapsed();
    if let Some(p) = platform {
        let left = scratch.entries();
        assert!(
            left.is_empty(),
            "{module} on {p}: the sandbox's writes reached the host: {left:?}"
        );
    }
    (out, took)
}

/// The outcome of each test case in a `-v` run, by case id
/// (`test.test_os.FileTests.test_write`). For the native run the parse is
/// checked against unittest's own "Ran N tests" count.
fn outcomes(run: &(Output, Duration), native: bool) -> BTreeMap<String, String> {
    let out = run.0.out();
    let cases = parse(&out);
    if native {
        assert!(
            !run.0.timed_out && !cases.is_empty(),
            "the native run gave no test cases, the test itself is broken\n{}",
            run.0.describe()
        );
        let ran = out.lines().find_map(|l| {
            l.strip_prefix("Ran ")?
                .split(' ')
                .next()?
                .parse::<usize>()
                .ok()
        });
        let parsed = cases.keys().filter(|k| !k.contains(' ')).count();
        assert_eq!(
            ran,
            Some(parsed),
            "parsed {parsed} cases but unittest ran {ran:?}: the parser is broken\n{}",
            run.0.describe()
        );
    }
    cases
}

/// The words unittest's verbose runner prints as a case's outcome.
const OUTCOMES: &[&str] = &[
    "ok",
    "FAIL",
    "ERROR",
    "skipped",
    "expected failure",
    "unexpected success",
];

fn outcome_at(s: &str) -> Option<&'static str> {
    OUTCOMES.iter().copied().find(|o| {
        s.strip_prefix(o)
            .is_some_and(|rest| rest.is_empty() || !rest.starts_with(|c: char| c.is_alphanumeric()))
    })
}

/// `name (id)` at the start of a line: the case id and what follows.
fn header(line: &str) -> Option<(&str, &str)> {
    let (name, rest) = line.split_once(" (")?;
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let (id, after) = rest.split_once(')')?;
    if !id.contains('.')
        || !id
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        || !id.ends_with(name)
    {
        return None;
    }
    Some((id, after))
}

/// Parses unittest's verbose output: `name (id) ... outcome`, where the
/// outcome may follow on a later line (after a docstring line or output
/// the test printed), then the `FAIL: name (id)` / `ERROR: name (id)`
/// sections of the summary, which decide for a case that failed late (in
/// a subtest or a cleanup). A class or module fixture that errs
/// (`ERROR: setUpClass (id)`) is recorded under that text.
fn parse(out: &str) -> BTreeMap<String, String> {
    let lines: Vec<&str> = out.lines().collect();
    let mut cases = BTreeMap::new();
    let mut i = 0;
    while i < lines.len() {
        let Some((id, after)) = header(lines[i]) else {
            i += 1;
            continue;
        };
        // The status follows " ... " on this line or on the docstring line.
        let mut rest = after.strip_prefix(" ... ");
        let mut j = i + 1;
        if rest.is_none() && after.is_empty() && j < lines.len() {
            rest = lines[j].split_once(" ... ").map(|(_, r)| r);
            j += 1;
        }
        let Some(rest) = rest else {
            i += 1;
            continue;
        };
        let mut found = outcome_at(rest);
        while found.is_none() && j < lines.len() && header(lines[j]).is_none() {
            found = outcome_at(lines[j]);
            j += 1;
        }
        cases.insert(id.to_string(), found.unwrap_or("?").to_string());
        i = j.max(i + 1);
    }
    for line in &lines {
        for kind in ["FAIL: ", "ERROR: "] {
            if let Some(what) = line.strip_prefix(kind) {
                let key = header(what).map_or(what, |(id, _)| id).to_string();
                let kind = kind.trim_end_matches([':', ' ']);
                let entry = cases.entry(key).or_insert_with(|| kind.to_string());
                if entry == "ok" || entry == "?" {
                    *entry = kind.to_string();
                }
            }
        }
    }
    cases
}

/// Every difference between the runs that [`KNOWN`] does not explain, and
/// every entry of `KNOWN` for this module that no longer holds.
fn compare(
    module: &str,
    native: &BTreeMap<String, String>,
    veil: &BTreeMap<String, String>,
) -> Vec<String> {
    let prefix = format!("test.{module}.");
    let mut diffs = Vec::new();
    let mut keys: Vec<&String> = native.keys().chain(veil.keys()).collect();
    keys.sort();
    keys.dedup();
    let none = "(absent)".to_string();
    for k in keys {
        let (n, v) = (native.get(k).unwrap_or(&none), veil.get(k).unwrap_or(&none));
        let known = KNOWN.iter().find(|(id, _, _)| id == k);
        match known {
            Some((_, want, _)) if v == want && n != v => {}
            Some((_, want, why)) => diffs.push(format!(
                "  {k}: native {n}, veil {v}; KNOWN says veil gives {want} ({why}): \
                 update KNOWN and the README's compatibility table"
            )),
            None if n != v => diffs.push(format!("  {k}: native {n}, veil {v}")),
            None => {}
        }
    }
    for (id, want, _) in KNOWN {
        if id.starts_with(&prefix) && !native.contains_key(*id) && !veil.contains_key(*id) {
            diffs.push(format!(
                "  {id}: listed in KNOWN (veil {want}) but ran on neither side"
            ));
        }
    }
    diffs
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

macro_rules! modules {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check_module(stringify!($name));
            }
        )*
    };
}

modules!(
    test_os,
    test_stat,
    test_fcntl,
    test_tempfile,
    test_shutil,
    test_pathlib,
    test_glob,
    test_fileio,
    test_mmap,
    test_pty,
);

#[test]
fn parser_reads_unittest_verbose_output() {
    let out = "\
test_a (test.test_x.C.test_a) ... ok
test_b (test.test_x.C.test_b)
A docstring line. ... skipped 'no reason'
test_c (test.test_x.C.test_c) ... some output the test printed
ERROR
test_d (test.test_x.C.test_d) ... expected failure
test_e (test.test_x.C.test_e) ... ok
======================================================================
FAIL: test_e (test.test_x.C.test_e) (i=1)
----------------------------------------------------------------------
ERROR: setUpClass (test.test_x.D)
Ran 5 tests in 0.1s
";
    let got = parse(out);
    let want: BTreeMap<String, String> = [
        ("test.test_x.C.test_a", "ok"),
        ("test.test_x.C.test_b", "skipped"),
        ("test.test_x.C.test_c", "ERROR"),
        ("test.test_x.C.test_d", "expected failure"),
        ("test.test_x.C.test_e", "FAIL"),
        ("setUpClass (test.test_x.D)", "ERROR"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want);
}
