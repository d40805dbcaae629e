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
   run down a tile's six rows in one vector (two lanes idle), so a step is a
   multiply-add of a column of A by one value of B, where the half kernel
   would multiply eight columns. Its products and their order are the whole
   kernel's. Up to gemm_narrow_panels(cols) tiles (q = 0 to panels - 1, MR
   rows apart in C, their panels of A MR*k floats apart) go side by side, so
   that eight sums hide the multiply-add's latency. */
#define NARROW_FMA(q, j) \
    if (q < panels && j < cols) s##q##j = _mm256_fmadd_ps(a##q, v##j, s##q##j);

#define NARROW_PANEL(q)                                                     \
    if (q < panels) {                                                       \
        a##q = _mm256_maskload_ps(a + q * step, six);                       \
        NARROW_FMA(q, 0) NARROW_FMA(q, 1) NARROW_FMA(q, 2) NARROW_FMA(q, 3) \
    }

#define NARROW_STORE(q, j)                                                          \
    if (q < panels && j < cols) {                                                   \
        _mm256_storeu_ps(sum, s##q##j);                                             \
        for (size_t r = 0; r < (q + 1 < panels ? GEMM_MR : rows); ++r) {            \
            float product = alpha * sum[r], *out = c + (q * GEMM_MR + r) * ldc + j; \
            *out = beta ? fmaf(beta, *out, product) : product;                      \
        }                                                                           \
    }

#define NARROW_STORES(q) NARROW_STORE(q, 0) NARROW_STORE(q, 1) NARROW_STORE(q, 2) NARROW_STORE(q, 3)

#define NARROW_SUMS(q) \
    __m256 s##q##0 = zero, s##q##1 = zero, s##q##2 = zero, s##q##3 = zero, a##q = zero

_Static_assert(GEMM_NR / 4 == 4, "the narrow kernel has four columns of sums");
_Static_assert(GEMM_MR == 6, "a panel's column is six floats of a vector");

static ALWAYS_INLINE void narrow(size_t k, const float *a, const float *b, float alpha, float beta,
                                 float *c, size_t ldc, size_t rows, int cols, int panels)
{
    const __m256 zero = _mm256_setzero_ps();
    const __m256i six = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
    NARROW_SUMS(0);
    NARROW_SUMS(1);
    NARROW_SUMS(2);
    NARROW_SUMS(3);
    NARROW_SUMS(4);
    NARROW_SUMS(5);
    NARROW_SUMS(6);
    NARROW_SUMS(7);
    size_t step = GEMM_MR * k; /* from one panel of A to the next */
    for (size_t p = 0; p < k; ++p, a += GEMM_MR, b += GEMM_NR) {
        __m256 v0 = _mm256_broadcast_ss(b), v1 = v0, v2 = v0, v3 = v0;
        if (cols > 1) v1 = _mm256_broadcast_ss(b + 1);
        if (cols > 2) v2 = _mm256_broadcast_ss(b + 2);
        if (cols > 3) v3 = _mm256_broadcast_ss(b + 3);
        NARROW_PANEL(0);
        NARROW_PANEL(1);
        NARROW_PANEL(2);
        NARROW_PANEL(3);
        NARROW_PANEL(4);
        NARROW_PANEL(5);
        NARROW_PANEL(6);
        NARROW_PANEL(7);
    }
    float sum[8];
    NARROW_STORES(0);
    NARROW_STORES(1);
    NARROW_STORES(2);
    NARROW_STORES(3);
    NARROW_STORES(4);
    NARROW_STORES(5);
    NARROW_STORES(6);
    NARROW_STORES(7);
}

/* cols columns of panels tiles, each count a constant of its own copy. */
#define NARROW_CASE(c, n)                                   \
    if (cols == c && panels == n) {                         \
        narrow(k, a, b, alpha, beta, out, ldc, rows, c, n); \
        return;                                             \
    }

void gemm_kernel_avx2_narrow(size_t k, const float *a, const float *b, float alpha, float beta,
                             float *out, size_t ldc, size_t rows, size_t cols, size_t panels)
{
    /* clang-format off */
    NARROW_CASE(1, 8) NARROW_CASE(1, 4) NARROW_CASE(1, 2) NARROW_CASE(1, 1)
    NARROW_CASE(2, 4) NARROW_CASE(2, 2) NARROW_CASE(2, 1)
    NARROW_CASE(3, 2) NARROW_CASE(3, 1)
    NARROW_CASE(4, 2) NARROW_CASE(4, 1)
    /* clang-format on */
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
