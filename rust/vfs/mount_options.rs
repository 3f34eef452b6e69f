// SPDX-License-Identifier: GPL-2.0

//! Mount options: a filesystem's table of them ([`OptionSpec`]), which the
//! kernel's `fs_parser` parses (`fs_context_operations::parse_param`) into
//! the filesystem's [`MountOptions`].
//!
//! C header: [`include/linux/fs_parser.h`](srctree/include/linux/fs_parser.h).

use super::bindings as vfs_bindings;
use kernel::prelude::*;

/// One value of an enumerated option: `value` for `option=name` (an
/// element of a `constant_table`).
#[repr(transparent)]
pub(crate) struct OptionValue(vfs_bindings::constant_table);

// SAFETY: an `OptionValue` only points to a `'static` C string, never
// written.
unsafe impl Sync for OptionValue {}

impl OptionValue {
    /// `value` for `option=name`.
    pub(crate) const fn new(name: &'static CStr, value: u32) -> Self {
        OptionValue(vfs_bindings::constant_table {
            name: name.to_bytes_with_nul().as_ptr(),
            value: value as i32,
        })
    }

    /// Ends a table of values.
    pub(crate) const END: Self = OptionValue(vfs_bindings::constant_table {
        name: core::ptr::null(),
        value: 0,
    });
}

/// One mount option (an element of an `fs_parameter_spec` table): its
/// name, the values it takes and the number the filesystem knows it by.
#[repr(transparent)]
pub(crate) struct OptionSpec(vfs_bindings::fs_parameter_spec);

// SAFETY: an `OptionSpec` only points to a `'static` C string and value
// table, never written, and to a kernel function.
unsafe impl Sync for OptionSpec {}

impl OptionSpec {
    /// `name=value`, `value` one of `values`, which ends with
    /// [`OptionValue::END`].
    pub(crate) const fn enumerated(
        opt: u8,
        name: &'static CStr,
        values: &'static [OptionValue],
    ) -> Self {
        assert!(!values.is_empty() && values[values.len() - 1].0.name.is_null());
        OptionSpec(vfs_bindings::fs_parameter_spec {
            name: name.to_bytes_with_nul().as_ptr(),
            type_: Some(vfs_bindings::fs_param_is_enum),
            opt,
            flags: 0,
            data: values.as_ptr().cast(),
        })
    }

    /// `name` alone, without a value.
    pub(crate) const fn flag(opt: u8, name: &'static CStr) -> Self {
        OptionSpec(vfs_bindings::fs_parameter_spec {
            name: name.to_bytes_with_nul().as_ptr(),
            type_: None,
            opt,
            flags: 0,
            data: core::ptr::null(),
        })
    }

    /// Ends a table of options.
    pub(crate) const END: Self = OptionSpec(vfs_bindings::fs_parameter_spec {
        name: core::ptr::null(),
        type_: None,
        opt: 0,
        flags: 0,
        data: core::ptr::null(),
    });

    /// Whether `specs` ends with [`OptionSpec::END`], as `fs_parser` needs.
    pub(super) const fn is_table(specs: &[OptionSpec]) -> bool {
        !specs.is_empty() && specs[specs.len() - 1].0.name.is_null()
    }
}

/// A mount option as parsed: which one, and its value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ParsedOption {
    /// The option's number in its [`OptionSpec`].
    pub(crate) opt: u8,
    /// Its [`OptionValue`] (0 for a flag).
    pub(crate) value: u32,
}

/// The mount options of a filesystem type: what one `mount` (or remount)
/// asked for, built from [`Default`] one option at a time.
pub(crate) trait MountOptions: Default + Send + Sync + 'static {
    /// The options, ending with [`OptionSpec::END`].
    const SPECS: &'static [OptionSpec];

    /// Records `option`; fails (`EINVAL`) if it cannot be combined with
    /// the options recorded before.
    fn set(&mut self, option: ParsedOption) -> Result;
}

/// Parses one mount option of `T` into `options`.
///
/// Fails with `ENOPARAM` for an option `T` does not take, which the VFS
/// then handles (`source`) or reports.
///
/// # Safety
///
/// `fc` and `param` are the valid arguments of a `parse_param` call.
pub(super) unsafe fn parse<T: MountOptions>(
    fc: *mut vfs_bindings::fs_context,
    param: *mut vfs_bindings::fs_parameter,
    options: &mut T,
) -> Result {
    const { assert!(OptionSpec::is_table(T::SPECS)) };
    let mut result = vfs_bindings::fs_parse_result::default();
    // SAFETY: guaranteed by the caller; `SPECS` is a table that ends as
    // `fs_parser` needs (asserted above), of `repr(transparent)` specs.
    let opt = unsafe {
        vfs_bindings::__fs_parse(
            &raw mut (*fc).log,
            T::SPECS.as_ptr().cast(),
            param,
            &mut result,
        )
    };
    let opt = u8::try_from(opt).map_err(|_| Error::from_errno(opt))?;
    options.set(ParsedOption {
        opt,
        // SAFETY: `uint_32` is the union member `fs_param_is_enum` fills.
        value: unsafe { *result.__bindgen_anon_1.uint_32.as_ref() },
    })
}
