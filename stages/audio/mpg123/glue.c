/*
 * The few entry points gpt2o-pipe's resample stage needs from libmpg123, for a WebAssembly build
 * (see build.sh). The decoder runs in feed mode (bytes in, samples out, no file I/O) and mixes to
 * mono before synthesis (MPG123_MONO_MIX), so the filterbank runs once per frame instead of once
 * per channel: resample wants mono and this is the costly half of decoding.
 */
#include <stddef.h>
#include "mpg123.h"

/* A feed-mode decoder giving 32-bit float mono, or NULL. */
mpg123_handle *mp3_open(void) {
  int error = 0;
  mpg123_handle *handle = mpg123_new(NULL, &error);
  if (!handle) return NULL;
  long flags = MPG123_FORCE_FLOAT | MPG123_MONO_MIX | MPG123_GAPLESS | MPG123_QUIET;
  if (mpg123_param(handle, MPG123_FLAGS, flags, 0) != MPG123_OK || mpg123_open_feed(handle) != MPG123_OK) {
    mpg123_delete(handle);
    return NULL;
  }
  return handle;
}

/* Queues `size` bytes of the stream; mpg123 copies them. */
int mp3_feed(mpg123_handle *handle, const unsigned char *bytes, size_t size) {
  return mpg123_feed(handle, bytes, size);
}

/*
 * Decodes queued frames into `out` (at most `capacity` bytes); `*written` gets the bytes written.
 * Returns MPG123_NEED_MORE once the queue is used up, MPG123_NEW_FORMAT when the stream starts,
 * MPG123_OK when `out` is full, MPG123_ERR on corrupt data (see mp3_error).
 */
int mp3_read(mpg123_handle *handle, unsigned char *out, size_t capacity, size_t *written) {
  return mpg123_read(handle, out, capacity, written);
}

long mp3_rate(mpg123_handle *handle) {
  long rate = 0;
  int channels = 0, encoding = 0;
  mpg123_getformat(handle, &rate, &channels, &encoding);
  return rate;
}

const char *mp3_error(mpg123_handle *handle) { return mpg123_strerror(handle); }

void mp3_close(mpg123_handle *handle) { mpg123_delete(handle); }
