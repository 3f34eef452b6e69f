// SPDX-License-Identifier: GPL-2.0
/*
 * C glue of rexfs. See glue.h.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/buffer_head.h>
#include <linux/dax.h>
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/fileattr.h>	/* needs linux/fs.h first */
#include <linux/fs/super.h>
#include <linux/iomap.h>
#include <linux/jbd2.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/workqueue.h>

#include "glue.h"

struct kmem_cache *rvfs_inode_cache_create(const char *name, unsigned int size,
					    unsigned int align, void (*ctor)(void *))
{
	return kmem_cache_create(name, size, align,
				 SLAB_RECLAIM_ACCOUNT | SLAB_ACCOUNT, ctor);
}

struct inode *rvfs_alloc_inode_sb(struct super_block *sb, struct kmem_cache *cache)
{
	return alloc_inode_sb(sb, cache, GFP_KERNEL);
}

bool rvfs_inode_is_new(struct inode *inode)
{
	return inode_state_read_once(inode) & I_NEW;
}

void rvfs_inode_get_attrs(struct inode *inode, struct rvfs_inode_attrs *attrs)
{
	struct timespec64 ts;

	attrs->mode = inode->i_mode;
	attrs->nlink = inode->i_nlink;
	attrs->uid = i_uid_read(inode);
	attrs->gid = i_gid_read(inode);
	attrs->size = i_size_read(inode);
	attrs->sectors = inode->i_blocks;
	ts = inode_get_atime(inode);
	attrs->atime = ts.tv_sec;
	attrs->atime_ns = ts.tv_nsec;
	ts = inode_get_mtime(inode);
	attrs->mtime = ts.tv_sec;
	attrs->mtime_ns = ts.tv_nsec;
	ts = inode_get_ctime(inode);
	attrs->ctime = ts.tv_sec;
	attrs->ctime_ns = ts.tv_nsec;
	attrs->generation = inode->i_generation;
}

void rvfs_inode_set_attrs(struct inode *inode, const struct rvfs_inode_attrs *attrs)
{
	inode->i_mode = attrs->mode;
	set_nlink(inode, attrs->nlink);
	i_uid_write(inode, attrs->uid);
	i_gid_write(inode, attrs->gid);
	i_size_write(inode, attrs->size);
	inode->i_blocks = attrs->sectors;
	inode_set_atime(inode, attrs->atime, attrs->atime_ns);
	inode_set_mtime(inode, attrs->mtime, attrs->mtime_ns);
	inode_set_ctime(inode, attrs->ctime, attrs->ctime_ns);
	inode->i_generation = attrs->generation;
}

void rvfs_inode_set_size(struct inode *inode, loff_t size)
{
	i_size_write(inode, size);
}

void rvfs_inode_touch(struct inode *inode, bool mtime)
{
	struct timespec64 now = inode_set_ctime_current(inode);

	if (mtime)
		inode_set_mtime_to_ts(inode, now);
}

void rvfs_mark_inode_dirty(struct inode *inode)
{
	mark_inode_dirty(inode);
}

void rvfs_inode_lock(struct inode *inode)
{
	inode_lock(inode);
}

void rvfs_inode_unlock(struct inode *inode)
{
	inode_unlock(inode);
}

void rvfs_inode_lock_shared(struct inode *inode)
{
	inode_lock_shared(inode);
}

void rvfs_inode_unlock_shared(struct inode *inode)
{
	inode_unlock_shared(inode);
}

void rvfs_mapping_set_large_folios(struct inode *inode)
{
	mapping_set_large_folios(inode->i_mapping);
}

void rvfs_invalidate_lock(struct inode *inode)
{
	filemap_invalidate_lock(inode->i_mapping);
}

void rvfs_invalidate_unlock(struct inode *inode)
{
	filemap_invalidate_unlock(inode->i_mapping);
}

void rvfs_invalidate_lock_shared(struct inode *inode)
{
	filemap_invalidate_lock_shared(inode->i_mapping);
}

void rvfs_invalidate_unlock_shared(struct inode *inode)
{
	filemap_invalidate_unlock_shared(inode->i_mapping);
}

int rvfs_finish_open_simple(struct file *file)
{
	return finish_open_simple(file, 0);
}

bool rvfs_fileattr_has_fsx(const struct file_kattr *fa)
{
	return fileattr_has_fsx(fa);
}

void rvfs_sb_start_pagefault(struct super_block *sb)
{
	sb_start_pagefault(sb);
}

void rvfs_sb_end_pagefault(struct super_block *sb)
{
	sb_end_pagefault(sb);
}

void rvfs_sb_start_write(struct super_block *sb)
{
	sb_start_write(sb);
}

void rvfs_sb_end_write(struct super_block *sb)
{
	sb_end_write(sb);
}

void rvfs_sb_start_intwrite(struct super_block *sb)
{
	sb_start_intwrite(sb);
}

void rvfs_sb_end_intwrite(struct super_block *sb)
{
	sb_end_intwrite(sb);
}

u64 rvfs_bdev_nr_bytes(struct super_block *sb)
{
	return bdev_nr_bytes(sb->s_bdev);
}

const unsigned char *rvfs_dentry_name(const struct dentry *dentry, u32 *len)
{
	*len = dentry->d_name.len;
	return dentry->d_name.name;
}

struct inode *rvfs_dentry_inode(const struct dentry *dentry)
{
	return d_inode(dentry);
}

bool rvfs_dir_emit(struct dir_context *ctx, const char *name, int len, u64 ino,
		    unsigned int type)
{
	return dir_emit(ctx, name, len, ino, type);
}

/* Whether the filesystem's device is read-only (bdev_read_only is inline). */
bool rvfs_sb_device_read_only(struct super_block *sb)
{
	return bdev_read_only(sb->s_bdev);
}

/* Whether the filesystem's device can discard blocks. */
bool rvfs_sb_can_discard(struct super_block *sb)
{
	return bdev_max_discard_sectors(sb->s_bdev) != 0;
}

/* Discards @count blocks from @block and waits (sb_issue_discard is inline). */
int rvfs_sb_discard(struct super_block *sb, u64 block, u64 count)
{
	return sb_issue_discard(sb, block, count, GFP_NOFS, 0);
}

/*
 * The up-to-date buffer of @block. One read from the disk now loses the
 * verified flag (see rvfs_buffer_verified) that an earlier copy of the
 * block had: the filesystem checks the contents again, as ext4 does.
 */
struct buffer_head *rvfs_sb_bread(struct super_block *sb, u64 block)
{
	struct buffer_head *bh = sb_getblk(sb, block);

	if (!bh || bh_uptodate_or_lock(bh))
		return bh;
	clear_buffer_verified(bh);
	if (__bh_read(bh, REQ_META, true)) {
		brelse(bh);
		return NULL;
	}
	return bh;
}

/*
 * rvfs_sb_bread(), and when @block must be read from disk, reads of the
 * @ahead blocks after it started first, in one plug (as ext4 reads ahead
 * its inode table): their buffers are up to date when next wanted.
 */
struct buffer_head *rvfs_sb_bread_ahead(struct super_block *sb, u64 block, u32 ahead)
{
	struct buffer_head *bh = sb_getblk(sb, block);
	struct blk_plug plug;
	u32 i;

	if (!bh || bh_uptodate_or_lock(bh))
		return bh;
	blk_start_plug(&plug);
	for (i = 1; i <= ahead; i++)
		sb_breadahead(sb, block + i);
	blk_finish_plug(&plug);
	clear_buffer_verified(bh);
	if (__bh_read(bh, REQ_META, true)) {
		brelse(bh);
		return NULL;
	}
	return bh;
}

struct buffer_head *rvfs_getblk_zeroed(struct super_block *sb, u64 block)
{
	struct buffer_head *bh = sb_getblk(sb, block);

	if (!bh)
		return NULL;
	lock_buffer(bh);
	memset(bh->b_data, 0, bh->b_size);
	set_buffer_uptodate(bh);
	unlock_buffer(bh);
	return bh;
}

/* The buffer of @block, locked and not read: its contents are to be made. */
struct buffer_head *rvfs_getblk_locked(struct super_block *sb, u64 block)
{
	struct buffer_head *bh = sb_getblk(sb, block);

	if (bh)
		lock_buffer(bh);
	return bh;
}

void rvfs_buffer_unlock_uptodate(struct buffer_head *bh)
{
	set_buffer_uptodate(bh);
	unlock_buffer(bh);
}

/*
 * Drops the cached buffer of @block, a metadata block being freed, dirty or
 * not, so that it is never written over what the block's next owner puts
 * there (file data does not go through the buffer cache).
 */
void rvfs_forget_block(struct super_block *sb, u64 block)
{
	bforget(sb_find_get_block_nonatomic(sb, block));
}

/* The cached buffer of @block, referenced, or NULL if it is not cached. */
struct buffer_head *rvfs_find_block(struct super_block *sb, u64 block)
{
	return sb_find_get_block_nonatomic(sb, block);
}

void rvfs_buffer_lock(struct buffer_head *bh)
{
	lock_buffer(bh);
}

unsigned int rvfs_nofs_save(void)
{
	return memalloc_nofs_save();
}

void rvfs_nofs_restore(unsigned int flags)
{
	memalloc_nofs_restore(flags);
}

void rvfs_file_accessed(struct file *file)
{
	file_accessed(file);
}

bool rvfs_daxdev_mapping_supported(const struct vm_area_desc *desc,
				   const struct inode *inode, struct dax_device *dax_dev)
{
	return daxdev_mapping_supported(desc, inode, dax_dev);
}

void rvfs_vma_desc_set_hugepage(struct vm_area_desc *desc)
{
	vma_desc_set_flags(desc, VMA_HUGEPAGE_BIT);
}

/*
 * dax_break_layout()'s wait: a pinned DAX page is released by its user, who
 * may need the invalidate_lock the caller holds exclusively; so drop it
 * while waiting, as xfs_wait_dax_page() drops the MMAPLOCK.
 */
static void rvfs_dax_wait_page(struct inode *inode)
{
	filemap_invalidate_unlock(inode->i_mapping);
	schedule();
	filemap_invalidate_lock(inode->i_mapping);
}

int rvfs_dax_break_layout(struct inode *inode, loff_t start, loff_t end)
{
	return dax_break_layout(inode, start, end, rvfs_dax_wait_page);
}

void rvfs_buffer_unlock(struct buffer_head *bh)
{
	unlock_buffer(bh);
}

bool rvfs_buffer_verified(struct buffer_head *bh)
{
	return buffer_verified(bh);
}

void rvfs_set_buffer_verified(struct buffer_head *bh)
{
	set_buffer_verified(bh);
}

ssize_t rvfs_generic_write_sync(struct kiocb *iocb, ssize_t count)
{
	return generic_write_sync(iocb, count);
}

unsigned int rvfs_journal_latest_tid(journal_t *journal)
{
	tid_t tid;

	read_lock(&journal->j_state_lock);
	if (journal->j_running_transaction)
		tid = journal->j_running_transaction->t_tid;
	else if (journal->j_committing_transaction)
		tid = journal->j_committing_transaction->t_tid;
	else
		tid = journal->j_commit_sequence;
	read_unlock(&journal->j_state_lock);
	return tid;
}

typedef int (*rvfs_convert_fn)(struct inode *inode, loff_t offset, size_t size,
			       bool after_writeback);

/*
 * Completions of writeback into unwritten or copy-on-write blocks, run by
 * one work item of each mounted filesystem on a workqueue of its own: the
 * conversion starts a journal handle, which may wait for a commit, and that
 * commit's own I/O may need the context that completed the bio (dm
 * completes a bio in its worker, before the next one, which may be the
 * commit's). So the bio's completion only queues the ioend. One queue per
 * filesystem, not per module: a filesystem on a loop device over a file of
 * another one waits, in its conversion, for its commit, whose I/O waits
 * for the other's writeback of that file, which must complete meanwhile
 * (xfstests generic/648 hung on one queue).
 */
struct rvfs_ioend_queue {
	struct workqueue_struct *wq;
	spinlock_t lock;
	struct list_head list;
	struct work_struct work;
	rvfs_convert_fn convert_unwritten;
	rvfs_convert_fn complete_cow;
};

/*
 * Ends @ioend's writeback, then runs @convert over its range: what the
 * completion must never do, kept for a race test's negative control. The
 * inode is held, its folios no longer keeping it; an error reaches the
 * mapping, the folios being clean already.
 */
static void rvfs_convert_after_writeback(struct iomap_ioend *ioend, rvfs_convert_fn convert)
{
	struct inode *inode = ioend->io_inode;
	loff_t offset = ioend->io_offset;
	size_t size = ioend->io_size;
	int error;

	ihold(inode);
	iomap_finish_ioends(ioend, 0);
	error = convert(inode, offset, size, true);
	if (error)
		mapping_set_error(inode->i_mapping, error);
	iput(inode);
}

static void rvfs_ioend_work_fn(struct work_struct *work)
{
	struct rvfs_ioend_queue *q = container_of(work, struct rvfs_ioend_queue, work);
	struct iomap_ioend *ioend;

	for (;;) {
		spin_lock_irq(&q->lock);
		ioend = list_first_entry_or_null(&q->list, struct iomap_ioend, io_list);
		if (ioend)
			list_del_init(&ioend->io_list);
		spin_unlock_irq(&q->lock);
		if (!ioend)
			return;
		if (!ioend->io_error) {
			/* A copy-on-write ioend maps written blocks: never both. */
			rvfs_convert_fn convert = ioend->io_flags & IOMAP_IOEND_SHARED ?
				q->complete_cow : q->convert_unwritten;
			int ret = convert(ioend->io_inode, ioend->io_offset, ioend->io_size, false);

			if (ret == RVFS_CONVERT_AFTER_WRITEBACK) {
				rvfs_convert_after_writeback(ioend, convert);
				continue;
			}
			ioend->io_error = ret;
		}
		iomap_finish_ioends(ioend, ioend->io_error);
	}
}

static void rvfs_unwritten_end_bio(struct bio *bio)
{
	struct iomap_ioend *ioend = iomap_ioend_from_bio(bio);
	struct rvfs_ioend_queue *q = ioend->io_private;
	unsigned long flags;

	ioend->io_error = blk_status_to_errno(bio->bi_status);
	spin_lock_irqsave(&q->lock, flags);
	list_add_tail(&ioend->io_list, &q->list);
	spin_unlock_irqrestore(&q->lock, flags);
	queue_work(q->wq, &q->work);
}

struct rvfs_ioend_queue *rvfs_ioend_queue_create(struct super_block *sb,
						 rvfs_convert_fn convert_unwritten,
						 rvfs_convert_fn complete_cow)
{
	struct rvfs_ioend_queue *q = kzalloc(sizeof(*q), GFP_KERNEL);

	if (!q)
		return NULL;
	q->wq = alloc_workqueue("rvfs-ioend/%s", WQ_MEM_RECLAIM | WQ_UNBOUND, 1, sb->s_id);
	if (!q->wq) {
		kfree(q);
		return NULL;
	}
	spin_lock_init(&q->lock);
	INIT_LIST_HEAD(&q->list);
	INIT_WORK(&q->work, rvfs_ioend_work_fn);
	q->convert_unwritten = convert_unwritten;
	q->complete_cow = complete_cow;
	return q;
}

void rvfs_ioend_queue_destroy(struct rvfs_ioend_queue *q)
{
	destroy_workqueue(q->wq);
	kfree(q);
}

void rvfs_ioend_convert_on_completion(struct iomap_ioend *ioend, struct rvfs_ioend_queue *q)
{
	ioend->io_private = q;
	ioend->io_bio.bi_end_io = rvfs_unwritten_end_bio;
}

void rvfs_iomap_bio_read_folio(struct folio *folio, const struct iomap_ops *ops)
{
	iomap_bio_read_folio(folio, ops);
}

void rvfs_iomap_bio_readahead(struct readahead_control *rac, const struct iomap_ops *ops)
{
	iomap_bio_readahead(rac, ops);
}

size_t rvfs_iov_iter_count(const struct iov_iter *iter)
{
	return iov_iter_count(iter);
}

/* Whether a write of @iocb must be durable when it completes. */
bool rvfs_iocb_is_dsync(const struct kiocb *iocb)
{
	return iocb_is_dsync(iocb);
}

/* Whether changes through @file must be durable when they return. */
bool rvfs_file_sync_writes(const struct file *file)
{
	return (file->f_flags & (__O_SYNC | O_DSYNC)) || IS_SYNC(file_inode(file));
}

void rvfs_pagefault_disable(void)
{
	pagefault_disable();
}

void rvfs_pagefault_enable(void)
{
	pagefault_enable();
}

bool rvfs_fault_vma_is_shared(const struct vm_fault *vmf)
{
	return vmf->vma->vm_flags & VM_SHARED;
}

/*
 * Pins the faulting file, then drops the lock the fault holds (the mmap
 * lock or the per-VMA lock); the caller must not touch the VMA afterwards.
 * Returns the pinned file, for fput().
 */
struct file *rvfs_fault_release_lock(struct vm_fault *vmf)
{
	struct file *file = get_file(vmf->vma->vm_file);

	release_fault_lock(vmf);
	return file;
}

/*
 * The file range of the faulting page's folio. The fault holds a reference
 * to the page, so the folio cannot be split; it may be truncated meanwhile,
 * which iomap_page_mkwrite() notices under the folio lock.
 */
void rvfs_fault_folio_range(const struct vm_fault *vmf, loff_t *pos, size_t *len)
{
	struct folio *folio = page_folio(vmf->page);

	*pos = folio_pos(folio);
	*len = folio_size(folio);
}

struct folio *rvfs_read_mapping_folio(struct address_space *mapping, pgoff_t index)
{
	return read_mapping_folio(mapping, index, NULL);
}

/*
 * Locks @folio; returns whether it is still in @mapping and uptodate (it may
 * have been truncated or reclaimed before the lock was taken).
 */
bool rvfs_folio_lock_in(struct folio *folio, struct address_space *mapping)
{
	folio_lock(folio);
	return folio->mapping == mapping && folio_test_uptodate(folio);
}

void rvfs_folio_put(struct folio *folio)
{
	folio_put(folio);
}
