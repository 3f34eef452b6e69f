// SPDX-License-Identifier: GPL-2.0

//! Per-mount debugfs directories of counters.
//!
//! C header: [`include/linux/debugfs.h`](srctree/include/linux/debugfs.h).

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use kernel::{bindings, prelude::*};

/// An event counter that debugfs can show.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Counts one event.
    pub(crate) fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A debugfs directory, removed with its files on drop.
///
/// # Invariants
///
/// `dentry` is a debugfs directory we created, or an error pointer/NULL
/// (debugfs unavailable), which every debugfs call accepts.
pub(crate) struct DebugfsDir {
    dentry: *mut bindings::dentry,
}

// SAFETY: debugfs directories may be used and removed from any thread.
unsafe impl Send for DebugfsDir {}
// SAFETY: `&DebugfsDir` allows nothing.
unsafe impl Sync for DebugfsDir {}

/// The module's directory at the debugfs root, made by the registration.
static MODULE_DIR: AtomicPtr<bindings::dentry> = AtomicPtr::new(ptr::null_mut());

impl DebugfsDir {
    fn create(name: &CStr, parent: *mut bindings::dentry) -> Self {
        // SAFETY: `name` is NUL-terminated; `parent` is a directory, NULL
        // (the debugfs root) or an error pointer (refused by debugfs).
        let dentry = unsafe { bindings::debugfs_create_dir(name.as_char_ptr(), parent) };
        DebugfsDir { dentry }
    }

    /// Creates the module's directory `name` at the debugfs root; the
    /// directories of [`DebugfsDir::new`] go there.
    pub(super) fn new_module_dir(name: &CStr) -> Self {
        let dir = Self::create(name, ptr::null_mut());
        MODULE_DIR.store(dir.dentry, Ordering::Release);
        dir
    }

    /// Creates directory `name` in the module's directory.
    pub(crate) fn new(name: &CStr) -> Self {
        Self::create(name, MODULE_DIR.load(Ordering::Acquire))
    }

    /// Shows `counter` as file `name`.
    ///
    /// # Safety
    ///
    /// `counter` must outlive this directory.
    pub(crate) unsafe fn add_counter(&self, name: &CStr, counter: &Counter) {
        // SAFETY: the caller keeps `counter` alive until the directory (and
        // the file with it) is removed; debugfs reads it as a plain `u64`.
        unsafe { bindings::debugfs_create_u64(name.as_char_ptr(), 0o444, self.dentry, counter.0.as_ptr()) };
    }
}

impl Drop for DebugfsDir {
    fn drop(&mut self) {
        // SAFETY: per the type invariant; removal waits for open files.
        unsafe { bindings::debugfs_remove(self.dentry) };
    }
}
