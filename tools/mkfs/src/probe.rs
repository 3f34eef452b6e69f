// SPDX-License-Identifier: GPL-2.0
//! What a device holds already: `mkfs.rexfs` does not overwrite a
//! filesystem or a partition table unless forced with `-f`, as `mkfs.xfs`.
//!
//! rexfs superblocks are recognized by their magic; everything else by
//! util-linux's `blkid -p` (low-level probing, no cache), which knows the
//! signatures of the other filesystems, partition tables, RAID members and
//! swap areas.

use std::io;
use std::path::Path;
use std::process::Command;

use rexfs_format::{BLOCK_SIZE, SUPER_MAGIC};

use crate::Device;

/// What `blkid` found on a device, as `mkfs.rexfs` names it in its refusal.
fn describe_blkid(export: &str) -> String {
    let value = |key: &str| {
        export
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
    };
    match (value("TYPE"), value("PTTYPE")) {
        (Some(fs), _) => format!("an existing filesystem ({fs})"),
        (None, Some(table)) => format!("a partition table ({table})"),
        (None, None) => "data that blkid recognizes".into(),
    }
}

/// What `dev` (opened from `path`) holds that making a filesystem would
/// destroy, or `None` when it holds nothing recognizable.
pub fn existing_contents(dev: &Device, path: &Path) -> io::Result<Option<String>> {
    if dev.block_count() > 0 {
        let mut block = vec![0; BLOCK_SIZE];
        dev.read_blocks(0, &mut block)?;
        // A damaged rexfs superblock is still one: the magic is enough.
        if block[..4] == SUPER_MAGIC.to_le_bytes() {
            return Ok(Some("an existing filesystem (rexfs)".into()));
        }
    }
    // Debian keeps blkid out of an unprivileged user's PATH.
    let blkid = ["/usr/sbin/blkid", "/sbin/blkid"]
        .into_iter()
        .find(|candidate| Path::new(candidate).exists())
        .unwrap_or("blkid");
    let out = Command::new(blkid)
        .args(["-p", "-o", "export"])
        .arg(path)
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run blkid to look for an existing filesystem: {e}"),
            )
        })?;
    match out.status.code() {
        Some(0) => Ok(Some(describe_blkid(&String::from_utf8_lossy(&out.stdout)))),
        // Nothing identified.
        Some(2) => Ok(None),
        // Ambivalent: several signatures.
        Some(8) => Ok(Some("signatures of more than one filesystem".into())),
        _ => Err(io::Error::other(format!(
            "blkid -p {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkid_export_described() {
        let fs = "DEVNAME=img\nUUID=1234\nVERSION=1.0\nTYPE=ext4\nUSAGE=filesystem\n";
        assert_eq!(describe_blkid(fs), "an existing filesystem (ext4)");
        let table = "DEVNAME=/dev/vdb\nPTUUID=abcd\nPTTYPE=dos\n";
        assert_eq!(describe_blkid(table), "a partition table (dos)");
        assert_eq!(describe_blkid("DEVNAME=x\n"), "data that blkid recognizes");
    }
}
