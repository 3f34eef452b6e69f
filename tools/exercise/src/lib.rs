// SPDX-License-Identifier: GPL-2.0
//! `rexfs-exercise`: a randomized file-operation exerciser in the spirit of
//! xfstests' fsx. It runs random operations (buffered, mapped and direct
//! reads and writes, truncate, fsync, fallocate) on one file, and clone,
//! dedupe and `copy_file_range` between it and a second file (its peer) or
//! within either, and checks every result, the size after every change
//! and, periodically, both files whole against an in-memory model of each.
//! The operations come from a seeded generator, so a failure replays with
//! the same `--seed`.

pub mod cli;
pub mod files;
pub mod model;
pub mod op;
pub mod pattern;
pub mod rng;
pub mod run;
pub mod sys;
pub mod target;

use std::ffi::OsString;

use cli::Command;
use run::Exerciser;

/// The program: parses `args` (without the program name), runs, prints the
/// report; returns the exit status (0 no mismatch, 1 a mismatch or a failed
/// operation, 2 usage or setup error).
pub fn main(args: impl IntoIterator<Item = OsString>) -> u8 {
    let config = match cli::parse(args) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            println!("{}", cli::USAGE);
            return 0;
        }
        Err(message) => {
            eprintln!("rexfs-exercise: {message} (see --help)");
            return 2;
        }
    };
    println!(
        "rexfs-exercise: seed {}, {} ops, max size {:#x}, verify every {}, file {}, peer {}",
        config.seed,
        config.ops,
        config.max_size,
        config.verify_every,
        config.path.display(),
        files::peer_path(&config.path).display()
    );
    let mut exerciser = match Exerciser::new(config) {
        Ok(exerciser) => exerciser,
        Err(e) => {
            eprintln!("rexfs-exercise: {e}");
            return 2;
        }
    };
    let result = exerciser.run();
    println!("{}", exerciser.stats());
    match result {
        Ok(()) => {
            println!("{}", exerciser.summary(0));
            0
        }
        Err(failure) => {
            eprintln!("{}", exerciser.report(&failure));
            println!("{}", exerciser.summary(u64::from(failure.mismatch)));
            1
        }
    }
}
