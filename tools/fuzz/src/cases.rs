// SPDX-License-Identifier: GPL-2.0
//! Named damaged images: one hand-picked damage each, for tests that must
//! know what is damaged and where (`rexfs-fuzz --case NAME --out FILE`,
//! `tests/vm/damaged.sh`).
//!
//! Each starts from the journaled base image ([`crate::base`]) and sets one
//! field through the fuzzer's field tables ([`mutate::set_field`]), with the
//! structure's checksum recomputed: only the module's checks of the field
//! itself can catch the damage. The damage of issue 20:
//!
//! | case | damage | where the module meets it |
//! |---|---|---|
//! | `dir-nlink-max` | the inode of `/dir1/sub` (holding the directory `sub2`): `nlink` 3 → 4294967295 | reading the inode: a lookup of `/dir1/sub` |
//! | `dirent-name-len-zero` | the third block of `/dir1` (50 files, 2 hard links, `sub`, `z`): the entry `z` gets `name_len` 0 | reading that block: `readdir` of `/dir1` after the first two blocks' entries, a lookup of a name not in them |
//! | `free-blocks-low` | the superblock's free block count set to 2 (the bitmap has thousands free; the mount frees two orphans' blocks) | the first data allocation: refused for the metadata reserve, with the orphans' freed blocks remembered as busy (a create used to wait for commits for ever: fuzz image 999 of seed 1) |
//! | `file-extent-out-of-range` | the inode of `/dir1/sub/deep` (one extent of 2 blocks): the extent's `physical` set to the block count, the first block past the end | reading the inode: a lookup of `/dir1/sub/deep` (the module checks an inode's extents when it reads it); not the mount, not the root |

use rexfs_format::dir_entries;

use crate::base::{Base, Owned};
use crate::mutate::{self, Instance, Mutation};

/// A named damaged image.
pub struct Case {
    /// Its name, for `--case`.
    pub name: &'static str,
    /// What is damaged.
    pub about: &'static str,
    damage: fn(&Base, &mut [u8]) -> Result<Damage, String>,
}

/// What a case damaged in the image.
#[derive(Clone, Debug)]
pub struct Damage {
    /// The path of the damaged file or directory.
    pub path: String,
    /// The inode whose metadata is damaged (for a directory block, the
    /// directory's).
    pub ino: u64,
    /// The damaged directory block, if the damage is in one.
    pub block: Option<u64>,
    /// What was done, as a run's manifest says it.
    pub mutation: Mutation,
    /// The value the field had.
    pub was: u64,
}

impl Damage {
    fn new(path: &str, ino: u64, block: Option<u64>, mutation: Mutation, was: u64) -> Self {
        Damage {
            path: path.into(),
            ino,
            block,
            mutation,
            was,
        }
    }

    /// The line `rexfs-fuzz --case` prints: the case's name, the damaged
    /// path, the inode, the directory block (`-` if none) and what was
    /// done, separated by spaces (no path of the base image has one).
    pub fn line(&self, name: &str) -> String {
        let m = &self.mutation;
        let block = self.block.map_or("-".to_string(), |b| b.to_string());
        format!(
            "{name} {} {} {block} {} {}: {}",
            self.path, self.ino, m.location, m.field, m.mutation
        )
    }
}

/// Every case.
pub const CASES: [Case; 4] = [
    Case {
        name: "dir-nlink-max",
        about: "/dir1/sub (holding the directory sub2): nlink 4294967295",
        damage: dir_nlink_max,
    },
    Case {
        name: "dirent-name-len-zero",
        about: "/dir1, its third block: the entry of /dir1/z gets name_len 0",
        damage: dirent_name_len_zero,
    },
    Case {
        name: "free-blocks-low",
        about: "the superblock: free_blocks 2, far below the bitmap's",
        damage: free_blocks_low,
    },
    Case {
        name: "file-extent-out-of-range",
        about: "/dir1/sub/deep: its extent starts at the block count, past the end",
        damage: file_extent_out_of_range,
    },
];

/// The case named `name`.
pub fn find(name: &str) -> Option<&'static Case> {
    CASES.iter().find(|c| c.name == name)
}

impl Case {
    /// The damaged image made from `base` (the journaled base image), and
    /// what was damaged. An error says the base lacks what the case damages.
    pub fn image(&self, base: &Base) -> Result<(Vec<u8>, Damage), String> {
        let mut bytes = base.bytes.clone();
        let damage = (self.damage)(base, &mut bytes)?;
        Ok((bytes, damage))
    }
}

/// The inode number of `path` in `base`.
fn ino_of(base: &Base, path: &str) -> Result<u64, String> {
    base.find(path)
        .map(|n| n.ino)
        .ok_or_else(|| format!("the base image has no {path}"))
}

fn dir_nlink_max(base: &Base, bytes: &mut [u8]) -> Result<Damage, String> {
    let path = "/dir1/sub";
    let ino = ino_of(base, path)?;
    let (mutation, was) =
        mutate::set_field(base, bytes, Instance::Inode(ino), "nlink", u32::MAX.into())?;
    // Removing the subdirectory drops this count.
    if was < 3 {
        return Err(format!("{path} has no subdirectory (nlink {was})"));
    }
    Ok(Damage::new(path, ino, None, mutation, was))
}

fn dirent_name_len_zero(base: &Base, bytes: &mut [u8]) -> Result<Damage, String> {
    let (path, name) = ("/dir1", b"z");
    let dir = ino_of(base, path)?;
    // The entry's number in its block, as the field table counts them.
    let found = base
        .dir_blocks
        .iter()
        .filter(|o| o.ino == dir)
        .find_map(|&owned: &Owned| {
            let at = owned.blkno as usize * rexfs_format::BLOCK_SIZE;
            let block = &base.bytes[at..at + rexfs_format::BLOCK_SIZE];
            let entries = dir_entries(block, owned.blkno, dir).ok()?;
            let k = entries.flatten().position(|e| e.name == name.as_slice())?;
            Some((owned, k))
        });
    let (owned, k) = found.ok_or_else(|| format!("{path} has no entry z"))?;
    let field = format!("entry[{k}].name_len");
    let (mutation, was) = mutate::set_field(base, bytes, Instance::DirBlock(owned), &field, 0)?;
    if was != 1 {
        return Err(format!("{path}: {field} was {was}, not 1"));
    }
    Ok(Damage::new(path, dir, Some(owned.blkno), mutation, was))
}

fn file_extent_out_of_range(base: &Base, bytes: &mut [u8]) -> Result<Damage, String> {
    let path = "/dir1/sub/deep";
    let ino = ino_of(base, path)?;
    let end = base.geometry().block_count;
    let (mutation, was) =
        mutate::set_field(base, bytes, Instance::InodeExtent(ino, 0), "physical", end)?;
    if was >= end {
        return Err(format!("{path}: its extent was at block {was} already"));
    }
    Ok(Damage::new(path, ino, None, mutation, was))
}

fn free_blocks_low(base: &Base, bytes: &mut [u8]) -> Result<Damage, String> {
    let (mutation, was) = mutate::set_field(base, bytes, Instance::Superblock, "free_blocks", 2)?;
    if was < 1000 {
        return Err(format!("the base image has only {was} free blocks"));
    }
    Ok(Damage::new(
        "/",
        rexfs_format::ROOT_INO,
        None,
        mutation,
        was,
    ))
}
