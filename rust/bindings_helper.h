/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Headers for the module's own bindings (scripts/gen-bindings.sh): what
 * kernel::bindings lacks. Types these headers share with kernel::bindings
 * are not regenerated; the output refers to kernel::bindings for them.
 */
#include <linux/buffer_head.h>
#include <linux/dax.h>
#include <linux/exportfs.h>
#include <linux/falloc.h>
#include <linux/fileattr.h>
#include <linux/filelock.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/iomap.h>
#include <linux/jbd2.h>
#include <linux/pagemap.h>
#include <linux/writeback.h>

#include "glue.h"
#include "trace_glue.h"

#include <linux/statfs.h>

/* Macros bindgen cannot evaluate, exported as constants. */
const unsigned long RUST_CONST_HELPER_SB_RDONLY = SB_RDONLY;
const int RUST_CONST_HELPER_FALLOC_FL_KEEP_SIZE = FALLOC_FL_KEEP_SIZE;
const int RUST_CONST_HELPER_FALLOC_FL_PUNCH_HOLE = FALLOC_FL_PUNCH_HOLE;
const int RUST_CONST_HELPER_FALLOC_FL_ZERO_RANGE = FALLOC_FL_ZERO_RANGE;
const int RUST_CONST_HELPER_FALLOC_FL_COLLAPSE_RANGE = FALLOC_FL_COLLAPSE_RANGE;
const int RUST_CONST_HELPER_FALLOC_FL_INSERT_RANGE = FALLOC_FL_INSERT_RANGE;
const int RUST_CONST_HELPER_FALLOC_FL_UNSHARE_RANGE = FALLOC_FL_UNSHARE_RANGE;
const int RUST_CONST_HELPER_FALLOC_FL_WRITE_ZEROES = FALLOC_FL_WRITE_ZEROES;
const int RUST_CONST_HELPER_IOCB_DIRECT = IOCB_DIRECT;
const int RUST_CONST_HELPER_IOCB_APPEND = IOCB_APPEND;
const fmode_t RUST_CONST_HELPER_FMODE_CAN_ODIRECT = FMODE_CAN_ODIRECT;
const unsigned int RUST_CONST_HELPER_SEEK_HOLE = SEEK_HOLE;
const unsigned int RUST_CONST_HELPER_SEEK_DATA = SEEK_DATA;
const unsigned long RUST_CONST_HELPER_JBD2_BARRIER = JBD2_BARRIER;
const unsigned long RUST_CONST_HELPER_JBD2_ABORT = JBD2_ABORT;
const gfp_t RUST_CONST_HELPER_GFP_NOFS = GFP_NOFS;
const unsigned int RUST_CONST_HELPER_I_DIRTY_INODE = I_DIRTY_INODE;
const unsigned int RUST_CONST_HELPER_FS_IOC_SHUTDOWN = FS_IOC_SHUTDOWN;
const unsigned int RUST_CONST_HELPER_FITRIM = FITRIM;
const fop_flags_t RUST_CONST_HELPER_FOP_MMAP_SYNC = FOP_MMAP_SYNC;
