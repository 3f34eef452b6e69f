// SPDX-License-Identifier: GPL-2.0
//! `rexfs-exercise`: random file operations checked against a model.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(rexfs_exercise::main(std::env::args_os().skip(1)))
}
