//! Real tools on files (issue 4's acceptance): gcc and make, git, sqlite3,
//! tar with gzip, GNU coreutils / findutils, and universal-ctags' sandbox
//! mode under its libseccomp filter, util-linux's mount tools on shared
//! subtrees (mount, findmnt, unshare -m, nsenter), each run as a script in a
//! fresh scratch directory natively and under veil on every platform;
//! standard output and exit status must be equal. The sandbox's writes go
//! to its own overlay, so the host's scratch directory stays empty.

use veil_tests::{assert_same_in_scratch, require_tool, tests_dir};

fn run_script(name: &str, tools: &[(&str, &str)]) {
    for (tool, hint) in tools {
        require_tool(tool, hint);
    }
    let script = tests_dir().join("scripts").join(name);
    let script = script.to_str().expect("utf-8 path");
    assert_same_in_scratch(&["/bin/sh", script], name.trim_end_matches(".sh"));
}

const GCC: (&str, &str) = ("gcc", "apt-get install gcc libc6-dev");

#[test]
fn gcc_and_make_build_a_three_file_project() {
    run_script("make_project.sh", &[GCC, ("make", "apt-get install make")]);
}

#[test]
fn git_init_commit_branch_merge_stash_gc() {
    run_script("git_repo.sh", &[("git", "apt-get install git")]);
}

#[test]
fn sqlite3_ten_thousand_inserts_in_one_transaction() {
    run_script(
        "sqlite_inserts.sh",
        &[("sqlite3", "apt-get install sqlite3")],
    );
}

#[test]
fn tar_czf_then_xzf_keeps_checksums() {
    run_script(
        "tar_roundtrip.sh",
        &[
            ("tar", "apt-get install tar"),
            ("gzip", "apt-get install gzip"),
        ],
    );
}

#[test]
fn coreutils_ls_stat_du_df_cp_mv_ln_find_chmod() {
    run_script(
        "coreutils_files.sh",
        &[("find", "apt-get install findutils")],
    );
}

#[test]
fn ctags_sandbox_mode_runs_under_its_libseccomp_filter() {
    run_script(
        "ctags_sandbox.sh",
        &[("ctags", "apt-get install universal-ctags")],
    );
}

/// procps and psmisc on the sandbox's /proc: ps (-e, -o, aux), free,
/// uptime, vmstat (-s), top -b, pstree, pgrep and pidof succeed and print
/// what they print natively, up to the values a sandbox has its own of.
#[test]
fn procps_ps_free_uptime_vmstat_top_pstree() {
    run_script(
        "proc_tools.sh",
        &[
            ("ps", "apt-get install procps"),
            ("pstree", "apt-get install psmisc"),
        ],
    );
}

#[test]
fn util_linux_mount_propagation_findmnt_unshare_nsenter() {
    run_script(
        "util_linux_mounts.sh",
        &[
            ("findmnt", "apt-get install util-linux"),
            ("nsenter", "apt-get install util-linux"),
        ],
    );
}

/// util-linux's ipcmk, ipcs (lists, limits, summary, details, creators,
/// times, pids) and ipcrm on System V IPC objects, in a new IPC namespace
/// of the script's own (`unshare --ipc`), natively and in the sandbox.
#[test]
fn util_linux_ipcmk_ipcs_ipcrm_in_a_new_ipc_namespace() {
    run_script(
        "sysv_ipc_tools.sh",
        &[
            ("ipcmk", "apt-get install util-linux"),
            ("unshare", "apt-get install util-linux"),
        ],
    );
}
