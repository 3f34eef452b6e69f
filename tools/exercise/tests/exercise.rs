// SPDX-License-Identifier: GPL-2.0
//! The rexfs-exercise binary on a file in the temporary directory.

use std::path::PathBuf;
use std::process::{Command, Output};

use rexfs_exercise::files::peer_path;

/// A scratch path in the temporary directory, removed on drop (with the
/// peer file of an exercised file).
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        Self(std::env::temp_dir().join(format!("rexfs-exercise-{}-{name}", std::process::id())))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_file(peer_path(&self.0));
    }
}

fn exercise(args: &[&str], file: &Scratch) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rexfs-exercise"))
        .args(args)
        .arg(&file.0)
        .output()
        .expect("run rexfs-exercise")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The per-op counts of a summary line, and the operations it names as
/// not supported.
fn counts(summary: &str) -> (Vec<(String, u64)>, Vec<String>) {
    let (_, counts) = summary
        .split_once("per-op counts: ")
        .unwrap_or_else(|| panic!("no counts in {summary}"));
    let (counts, unsupported) = counts
        .split_once(", not supported: ")
        .unwrap_or((counts, ""));
    let counts = counts
        .split(' ')
        .map(|item| {
            let (name, n) = item.split_once('=').expect("name=count");
            (name.to_owned(), n.parse().expect("a count"))
        })
        .collect();
    (
        counts,
        unsupported.split_whitespace().map(str::to_owned).collect(),
    )
}

/// Every operation of `names` in `summary` ran, or is named as not
/// supported.
fn ran_or_not_supported(summary: &str, names: &[&str]) {
    let (counts, unsupported) = counts(summary);
    for name in names {
        let ran = counts
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name}= in {summary}"))
            .1;
        let not_supported = unsupported.iter().any(|n| n == name);
        assert!(ran > 0 || not_supported, "{name}: {summary}");
    }
}

/// The output of a run that must have succeeded, and its summary line.
fn clean_run(out: &std::process::Output) -> (String, String) {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        out.status
    );
    let summary = stdout.lines().last().unwrap_or_default().to_owned();
    (stdout, summary)
}

#[test]
fn two_thousand_ops_run_clean() {
    let file = Scratch::new("clean");
    let out = exercise(&["--ops", "2000", "--seed", "1"], &file);
    let (stdout, summary) = clean_run(&out);
    assert!(
        summary
            .starts_with("rexfs-exercise: 2000 ops, seed 1, 0 mismatches, per-op counts: write="),
        "{stdout}"
    );
    for name in [
        "read=",
        "mapwrite=",
        "mapread=",
        "truncate=",
        "fsync=",
        "fdatasync=",
        "dwrite=",
        "dread=",
        "clone=",
        "dedupe=",
        "copyrange=",
    ] {
        assert!(summary.contains(name), "{name} in {summary}");
    }
    ran_or_not_supported(&summary, &["write", "clone", "dedupe", "copyrange"]);
    assert!(
        stdout.starts_with("rexfs-exercise: seed 1, 2000 ops"),
        "{stdout}"
    );
}

/// Clone and dedupe run on a filesystem with reflink (XFS, btrfs), and are
/// dropped as not supported elsewhere (ext4, tmpfs); copy_file_range runs
/// everywhere (the kernel copies where it cannot share).
#[test]
fn clone_dedupe_and_copy_run_clean_or_are_not_supported() {
    let (file, log) = (Scratch::new("remap"), Scratch::new("remap.log"));
    let mix = "write:4,mapwrite:2,truncate:2,punch,invalidate,clone:4,dedupe:4,copyrange:4";
    let out = exercise(
        &[
            "--ops",
            "3000",
            "--seed",
            "7",
            "--max-size",
            "1M",
            "--ops-mix",
            mix,
            "--verify-every",
            "200",
            "--log",
            log.0.to_str().unwrap(),
        ],
        &file,
    );
    let (_, summary) = clean_run(&out);
    ran_or_not_supported(&summary, &["write", "clone", "dedupe", "copyrange"]);
    assert!(!summary.contains(" copyrange=0"), "{summary}");
    assert!(peer_path(&file.0).exists(), "the peer file is kept");
    let log = std::fs::read_to_string(&log.0).unwrap();
    for way in [" -> peer ", " -> main "] {
        assert!(
            log.lines()
                .any(|l| l.contains("copyrange ") && l.contains(way)),
            "no copyrange{way}in the log"
        );
    }
}

#[test]
fn same_seed_same_operations() {
    let (file, log1, log2) = (
        Scratch::new("replay"),
        Scratch::new("replay-1.log"),
        Scratch::new("replay-2.log"),
    );
    let mix = "write,read:3,mapwrite,mapread,truncate,fsync,fdatasync";
    for log in [&log1, &log2] {
        let log = log.0.to_str().unwrap();
        let out = exercise(
            &[
                "--ops",
                "500",
                "--seed",
                "99",
                "--ops-mix",
                mix,
                "--verify-every",
                "100",
                "--log",
                log,
            ],
            &file,
        );
        assert!(
            out.status.success(),
            "{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    let (a, b) = (
        std::fs::read_to_string(&log1.0).unwrap(),
        std::fs::read_to_string(&log2.0).unwrap(),
    );
    assert_eq!(a.lines().count(), 500, "one line per op");
    assert!(a.starts_with("1 "), "{a}");
    assert_eq!(a, b);
    assert!(a.lines().all(
        |l| ["write", "read", "map", "truncate", "fsync", "fdatasync"]
            .iter()
            .any(|k| l.split(' ').nth(1).unwrap().starts_with(k))
    ));
}

#[test]
fn a_corrupted_byte_is_reported() {
    let file = Scratch::new("corrupt");
    let out = exercise(
        &["--ops", "1000", "--seed", "3", "--corrupt-at", "400"],
        &file,
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("MISMATCH at op 400 (seed 3)"), "{stderr}");
    assert!(
        stderr.contains("first differing byte at offset"),
        "{stderr}"
    );
    assert!(
        stderr.contains("expected at ") && stderr.contains("actual   at "),
        "{stderr}"
    );
    assert!(stderr.contains("last 20 operations"), "{stderr}");
    assert!(
        stderr.contains("     400 "),
        "the ring ends with op 400: {stderr}"
    );
    assert!(stdout.contains("seed 3, 1 mismatches"), "{stdout}");
}

#[test]
fn usage_errors_exit_2() {
    let file = Scratch::new("usage");
    for args in [
        &["--ops-mix", "nonsense"][..],
        &["--max-size", "12"],
        &["--bogus"],
    ] {
        let out = exercise(args, &file);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rexfs-exercise"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success() && text(&out.stdout).contains("--ops-mix"));
}
