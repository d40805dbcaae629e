/* The vector kernels for AVX2 + FMA. Only this file is compiled for them;
   blas_vector.c calls it only on a CPU that has both. */
#include "vector_kernels.h"

#if defined(DS_BUILD_AVX2)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif

#define DS_VECTOR_AVX2 1
#include "vector.h"

#define VK(name) name##_avx2
#include "vector_kernels_impl.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif

#endif
