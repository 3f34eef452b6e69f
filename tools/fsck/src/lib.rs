// SPDX-License-Identifier: GPL-2.0
//! `fsck.rexfs`: checks a rexfs filesystem and repairs what it safely can.
//!
//! The command line and the exit statuses follow e2fsck, so that `fsck -t
//! rexfs` and xfstests can drive it. A journal holding transactions is
//! replayed by `-y`/`-p` before the check, as e2fsck does; `-n` stops at it.

mod check;
pub mod journal;

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;

use rexfs_mkfs::getopt::{self, Arg, Getopt};
use rexfs_mkfs::Device;

pub use check::{Fsck, Problem, Summary};

/// Program name used in messages.
pub const PROG: &str = "fsck.rexfs";

const USAGE: &str = "usage: fsck.rexfs [-n] [-y] [-p|-a] [-f] [-v] [-V] DEVICE";

/// Exit statuses, as e2fsck's.
pub mod exit {
    /// No problems.
    pub const OK: u8 = 0;
    /// All problems were repaired.
    pub const CORRECTED: u8 = 1;
    /// Problems remain.
    pub const UNCORRECTED: u8 = 4;
    /// The device could not be checked.
    pub const OPERATIONAL: u8 = 8;
    /// Bad command line.
    pub const USAGE: u8 = 16;
}

/// How to check, from the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Replay the journal and write repairs (`-y`, `-p`, `-a`); otherwise
    /// the device is opened read-only.
    pub repair: bool,
    /// Print a usage summary (`-v`).
    pub verbose: bool,
    /// The device or image file.
    pub device: PathBuf,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Check a device.
    Check(Options),
    /// Print the version.
    Version,
}

/// Parses the command line `args` (without the program name); an error is a
/// message for the user.
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut no_change = false;
    let mut repair = false;
    let mut verbose = false;
    let mut operands = Vec::new();
    for arg in Getopt::new(args, b"") {
        match arg? {
            Arg::Flag(b'n') => no_change = true,
            // Every repair is safe, so answering yes and preening agree.
            Arg::Flag(b'y' | b'p' | b'a') => repair = true,
            // The check is always full.
            Arg::Flag(b'f') => {}
            Arg::Flag(b'v') => verbose = true,
            Arg::Flag(b'V') => return Ok(Command::Version),
            Arg::Operand(operand) => operands.push(operand),
            Arg::Flag(letter) | Arg::Value(letter, _) => {
                return Err(getopt::invalid_option(letter))
            }
        }
    }
    if no_change && repair {
        return Err("-n cannot be combined with -y, -p or -a".into());
    }
    let device = getopt::device_operand(operands)?;
    Ok(Command::Check(Options {
        repair,
        verbose,
        device,
    }))
}

/// Runs `fsck.rexfs` with the command line `args` (without the program
/// name), printing to stdout and stderr; returns the exit status.
pub fn cli(args: impl IntoIterator<Item = OsString>) -> u8 {
    let opts = match parse_args(args) {
        Ok(Command::Check(opts)) => opts,
        Ok(Command::Version) => {
            println!("{PROG} {}", env!("CARGO_PKG_VERSION"));
            return exit::OK;
        }
        Err(msg) => {
            eprintln!("{PROG}: {msg}");
            eprintln!("{USAGE}");
            return exit::USAGE;
        }
    };
    let failed = |err: io::Error| {
        eprintln!("{PROG}: {err}");
        exit::OPERATIONAL
    };
    let dev = match Device::open(&opts.device, opts.repair) {
        Ok(dev) => dev,
        Err(err) => return failed(err),
    };
    let checked = if opts.repair {
        Fsck::replay_and_check(&dev)
    } else {
        Fsck::check(&dev)
    };
    let mut fsck = match checked {
        Ok(fsck) => fsck,
        Err(err) => return failed(err),
    };
    let repaired = if opts.repair {
        fsck.repair(&dev)
    } else {
        Ok(())
    };
    for problem in fsck.problems() {
        println!("{PROG}: {problem}");
    }
    if let Err(err) = repaired {
        return failed(err);
    }
    if let Some(s) = fsck.summary().filter(|_| opts.verbose) {
        println!(
            "{PROG}: {}: {}/{} inodes, {}/{} blocks used",
            dev.name(),
            s.inodes_used,
            s.inode_count,
            s.blocks_used,
            s.block_count
        );
    }
    fsck.exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn arguments() {
        let check = |repair, verbose| {
            Ok(Command::Check(Options {
                repair,
                verbose,
                device: "d".into(),
            }))
        };
        assert_eq!(parse(&["d"]), check(false, false));
        assert_eq!(parse(&["-n", "-f", "d"]), check(false, false));
        assert_eq!(parse(&["-fy", "d"]), check(true, false));
        assert_eq!(parse(&["-p", "-v", "d"]), check(true, true));
        assert_eq!(parse(&["d", "-a"]), check(true, false));
        assert_eq!(parse(&["-V"]), Ok(Command::Version));
        assert!(parse(&["-n", "-y", "d"]).is_err());
        assert!(parse(&["-x", "d"]).is_err());
        assert!(parse(&[]).is_err());
        assert!(parse(&["d", "e"]).is_err());
    }
}
