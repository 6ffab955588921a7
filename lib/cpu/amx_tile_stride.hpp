#pragma once
// GCC before 13 passes a tile's stride to its asm as `long`, which is 32 bits on Windows and
// gives an invalid address register; the same instructions with a 64-bit stride there.
#include <immintrin.h>

#if defined(_WIN32) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#undef _tile_loadd_internal
#define _tile_loadd_internal(dst, base, stride)                                          \
  __asm__ volatile("{tileloadd\t(%0,%1,1), %%tmm" #dst "|tileloadd\t%%tmm" #dst ", [%0+%1*1]}" \
                   ::"r"((const void*)(base)), "r"((long long)(stride)))
#undef _tile_stream_loadd_internal
#define _tile_stream_loadd_internal(dst, base, stride)                                       \
  __asm__ volatile("{tileloaddt1\t(%0,%1,1), %%tmm" #dst "|tileloaddt1\t%%tmm" #dst ", [%0+%1*1]}" \
                   ::"r"((const void*)(base)), "r"((long long)(stride)))
#undef _tile_stored_internal
#define _tile_stored_internal(src, base, stride)                                              \
  __asm__ volatile("{tilestored\t%%tmm" #src ", (%0,%1,1)|tilestored\t[%0+%1*1], %%tmm" #src "}" \
                   ::"r"((void*)(base)), "r"((long long)(stride))                           \
                   : "memory")
#endif
