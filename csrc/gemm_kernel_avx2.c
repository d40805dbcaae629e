/* gemm's microkernels and its transposing pack for AVX2 + FMA. Only this
   file is compiled for them; gemm.c calls them only on a CPU that has both. */
#include "gemm_kernel.h"
#include "target.h"

#if defined(DS_BUILD_AVX2)

TARGET_BEGIN("avx2,fma")

#define DS_VECTOR_AVX2 1
#include "vector.h"

#include "gemm_kernel_tile.h"

_Static_assert(GEMM_NR == 2 * LANES, "an AVX2 tile is two vectors wide");

void gemm_kernel_avx2(size_t k, const float *a, const float *b, float alpha, float beta, float *c,
                      size_t ldc, size_t rows)
{
    tile_rows(k, a, b, LANES, alpha, beta, c, ldc, rows, 2);
}

void gemm_kernel_avx2_half(size_t k, const float *a, const float *b, float alpha, float beta,
                           float *c, size_t ldc, size_t rows)
{
    tile_rows(k, a, b, LANES, alpha, beta, c, ldc, rows, 1);
}

/* The last columns of C, when no more than NR/4 are left: column j's sums
   run down the tile's rows (rows 0 to 3 in one vector, 4 and 5 in another),
   so a step is a multiply-add of a column of A by one value of B, where the
   half kernel would multiply eight columns. Its products and their order
   are the whole kernel's. With one column four panels of A, and with two
   two (tiles q = 0 to 3, MR rows apart in C), go side by side, so that
   eight sums, not two or four, hide the multiply-add's latency. */
#define NARROW_FMA(q, j)                                 \
    if (q < panels) {                                    \
        lo##q##j = _mm_fmadd_ps(top##q, v, lo##q##j);    \
        hi##q##j = _mm_fmadd_ps(bottom##q, v, hi##q##j); \
    }

#define NARROW_STEP(j)               \
    if (j < cols) {                  \
        v = _mm_broadcast_ss(b + j); \
        NARROW_FMA(0, j)             \
        NARROW_FMA(1, j)             \
        NARROW_FMA(2, j)             \
        NARROW_FMA(3, j)             \
    }

#define NARROW_LOAD(q)                                                              \
    if (q < panels) {                                                               \
        top##q = _mm_loadu_ps(a + q * step);                                        \
        bottom##q = _mm_castpd_ps(_mm_load_sd((const double *)(a + q * step + 4))); \
    }

#define NARROW_STORE(q, j)                                                          \
    if (q < panels && j < cols) {                                                   \
        _mm_storeu_ps(sum, lo##q##j);                                               \
        _mm_storeu_ps(sum + 4, hi##q##j);                                           \
        for (size_t r = 0; r < (q + 1 < panels ? GEMM_MR : rows); ++r) {            \
            float product = alpha * sum[r], *out = c + (q * GEMM_MR + r) * ldc + j; \
            *out = beta ? fmaf(beta, *out, product) : product;                      \
        }                                                                           \
    }

#define NARROW_STORES(q) \
    NARROW_STORE(q, 0)   \
    NARROW_STORE(q, 1)   \
    NARROW_STORE(q, 2)   \
    NARROW_STORE(q, 3)

#define NARROW_SUMS(q)                                                                          \
    __m128 lo##q##0 = zero, lo##q##1 = zero, lo##q##2 = zero, lo##q##3 = zero, hi##q##0 = zero, \
           hi##q##1 = zero, hi##q##2 = zero, hi##q##3 = zero, top##q = zero, bottom##q = zero

_Static_assert(GEMM_NR / 4 == 4, "the narrow kernel has four columns of sums");

static ALWAYS_INLINE void narrow(size_t k, const float *a, const float *b, float alpha, float beta,
                                 float *c, size_t ldc, size_t rows, int cols, int panels)
{
    const __m128 zero = _mm_setzero_ps();
    __m128 v;
    NARROW_SUMS(0);
    NARROW_SUMS(1);
    NARROW_SUMS(2);
    NARROW_SUMS(3);
    size_t step = GEMM_MR * k; /* from one panel of A to the next */
    for (size_t p = 0; p < k; ++p, a += GEMM_MR, b += GEMM_NR) {
        NARROW_LOAD(0);
        NARROW_LOAD(1);
        NARROW_LOAD(2);
        NARROW_LOAD(3);
        NARROW_STEP(0);
        NARROW_STEP(1);
        NARROW_STEP(2);
        NARROW_STEP(3);
    }
    float sum[8];
    NARROW_STORES(0);
    NARROW_STORES(1);
    NARROW_STORES(2);
    NARROW_STORES(3);
}

/* panels is 1, or gemm_narrow_panels(cols) whole panels. */
void gemm_kernel_avx2_narrow(size_t k, const float *a, const float *b, float alpha, float beta,
                             float *c, size_t ldc, size_t rows, size_t cols, size_t panels)
{
    if (cols == 1 && panels > 1)
        narrow(k, a, b, alpha, beta, c, ldc, rows, 1, (int)gemm_narrow_panels(1));
    else if (cols == 1) narrow(k, a, b, alpha, beta, c, ldc, rows, 1, 1);
    else if (cols == 2 && panels > 1)
        narrow(k, a, b, alpha, beta, c, ldc, rows, 2, (int)gemm_narrow_panels(2));
    else if (cols == 2) narrow(k, a, b, alpha, beta, c, ldc, rows, 2, 1);
    else if (cols == 3) narrow(k, a, b, alpha, beta, c, ldc, rows, 3, 1);
    else narrow(k, a, b, alpha, beta, c, ldc, rows, 4, 1);
}

/* The 8 x 8 block of rows v[0..7] transposed in place: v[j] becomes column j. */
static ALWAYS_INLINE void transpose8(__m256 v[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; ++i) {
        v[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        v[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

/* Columns [k, k + 8) of the panel, by blocks of eight rows (zeros past the
   last row); a column of a block of six is written as four floats and two. */
static ALWAYS_INLINE void pack_columns(const float *x, size_t row, size_t k, size_t width,
                                       float *out)
{
    for (size_t h = 0; h < width; h += 8) {
        size_t rows = width - h < 8 ? width - h : 8;
        __m256 v[8];
        for (size_t r = 0; r < 8; ++r)
            v[r] = r < rows ? _mm256_loadu_ps(x + (h + r) * row + k) : _mm256_setzero_ps();
        transpose8(v);
        for (size_t j = 0; j < 8; ++j) {
            float *column = out + (k + j) * width + h;
            if (rows == 8) {
                _mm256_storeu_ps(column, v[j]);
                continue;
            }
            _mm_storeu_ps(column, _mm256_castps256_ps128(v[j]));
            _mm_storel_pi((__m64 *)(column + 4), _mm256_extractf128_ps(v[j], 1));
        }
    }
}

static ALWAYS_INLINE void pack_panel(const float *x, size_t row, size_t cols, size_t width,
                                     float *out)
{
    size_t k = 0;
    for (; k + 8 <= cols; k += 8) pack_columns(x, row, k, width, out);
    for (; k < cols; ++k) {
        for (size_t r = 0; r < width; ++r) out[k * width + r] = x[r * row + k];
    }
}

_Static_assert(GEMM_MR == 6, "a panel of A is written as four floats and two");

void gemm_pack_panel_avx2(const float *x, size_t row, size_t cols, size_t width, float *out)
{
    if (width == GEMM_MR) pack_panel(x, row, cols, GEMM_MR, out);
    else pack_panel(x, row, cols, GEMM_NR, out);
}

TARGET_END

#endif
