/* The row kernels for AVX-512 (F and DQ): vector_kernels_rows.h at sixteen
   lanes, and the packed kernels (vector_kernels_packed.h). Only this file is
   compiled for AVX-512; runtime.c pairs them with AVX2's lane kernels, and
   uses them only on a CPU that has all of it. */
#include "target.h"
#include "vector_kernels.h"

#if defined(DS_BUILD_AVX512)

TARGET_BEGIN("avx512f,avx512dq,avx2,fma")

#define DS_VECTOR_AVX512 1
#include "vector.h"

#define VK(name) name##_avx512
#include "vector_kernels_rows.h"
/* Groups of 9 to 64 values end to end through vector_kernels_columns.h's
   transposes, where the row kernel took those from 33 (alternated calls
   over (16384, n): log_softmax 54% faster at 33 values, 23% at 64,
   softmax_backward 7 to 11%); softmax's to 56 (38% faster at 33, 6% at
   56, alike at 60, 17% slower at 64). */
#define COLUMNS_TRANSPOSED 64
#define COLUMNS_SOFTMAX 56
/* After the rows, and in this order: each takes the helpers before it. */
#include "vector_kernels_columns.h"
#include "vector_kernels_packed.h"

TARGET_END

#endif
