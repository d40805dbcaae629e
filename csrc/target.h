#ifndef DARKNET_SOFTMAX_TARGET_H
#define DARKNET_SOFTMAX_TARGET_H

/* Internal: the functions between TARGET_BEGIN(isa) and TARGET_END are
   compiled for the instruction sets isa names ("avx2,fma"), with GCC's
   pragma or Clang's; the files for AVX2 and AVX-512 wrap themselves in it,
   vector.h included, and the rest of the library stays baseline. */

#define TARGET_PRAGMA(text) _Pragma(#text)
#if defined(__clang__)
#define TARGET_BEGIN(isa) \
    TARGET_PRAGMA(clang attribute push(__attribute__((target(isa))), apply_to = function))
#define TARGET_END _Pragma("clang attribute pop")
#else
#define TARGET_BEGIN(isa) TARGET_PRAGMA(GCC target(isa))
#define TARGET_END
#endif

#endif
