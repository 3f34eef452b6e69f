// SPDX-License-Identifier: GPL-2.0
//! The exerciser: draws operations, applies each to the files and to the
//! models, checks the files against the models, and reports.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, LineWriter, Write as _};
use std::path::Path;
use std::time::Instant;

use crate::cli::Config;
use crate::files::{peer_path, FileId, PerFile, Remap};
use crate::model::{self, Difference, Model};
use crate::op::{Mix, Observed, Op, OpKind, Outcome, Shape};
use crate::pattern::Pattern;
use crate::rng::Rng;
use crate::target::{StepError, Target};

/// How many recent operations a failure report shows.
const RECENT: usize = 20;
/// The longest read-back after an operation.
const CHECK_LEN: u64 = 16 << 10;
// The read-back of a check fits in the buffer of a whole-file verify.
const _: () = assert!(CHECK_LEN <= VERIFY_CHUNK);
/// The read size of a whole-file verify.
const VERIFY_CHUNK: u64 = 1 << 20;
/// Bytes of context a mismatch report shows.
const CONTEXT: usize = 16;

/// Why a run stopped early.
#[derive(Debug)]
pub struct Failure {
    /// The operation after which it happened.
    pub opno: u64,
    /// True for data or size that differs from the model; false for an
    /// operation that failed.
    pub mismatch: bool,
    /// What happened, possibly over several lines.
    pub message: String,
}

impl Failure {
    /// The file differs from the model.
    fn mismatch(opno: u64, message: String) -> Self {
        Self {
            opno,
            mismatch: true,
            message,
        }
    }

    /// An operation or a check's system call failed.
    fn error(opno: u64, context: &str, error: &StepError) -> Self {
        Self {
            opno,
            mismatch: false,
            message: format!("{context}: {error}"),
        }
    }
}

/// One run of the exerciser on its two files.
#[derive(Debug)]
pub struct Exerciser {
    config: Config,
    /// Draws the operations.
    rng: Rng,
    /// Draws the read-back ranges, apart from `rng` so that the operations
    /// depend only on the seed, the mix and the maximum size.
    check_rng: Rng,
    pattern: Pattern,
    models: PerFile<Model>,
    targets: PerFile<Target>,
    /// The last clone or copy, as done: see [`Shape::last_copy`].
    last_copy: Option<Remap>,
    mix: Mix,
    /// Which kinds have succeeded once (and so are supported).
    succeeded: [bool; OpKind::COUNT],
    counts: [u64; OpKind::COUNT],
    /// The last [`RECENT`] operations: number and description.
    recent: VecDeque<(u64, String)>,
    log: Option<LineWriter<File>>,
    /// The payload of the current writing operation.
    payload: Vec<u8>,
    /// The buffer of the reads that check the file.
    read_buf: Vec<u8>,
    /// Operations performed (the last one perhaps failing its checks).
    done: u64,
    whole_verifies: u64,
    /// Dedupes that found their ranges the same (and shared them).
    dedupes_same: u64,
    started: Instant,
}

impl Exerciser {
    /// Creates (or truncates) the file, its peer and the log. The error
    /// names the file it is about.
    pub fn new(config: Config) -> io::Result<Self> {
        let create = |path: &Path| Target::create(path).map_err(|e| with_path(path, e));
        let targets = PerFile::new(create(&config.path)?, create(&peer_path(&config.path))?);
        let log = match &config.log {
            Some(path) => Some(LineWriter::new(
                File::create(path).map_err(|e| with_path(path, e))?,
            )),
            None => None,
        };
        Ok(Self {
            rng: Rng::new(config.seed),
            check_rng: Rng::new(config.seed ^ 0x6368_6563_6b21),
            pattern: Pattern::new(config.seed),
            models: PerFile::default(),
            targets,
            last_copy: None,
            mix: config.mix.clone(),
            succeeded: [false; OpKind::COUNT],
            counts: [0; OpKind::COUNT],
            recent: VecDeque::with_capacity(RECENT + 1),
            log,
            payload: Vec::new(),
            read_buf: vec![0; VERIFY_CHUNK as usize],
            done: 0,
            whole_verifies: 0,
            dedupes_same: 0,
            started: Instant::now(),
            config,
        })
    }

    /// Runs every operation, then verifies both files whole.
    pub fn run(&mut self) -> Result<(), Failure> {
        self.started = Instant::now();
        for opno in 1..=self.config.ops {
            self.step(opno)?;
        }
        self.verify_whole(self.config.ops, "final verify")
    }

    /// Operation number `opno`: draws kinds until one is supported, applies
    /// it, and runs the checks that follow it.
    fn step(&mut self, opno: u64) -> Result<(), Failure> {
        loop {
            let Some(kind) = self.mix.pick(&mut self.rng) else {
                return Err(Failure {
                    opno,
                    mismatch: false,
                    message: "no operation left in the mix".into(),
                });
            };
            let shape = Shape {
                sizes: PerFile::new(
                    self.models[FileId::Main].size(),
                    self.models[FileId::Peer].size(),
                ),
                max_size: self.config.max_size,
                last_copy: self.last_copy,
            };
            let op = kind.generate(&mut self.rng, &shape);
            if self.perform(opno, &op)? {
                return self.after(opno, &op);
            }
        }
    }

    /// Applies `op` to the files, checks what it reported, and applies it
    /// to the models. Returns false if the filesystem turned out not to
    /// support it (it is then dropped from the mix).
    fn perform(&mut self, opno: u64, op: &Op) -> Result<bool, Failure> {
        let kind = op.kind();
        let len = op.payload_len().unwrap_or(0) as usize;
        if let (true, Some((offset, _))) = (len > 0, op.range()) {
            self.pattern.fill(&mut self.payload, opno, offset, len);
        }
        self.note(opno, op.to_string())?;
        match op.apply(&mut self.targets, &self.payload[..len]) {
            Err(e) if e.is_unsupported() && !self.succeeded[kind.index()] => {
                self.unsupported(opno, kind, &e)?;
                return Ok(false);
            }
            Err(e) => return Err(Failure::error(opno, &op.to_string(), &e)),
            Ok(outcome) => {
                if op.proves_support() {
                    self.succeeded[kind.index()] = true;
                }
                self.counts[kind.index()] += 1;
                self.done = opno;
                if let Some(outcome) = outcome {
                    self.check_outcome(opno, op, &outcome)?;
                    if outcome == Outcome::Deduped(true) {
                        self.dedupes_same += 1;
                    }
                }
            }
        }
        // What a clone or copy makes equal, as done (a copy stops at the
        // source's EOF): the next dedupes often try it.
        let copied = match *op {
            Op::CloneRange(remap) | Op::CopyRange(remap) => {
                let source = &self.models[remap.src];
                let len = source.expected(remap.src_offset, remap.len).len() as u64;
                (len > 0).then_some(Remap { len, ..remap })
            }
            _ => None,
        };
        op.apply_model(&mut self.models, &self.payload[..len]);
        if copied.is_some() {
            self.last_copy = copied;
        }
        let file = op.file();
        if let Some((_, entry)) = self.recent.back_mut() {
            let _ = match file {
                FileId::Main => write!(entry, " => size {:#x}", self.models[file].size()),
                FileId::Peer => write!(entry, " => peer size {:#x}", self.models[file].size()),
            };
        }
        Ok(true)
    }

    /// The checks after operation `opno`: size and a random range of its
    /// file after a change, a clone, a dedupe or a copy (and of the source
    /// of one from the other file), both files whole every
    /// `--verify-every` operations.
    fn after(&mut self, opno: u64, op: &Op) -> Result<(), Failure> {
        if self.config.corrupt_at == Some(opno) {
            self.corrupt(opno)?;
            self.verify_whole(opno, "verify after --corrupt-at")?;
        }
        if op.changes_data() || op.remap().is_some() {
            self.check_size(opno, op.file())?;
            self.check_range(opno, op)?;
        }
        // The source of a clone, dedupe or copy from the other file must be
        // as it was.
        if let Some(remap) = op.remap().filter(|remap| remap.src != remap.dst) {
            self.check_size(opno, remap.src)?;
            self.check_source(opno, remap)?;
        }
        let every = self.config.verify_every;
        if every > 0 && opno.is_multiple_of(every) {
            self.verify_whole(opno, "periodic verify")?;
        }
        Ok(())
    }

    /// Writes a line about operation `opno` to the log, if there is one.
    fn log(&mut self, opno: u64, text: &str) -> Result<(), Failure> {
        match &mut self.log {
            Some(log) => writeln!(log, "{opno} {text}").map_err(|error| {
                Failure::error(
                    opno,
                    "--log",
                    &StepError {
                        step: "write",
                        error,
                    },
                )
            }),
            None => Ok(()),
        }
    }

    /// Records operation `opno` in the log and the recent ring.
    fn note(&mut self, opno: u64, text: String) -> Result<(), Failure> {
        self.log(opno, &text)?;
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((opno, text));
        Ok(())
    }

    /// Drops `kind`, which failed the first time with `error`, from the mix.
    fn unsupported(&mut self, opno: u64, kind: OpKind, error: &StepError) -> Result<(), Failure> {
        self.mix.set(kind, 0);
        println!(
            "op {} not supported by this filesystem: disabled ({error})",
            kind.name()
        );
        if let Some((_, entry)) = self.recent.back_mut() {
            let _ = write!(entry, " => not supported, disabled");
        }
        self.log(
            opno,
            &format!("^ {} not supported ({error}): disabled", kind.name()),
        )
    }

    /// `--corrupt-at`: changes one byte of the file, not of the model (the
    /// verify that follows must catch it).
    fn corrupt(&mut self, opno: u64) -> Result<(), Failure> {
        let model = &self.models[FileId::Main];
        let offset = model.size() / 2;
        let byte = model
            .contents()
            .get(offset as usize)
            .map_or(0xff, |b| b ^ 0xff);
        self.targets[FileId::Main]
            .pwrite(offset, &[byte])
            .map_err(|e| Failure::error(opno, "--corrupt-at", &e))?;
        println!("rexfs-exercise: --corrupt-at {opno}: changed the byte at {offset:#x} behind the model's back");
        Ok(())
    }

    /// The size of `file` (`fstat`) equals its model's.
    fn check_size(&self, opno: u64, file: FileId) -> Result<(), Failure> {
        let actual = self.targets[file]
            .size()
            .map_err(|e| Failure::error(opno, "size check", &e))?;
        let expected = self.models[file].size();
        if actual != expected {
            let name = match file {
                FileId::Main => "file",
                FileId::Peer => "peer file",
            };
            return Err(Failure::mismatch(
                opno,
                format!("{name} size {actual:#x} (fstat), expected {expected:#x}"),
            ));
        }
        Ok(())
    }

    /// Reads back a random range of the operation's file: half of the time
    /// one that starts inside the operation's range, otherwise anywhere up
    /// to EOF.
    fn check_range(&mut self, opno: u64, op: &Op) -> Result<(), Failure> {
        let file = op.file();
        let len = self.check_rng.between(1, CHECK_LEN);
        let offset = match op.range() {
            Some((start, n)) if n > 0 && self.check_rng.one_in(2) => {
                start + self.check_rng.below(n)
            }
            _ => self.check_rng.below(self.models[file].size() + 1),
        };
        self.read_and_compare(opno, file, "read back after the op", offset, len)
    }

    /// Reads back a random range that starts inside the source range of a
    /// clone, dedupe or copy.
    fn check_source(&mut self, opno: u64, remap: &Remap) -> Result<(), Failure> {
        let len = self.check_rng.between(1, CHECK_LEN);
        let offset = remap.src_offset + self.check_rng.below(remap.len.max(1));
        let what = "read back the source after the op";
        self.read_and_compare(opno, remap.src, what, offset, len)
    }

    /// Reads both files back whole, in chunks, and checks that nothing is
    /// readable past their EOF.
    fn verify_whole(&mut self, opno: u64, what: &str) -> Result<(), Failure> {
        self.whole_verifies += 1;
        for file in FileId::ALL {
            self.check_size(opno, file)?;
            let size = self.models[file].size();
            for offset in (0..size).step_by(VERIFY_CHUNK as usize) {
                let len = VERIFY_CHUNK.min(size - offset);
                self.read_and_compare(opno, file, what, offset, len)?;
            }
            self.read_and_compare(opno, file, what, size, 1)?;
        }
        Ok(())
    }

    /// `pread`s `len` bytes (at most [`VERIFY_CHUNK`]) of `file` at
    /// `offset` and compares them with its model.
    fn read_and_compare(
        &mut self,
        opno: u64,
        file: FileId,
        what: &str,
        offset: u64,
        len: u64,
    ) -> Result<(), Failure> {
        let buf = &mut self.read_buf[..len as usize];
        let done = self.targets[file]
            .pread_into(offset, buf)
            .map_err(|e| Failure::error(opno, what, &e))?;
        self.compare(opno, file, what, offset, len, &self.read_buf[..done])
    }

    /// Checks what `op` reported against the models, before they apply it:
    /// what a read saw, how much a copy copied, what a dedupe found.
    fn check_outcome(&self, opno: u64, op: &Op, outcome: &Outcome) -> Result<(), Failure> {
        match (outcome, op.remap()) {
            (Outcome::Read(observed), _) => self.check_observed(opno, observed),
            (Outcome::Copied(copied), Some(remap)) => {
                let source = &self.models[remap.src];
                let expected = source.expected(remap.src_offset, remap.len).len() as u64;
                if *copied == expected {
                    return Ok(());
                }
                Err(Failure::mismatch(
                    opno,
                    format!(
                        "copy_file_range copied {copied:#x} bytes, expected {expected:#x} \
                         (source size {:#x}: short only at its EOF)",
                        source.size()
                    ),
                ))
            }
            (Outcome::Deduped(same), Some(remap)) => {
                let expected = model::same(&self.models, remap);
                if *same == expected {
                    return Ok(());
                }
                let verdict = |same: bool| if same { "the same" } else { "different" };
                Err(Failure::mismatch(
                    opno,
                    format!(
                        "dedupe found the ranges {}, the model has them {}",
                        verdict(*same),
                        verdict(expected)
                    ),
                ))
            }
            (outcome, None) => unreachable!("{op} reported {outcome:?}"),
        }
    }

    /// Compares what a read of the main file saw with its model.
    fn check_observed(&self, opno: u64, observed: &Observed) -> Result<(), Failure> {
        let Observed {
            offset,
            len,
            bytes,
            past_eof,
        } = observed;
        let main = FileId::Main;
        self.compare(opno, main, "read by the op", *offset, *len, bytes)?;
        let what = "mapped bytes past EOF (must be zeros)";
        self.compare_bytes(
            opno,
            main,
            what,
            self.models[main].size(),
            &vec![0; past_eof.len()],
            past_eof,
        )
    }

    /// Compares `actual`, what a read of `len` bytes of `file` at `offset`
    /// returned, with its model.
    fn compare(
        &self,
        opno: u64,
        file: FileId,
        what: &str,
        offset: u64,
        len: u64,
        actual: &[u8],
    ) -> Result<(), Failure> {
        let expected = self.models[file].expected(offset, len);
        let at = match file {
            FileId::Main => format!("{offset:#x}+{len:#x}"),
            FileId::Peer => format!("peer file {offset:#x}+{len:#x}"),
        };
        self.compare_bytes(
            opno,
            file,
            &format!("{what} ({at})"),
            offset,
            expected,
            actual,
        )
    }

    /// Compares `actual` with `expected`, both from offset `offset` of
    /// `file`.
    fn compare_bytes(
        &self,
        opno: u64,
        file: FileId,
        what: &str,
        offset: u64,
        expected: &[u8],
        actual: &[u8],
    ) -> Result<(), Failure> {
        if actual.len() != expected.len() {
            let message = format!(
                "{what}: got {:#x} bytes, expected {:#x} (model size {:#x})",
                actual.len(),
                expected.len(),
                self.models[file].size()
            );
            return Err(Failure::mismatch(opno, message));
        }
        match model::difference(expected, actual) {
            None => Ok(()),
            Some(diff) => Err(Failure::mismatch(
                opno,
                self.describe(what, offset, expected, actual, diff),
            )),
        }
    }

    /// The report of a data mismatch: where, the bytes around the first
    /// difference, and a guess at where the wrong bytes came from.
    fn describe(
        &self,
        what: &str,
        offset: u64,
        expected: &[u8],
        actual: &[u8],
        diff: Difference,
    ) -> String {
        let at = |i: usize| offset + i as u64;
        let start = diff.first - (at(diff.first) % CONTEXT as u64).min(diff.first as u64) as usize;
        let end = (start + CONTEXT).min(actual.len());
        let mut lines = vec![
            format!(
                "{what}: first differing byte at offset {:#x} ({} bytes differ, the last at {:#x})",
                at(diff.first),
                diff.count,
                at(diff.last)
            ),
            format!(
                "  expected at {:#x}: {}",
                at(start),
                hex(&expected[start..end])
            ),
            format!(
                "  actual   at {:#x}: {}",
                at(start),
                hex(&actual[start..end])
            ),
        ];
        lines.extend(self.hint(at(start), &expected[start..end], &actual[start..end]));
        lines.join("\n")
    }

    /// A guess at where wrong bytes `actual` (at file offset `offset`) came
    /// from, from the data pattern.
    fn hint(&self, offset: u64, expected: &[u8], actual: &[u8]) -> Option<String> {
        if actual.iter().all(|&b| b == 0) {
            return Some(
                "  the actual bytes are zeros: data lost, or a hole where data belongs".into(),
            );
        }
        let wrong_tag = (0..actual.len()).find(|&i| {
            (offset + i as u64).is_multiple_of(2) && actual[i] != expected[i] && actual[i] != 0
        });
        let residue = Pattern::opno_of_tag(actual[wrong_tag?])?;
        let mut text = format!("  the wrong bytes at even offsets look like data of an op numbered {residue} (mod 255)");
        let candidates: Vec<String> = self
            .recent
            .iter()
            .filter(|(n, _)| n % 255 == residue)
            .map(|(n, _)| n.to_string())
            .collect();
        if !candidates.is_empty() {
            let _ = write!(text, ": among the last ones, {}", candidates.join(", "));
        }
        Some(text)
    }

    /// The report of a failure: what, where, the seed, the last operations.
    pub fn report(&self, failure: &Failure) -> String {
        let what = if failure.mismatch {
            "MISMATCH"
        } else {
            "FAILED"
        };
        let mut text = format!(
            "rexfs-exercise: {what} at op {} (seed {}): {}\n",
            failure.opno, self.config.seed, failure.message
        );
        let _ = writeln!(
            text,
            "last {} operations (number, operation => size after):",
            self.recent.len()
        );
        for (opno, op) in &self.recent {
            let _ = writeln!(text, "  {opno:>8} {op}");
        }
        let _ = write!(
            text,
            "replay with --seed {} (and the same --ops-mix and --max-size)",
            self.config.seed
        );
        text
    }

    /// The kinds of the mix asked for that the filesystem did not support.
    fn not_supported(&self) -> String {
        let disabled: Vec<&str> = OpKind::ALL
            .iter()
            .filter(|&&k| self.config.mix.enabled(k) && !self.mix.enabled(k))
            .map(|k| k.name())
            .collect();
        if disabled.is_empty() {
            String::new()
        } else {
            format!(", not supported: {}", disabled.join(" "))
        }
    }

    /// One line of statistics: time, rate, final sizes, verifies, dedupes
    /// that found the same bytes.
    pub fn stats(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        format!(
            "rexfs-exercise: {:.1} s, {:.0} ops/s, final size {:#x} (peer {:#x}), \
             {} whole-file verifies, {} dedupes the same{}",
            secs,
            self.done as f64 / secs.max(1e-9),
            self.models[FileId::Main].size(),
            self.models[FileId::Peer].size(),
            self.whole_verifies,
            self.dedupes_same,
            self.not_supported()
        )
    }

    /// The summary line: the kinds the filesystem did not support at its
    /// end.
    pub fn summary(&self, mismatches: u64) -> String {
        let counts: Vec<String> = OpKind::ALL
            .iter()
            .map(|k| format!("{}={}", k.name(), self.counts[k.index()]))
            .collect();
        format!(
            "rexfs-exercise: {} ops, seed {}, {mismatches} mismatches, per-op counts: {}{}",
            self.done,
            self.config.seed,
            counts.join(" "),
            self.not_supported()
        )
    }
}

/// `error` with `path` in front of its message.
fn with_path(path: &Path, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

/// Bytes as space-separated hex.
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
