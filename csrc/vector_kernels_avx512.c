/* The row kernels for AVX-512 (F and DQ): vector_kernels_rows.h at sixteen
   lanes. Only this file is compiled for AVX-512; runtime.c pairs its rows
   with AVX2's lane kernels, and uses them only on a CPU that has all of it. */
#include "vector_kernels.h"

#if defined(DS_BUILD_AVX512)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx2,fma"))), \
                             apply_to = function)
#else
#pragma GCC target("avx512f,avx512dq,avx2,fma")
#endif

#define DS_VECTOR_AVX512 1
#include "vector.h"

#define VK(name) name##_avx512
#include "vector_kernels_rows.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif

#endif
