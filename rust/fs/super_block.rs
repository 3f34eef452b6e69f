// SPDX-License-Identifier: GPL-2.0

//! Mounting: reading and checking the on-disk superblock.

use super::{corrupted, Rexfs};
use crate::format::{self, FormatError, Geometry, Superblock};
use crate::vfs::{Fresh, StatFs, SuperBlock};
use kernel::prelude::*;

/// Per-mount state of rexfs.
pub(crate) struct SbInfo {
    disk: Superblock,
}

impl SbInfo {
    /// Reads and checks the superblock of the device being mounted.
    ///
    /// A device that is not rexfs fails with `-EINVAL`, a damaged rexfs with
    /// `-EFSCORRUPTED`; either way with one line in the kernel log.
    pub(super) fn read(sb: &SuperBlock<Rexfs, Fresh>) -> Result<Self> {
        let block = sb.bread(0)?;
        let disk = Superblock::decode(block.data()).map_err(|e| match e {
            FormatError::BadMagic => {
                pr_err!("{}: not a rexfs filesystem (bad magic)\n", sb.id());
                EINVAL
            }
            FormatError::BadVersion | FormatError::UnknownFeatures => {
                pr_err!("{}: cannot mount: {}\n", sb.id(), e.reason());
                EINVAL
            }
            _ => corrupted(sb, format_args!("superblock: {}", e.reason())),
        })?;
        let device_blocks = sb.device_bytes() >> format::BLOCK_SHIFT;
        if disk.geometry.block_count > device_blocks {
            return Err(corrupted(
                sb,
                format_args!(
                    "filesystem has {} blocks, device only {}",
                    disk.geometry.block_count, device_blocks
                ),
            ));
        }
        if disk.needs_read_only() && !sb.is_read_only() {
            pr_err!("{}: unsupported read-only features, mount read-only\n", sb.id());
            return Err(EROFS);
        }
        Ok(SbInfo { disk })
    }

    /// The layout of the filesystem.
    pub(super) fn geometry(&self) -> &Geometry {
        &self.disk.geometry
    }

    /// The root directory's inode number.
    pub(super) fn root_ino(&self) -> u64 {
        self.disk.root_ino
    }

    pub(super) fn statfs(&self) -> StatFs {
        StatFs {
            blocks: self.disk.geometry.data_blocks(),
            free_blocks: self.disk.free_blocks,
            files: self.disk.geometry.inode_count,
            free_files: self.disk.free_inodes,
            name_len: format::MAX_NAME_LEN as u64,
        }
    }
}
