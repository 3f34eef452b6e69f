// SPDX-License-Identifier: GPL-2.0
//! The report of a run: what the module did with each damaged image (the
//! guest's `results.tsv`, written by `tests/fuzz/driver.py`), classified
//! against what was done to it (the `manifest.tsv` of the generation), and
//! counted by structure.
//!
//! An image's outcome is one of:
//!
//! | outcome | meaning | passes |
//! |---|---|---|
//! | `refused:EUCLEAN` | mount failed with `EUCLEAN` and a "corrupted:" log line | yes |
//! | `refused:EINVAL` | mount failed with `EINVAL` (not rexfs, unknown version or features) | yes |
//! | `refused:allowed` | mount failed with an errno the damaged field allows (`EROFS` for `feature_ro_compat`) | yes |
//! | `damage:EUCLEAN` | mounted; an access failed with `EUCLEAN`, with a "corrupted:" log line | yes |
//! | `allowed-errno` | mounted; accesses failed only with errnos the damaged field allows (`EPERM` for an immutable flag) | yes |
//! | `harmless` | mounted, and every operation worked | yes |
//! | `hang` | the image's work, or fsck, did not finish in time | no |
//! | `kernel-log` | the image's kernel log shows a WARNING, BUG, oops, lockdep report, hung task... | no |
//! | `other-errno` | an operation (or the mount) failed with another errno | no |
//! | `no-log` | `EUCLEAN` without a "corrupted:" line in the kernel log | no |
//! | `not-run` | the guest reported nothing for the image | no |
//!
//! After an access failed with `EUCLEAN`, `EROFS` and `EIO` are accepted
//! too (the filesystem went read-only, `errors=remount-ro`, or its journal
//! was aborted).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

use crate::mutate::Structure;

/// What the module did with an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Mount failed with EUCLEAN, logged.
    RefusedEuclean,
    /// Mount failed with EINVAL.
    RefusedEinval,
    /// Mount failed with an errno the damage allows.
    RefusedAllowed,
    /// Mounted; a damaged access failed with EUCLEAN, logged.
    DamageEuclean,
    /// Mounted; failures only with errnos the damage allows.
    AllowedErrno,
    /// Mounted; everything worked.
    Harmless,
    /// Timed out.
    Hang,
    /// A WARNING, BUG, oops, lockdep report... in the image's kernel log.
    KernelLog,
    /// Another errno.
    OtherErrno,
    /// EUCLEAN without a "corrupted:" kernel log line.
    NoLog,
    /// No result.
    NotRun,
}

impl Outcome {
    /// Every outcome, in column order.
    pub const ALL: [Outcome; 11] = [
        Outcome::RefusedEuclean,
        Outcome::RefusedEinval,
        Outcome::RefusedAllowed,
        Outcome::DamageEuclean,
        Outcome::AllowedErrno,
        Outcome::Harmless,
        Outcome::Hang,
        Outcome::KernelLog,
        Outcome::OtherErrno,
        Outcome::NoLog,
        Outcome::NotRun,
    ];

    /// The column name.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::RefusedEuclean => "refused:EUCLEAN",
            Outcome::RefusedEinval => "refused:EINVAL",
            Outcome::RefusedAllowed => "refused:allowed",
            Outcome::DamageEuclean => "damage:EUCLEAN",
            Outcome::AllowedErrno => "allowed-errno",
            Outcome::Harmless => "harmless",
            Outcome::Hang => "hang",
            Outcome::KernelLog => "kernel-log",
            Outcome::OtherErrno => "other-errno",
            Outcome::NoLog => "no-log",
            Outcome::NotRun => "not-run",
        }
    }

    /// Whether the outcome is acceptable.
    pub fn passes(self) -> bool {
        matches!(
            self,
            Outcome::RefusedEuclean
                | Outcome::RefusedEinval
                | Outcome::RefusedAllowed
                | Outcome::DamageEuclean
                | Outcome::AllowedErrno
                | Outcome::Harmless
        )
    }

    /// Whether the module rejected the image or failed on it (as opposed
    /// to accepting it): what fsck should detect too.
    pub fn rejected(self) -> bool {
        !matches!(
            self,
            Outcome::Harmless | Outcome::AllowedErrno | Outcome::NotRun
        )
    }
}

/// A line of the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestLine {
    /// Image index.
    pub index: u64,
    /// Structure name.
    pub structure: String,
    /// Field.
    pub field: String,
    /// Mutation.
    pub mutation: String,
    /// `yes`, `no` or `n/a`.
    pub crc: String,
    /// `journal` or `nojournal`.
    pub variant: String,
    /// Which instance.
    pub location: String,
    /// Errnos the damage allows besides EUCLEAN.
    pub allowed: Vec<String>,
    /// fsck.rexfs -n exit status on the image as generated; `None` if not
    /// run.
    pub fsck: Option<u8>,
}

/// The manifest's fsck column for an fsck that panicked ("panic").
pub const FSCK_PANICKED: u8 = 255;

/// The manifest's header line.
pub const MANIFEST_HEADER: &str =
    "index\tstructure\tfield\tmutation\tcrc\tvariant\tlocation\tallowed\tfsck";

/// The results' header line (written by `tests/fuzz/driver.py`).
pub const RESULTS_HEADER: &str = "index\tmount\tfirst_op\tfirst_errno\tfailures\tops\t\
                                  corrupted_lines\tklog_problem\thang\tfsck_after\tseconds";

impl ManifestLine {
    /// The line as written to the manifest.
    pub fn to_tsv(&self) -> String {
        let allowed = if self.allowed.is_empty() {
            "-".to_string()
        } else {
            self.allowed.join(",")
        };
        let fsck = match self.fsck {
            None => "-".to_string(),
            Some(FSCK_PANICKED) => "panic".to_string(),
            Some(c) => c.to_string(),
        };
        [
            self.index.to_string(),
            self.structure.clone(),
            self.field.clone(),
            self.mutation.clone(),
            self.crc.clone(),
            self.variant.clone(),
            self.location.clone(),
            allowed,
            fsck,
        ]
        .map(|s| s.replace(['\t', '\n'], " "))
        .join("\t")
    }

    fn parse(line: &str) -> Option<Self> {
        let c: Vec<&str> = line.split('\t').collect();
        if c.len() < 9 {
            return None;
        }
        Some(ManifestLine {
            index: c[0].parse().ok()?,
            structure: c[1].into(),
            field: c[2].into(),
            mutation: c[3].into(),
            crc: c[4].into(),
            variant: c[5].into(),
            location: c[6].into(),
            allowed: c[7]
                .split(',')
                .filter(|s| !s.is_empty() && *s != "-")
                .map(String::from)
                .collect(),
            fsck: match c[8] {
                "panic" => Some(FSCK_PANICKED),
                code => code.parse().ok(),
            },
        })
    }
}

/// A line of the guest's results.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResultLine {
    /// Image index.
    pub index: u64,
    /// `OK` or the errno name of the failed mount.
    pub mount: String,
    /// The first operation that failed, `-` for none.
    pub first_op: String,
    /// Its errno name.
    pub first_errno: String,
    /// Each distinct errno with the first operation that failed with it,
    /// in order.
    pub failures: Vec<(String, String)>,
    /// Operations attempted.
    pub ops: u64,
    /// "rexfs: DEV: corrupted:" lines in the image's kernel log.
    pub corrupted_lines: u64,
    /// The first line of the image's kernel log that shows a problem.
    pub klog_problem: Option<String>,
    /// What timed out, if anything.
    pub hang: Option<String>,
    /// fsck.rexfs -n after the module's run.
    pub fsck_after: String,
}

impl ResultLine {
    fn parse(line: &str) -> Option<Self> {
        let c: Vec<&str> = line.split('\t').collect();
        if c.len() < 10 {
            return None;
        }
        let opt = |s: &str| (s != "-" && !s.is_empty()).then(|| s.to_string());
        let failures = c[4]
            .split(';')
            .filter(|s| !s.is_empty() && *s != "-")
            .map(|f| match f.split_once(':') {
                Some((errno, op)) => (errno.to_string(), op.to_string()),
                None => (f.to_string(), String::new()),
            })
            .collect();
        Some(ResultLine {
            index: c[0].parse().ok()?,
            mount: c[1].into(),
            first_op: c[2].into(),
            first_errno: c[3].into(),
            failures,
            ops: c[5].parse().unwrap_or(0),
            corrupted_lines: c[6].parse().unwrap_or(0),
            klog_problem: opt(c[7]),
            hang: opt(c[8]),
            fsck_after: c[9].into(),
        })
    }
}

fn read_tsv<T>(path: &Path, parse: fn(&str) -> Option<T>) -> io::Result<Vec<T>> {
    let text = fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with("index\t") && !l.trim().is_empty())
        .filter_map(parse)
        .collect())
}

/// Reads a manifest.
pub fn read_manifest(path: &Path) -> io::Result<Vec<ManifestLine>> {
    read_tsv(path, ManifestLine::parse)
}

/// Reads the guest's results.
pub fn read_results(path: &Path) -> io::Result<Vec<ResultLine>> {
    read_tsv(path, ResultLine::parse)
}

/// Classifies the result `r` (if any) of image `m`.
pub fn classify(m: &ManifestLine, r: Option<&ResultLine>) -> Outcome {
    let Some(r) = r else {
        return Outcome::NotRun;
    };
    if r.hang.is_some() {
        return Outcome::Hang;
    }
    if r.klog_problem.is_some() {
        return Outcome::KernelLog;
    }
    let allowed = |e: &str| m.allowed.iter().any(|a| a == e);
    if r.mount != "OK" {
        return match r.mount.as_str() {
            "EUCLEAN" if r.corrupted_lines == 0 => Outcome::NoLog,
            "EUCLEAN" => Outcome::RefusedEuclean,
            "EINVAL" => Outcome::RefusedEinval,
            e if allowed(e) => Outcome::RefusedAllowed,
            _ => Outcome::OtherErrno,
        };
    }
    let mut euclean = false;
    for (errno, _) in &r.failures {
        match errno.as_str() {
            "EUCLEAN" => euclean = true,
            e if allowed(e) => {}
            "EROFS" | "EIO" if euclean => {}
            _ => return Outcome::OtherErrno,
        }
    }
    match (euclean, r.failures.is_empty()) {
        (true, _) if r.corrupted_lines == 0 => Outcome::NoLog,
        (true, _) => Outcome::DamageEuclean,
        (false, true) => Outcome::Harmless,
        (false, false) => Outcome::AllowedErrno,
    }
}

/// The errno an image is counted under: the failed mount's, else the first
/// failed operation's, `none` if nothing failed.
fn first_errno(r: Option<&ResultLine>) -> String {
    match r {
        None => "not-run".into(),
        Some(r) if r.hang.is_some() => "hang".into(),
        Some(r) if r.mount != "OK" => r.mount.clone(),
        Some(r) if r.first_errno == "-" || r.first_errno.is_empty() => "none".into(),
        Some(r) => r.first_errno.clone(),
    }
}

/// A table with a header row, left-aligned first column, right-aligned
/// numbers.
fn table(out: &mut String, header: &[String], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c == 0 {
                let _ = write!(line, "{cell:<w$}", w = widths[c]);
            } else {
                let _ = write!(line, "  {cell:>w$}", w = widths[c]);
            }
        }
        let _ = writeln!(out, "  {}", line.trim_end());
    }
}

/// The report of a run.
pub struct Report {
    /// The printed report, ending with the PASS or FAIL line.
    pub text: String,
    /// Whether every image passed.
    pub passed: bool,
    /// The indices of the images that failed.
    pub failed: Vec<u64>,
}

/// Classifies every image of `manifest` by its result in `results` and
/// writes the report; `name` names the PASS/FAIL line (`fuzz/NAME`).
pub fn report(manifest: &[ManifestLine], results: &[ResultLine], name: &str) -> Report {
    let by_index: BTreeMap<u64, &ResultLine> = results.iter().map(|r| (r.index, r)).collect();
    let mut out = String::new();
    let mut counts: BTreeMap<(String, Outcome), u64> = BTreeMap::new();
    let mut errnos: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut errno_names: Vec<String> = Vec::new();
    let mut structures: Vec<String> = Vec::new();
    let mut failures = Vec::new();
    let mut fsck_misses = Vec::new();
    let mut fsck_panics = Vec::new();
    // structure -> [rejected, fsck detected, rejected with crc recomputed,
    // detected of those, accepted, fsck flags accepted, fsck after != 0]
    let mut fsck: BTreeMap<String, [u64; 7]> = BTreeMap::new();
    let order = |s: &str| {
        Structure::from_name(s).map_or(usize::MAX, |s| {
            Structure::ALL.iter().position(|&x| x == s).unwrap_or(0)
        })
    };
    for m in manifest {
        if !structures.contains(&m.structure) {
            structures.push(m.structure.clone());
        }
        let r = by_index.get(&m.index).copied();
        let outcome = classify(m, r);
        *counts.entry((m.structure.clone(), outcome)).or_default() += 1;
        let errno = first_errno(r);
        if !errno_names.contains(&errno) {
            errno_names.push(errno.clone());
        }
        *errnos.entry((m.structure.clone(), errno)).or_default() += 1;
        let f = fsck.entry(m.structure.clone()).or_default();
        let flagged = m.fsck.is_some_and(|c| c != 0 && c != FSCK_PANICKED);
        if m.fsck == Some(FSCK_PANICKED) {
            fsck_panics.push(m);
        }
        if outcome.rejected() {
            f[0] += 1;
            f[1] += u64::from(flagged);
            if m.crc == "yes" {
                f[2] += 1;
                f[3] += u64::from(flagged);
            }
            if !flagged && m.fsck.is_some_and(|c| c != FSCK_PANICKED) {
                fsck_misses.push((m, r));
            }
        } else if outcome != Outcome::NotRun {
            f[4] += 1;
            f[5] += u64::from(flagged);
        }
        if r.is_some_and(|r| r.mount == "OK" && r.fsck_after != "0" && r.fsck_after != "-") {
            f[6] += 1;
        }
        if !outcome.passes() {
            failures.push((m, r, outcome));
        }
    }
    structures.sort_by_key(|s| order(s));
    errno_names.sort();

    let total = manifest.len() as u64;
    let _ = writeln!(out, "== outcome by structure ({total} images)");
    let mut header = vec!["structure".to_string(), "images".to_string()];
    header.extend(Outcome::ALL.iter().map(|o| o.name().to_string()));
    let mut rows = Vec::new();
    let mut totals = vec![0u64; Outcome::ALL.len()];
    for s in &structures {
        let mut row = vec![s.clone()];
        let cells: Vec<u64> = Outcome::ALL
            .iter()
            .map(|&o| counts.get(&(s.clone(), o)).copied().unwrap_or(0))
            .collect();
        row.push(cells.iter().sum::<u64>().to_string());
        for (i, c) in cells.iter().enumerate() {
            totals[i] += c;
            row.push(c.to_string());
        }
        rows.push(row);
    }
    let mut row = vec!["total".to_string(), total.to_string()];
    row.extend(totals.iter().map(u64::to_string));
    rows.push(row);
    table(&mut out, &header, &rows);

    let _ = writeln!(
        out,
        "\n== first errno by structure (the mount's, else the first failed operation's)"
    );
    let mut header = vec!["structure".to_string()];
    header.extend(errno_names.iter().cloned());
    let rows: Vec<Vec<String>> = structures
        .iter()
        .map(|s| {
            let mut row = vec![s.clone()];
            row.extend(errno_names.iter().map(|e| {
                errnos
                    .get(&(s.clone(), e.clone()))
                    .copied()
                    .unwrap_or(0)
                    .to_string()
            }));
            row
        })
        .collect();
    table(&mut out, &header, &rows);

    let _ = writeln!(
        out,
        "\n== fsck.rexfs -n by structure (on each image as generated)\n  \
         rejected: the module refused the image or failed on it; detected: fsck exit != 0"
    );
    let header: Vec<String> = [
        "structure",
        "rejected",
        "fsck detected",
        "rate",
        "crc-ok rejected",
        "detected",
        "accepted",
        "fsck flags accepted",
        "mounted, fsck after != 0",
    ]
    .map(String::from)
    .to_vec();
    let rate = |d: u64, n: u64| {
        if n == 0 {
            "-".to_string()
        } else {
            format!("{:.0}%", 100.0 * d as f64 / n as f64)
        }
    };
    let mut sum = [0u64; 7];
    let mut rows: Vec<Vec<String>> = structures
        .iter()
        .map(|s| {
            let f = fsck.get(s).copied().unwrap_or_default();
            for (t, v) in sum.iter_mut().zip(f) {
                *t += v;
            }
            vec![
                s.clone(),
                f[0].to_string(),
                f[1].to_string(),
                rate(f[1], f[0]),
                f[2].to_string(),
                f[3].to_string(),
                f[4].to_string(),
                f[5].to_string(),
                f[6].to_string(),
            ]
        })
        .collect();
    rows.push(vec![
        "total".into(),
        sum[0].to_string(),
        sum[1].to_string(),
        rate(sum[1], sum[0]),
        sum[2].to_string(),
        sum[3].to_string(),
        sum[4].to_string(),
        sum[5].to_string(),
        sum[6].to_string(),
    ]);
    table(&mut out, &header, &rows);

    let describe = |m: &ManifestLine| {
        format!(
            "{:05} {} {} {} (crc recomputed: {}; {}, {})",
            m.index, m.structure, m.field, m.mutation, m.crc, m.variant, m.location
        )
    };
    if !fsck_panics.is_empty() {
        let _ = writeln!(
            out,
            "\n== fsck.rexfs panicked ({}; rexfs-fuzz printed where when it made them)",
            fsck_panics.len()
        );
        for m in fsck_panics.iter().take(40) {
            let _ = writeln!(out, "  {}", describe(m));
        }
    }
    if !fsck_misses.is_empty() {
        let _ = writeln!(
            out,
            "\n== rejected by the module, clean to fsck.rexfs -n ({})",
            fsck_misses.len()
        );
        for (m, r) in fsck_misses.iter().take(40) {
            let what = r.map_or(String::new(), |r| {
                if r.mount != "OK" {
                    format!("mount {}", r.mount)
                } else {
                    format!("{} at {}", r.first_errno, r.first_op)
                }
            });
            let _ = writeln!(out, "  {}: {what}", describe(m));
        }
        if fsck_misses.len() > 40 {
            let _ = writeln!(out, "  ... and {} more", fsck_misses.len() - 40);
        }
    }

    let count = |o: Outcome| -> u64 {
        counts
            .iter()
            .filter(|((_, x), _)| *x == o)
            .map(|(_, n)| n)
            .sum()
    };
    let passed = failures.is_empty() && total > 0;
    let line = if passed {
        format!(
            "PASS fuzz/{name} ({total} images: {} refused at mount, {} failed an access with \
             EUCLEAN, {} allowed errnos, {} harmless)",
            count(Outcome::RefusedEuclean)
                + count(Outcome::RefusedEinval)
                + count(Outcome::RefusedAllowed),
            count(Outcome::DamageEuclean),
            count(Outcome::AllowedErrno),
            count(Outcome::Harmless)
        )
    } else {
        let bad: Vec<String> = Outcome::ALL
            .iter()
            .filter(|o| !o.passes() && count(**o) > 0)
            .map(|&o| format!("{} {}", count(o), o.name()))
            .collect();
        let bad = if total == 0 {
            "no images".to_string()
        } else {
            bad.join(", ")
        };
        format!("FAIL fuzz/{name} ({total} images: {bad})")
    };
    let _ = writeln!(out, "\n{line}");
    // The failed images, indented under the FAIL line (as scripts/run.sh
    // prints a failed test's details).
    if !failures.is_empty() {
        let _ = writeln!(out, "    failed images ({}):", failures.len());
        let first_missing = manifest.iter().find(|m| !by_index.contains_key(&m.index));
        if let Some(m) = first_missing.filter(|_| !results.is_empty()) {
            let _ = writeln!(
                out,
                "    no result from image {:05} on: the guest died in it (an oops panics the \
                 guest: see console.log and kmsg.log), the VM timed out, or the driver \
                 stopped after a hang",
                m.index
            );
        }
        for (m, r, outcome) in failures.iter().take(60) {
            let what = match (outcome, r) {
                (_, None) => "no result".to_string(),
                (Outcome::Hang, Some(r)) => r.hang.clone().unwrap_or_default(),
                (Outcome::KernelLog, Some(r)) => {
                    format!("kernel log: {}", r.klog_problem.as_deref().unwrap_or("?"))
                }
                (_, Some(r)) if r.mount != "OK" => format!("mount {}", r.mount),
                (_, Some(r)) => {
                    let list: Vec<String> = r
                        .failures
                        .iter()
                        .map(|(e, op)| format!("{e} at {op}"))
                        .collect();
                    format!(
                        "{}; corrupted lines: {}",
                        list.join(", "),
                        r.corrupted_lines
                    )
                }
            };
            let _ = writeln!(out, "    {} -> {}: {what}", describe(m), outcome.name());
        }
        if failures.len() > 60 {
            let _ = writeln!(out, "    ... and {} more", failures.len() - 60);
        }
    }

    Report {
        text: out,
        passed,
        failed: failures.iter().map(|(m, _, _)| m.index).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(allowed: &[&str]) -> ManifestLine {
        ManifestLine {
            index: 3,
            structure: "inode".into(),
            field: "flags".into(),
            mutation: "set toggle 0x2 = 0x2".into(),
            crc: "yes".into(),
            variant: "journal".into(),
            location: "inode 5 (/x)".into(),
            allowed: allowed.iter().map(|s| s.to_string()).collect(),
            fsck: Some(0),
        }
    }

    fn result(line: &str) -> ResultLine {
        ResultLine::parse(line).expect("a result line")
    }

    #[test]
    fn lines_round_trip() {
        let m = manifest(&["EPERM", "EMLINK"]);
        assert_eq!(ManifestLine::parse(&m.to_tsv()), Some(m));
        let r =
            result("7\tOK\tread /a\tEUCLEAN\tEUCLEAN:read /a;EROFS:create /b\t40\t2\t-\t-\t4\t1.5");
        assert_eq!(r.failures.len(), 2);
        assert_eq!(r.failures[1], ("EROFS".into(), "create /b".into()));
        assert_eq!(r.klog_problem, None);
    }

    #[test]
    fn outcomes() {
        let m = manifest(&["EPERM"]);
        let c = |line: &str| classify(&m, Some(&result(line)));
        assert_eq!(
            c("3\tEUCLEAN\t-\t-\t-\t0\t1\t-\t-\t4\t1"),
            Outcome::RefusedEuclean
        );
        assert_eq!(c("3\tEUCLEAN\t-\t-\t-\t0\t0\t-\t-\t4\t1"), Outcome::NoLog);
        assert_eq!(
            c("3\tEINVAL\t-\t-\t-\t0\t0\t-\t-\t4\t1"),
            Outcome::RefusedEinval
        );
        assert_eq!(
            c("3\tENOMEM\t-\t-\t-\t0\t0\t-\t-\t4\t1"),
            Outcome::OtherErrno
        );
        assert_eq!(
            c("3\tEPERM\t-\t-\t-\t0\t0\t-\t-\t4\t1"),
            Outcome::RefusedAllowed
        );
        assert_eq!(c("3\tOK\t-\t-\t-\t40\t0\t-\t-\t0\t1"), Outcome::Harmless);
        assert_eq!(
            c("3\tOK\tappend /a\tEPERM\tEPERM:append /a\t40\t0\t-\t-\t0\t1"),
            Outcome::AllowedErrno
        );
        assert_eq!(
            c("3\tOK\tread /a\tEUCLEAN\tEUCLEAN:read /a;EROFS:mkdir /d\t40\t1\t-\t-\t4\t1"),
            Outcome::DamageEuclean
        );
        assert_eq!(
            c("3\tOK\tmkdir /d\tEROFS\tEROFS:mkdir /d;EUCLEAN:read /a\t40\t1\t-\t-\t4\t1"),
            Outcome::OtherErrno
        );
        assert_eq!(
            c("3\tOK\tread /a\tEUCLEAN\tEUCLEAN:read /a\t40\t0\t-\t-\t4\t1"),
            Outcome::NoLog
        );
        assert_eq!(
            c("3\tOK\t-\t-\t-\t4\t0\t-\ttimeout at readdir /\t-\t61"),
            Outcome::Hang
        );
        assert_eq!(
            c("3\tOK\t-\t-\t-\t40\t0\tWARNING: at fs/inode.c:417\t-\t0\t1"),
            Outcome::KernelLog
        );
        assert_eq!(classify(&m, None), Outcome::NotRun);
    }

    #[test]
    fn report_counts_and_verdict() {
        let mut a = manifest(&[]);
        a.index = 0;
        a.fsck = Some(4);
        let mut b = manifest(&[]);
        b.index = 1;
        let results = [
            result("0\tEUCLEAN\t-\t-\t-\t0\t1\t-\t-\t4\t1"),
            result("1\tOK\tread /a\tEUCLEAN\tEUCLEAN:read /a\t40\t1\t-\t-\t4\t1"),
        ];
        let r = report(&[a.clone(), b.clone()], &results, "t");
        assert!(r.passed, "{}", r.text);
        assert!(r.text.contains("PASS fuzz/t (2 images"), "{}", r.text);
        // Rejected by the module but clean to fsck: listed.
        assert!(r.text.contains("clean to fsck.rexfs -n (1)"), "{}", r.text);
        let r = report(&[a, b], &results[..1], "t");
        assert!(!r.passed);
        assert_eq!(r.failed, [1]);
        assert!(
            r.text.contains("FAIL fuzz/t (2 images: 1 not-run)"),
            "{}",
            r.text
        );
    }
}
