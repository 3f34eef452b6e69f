#!/bin/bash
# Direct I/O, FIEMAP and SEEK_HOLE/SEEK_DATA: O_DIRECT writes into holes
# (unwritten extents converted at completion), into preallocated and into
# written blocks, extending the file, sector-aligned but not block-aligned;
# misaligned requests fail with EINVAL; O_DIRECT reads of data, holes and
# unwritten extents; everything read back through the page cache after a
# cache drop; asynchronous direct writes (waiting, or returning at
# submission when they only overwrite) and reads (libaio) verified. FIEMAP
# reports the extents and their unwritten flag, SEEK_HOLE and SEEK_DATA find
# them. fsck clean.
. "$(dirname "$0")/lib.sh"
fresh_fs
F=$MNT/dio

# Into a hole, extending the file: 1 MiB direct, then 4 KiB and 512 bytes.
xfs_io -f -d -c "pwrite -S 0x11 -b 1m 0 1m" -c "pwrite -S 0x22 2m 4k" \
	-c "pwrite -S 0x33 3m 512" "$F" >/dev/null
expect_eq "$(stat -c %s "$F")" $((3 * 1048576 + 512)) "size after direct writes"
# Over written blocks and into a preallocated (unwritten) range.
xfs_io -c "falloc 4m 1m" "$F"
xfs_io -d -c "pwrite -S 0x44 512k 8k" -c "pwrite -S 0x55 4m 64k" "$F" >/dev/null
before=$(md5 "$F")
drop_caches
expect_eq "$(md5 "$F")" "$before" "file after a cache drop"
helper expect-content "$F" $((5 * 1048576)) 0:524288:0x11 524288:8192:0x44 532480:516096:0x11 \
	2097152:4096:0x22 3145728:512:0x33 4194304:65536:0x55
# Direct reads of data, a hole and the still-unwritten tail of the
# preallocation match buffered reads.
for range in "0 256" "256 256" "1024 256" "768 1"; do # in 4 KiB blocks
	set -- $range
	d=$(dd if="$F" iflag=direct bs=4096 skip="$1" count="$2" status=none | md5sum)
	b=$(dd if="$F" bs=4096 skip="$1" count="$2" status=none | md5sum)
	expect_eq "$d" "$b" "direct vs buffered read of blocks $1+$2"
done

# Misaligned offset or length: EINVAL, nothing written.
out=$(xfs_io -d -c "pwrite 1 4096" "$F" 2>&1 || true)
[[ $out == *"Invalid argument"* ]] || die "misaligned direct write: '$out'"
out=$(xfs_io -d -c "pread 0 100" "$F" 2>&1 || true)
[[ $out == *"Invalid argument"* ]] || die "misaligned direct read: '$out'"

# FIEMAP: data at 0, the unwritten tail of the preallocation flagged.
fiemap=$(xfs_io -c "fiemap -v" "$F")
echo "$fiemap"
unwritten=0
while read -r _ _ _ _ flags; do
	[[ $flags == 0x* ]] && ((flags & 0x800)) && unwritten=$((unwritten + 1))
done <<<"$fiemap"
expect_eq "$unwritten" 1 "FIEMAP extents flagged unwritten (0x800)"
# SEEK_DATA from the hole at 1 MiB finds the block at 2 MiB; SEEK_HOLE from
# 0 finds the end of the first MiB.
expect_eq "$(xfs_io -c "seek -d 1m" "$F" | awk '/^DATA/ {print $2}')" 2097152 "SEEK_DATA from 1 MiB"
expect_eq "$(xfs_io -c "seek -h 0" "$F" | awk '/^HOLE/ {print $2}')" 1048576 "SEEK_HOLE from 0"

# Asynchronous direct I/O (libaio, 16 requests in flight): 16 MiB of
# checksummed 4 KiB blocks written at random offsets inside EOF, then read
# back the same way and every block verified by fio. Into holes, each write
# allocates and converts at completion, so it waits for its I/O
# (dio_async_waited); over the blocks written so, pure overwrites return once
# submitted (dio_overwrite_queued); into a preallocated file, unwritten
# blocks are converted, so those wait too, and are verified again after a
# remount (--verify_only).
D=$(debugfs_dir)
AIO_LOG=/tmp/dio-aio.log # fio's output of the last run
aio() { # FILE [FIO OPTION]
	fio --name=aio --filename="$1" --rw=randwrite --bs=4k --size=16m --direct=1 \
		--ioengine=libaio --iodepth=16 --fallocate=none --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --output-format=terse "${@:2}" >"$AIO_LOG" 2>&1
}
xfs_io -f -c "truncate 16m" "$MNT/aio"
aio "$MNT/aio" || die "asynchronous direct writes into holes: fio's verification failed"
waited=$(cat "$D/dio_async_waited")
((waited >= 4096)) || die "asynchronous writes into holes: $waited of 4096 waited"
expect_eq "$(cat "$D/dio_overwrite_queued")" 0 "writes into holes returned before their I/O"
aio "$MNT/aio" || die "asynchronous direct overwrites: fio's verification failed"
queued=$(cat "$D/dio_overwrite_queued")
((queued > 0)) || die "no asynchronous overwrite returned before its I/O"
expect_eq "$(cat "$D/dio_async_waited")" "$waited" "overwrites of written blocks that waited"
xfs_io -f -c "falloc 0 16m" "$MNT/aio-prealloc"
aio "$MNT/aio-prealloc" || die "asynchronous direct writes into unwritten blocks: fio's verification failed"
expect_eq "$(cat "$D/dio_overwrite_queued")" "$queued" "writes into unwritten blocks returned before their I/O"
(($(cat "$D/dio_async_waited") >= waited + 4096)) || die "writes into unwritten blocks did not all wait"
remount
D=$(debugfs_dir)
aio "$MNT/aio-prealloc" --verify_only || die "unwritten blocks written asynchronously: not converted on disk"
echo "asynchronous writes: $waited waited (holes), then $queued overwrites returned at submission"
# Negative control: unsafe_overwrite_unwritten lets the writes into
# unwritten blocks go as pure overwrites, not converted: fio reads zeroes.
xfs_io -f -c "falloc 0 16m" "$MNT/aio-unconverted"
echo 1 >"$D/unsafe_overwrite_unwritten"
aio "$MNT/aio-unconverted" && die "negative control: unconverted writes verified: the test cannot fail"
grep -qi "verify" "$AIO_LOG" || die "negative control: fio failed, but not its verification: $(head -c 500 "$AIO_LOG")"
echo 0 >"$D/unsafe_overwrite_unwritten"
echo "negative control: the unconverted blocks read back as zeroes, caught"

echo "iomap_begin $(cat "$D/iomap_begin"), dio_retry $(cat "$D/dio_retry"), dio_fallback $(cat "$D/dio_fallback")"
check_fsck
