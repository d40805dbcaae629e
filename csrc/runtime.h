#ifndef DARKNET_SOFTMAX_RUNTIME_H
#define DARKNET_SOFTMAX_RUNTIME_H

#include <stddef.h>

#include "status.h"

/* How the kernels of blas.h run. Settings are process-wide: set them before
   starting work on other threads.
   - the kernel: Darknet's scalar loop, on one thread, or the vector kernels,
     on pool threads above a size threshold;
   - the instruction set of the vector kernels, chosen for the CPU at start;
   - the thread count, caller included (DARKNET_SOFTMAX_NUM_THREADS, else
     the CPUs this process may use). */
enum ds_kernel { DS_KERNEL_SCALAR = 0, DS_KERNEL_VECTOR = 1 };
enum ds_isa { DS_ISA_PORTABLE = 0, DS_ISA_AVX2 = 1, DS_ISA_AVX512 = 2 };
enum { DS_MAX_THREADS = 256 };

DS_API int ds_set_kernel(int kernel); /* DS_ERR_ARG for an unknown kernel */
DS_API int ds_get_kernel(void);
DS_API int ds_set_isa(int isa); /* DS_ERR_ARG when this CPU or build lacks it */
DS_API int ds_get_isa(void);
DS_API int ds_isa_available(int isa);          /* 1 or 0 */
DS_API int ds_set_num_threads(size_t threads); /* DS_ERR_ARG outside 1 to DS_MAX_THREADS */
DS_API size_t ds_get_num_threads(void);

/* output = input over n floats, split over the threads as the kernels split
   their work: the memory floor that benchmarks hold the kernels to. */
DS_API void ds_copy(const float *input, size_t n, float *output);

#endif
