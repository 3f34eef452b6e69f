// SPDX-License-Identifier: GPL-2.0
//! `rexfs-fuzz`: seeded, reproducible damaged rexfs images.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(rexfs_fuzz::cli(std::env::args_os().skip(1)))
}
