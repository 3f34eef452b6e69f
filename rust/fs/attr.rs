// SPDX-License-Identifier: GPL-2.0

//! Attribute changes of inodes ([`InodeOps`]): the size of a regular file
//! (truncate), and the `chattr` flags.

use super::ialloc::{free_credits, unmap_range};
use super::inode::{extents, inode_credits, save, to_inode_flags, write_credits, USER_FLAGS};
use super::iomap::{block_of, convert_inline, zero_past_eof};
use super::refcount::release_credits;
use super::txn::{Credits, Txn};
use super::{RexInode, Rexfs};
use crate::format::{BLOCK_SHIFT, FEATURE_INCOMPAT_DAX_FLAG, INLINE_DATA_MAX, INODE_DAX};
use crate::vfs::{InodeFlags, InodeOps};
use kernel::prelude::*;

impl InodeOps for Rexfs {
    fn may_change(inode: &RexInode) -> Result {
        inode.super_block().data().alive()
    }

    /// Changes the size of a regular file, or trims the blocks past its end
    /// when the size stays. The page cache is cut first (which waits for
    /// its writeback), then the blocks go with the new size, in one
    /// transaction.
    fn truncate(inode: &RexInode, size: i64) -> Result {
        let invalidate = inode.invalidate_lock();
        inode.dio_wait();
        let old_size = inode.size();
        let sb = inode.super_block();
        // The negative control of race-dax-pin: the blocks go before the
        // layout break, which waits for pinned pages.
        let late_break = size < old_size
            && inode.is_dax()
            && sb.data().probes.unsafe_late_dax_break_layout.is_on();
        if size < old_size && !late_break {
            inode.dax_break_layout(&invalidate, size, i64::MAX)?;
        }
        if size > INLINE_DATA_MAX as i64 {
            convert_inline(inode, &invalidate)?;
        }
        if size > old_size {
            zero_past_eof(inode, old_size, size)?;
        }
        if size < old_size {
            if inode.data().is_inline() {
                // Zero the inline bytes past the new size, which a later
                // extension would read back (not the whole block as
                // `truncate_page` does: the inode holds less).
                inode.zero_range(size, old_size - size)?;
            } else {
                inode.truncate_page(size)?;
            }
        }
        if late_break {
            // Freed already: the DAX entries go now, before the page cache
            // past the new end (which must find none).
            let txn = Txn::start(sb, truncate_credits(inode)?)?;
            free_past(&txn, inode, size)?;
            inode.mark_dirty();
            txn.stop()?;
            inode.dax_break_layout(&invalidate, size, i64::MAX)?;
        }
        inode.truncate_setsize(size);
        if size != old_size {
            inode.touch(true);
        }
        // Blocks past the new end go, also those that fallocate(KEEP_SIZE)
        // placed past an unchanged one (as XFS and ext4 do, generic/092).
        let txn = Txn::start(sb, truncate_credits(inode)?)?;
        if size <= old_size {
            free_past(&txn, inode, size)?;
        }
        inode.mark_dirty();
        txn.stop()
    }

    fn get_flags(inode: &RexInode) -> InodeFlags {
        to_inode_flags(inode.data().user_flags())
    }

    /// Sets the `chattr` flags and the change time.
    fn set_flags(inode: &RexInode, flags: InodeFlags) -> Result {
        let supported = USER_FLAGS
            .iter()
            .fold(InodeFlags::empty(), |acc, &(_, f)| acc | f);
        if flags.contains_any(!supported) {
            return Err(EOPNOTSUPP);
        }
        let disk = USER_FLAGS
            .iter()
            .filter(|&&(_, f)| flags.contains(f))
            .fold(0, |acc, &(d, _)| acc | d);
        let sb = inode.super_block();
        // A DAX file is never inline: read again with the flag, an inline
        // file (a new empty one too) would not use DAX (generic/608).
        if disk & INODE_DAX != 0 && inode.data().is_inline() {
            convert_inline(inode, &inode.invalidate_lock())?;
        }
        let txn = Txn::start(sb, inode_credits(inode, 0).and(Credits::SUPER))?;
        if disk & INODE_DAX != 0 {
            sb.data()
                .set_feature_incompat(sb, &txn, FEATURE_INCOMPAT_DAX_FLAG)?;
        }
        // The file's DAX state is fixed while it is in memory: a changed
        // flag takes effect when the inode is read again, which happens as
        // soon as nothing uses it (as XFS does).
        if (disk ^ inode.data().user_flags()) & INODE_DAX != 0 {
            inode.mark_dontcache();
        }
        inode.data().set_user_flags(disk);
        inode.touch(false);
        save(&txn, inode)?;
        txn.stop()
    }
}

/// Unmaps the blocks of `inode` that lie wholly past its first `size` bytes
/// and gives them back in `txn`.
fn free_past(txn: &Txn<'_>, inode: &RexInode, size: i64) -> Result {
    let first = block_of(size + (1 << BLOCK_SHIFT) - 1);
    unmap_range(txn, inode, first, u64::MAX)
}

/// What [`free_past`] may change, with the inode.
fn truncate_credits(inode: &RexInode) -> Result<Credits> {
    let sb = inode.super_block();
    Ok(free_credits(sb, u64::MAX, 0)
        .and(release_credits(inode, u64::MAX, u64::MAX))
        .and(write_credits(inode, extents(inode)?, 1)))
}
