// SPDX-License-Identifier: GPL-2.0
//! `fsck.rexfs`: checks and repairs a rexfs filesystem.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(rexfs_fsck::cli(std::env::args_os().skip(1)))
}
