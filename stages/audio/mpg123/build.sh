#!/usr/bin/env bash
# Rebuilds mpg123.wasm: libmpg123 1.31.2 (Debian bookworm's source tarball, checked by sha256)
# with glue.c, compiled by Emscripten into a standalone WebAssembly module. The built file is
# committed, so neither installing nor testing gpt2o-pipe needs this; run it to change the glue or
# the flags, or to check that the committed binary comes from this source.
#
# Needs: curl, bzip2, a C compiler and make (mpg123's configure writes config.h for this
# machine, then the sizes are corrected for wasm32), and Emscripten (`apt-get install emscripten`;
# Debian's 3.1.6 built the committed file).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version=1.31.2
sha256=b17f22905e31f43b6b401dfdf6a71ed11bb7d056f68db449d70b9f9ae839c7de
url="http://deb.debian.org/debian/pool/main/m/mpg123/mpg123_${version}.orig.tar.bz2"
# The same tarball upstream: https://www.mpg123.de/download/mpg123-${version}.tar.bz2

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
curl -fsSL "$url" -o "$work/mpg123.tar.bz2"
echo "$sha256  $work/mpg123.tar.bz2" | sha256sum -c --quiet
tar -xjf "$work/mpg123.tar.bz2" -C "$work"
src="$work/mpg123-${version}"

# Float output, no audio output modules or network: only libmpg123 is compiled.
(cd "$src" && ./configure --with-cpu=generic_fpu --disable-shared --enable-static --disable-modules \
  --disable-network --disable-ipv6 --disable-largefile --disable-lfs-alias \
  --with-default-audio=dummy --with-audio=dummy >/dev/null)
# configure measured this machine; wasm32 has 32-bit long and size_t (off_t stays 64-bit).
sed -i -e 's/#define SIZEOF_LONG 8/#define SIZEOF_LONG 4/' \
  -e 's/#define SIZEOF_SIZE_T 8/#define SIZEOF_SIZE_T 4/' \
  -e 's/#define SIZEOF_SSIZE_T 8/#define SIZEOF_SSIZE_T 4/' \
  -e 's/#define LFS_ALIAS_BITS 64/#define LFS_ALIAS_BITS 32/' \
  -e 's/#define HAVE_WINCON_H 1//' "$src/src/config.h"

sources=()
for name in dct64 equalizer feature format frame icy icy2utf8 id3 index layer1 layer2 layer3 \
  libmpg123 ntom optimize parse readers stringbuf synth synth_8bit synth_real synth_s32 tabinit; do
  sources+=("$src/src/libmpg123/$name.c")
done
sources+=("$src/src/compat/compat.c" "$src/src/compat/compat_str.c")

exports=_mp3_open,_mp3_feed,_mp3_read,_mp3_rate,_mp3_error,_mp3_close,_malloc,_free
# The prefix map keeps the temporary folder's name out of the binary, so rebuilds are byte-identical.
emcc -O3 -msimd128 -w -ffile-prefix-map="$src"=mpg123-${version} -DHAVE_CONFIG_H -DOPT_GENERIC -DREAL_IS_FLOAT \
  -I"$src/src" -I"$src/src/compat" -I"$src/src/libmpg123" \
  "$here/glue.c" "${sources[@]}" -o "$here/mpg123.wasm" \
  --no-entry -sSTANDALONE_WASM -sALLOW_MEMORY_GROWTH -sEXPORTED_FUNCTIONS="$exports"
cp "$src/COPYING" "$here/COPYING"
echo "wrote $here/mpg123.wasm ($(stat -c %s "$here/mpg123.wasm") bytes)"
