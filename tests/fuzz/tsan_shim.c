/* tsan_shim.c — linked into the ThreadSanitizer fuzzer only.
 *
 * Rust's nightly ThreadSanitizer (LLVM) instruments memory intrinsics as calls to
 * __tsan_memset, __tsan_memcpy and __tsan_memmove; gcc's libtsan does not export
 * them. Here they call the libc functions, which libtsan intercepts and checks, so
 * the accesses are still seen. The executable exports them (-rdynamic) for
 * libtapir.so to bind to. */
#include <string.h>

void *__tsan_memset(void *dst, int c, size_t n);
void *__tsan_memcpy(void *dst, const void *src, size_t n);
void *__tsan_memmove(void *dst, const void *src, size_t n);

void *__tsan_memset(void *dst, int c, size_t n) { return memset(dst, c, n); }
void *__tsan_memcpy(void *dst, const void *src, size_t n) { return memcpy(dst, src, n); }
void *__tsan_memmove(void *dst, const void *src, size_t n) { return memmove(dst, src, n); }
