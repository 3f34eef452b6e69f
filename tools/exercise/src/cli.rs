// SPDX-License-Identifier: GPL-2.0
//! The command line.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::op::{Mix, OpKind, DIRECT_ALIGN};
use crate::rng::Rng;

/// The usage text of `--help`.
pub const USAGE: &str = "\
usage: rexfs-exercise [OPTIONS] PATH

Creates (or truncates) the file PATH and its peer PATH.peer, runs random
operations on them and checks every result against an in-memory model of each
file, like xfstests' fsx. Every operation works on PATH but clone, dedupe and
copyrange, which go from one file to the other or between two ranges of one.

options:
  --seed N           seed of the random operations (default: from the clock;
                     printed at the start, so that a failure can be replayed)
  --ops N            number of operations (default 100000)
  --max-size BYTES   largest file size (default 8M; K, M, G suffixes; >= 4K)
  --ops-mix LIST     comma-separated operations to run, each NAME or
                     NAME:WEIGHT (default: all, weights below)
  --verify-every N   read the whole file back every N operations (default
                     1000; 0: only at the end)
  --log FILE         write every operation to FILE, one line each
  --corrupt-at N     after operation N, change one byte of the file behind
                     the model's back and verify (a self-test: must fail)
  -h, --help         this text

operations (default weight): write (12), read (6), mapwrite (8), mapread (6),
truncate (4), fsync (1), fdatasync (1), invalidate (1: fdatasync and
posix_fadvise DONTNEED, of both files), punch (3), zero (3), falloc (3),
dwrite (3), dread (3: O_DIRECT), clone (2: FICLONERANGE), dedupe (2:
FIDEDUPERANGE, its status checked against the model), copyrange (2:
copy_file_range). An operation that fails with EOPNOTSUPP, EINVAL, EXDEV,
ENOTTY or ENOSYS the first time it runs is dropped from the mix, and named
as not supported in the summary.

exit status: 0 no mismatch, 1 a mismatch or a failed operation, 2 usage.";

/// What a run does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The file to exercise.
    pub path: PathBuf,
    /// The seed of the operations.
    pub seed: u64,
    /// How many operations to run.
    pub ops: u64,
    /// The largest file size.
    pub max_size: u64,
    /// The operations to draw.
    pub mix: Mix,
    /// Verify the whole file every this many operations (0: only at the end).
    pub verify_every: u64,
    /// Where to log every operation.
    pub log: Option<PathBuf>,
    /// After which operation to corrupt the file (a self-test).
    pub corrupt_at: Option<u64>,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Run with this configuration.
    Run(Config),
    /// Print the usage text.
    Help,
}

/// Parses the arguments (without the program name). The error is a
/// one-line message.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut args = args.into_iter().map(|a| {
        a.into_string()
            .map_err(|a| format!("argument {a:?} is not UTF-8"))
    });
    let mut config = Config {
        path: PathBuf::new(),
        seed: clock_seed(),
        ops: 100_000,
        max_size: 8 << 20,
        mix: Mix::default(),
        verify_every: 1000,
        log: None,
        corrupt_at: None,
    };
    let mut path = None;
    while let Some(arg) = args.next() {
        let arg = arg?;
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .map(Ok)
                .or_else(|| args.next())
                .unwrap_or_else(|| Err(format!("{name} needs a value")))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--seed" => config.seed = number(&name, &value()?)?,
            "--ops" => config.ops = number(&name, &value()?)?,
            "--max-size" => config.max_size = number(&name, &value()?)?,
            "--ops-mix" => config.mix = mix(&value()?)?,
            "--verify-every" => config.verify_every = number(&name, &value()?)?,
            "--log" => config.log = Some(value()?.into()),
            "--corrupt-at" => config.corrupt_at = Some(number(&name, &value()?)?),
            _ if name.starts_with('-') && name.len() > 1 => {
                return Err(format!("unknown option {name}"))
            }
            _ if path.is_some() => return Err(format!("more than one PATH: {arg}")),
            _ => path = Some(PathBuf::from(arg)),
        }
    }
    config.path = path.ok_or("no PATH given")?;
    if !(DIRECT_ALIGN..=1 << 40).contains(&config.max_size) {
        return Err(format!(
            "--max-size {} is not between 4K and 1T",
            config.max_size
        ));
    }
    Ok(Command::Run(config))
}

/// Parses a number: decimal or `0x` hex, with an optional `K`, `M` or `G`
/// (binary) suffix.
fn number(option: &str, text: &str) -> Result<u64, String> {
    let bad = || format!("{option}: {text:?} is not a number");
    let (digits, shift) = match text.as_bytes().last().map(u8::to_ascii_uppercase) {
        Some(b'K') => (&text[..text.len() - 1], 10),
        Some(b'M') => (&text[..text.len() - 1], 20),
        Some(b'G') => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    let value = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => digits.parse(),
    }
    .map_err(|_| bad())?;
    value.checked_mul(1 << shift).ok_or_else(bad)
}

/// Parses `--ops-mix`: `NAME[:WEIGHT],...`.
fn mix(text: &str) -> Result<Mix, String> {
    let mut mix = Mix::empty();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, weight) = match item.split_once(':') {
            Some((name, weight)) => (
                name,
                weight
                    .parse()
                    .map_err(|_| format!("--ops-mix: bad weight in {item:?}"))?,
            ),
            None => (item, 0),
        };
        let kind = OpKind::from_name(name).ok_or_else(|| {
            let names: Vec<_> = OpKind::ALL.iter().map(|k| k.name()).collect();
            format!(
                "--ops-mix: unknown operation {name:?} (known: {})",
                names.join(", ")
            )
        })?;
        mix.set(
            kind,
            if item.contains(':') {
                weight
            } else {
                kind.default_weight()
            },
        );
    }
    if OpKind::ALL.iter().all(|&k| !mix.enabled(k)) {
        return Err("--ops-mix: no operation enabled".into());
    }
    Ok(mix)
}

/// A seed from the clock and the process id, for runs without `--seed`.
fn clock_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    Rng::new(nanos ^ (u64::from(std::process::id()) << 32)).next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, String> {
        match parse(args.iter().map(OsString::from))? {
            Command::Run(config) => Ok(config),
            Command::Help => Err("help".into()),
        }
    }

    #[test]
    fn defaults_and_options() {
        let c = run(&["/tmp/f"]).unwrap();
        assert_eq!(
            (c.ops, c.max_size, c.verify_every, c.log, c.corrupt_at),
            (100_000, 8 << 20, 1000, None, None)
        );
        assert_eq!(c.mix, Mix::default());
        assert_eq!(c.path, PathBuf::from("/tmp/f"));
        let c = run(&[
            "--seed",
            "42",
            "--ops=5",
            "--max-size",
            "1M",
            "--verify-every",
            "0x10",
            "--log",
            "l",
            "f",
        ])
        .unwrap();
        assert_eq!(
            (c.seed, c.ops, c.max_size, c.verify_every),
            (42, 5, 1 << 20, 16)
        );
        assert_eq!(c.log, Some(PathBuf::from("l")));
        assert_eq!(parse([OsString::from("--help")]), Ok(Command::Help));
    }

    #[test]
    fn ops_mix_names_and_weights() {
        let c = run(&["--ops-mix", "write,read:5,fsync:0", "f"]).unwrap();
        let mut want = Mix::empty();
        want.set(OpKind::Write, OpKind::Write.default_weight());
        want.set(OpKind::Read, 5);
        assert_eq!(c.mix, want);
        assert!(run(&["--ops-mix", "write,bogus", "f"])
            .unwrap_err()
            .contains("unknown operation \"bogus\""));
        assert!(run(&["--ops-mix", "fsync:0", "f"]).is_err());
    }

    #[test]
    fn bad_command_lines() {
        assert!(run(&[]).unwrap_err().contains("no PATH"));
        assert!(run(&["a", "b"]).is_err());
        assert!(run(&["--ops"]).unwrap_err().contains("needs a value"));
        assert!(run(&["--ops", "ten", "f"]).is_err());
        assert!(run(&["--max-size", "100", "f"]).is_err());
        assert!(run(&["--frobnicate", "f"]).is_err());
    }
}
