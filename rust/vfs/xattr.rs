// SPDX-License-Identifier: GPL-2.0

//! Extended attributes: the `user.` and `trusted.` handlers of the super
//! block (`s_xattr`) and the `listxattr` inode operation.
//!
//! The VFS finds the handler of a name by its prefix and checks permissions
//! (`user.*` only on regular files, directories and sockets, `trusted.*`
//! only with `CAP_SYS_ADMIN`) before it calls the handler. It holds the
//! inode's `i_rwsem` exclusively around `set` (which also removes), but not
//! around `get` or `listxattr`. Since `generic_listxattr` lists only POSIX
//! ACL names, listing is done here: [`XattrList`] collects the names the
//! filesystem reports, leaving out those of a namespace whose handler's
//! `list` says the caller may not see it.
//!
//! C header: [`include/linux/xattr.h`](srctree/include/linux/xattr.h).

use super::inode::Inode;
use super::super_block::FileSystem;
use core::{marker::PhantomData, ptr};
use kernel::{bindings, error::from_result, prelude::*};

/// Extended attributes of every inode type (`xattr_handler` and
/// `listxattr`). `name` comes without the namespace prefix and is not
/// empty; the VFS has checked permissions.
pub(crate) trait XattrOps: FileSystem {
    /// Calls `read` with the value of attribute `name` of `namespace`;
    /// `ENODATA` if there is none. Runs without `i_rwsem`.
    fn get_xattr<R>(
        inode: &Inode<Self>,
        namespace: XattrNamespace,
        name: &[u8],
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<R>;
    /// Sets attribute `name` of `namespace` to `value`, or removes it
    /// (`None`), as `flags` allow; `i_rwsem` is held.
    fn set_xattr(
        inode: &Inode<Self>,
        namespace: XattrNamespace,
        name: &[u8],
        value: Option<&[u8]>,
        flags: XattrSetFlags,
    ) -> Result;
    /// Adds every attribute of `inode` to `list`. Runs without `i_rwsem`.
    fn list_xattrs(inode: &Inode<Self>, list: &mut XattrList<'_>) -> Result;
}

/// A namespace of extended attributes, served by a handler of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum XattrNamespace {
    /// `user.*`: attributes of regular files and directories, under the
    /// file's permissions.
    User = 0,
    /// `trusted.*`: attributes that only `CAP_SYS_ADMIN` reads, writes and
    /// lists.
    Trusted = 1,
}

impl XattrNamespace {
    /// Every namespace, in the order of the handler table.
    const ALL: [Self; 2] = [Self::User, Self::Trusted];

    /// The prefix of the namespace's names, NUL-terminated.
    const fn prefix_with_nul(self) -> &'static [u8] {
        match self {
            Self::User => bindings::XATTR_USER_PREFIX,
            Self::Trusted => bindings::XATTR_TRUSTED_PREFIX,
        }
    }

    /// The prefix of the namespace's names.
    fn prefix(self) -> &'static [u8] {
        let with_nul = self.prefix_with_nul();
        &with_nul[..with_nul.len() - 1]
    }

    /// The namespace of a handler of [`Handlers`], from its `flags`.
    ///
    /// # Safety
    ///
    /// `handler` must be one of the handlers of [`Handlers`].
    unsafe fn of(handler: *const bindings::xattr_handler) -> Self {
        // SAFETY: guaranteed by the caller; the handlers are constants.
        match unsafe { (*handler).flags } {
            0 => Self::User,
            _ => Self::Trusted,
        }
    }
}

/// How `setxattr(2)` may change an attribute (`XATTR_CREATE`,
/// `XATTR_REPLACE`). A removal comes with `replace`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct XattrSetFlags {
    /// Fail with `EEXIST` if the attribute exists.
    pub(crate) create: bool,
    /// Fail with `ENODATA` if it does not.
    pub(crate) replace: bool,
}

/// The names `listxattr` returns: for each attribute, its prefix, its name
/// and a NUL, one after the other, in the caller's buffer; or only their
/// total length, when the caller passes no buffer to ask for it.
///
/// # Invariants
///
/// A non-NULL `buffer` is valid for writes of `size` bytes for `'a`.
pub(crate) struct XattrList<'a> {
    buffer: *mut u8,
    size: usize,
    /// Bytes of names so far.
    len: usize,
    /// Whether the caller may see each namespace (indexed by its value).
    listable: [bool; 2],
    _p: PhantomData<&'a mut [u8]>,
}

impl XattrList<'_> {
    /// Adds attribute `name` of `namespace`, if the caller may see its
    /// namespace. Fails with `ERANGE` if the caller's buffer is too small.
    pub(crate) fn add(&mut self, namespace: XattrNamespace, name: &[u8]) -> Result {
        if !self.listable[namespace as usize] {
            return Ok(());
        }
        let prefix = namespace.prefix();
        let start = self.len;
        self.len += prefix.len() + name.len() + 1;
        if self.buffer.is_null() {
            return Ok(());
        }
        if self.len > self.size {
            return Err(ERANGE);
        }
        // SAFETY: `start..self.len` lies within the buffer, which is valid
        // for `size` bytes (type invariant) and is not `prefix` or `name`.
        unsafe {
            let at = self.buffer.add(start);
            ptr::copy_nonoverlapping(prefix.as_ptr(), at, prefix.len());
            ptr::copy_nonoverlapping(name.as_ptr(), at.add(prefix.len()), name.len());
            at.add(prefix.len() + name.len()).write(0);
        }
        Ok(())
    }
}

/// The extended attribute handlers of filesystem type `T`, one per
/// [`XattrNamespace`], and its `listxattr`.
pub(super) struct Handlers<T>(PhantomData<T>);

impl<T: XattrOps> Handlers<T> {
    const USER: bindings::xattr_handler = Self::handler(XattrNamespace::User, None);
    const TRUSTED: bindings::xattr_handler =
        Self::handler(XattrNamespace::Trusted, Some(Self::capable_sys_admin));
    /// The NULL-terminated table for `s_xattr`.
    const TABLE: [*const bindings::xattr_handler; 3] = [&Self::USER, &Self::TRUSTED, ptr::null()];

    const fn handler(
        namespace: XattrNamespace,
        list: Option<unsafe extern "C" fn(*mut bindings::dentry) -> bool>,
    ) -> bindings::xattr_handler {
        bindings::xattr_handler {
            name: ptr::null(),
            prefix: namespace.prefix_with_nul().as_ptr().cast(),
            flags: namespace as c_int,
            list,
            get: Some(Self::get),
            set: Some(Self::set),
        }
    }

    /// The handler table for `s_xattr`.
    pub(super) fn table() -> *const *const bindings::xattr_handler {
        let table: &'static [*const bindings::xattr_handler; 3] = &Self::TABLE;
        table.as_ptr()
    }

    /// The handler of `namespace`.
    fn of(namespace: XattrNamespace) -> &'static bindings::xattr_handler {
        match namespace {
            XattrNamespace::User => &Self::USER,
            XattrNamespace::Trusted => &Self::TRUSTED,
        }
    }

    /// `list` of the `trusted.` handler, as ext4's.
    ///
    /// # Safety
    ///
    /// Called by the VFS, as `xattr_handler::list`.
    unsafe extern "C" fn capable_sys_admin(_dentry: *mut bindings::dentry) -> bool {
        // SAFETY: `capable` only looks at the current task's credentials.
        unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as c_int) }
    }

    /// The namespace, inode and name (after the prefix) a handler's `get` or
    /// `set` is called with.
    ///
    /// # Safety
    ///
    /// The arguments are those the VFS passes to `get` or `set` of a handler
    /// of `T`, valid for `'a`.
    unsafe fn arguments<'a>(
        handler: *const bindings::xattr_handler,
        inode: *mut bindings::inode,
        name: *const c_char,
    ) -> (XattrNamespace, &'a Inode<T>, &'a [u8]) {
        // SAFETY: the VFS passes one of our handlers, a referenced inode of
        // a super block of type `T` (the one the handler table belongs to)
        // and the NUL-terminated name after the prefix.
        unsafe {
            (
                XattrNamespace::of(handler),
                Inode::<T>::from_raw(inode),
                CStr::from_char_ptr(name).to_bytes(),
            )
        }
    }

    /// `get` of both handlers.
    ///
    /// # Safety
    ///
    /// Called by the VFS, as `xattr_handler::get` of a handler of `T`.
    unsafe extern "C" fn get(
        handler: *const bindings::xattr_handler,
        _dentry: *mut bindings::dentry,
        inode: *mut bindings::inode,
        name: *const c_char,
        buffer: *mut c_void,
        size: usize,
    ) -> c_int {
        from_result(|| {
            // SAFETY: called as a handler's `get`.
            let (namespace, inode, name) = unsafe { Self::arguments(handler, inode, name) };
            let len = T::get_xattr(inode, namespace, name, |value| {
                // With no buffer, the caller asks for the length.
                if !buffer.is_null() && size != 0 {
                    if value.len() > size {
                        return Err(ERANGE);
                    }
                    // SAFETY: `buffer` is valid for writes of `size` bytes
                    // and is not the filesystem's `value`.
                    unsafe { ptr::copy_nonoverlapping(value.as_ptr(), buffer.cast(), value.len()) };
                }
                Ok(value.len())
            })??;
            c_int::try_from(len).map_err(|_| E2BIG)
        })
    }

    /// `set` of both handlers.
    ///
    /// # Safety
    ///
    /// Called by the VFS, as `xattr_handler::set` of a handler of `T`.
    unsafe extern "C" fn set(
        handler: *const bindings::xattr_handler,
        _idmap: *mut bindings::mnt_idmap,
        _dentry: *mut bindings::dentry,
        inode: *mut bindings::inode,
        name: *const c_char,
        value: *const c_void,
        size: usize,
        flags: c_int,
    ) -> c_int {
        from_result(|| {
            // SAFETY: called as a handler's `set` (the VFS holds the inode's
            // `i_rwsem`).
            let (namespace, inode, name) = unsafe { Self::arguments(handler, inode, name) };
            // SAFETY: a non-NULL `value` is valid for reads of `size` bytes
            // during the call; NULL asks for a removal.
            let value = (!value.is_null())
                .then(|| unsafe { core::slice::from_raw_parts(value.cast::<u8>(), size) });
            let flags = flags as u32;
            let flags = XattrSetFlags {
                create: flags & bindings::XATTR_CREATE != 0,
                replace: flags & bindings::XATTR_REPLACE != 0,
            };
            T::set_xattr(inode, namespace, name, value, flags).map(|()| 0)
        })
    }

    /// `listxattr` of every inode type.
    ///
    /// # Safety
    ///
    /// Called by the VFS, as `inode_operations::listxattr` of an inode of
    /// `T`.
    pub(super) unsafe extern "C" fn listxattr(
        dentry: *mut bindings::dentry,
        list: *mut c_char,
        size: usize,
    ) -> isize {
        from_result(|| {
            // SAFETY: the VFS passes a referenced, positive dentry of this
            // filesystem, which stays positive during the call.
            let inode = unsafe { Inode::<T>::from_dentry(dentry) }.ok_or(ENOENT)?;
            // As `xattr_handler_can_list`.
            let listable = XattrNamespace::ALL.map(|namespace| {
                // SAFETY: `list` takes the dentry the VFS passed us.
                Self::of(namespace)
                    .list
                    .is_none_or(|list| unsafe { list(dentry) })
            });
            let buffer = if size == 0 {
                ptr::null_mut()
            } else {
                list.cast()
            };
            // INVARIANT: the VFS's `list` is valid for writes of `size`
            // bytes during the call.
            let mut names = XattrList {
                buffer,
                size,
                len: 0,
                listable,
                _p: PhantomData,
            };
            T::list_xattrs(inode, &mut names)?;
            isize::try_from(names.len).map_err(|_| E2BIG)
        })
    }
}
