/* The vector kernels for AVX2 + FMA. Only this file is compiled for them;
   blas_vector.c calls it only on a CPU that has both. */
#include "target.h"
#include "vector_kernels.h"

#if defined(DS_BUILD_AVX2)

TARGET_BEGIN("avx2,fma")

#define DS_VECTOR_AVX2 1
#include "vector.h"

#define VK(name) name##_avx2
#include "vector_kernels_impl.h"

TARGET_END

#endif
