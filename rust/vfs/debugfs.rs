// SPDX-License-Identifier: GPL-2.0

//! Per-mount debugfs directories: event counters, and in debug builds
//! (`--cfg debug_knobs`, see Kbuild) the fault-injection knobs that race
//! tests use: one-shot delays and switches that turn a protection off.
//!
//! C header: [`include/linux/debugfs.h`](srctree/include/linux/debugfs.h).

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use kernel::{bindings, prelude::*, sync::Arc, time::Delta};

/// An event counter that debugfs can show.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Counts one event.
    pub(crate) fn inc(&self) {
        self.add(1);
    }

    /// Counts `n` events.
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

/// A one-shot delay: debugfs takes a number of milliseconds; the next pass
/// through the point the knob guards disarms it (the file reads 0 from
/// then on, which tells a test the window is open) and sleeps that long.
///
/// In builds without `debug_knobs` it is never armed and has no file.
#[derive(Default)]
pub(crate) struct DelayKnob(AtomicU32);

impl DelayKnob {
    /// Sleeps if the knob is armed, disarming it; returns whether it slept.
    pub(crate) fn fire(&self) -> bool {
        if !cfg!(debug_knobs) {
            return false;
        }
        match self.0.swap(0, Ordering::Relaxed) {
            0 => false,
            ms => {
                kernel::time::delay::fsleep(Delta::from_millis(i64::from(ms)));
                true
            }
        }
    }
}

/// A switch that turns a protection off, for the negative controls of the
/// race tests. Always off in builds without `debug_knobs`.
#[derive(Default)]
pub(crate) struct UnsafeSwitch(AtomicBool);

impl UnsafeSwitch {
    /// Whether the protection is switched off.
    pub(crate) fn is_on(&self) -> bool {
        cfg!(debug_knobs) && self.0.load(Ordering::Relaxed)
    }
}

/// What a file of a [`DebugDir`] shows, as a projection from the state `T`.
pub(crate) enum DebugFile<T> {
    /// A read-only counter.
    Counter(fn(&T) -> &Counter),
    /// A delay knob (debug builds only).
    Delay(fn(&T) -> &DelayKnob),
    /// A protection switch (debug builds only).
    Switch(fn(&T) -> &UnsafeSwitch),
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

    /// Adds file `name` showing `file` of `state`.
    ///
    /// # Safety
    ///
    /// `state` must outlive this directory.
    unsafe fn add<T>(&self, name: &CStr, file: &DebugFile<T>, state: &T) {
        let (name, dir) = (name.as_char_ptr(), self.dentry);
        // SAFETY: the caller keeps `state` alive until the directory (and
        // the file with it) is removed. debugfs accesses the values with
        // plain loads and stores of their size; the atomics have the layout
        // of `u64`, `u32` and `bool`.
        unsafe {
            match file {
                DebugFile::Counter(c) => {
                    bindings::debugfs_create_u64(name, 0o444, dir, c(state).0.as_ptr())
                }
                DebugFile::Delay(d) if cfg!(debug_knobs) => {
                    bindings::debugfs_create_u32(name, 0o600, dir, d(state).0.as_ptr())
                }
                DebugFile::Switch(s) if cfg!(debug_knobs) => {
                    bindings::debugfs_create_bool(name, 0o600, dir, s(state).0.as_ptr());
                }
                DebugFile::Delay(_) | DebugFile::Switch(_) => {}
            }
        }
    }
}

/// A directory in the module's debugfs directory showing parts of a state
/// `T`, which it keeps alive.
///
/// # Invariants
///
/// The files of `_dir` point into `*_state`; `_dir` is declared first, so
/// it is removed before the reference to the state goes. Neither is read:
/// they are held for their lifetimes.
pub(crate) struct DebugDir<T: Send + Sync + 'static> {
    _dir: DebugfsDir,
    _state: Arc<T>,
}

impl<T: Send + Sync + 'static> DebugDir<T> {
    /// Creates directory `name` with one file per `(file name, part)`.
    pub(crate) fn new(name: &CStr, state: Arc<T>, files: &[(&CStr, DebugFile<T>)]) -> Self {
        let dir = DebugfsDir::new(name);
        for (name, file) in files {
            // SAFETY: `state` is kept in the result, which removes `dir`
            // before dropping it (type invariant).
            unsafe { dir.add(name, file, &state) };
        }
        DebugDir {
            _dir: dir,
            _state: state,
        }
    }
}

impl Drop for DebugfsDir {
    fn drop(&mut self) {
        // SAFETY: per the type invariant; removal waits for open files.
        unsafe { bindings::debugfs_remove(self.dentry) };
    }
}
