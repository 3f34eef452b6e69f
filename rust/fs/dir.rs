// SPDX-License-Identifier: GPL-2.0

//! Directories: lookup and readdir over directory blocks.
//!
//! A directory's data is a sequence of directory blocks (see
//! [`format::dir_entries`]). The `readdir` position of an entry is its byte
//! offset in the directory; entries never move, so positions are stable.
//! Positions 0 and 1 are "." and "..", which are not stored (every entry
//! offset is at least [`format::HEADER_SIZE`]).

use super::extent_map::written_block;
use super::{corrupted, inode, RexInode};
use crate::format::{self, file_type, DirEntry};
use crate::vfs::DirEmitter;
use kernel::{prelude::*, sync::aref::ARef};

const BLOCK_SIZE: i64 = format::BLOCK_SIZE as i64;

/// Calls `f` on each used entry of directory block `index` of `dir` until
/// `f` returns `false`. Returns whether `f` asked to stop.
fn for_each_entry(
    dir: &RexInode,
    index: u64,
    mut f: impl FnMut(&DirEntry<'_>) -> bool,
) -> Result<bool> {
    let sb = dir.super_block();
    let ino = dir.ino();
    let Some(blkno) = written_block(&dir.data().extents, index) else {
        return Err(corrupted(sb, format_args!("directory {ino}: hole at block {index}")));
    };
    let buf = sb.bread(blkno)?;
    let entries = format::dir_entries(buf.data(), blkno, ino)
        .map_err(|e| corrupted(sb, format_args!("directory {ino} block {blkno}: {}", e.reason())))?;
    for entry in entries {
        let entry = entry.map_err(|e| {
            corrupted(sb, format_args!("directory {ino} block {blkno}: {}", e.reason()))
        })?;
        if entry.ino != 0 && !f(&entry) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn block_count(dir: &RexInode) -> u64 {
    (dir.size() / BLOCK_SIZE) as u64
}

/// Looks `name` up in `dir`.
pub(super) fn lookup(dir: &RexInode, name: &[u8]) -> Result<Option<ARef<RexInode>>> {
    let mut found = None;
    for index in 0..block_count(dir) {
        let stopped = for_each_entry(dir, index, |entry| {
            if entry.name == name {
                found = Some(entry.ino);
            }
            found.is_none()
        })?;
        if stopped {
            break;
        }
    }
    found.map(|ino| inode::iget(dir.super_block(), ino)).transpose()
}

/// Emits the entries of `dir` from the emitter's position on.
pub(super) fn read_dir(dir: &RexInode, emitter: &mut DirEmitter<'_>) -> Result {
    if emitter.pos() == 0 {
        if !emitter.emit(b".", dir.ino(), file_type::DIR) {
            return Ok(());
        }
        emitter.set_pos(1);
    }
    if emitter.pos() == 1 {
        if !emitter.emit(b"..", dir.data().parent, file_type::DIR) {
            return Ok(());
        }
        emitter.set_pos(format::HEADER_SIZE as i64);
    }
    let size = dir.size();
    while emitter.pos() < size {
        let pos = emitter.pos();
        let index = (pos / BLOCK_SIZE) as u64;
        let start = (pos % BLOCK_SIZE) as usize;
        let stopped = for_each_entry(dir, index, |entry| {
            if entry.offset < start {
                return true;
            }
            emitter.set_pos(index as i64 * BLOCK_SIZE + entry.offset as i64);
            emitter.emit(entry.name, entry.ino, entry.file_type)
        })?;
        if stopped {
            return Ok(());
        }
        emitter.set_pos((index as i64 + 1) * BLOCK_SIZE + format::HEADER_SIZE as i64);
    }
    Ok(())
}
