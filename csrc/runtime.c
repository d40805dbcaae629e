#include <string.h>

#include "blas_vector.h"
#include "runtime.h"
#include "status.h"
#include "threadpool.h"
#include "vector_kernels.h"

static int kernel = DS_KERNEL_VECTOR;
static const struct vector_kernels *in_use;   /* NULL until first asked for */

int ds_set_kernel(int value)
{
    if (value != DS_KERNEL_SCALAR && value != DS_KERNEL_VECTOR) return DS_ERR_ARG;
    kernel = value;
    return DS_OK;
}

int ds_get_kernel(void)
{
    return kernel;
}

int ds_isa_available(int isa)
{
    if (isa == DS_ISA_PORTABLE) return 1;
#if defined(DS_BUILD_AVX2)
    /* GCC's and Clang's check includes the OS saving the AVX registers. */
    if (isa == DS_ISA_AVX2) {
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
#endif
    return 0;
}

static const struct vector_kernels *table_for(int isa)
{
#if defined(DS_BUILD_AVX2)
    if (isa == DS_ISA_AVX2) return &vector_kernels_avx2;
#else
    (void)isa;
#endif
    return &vector_kernels_portable;
}

int ds_set_isa(int isa)
{
    if (!ds_isa_available(isa)) return DS_ERR_ARG;
    in_use = table_for(isa);
    return DS_OK;
}

int ds_get_isa(void)
{
    return vector_kernels_in_use() == &vector_kernels_portable ? DS_ISA_PORTABLE : DS_ISA_AVX2;
}

const struct vector_kernels *vector_kernels_in_use(void)
{
    if (!in_use) in_use = table_for(ds_isa_available(DS_ISA_AVX2) ? DS_ISA_AVX2 : DS_ISA_PORTABLE);
    return in_use;
}

int ds_set_num_threads(size_t threads)
{
    if (threads < 1 || threads > DS_MAX_THREADS) return DS_ERR_ARG;
    pool_set_threads(threads);
    return DS_OK;
}

size_t ds_get_num_threads(void)
{
    return pool_threads();
}

/* The copy is split as the kernels split their work: one part a thread. */
struct copy_work {
    const float *input;
    size_t n;
    float *output;
};

static void copy_part(void *context, size_t part, size_t parts)
{
    const struct copy_work *w = context;
    size_t begin = w->n / parts * part, end = part + 1 == parts ? w->n : w->n / parts * (part + 1);
    memcpy(w->output + begin, w->input + begin, (end - begin) * sizeof(float));
}

void ds_copy(const float *input, size_t n, float *output)
{
    struct copy_work work = {.input = input, .n = n, .output = output};
    pool_run(copy_part, &work, parts_for(n));
}
