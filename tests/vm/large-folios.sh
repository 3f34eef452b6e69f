#!/bin/bash
# The page cache of a rexfs file uses large folios, for buffered writes and
# for readahead: trace mm_filemap_add_to_page_cache while writing 64 MiB and
# while reading it back cold; the file's folios must cover its 16384 pages
# exactly once, and some must have order > 0 (dropping the caches in between
# must delete all of them). Prints the order histograms; fsck clean.
. "$(dirname "$0")/lib.sh"
T=/sys/kernel/tracing
ADD=$T/events/filemap/mm_filemap_add_to_page_cache
DEL=$T/events/filemap/mm_filemap_delete_from_page_cache
[ -f "$ADD/enable" ] && [ -f "$DEL/enable" ] || die "no filemap trace events under $T"
fresh_fs
F=$MNT/f
PAGES=16384    # 64 MiB

dev=$(stat -c '%Hd:%Ld' "$MNT")
old_kb=$(awk '{print $1}' "$T/buffer_size_kb")
cleanup() {
	for e in "$ADD" "$DEL"; do
		echo 0 >"$e/enable" || true
		echo 0 >"$e/filter" || true
	done
	echo "$old_kb" >"$T/buffer_size_kb" || true
}
trap cleanup EXIT
echo 8192 >"$T/buffer_size_kb"
# Only this filesystem's folios: the kernel's dev_t is major << 20 | minor.
for e in "$ADD" "$DEL"; do
	echo "s_dev == $(((${dev%:*} << 20) | ${dev#*:}))" >"$e/filter"
done
echo 1 >"$T/tracing_on"

# traced EVENT NAME CMD...: run CMD with EVENT enabled; the trace goes to
# /tmp/trace-NAME.
traced() {
	local event=$1 name=$2
	shift 2
	echo >"$T/trace"
	echo 1 >"$event/enable"
	"$@"
	echo 0 >"$event/enable"
	cat "$T/trace" >"/tmp/trace-$name"
}

# folios NAME INO: check the mm_filemap events in /tmp/trace-NAME for inode
# INO: none lost, they cover pages 0..PAGES-1 exactly once; print the
# histogram of orders; print the highest order.
folios() {
	py - "/tmp/trace-$1" "$dev" "$2" "$PAGES" <<'PY'
import collections, re, sys
from helpers import fail
path, dev, ino, pages = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
text = open(path).read()
m = re.search(r"entries-in-buffer/entries-written: (\d+)/(\d+)", text)
if not m or m.group(1) != m.group(2): fail(f"{path}: trace events lost ({m and m.group(0)})")
ev = re.compile(r"mm_filemap_\w+: dev (\d+:\d+) ino ([0-9a-f]+) pfn=0x[0-9a-f]+ ofs=(\d+) order=(\d+)")
seen = set()
hist = collections.Counter()
for line in text.splitlines():
    e = ev.search(line)
    if not e or e.group(1) != dev or e.group(2) != ino:
        continue
    index, order = int(e.group(3)) >> 12, int(e.group(4))
    if index % (1 << order): fail(f"{path}: folio of order {order} at misaligned page {index}")
    for p in range(index, index + (1 << order)):
        if p in seen: fail(f"{path}: page {p} in two folios")
        if p >= pages: fail(f"{path}: page {p} beyond EOF")
        seen.add(p)
    hist[order] += 1
for order in sorted(hist):
    print(f"  order {order}: {hist[order]} folios ({hist[order] << order} pages)", file=sys.stderr)
if len(seen) != pages: fail(f"{path}: folios cover {len(seen)} pages of {pages}")
print(max(hist))
PY
}

traced "$ADD" write xfs_io -f -c "pwrite -q -b 4m 0 64m" "$F"
ino=$(printf %x "$(stat -c %i "$F")")
echo "buffered write of 64 MiB, folios added:"
order=$(folios write "$ino")
[ "$order" -gt 0 ] || die "buffered write: only order-0 folios"

sync
traced "$DEL" drop sh -c 'echo 3 >/proc/sys/vm/drop_caches'
echo "drop_caches, folios deleted:"
folios drop "$ino" >/dev/null

traced "$ADD" read sh -c "cat '$F' >/dev/null"
echo "cold read of 64 MiB, folios added:"
order=$(folios read "$ino")
[ "$order" -gt 0 ] || die "readahead: only order-0 folios"
check_fsck
