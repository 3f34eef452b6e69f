// SPDX-License-Identifier: GPL-2.0

//! Per-mount debugfs directories of counters.
//!
//! C header: [`include/linux/debugfs.h`](srctree/include/linux/debugfs.h).

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use kernel::{bindings, prelude::*, sync::Arc};

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
    unsafe fn add_counter(&self, name: &CStr, counter: &Counter) {
        // SAFETY: the caller keeps `counter` alive until the directory (and
        // the file with it) is removed; debugfs reads it as a plain `u64`.
        unsafe { bindings::debugfs_create_u64(name.as_char_ptr(), 0o444, self.dentry, counter.0.as_ptr()) };
    }
}

/// A directory in the module's debugfs directory showing a set of counters
/// `T`, which it keeps alive.
///
/// # Invariants
///
/// The files of `_dir` point into `*_counters`; `_dir` is declared first, so
/// it is removed before the reference to the counters goes. Neither is read:
/// they are held for their lifetimes.
pub(crate) struct CounterDir<T: Send + Sync + 'static> {
    _dir: DebugfsDir,
    _counters: Arc<T>,
}

impl<T: Send + Sync + 'static> CounterDir<T> {
    /// Creates directory `name` with one file per `(file name, counter)`.
    pub(crate) fn new(name: &CStr, counters: Arc<T>, files: &[(&CStr, fn(&T) -> &Counter)]) -> Self {
        let dir = DebugfsDir::new(name);
        for (file, counter) in files {
            // SAFETY: `counters` is kept in the result, which removes `dir`
            // before dropping it (type invariant).
            unsafe { dir.add_counter(file, counter(&counters)) };
        }
        CounterDir { _dir: dir, _counters: counters }
    }
}

impl Drop for DebugfsDir {
    fn drop(&mut self) {
        // SAFETY: per the type invariant; removal waits for open files.
        unsafe { bindings::debugfs_remove(self.dentry) };
    }
}
