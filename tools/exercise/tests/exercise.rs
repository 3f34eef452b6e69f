// SPDX-License-Identifier: GPL-2.0
//! The rexfs-exercise binary on a file in the temporary directory.

use std::path::PathBuf;
use std::process::{Command, Output};

/// A scratch path in the temporary directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        Self(std::env::temp_dir().join(format!("rexfs-exercise-{}-{name}", std::process::id())))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
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

#[test]
fn two_thousand_ops_run_clean() {
    let file = Scratch::new("clean");
    let out = exercise(&["--ops", "2000", "--seed", "1"], &file);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        out.status
    );
    let summary = stdout.lines().last().unwrap_or_default();
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
    ] {
        assert!(summary.contains(name), "{name} in {summary}");
    }
    assert!(
        stdout.starts_with("rexfs-exercise: seed 1, 2000 ops"),
        "{stdout}"
    );
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
