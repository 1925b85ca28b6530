#!/bin/sh
# Rebuilds vdso/vdso.so, the vDSO image veil maps into every sandboxed
# program (embedded into veil-core with include_bytes!, so building veil
# needs no C compiler). Run it after changing vdso/vdso.c or
# vdso/vdso.lds, and commit the new image with the sources.
#
# usage: tools/build-vdso.sh [--check]
#   --check  build into a temporary file and fail if it differs from the
#            checked-in image (the image is reproducible: no build id, no
#            paths, no timestamps).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/vdso"
cc=${CC:-gcc}
out="$src/vdso.so"
check=0
if [ "${1:-}" = "--check" ]; then
	check=1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# -O2, position independent, nothing from libc or the compiler's runtime,
# no stack protector (there is no TLS canary to read), frame tables kept
# for unwinders and debuggers (.eh_frame, PT_GNU_EH_FRAME).
"$cc" -std=gnu11 -O2 -fPIC -ffreestanding -fno-builtin -fno-stack-protector \
	-fno-plt -fno-jump-tables -fasynchronous-unwind-tables -fcf-protection=none \
	-mno-red-zone -Wall -Wextra -Werror \
	-ffile-prefix-map="$root"=. \
	-c "$src/vdso.c" -o "$tmp/vdso.o"
"$cc" -shared -nostdlib -Wl,-T,"$src/vdso.lds" \
	-Wl,-soname=linux-vdso.so.1 -Wl,--hash-style=both -Wl,--eh-frame-hdr \
	-Wl,--build-id=none -Wl,--no-undefined -Wl,-z,max-page-size=4096 \
	-Wl,-z,noexecstack -Wl,-Bsymbolic \
	"$tmp/vdso.o" -o "$tmp/vdso.dbg.so"
objcopy --strip-all "$tmp/vdso.dbg.so" "$tmp/vdso.so"

# The image must need no relocations and have exactly the one PT_LOAD.
if readelf -r "$tmp/vdso.so" | grep -q 'Relocation section'; then
	echo "build-vdso: the image has relocations" >&2
	readelf -r "$tmp/vdso.so" >&2
	exit 1
fi
loads=$(readelf -lW "$tmp/vdso.so" | grep -c '^ *LOAD')
if [ "$loads" != 1 ]; then
	echo "build-vdso: expected one PT_LOAD, found $loads" >&2
	exit 1
fi

if [ $check = 1 ]; then
	if cmp -s "$tmp/vdso.so" "$out"; then
		echo "vdso/vdso.so is up to date"
	else
		echo "vdso/vdso.so differs from what vdso.c and vdso.lds build" >&2
		exit 1
	fi
else
	cp "$tmp/vdso.so" "$out"
	echo "wrote $out ($(wc -c <"$out") bytes)"
fi
