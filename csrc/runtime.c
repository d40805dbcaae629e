#include <string.h>

#include "blas_vector.h"
#include "runtime.h"
#include "status.h"
#include "threadpool.h"
#include "vector_kernels.h"

static int kernel = DS_KERNEL_VECTOR;

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

static int portable_available(void)
{
    return 1;
}

#if defined(DS_BUILD_AVX2)
/* GCC's and Clang's check includes the OS saving the AVX registers. */
static int avx2_available(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* AVX-512's rows beside AVX2's lanes, so both. */
static int avx512_available(void)
{
    return avx2_available() && __builtin_cpu_supports("avx512f")
           && __builtin_cpu_supports("avx512dq");
}
#endif

/* The instruction sets this build has, best first: the default is the first
   one the CPU runs. Another instruction set is one more row, with its
   vector_kernels_*.c. */
static const struct isa {
    int code;
    int (*available)(void);
    struct vector_kernels kernels;
} isas[] = {
#if defined(DS_BUILD_AVX2)
    {.code = DS_ISA_AVX512,
     .available = avx512_available,
     .kernels = {.rows = &row_kernels_avx512,
                 .lanes = &lane_kernels_avx2,
                 .packed = &packed_kernels_avx512}},
    {.code = DS_ISA_AVX2,
     .available = avx2_available,
     .kernels = {.rows = &row_kernels_avx2,
                 .lanes = &lane_kernels_avx2,
                 .packed = &packed_kernels_avx2}},
#endif
    {.code = DS_ISA_PORTABLE,
     .available = portable_available,
     .kernels = {.rows = &row_kernels_portable,
                 .lanes = &lane_kernels_portable,
                 .packed = &packed_kernels_portable}},
};

static const struct isa *in_use; /* NULL until first asked for */

/* The row of an instruction set this build and CPU run, or NULL. */
static const struct isa *isa_row(int code)
{
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; ++i) {
        if (isas[i].code == code) return isas[i].available() ? &isas[i] : NULL;
    }
    return NULL;
}

static const struct isa *isa_in_use(void)
{
    /* The search ends at the last row at the latest: portable runs everywhere. */
    for (size_t i = 0; !in_use; ++i) {
        if (isas[i].available()) in_use = &isas[i];
    }
    return in_use;
}

int ds_isa_available(int isa)
{
    return isa_row(isa) != NULL;
}

int ds_set_isa(int isa)
{
    const struct isa *row = isa_row(isa);
    if (!row) return DS_ERR_ARG;
    in_use = row;
    return DS_OK;
}

int ds_get_isa(void)
{
    return isa_in_use()->code;
}

const struct vector_kernels *vector_kernels_in_use(void)
{
    return &isa_in_use()->kernels;
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
    size_t begin, end;
    pool_share(w->n, part, parts, &begin, &end);
    memcpy(w->output + begin, w->input + begin, (end - begin) * sizeof(float));
}

void ds_copy(const float *input, size_t n, float *output)
{
    struct copy_work work = {.input = input, .n = n, .output = output};
    pool_run(copy_part, &work, parts_for(n));
}
