// SPDX-License-Identifier: GPL-2.0

//! DAX: which regular files read, write and map their data in place on a
//! persistent-memory device (the `dax=` mount option, [`DaxMode`]), the
//! mount's DAX device ([`DaxState`]), and the blocks of DAX writes, zeroed
//! and written before iomap maps them ([`zero_for_dax_write`]).
//!
//! A file's DAX state is decided when its inode is set up (`S_DAX`) and
//! does not change while it is in memory. A DAX file never keeps its data
//! in the inode: a file created under DAX starts with extents, and an
//! inline file found under `dax=always` is read through the page cache.

use super::extent_map::ExtentMap;
use super::{RexSb, Rexfs};
use crate::format::EXTENT_UNWRITTEN;
use crate::vfs::{DaxDevice, Fresh, OptionValue, SuperBlock};
use kernel::prelude::*;

/// The `dax=` mount option (`dax` alone: `always`), as in ext4 and XFS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum DaxMode {
    /// Files use DAX when their inode says so (`FS_XFLAG_DAX`).
    #[default]
    Inode = 0,
    /// Every regular file uses DAX; the device must support it.
    Always = 1,
    /// No file uses DAX.
    Never = 2,
}

impl DaxMode {
    /// The values of `dax=`.
    pub(super) const VALUES: [OptionValue; 4] = [
        OptionValue::new(c"inode", DaxMode::Inode as u32),
        OptionValue::new(c"always", DaxMode::Always as u32),
        OptionValue::new(c"never", DaxMode::Never as u32),
        OptionValue::END,
    ];

    /// The mode whose [`DaxMode::VALUES`] value is `value`.
    pub(super) fn from_value(value: u32) -> Result<Self> {
        [DaxMode::Inode, DaxMode::Always, DaxMode::Never]
            .into_iter()
            .find(|&mode| mode as u32 == value)
            .ok_or(EINVAL)
    }

    /// The name `dax=` gives it.
    pub(super) fn name(self) -> &'static CStr {
        match self {
            DaxMode::Inode => c"inode",
            DaxMode::Always => c"always",
            DaxMode::Never => c"never",
        }
    }
}

/// The DAX mode of a mount and its DAX device.
pub(crate) struct DaxState {
    mode: DaxMode,
    /// `None` under `dax=never`, or when the device cannot do DAX.
    device: Option<DaxDevice>,
}

impl DaxState {
    /// The DAX state of `sb` mounted with `mode`; `dax=always` on a device
    /// without DAX is refused, as XFS and ext4 do.
    pub(super) fn new(sb: &SuperBlock<Rexfs, Fresh>, mode: DaxMode) -> Result<Self> {
        let device = match mode {
            DaxMode::Never => None,
            DaxMode::Inode | DaxMode::Always => DaxDevice::of(sb),
        };
        if mode == DaxMode::Always && device.is_none() {
            pr_err!(
                "{}: dax=always, but the device does not support DAX\n",
                sb.id()
            );
            return Err(EINVAL);
        }
        if mode == DaxMode::Always {
            pr_info!("{}: DAX: every file's data accessed in place\n", sb.id());
        }
        Ok(DaxState { mode, device })
    }

    /// The `dax=` mode.
    pub(super) fn mode(&self) -> DaxMode {
        self.mode
    }

    /// The DAX device, when files may use DAX.
    pub(super) fn device(&self) -> Option<&DaxDevice> {
        self.device.as_ref()
    }

    /// Whether a regular file whose inode has the DAX flag `flagged` uses
    /// DAX.
    pub(super) fn for_file(&self, flagged: bool) -> bool {
        self.device.is_some()
            && match self.mode {
                DaxMode::Always => true,
                DaxMode::Inode => flagged,
                DaxMode::Never => false,
            }
    }
}

/// Makes the unwritten extent of `map` at file block `first` written over
/// `first..end` (within the extent), zeroing its blocks on the DAX device
/// first: a DAX write or write fault stores straight into the blocks it
/// maps, so they must hold zeroes, not what was there before, and read as
/// data from then on. Called with the extent-map lock held, so that a
/// racing DAX write or fault of the same blocks either sees them still
/// unwritten (and waits for the lock) or already zeroed and written, never
/// zeroed again after it stored.
pub(super) fn zero_for_dax_write(sb: &RexSb, map: &mut ExtentMap, first: u64, end: u64) -> Result {
    let Some(extent) = map.lookup(first).copied() else {
        return Err(EIO);
    };
    if extent.flags & EXTENT_UNWRITTEN == 0 {
        return Ok(());
    }
    let end = end.min(extent.logical_end());
    let Some(device) = sb.data().dax.device() else {
        return Err(EIO);
    };
    let physical = extent.physical + (first - extent.logical);
    device.zero_blocks::<Rexfs>(physical, end - first)?;
    map.mark_written(first, end)
}
