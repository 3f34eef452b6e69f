// SPDX-License-Identifier: GPL-2.0
//! `mkfs.rexfs`: makes an empty rexfs filesystem.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(rexfs_mkfs::cli(std::env::args_os().skip(1)))
}
