// SPDX-License-Identifier: GPL-2.0

//! Damaged metadata found at run time: [`corrupted`] fails the operation
//! with `-EFSCORRUPTED` and one line in the kernel log, records the damage
//! in the superblock ([`format::STATE_ERRORS`], which `fsck.rexfs` clears),
//! then goes on, shuts the filesystem down or panics, as the `errors=`
//! mount option ([`OnError`]) says.

use super::{RexSb, Rexfs};
use crate::format;
use crate::vfs::{OptionValue, Shutdown, SuperBlock};
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use kernel::prelude::*;

/// What the filesystem does after damage is found (ext4's `errors=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum OnError {
    /// Goes on: only the damaged structure's operations fail.
    #[default]
    Continue = 0,
    /// Shuts down as `FS_IOC_SHUTDOWN` without flushing the log: nothing
    /// more is written, every operation fails with `EIO` (ext4 does the
    /// same under this name).
    RemountRo = 1,
    /// Panics.
    Panic = 2,
}

impl OnError {
    /// The values of `errors=`.
    pub(super) const VALUES: [OptionValue; 4] = [
        OptionValue::new(c"continue", OnError::Continue as u32),
        OptionValue::new(c"remount-ro", OnError::RemountRo as u32),
        OptionValue::new(c"panic", OnError::Panic as u32),
        OptionValue::END,
    ];

    /// The behaviour whose [`OnError::VALUES`] value is `value`.
    pub(super) fn from_value(value: u32) -> Result<Self> {
        [OnError::Continue, OnError::RemountRo, OnError::Panic]
            .into_iter()
            .find(|&on_error| on_error as u32 == value)
            .ok_or(EINVAL)
    }

    /// The name `errors=` gives it.
    pub(super) fn name(self) -> &'static CStr {
        match self {
            OnError::Continue => c"continue",
            OnError::RemountRo => c"remount-ro",
            OnError::Panic => c"panic",
        }
    }
}

/// The errors of one mount: the `errors=` behaviour and whether damage was
/// found and its flag written.
pub(crate) struct ErrorState {
    on_error: AtomicU8,
    /// Damage was found: [`format::STATE_ERRORS`] belongs in the superblock.
    found: AtomicBool,
    /// The flag is in the superblock, or in a transaction that puts it
    /// there.
    written: AtomicBool,
}

impl ErrorState {
    /// The state of a mount with `on_error`; `found`: damage was found
    /// by an earlier mount, `written`: the superblock says so.
    pub(super) fn new(on_error: OnError, found: bool, written: bool) -> Self {
        ErrorState {
            on_error: AtomicU8::new(on_error as u8),
            found: AtomicBool::new(found),
            written: AtomicBool::new(written),
        }
    }

    /// The `errors=` behaviour.
    pub(super) fn on_error(&self) -> OnError {
        match self.on_error.load(Ordering::Relaxed) {
            1 => OnError::RemountRo,
            2 => OnError::Panic,
            _ => OnError::Continue,
        }
    }

    /// Changes the `errors=` behaviour (remount).
    pub(super) fn set_on_error(&self, on_error: OnError) {
        self.on_error.store(on_error as u8, Ordering::Relaxed);
    }

    /// Whether damage was found, now or by an earlier mount.
    pub(super) fn found(&self) -> bool {
        self.found.load(Ordering::Acquire)
    }

    /// Whether the flag still has to be written to the superblock.
    pub(super) fn unwritten(&self) -> bool {
        self.found() && !self.written.load(Ordering::Acquire)
    }

    /// Claims the write of the flag: true for the one caller that writes
    /// it.
    pub(super) fn claim_write(&self) -> bool {
        self.found() && !self.written.swap(true, Ordering::AcqRel)
    }

    /// The superblock state to write; `clean`: the free counts match the
    /// bitmaps and inodes.
    pub(super) fn disk_state(&self, clean: bool) -> u32 {
        let clean = if clean { format::STATE_CLEAN } else { 0 };
        let errors = if self.found() {
            format::STATE_ERRORS
        } else {
            0
        };
        clean | errors
    }
}

/// Damage was found in `sb`'s metadata: logs `why` (what and where), records
/// it and acts as `errors=` says; returns `-EFSCORRUPTED` for the operation
/// to fail with.
///
/// The flag reaches the superblock with the next change of the filesystem
/// (see [`super::txn::Txn::start`]), at `sync` or at unmount; it is not
/// written here, where the caller may hold any of the filesystem's locks.
pub(super) fn corrupted(sb: &RexSb, why: core::fmt::Arguments<'_>) -> Error {
    pr_err!("{}: corrupted: {}\n", sb.id(), why);
    let errors = &sb.data().errors;
    errors.found.store(true, Ordering::Release);
    match errors.on_error() {
        OnError::Continue => {}
        OnError::RemountRo => sb.data().shut_down(sb, Shutdown::Abort, EUCLEAN),
        OnError::Panic => sb.panic(format_args!("corrupted filesystem (errors=panic)")),
    }
    EUCLEAN
}

/// Damage found while mounting (before the mount has state): logs `why`
/// and returns `-EFSCORRUPTED`; the mount fails.
pub(super) fn mount_refused<S>(sb: &SuperBlock<Rexfs, S>, why: core::fmt::Arguments<'_>) -> Error {
    pr_err!("{}: corrupted: {}\n", sb.id(), why);
    EUCLEAN
}
