/* The C kernels without Python, for any target a C compiler builds for
   (tools/cross_check.sh runs it on the host and under qemu for aarch64):
   softmax_cpu, log_softmax_cpu and softmax_backward_cpu on every path this
   build and CPU run (Darknet's scalar loop, then the vector kernels with each
   instruction set, at one and two threads), over a sweep of shapes and
   extreme rows, against a double-precision reference, within the project's
   tolerance (1e-6 absolute + 1e-5 relative). Prints each path's worst error,
   in units of that tolerance, and exits 1 if any value is outside it. */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "runtime.h"

#define ATOL 1e-6
#define RTOL 1e-5
#define MAX_VALUES 70000

/* One call's layout, in softmax_cpu's arguments. */
struct layout {
    size_t n, batch, batch_offset, groups, group_offset, stride;
};

/* Rows of n values: one group a row. */
static struct layout rows(size_t n, size_t batch)
{
    return (struct layout){n, batch, n, 1, 0, 1};
}

/* (batch, n, positions): a group over the n channels at each position. */
static struct layout spatial(size_t n, size_t batch, size_t positions)
{
    return (struct layout){n, batch, n * positions, positions, 1, positions};
}

static size_t layout_size(struct layout s)
{
    return (s.batch - 1) * s.batch_offset + (s.groups - 1) * s.group_offset + (s.n - 1) * s.stride
           + 1;
}

/* The extreme rows, each checked alone as a batch of one. */
static const float extremes[][9] = {
    {88, 89, 90, -88, -89, -90},       {1e30f, -1e30f, 0, 1e30f}, {-1e30f, -1e30f, -1e30f},
    {5, 5, 5, 5, 5, 5, 5, 5, 5},       {-1000, -1001, -1002.5f},  {-INFINITY, 0, 1, -INFINITY},
    {-INFINITY, -INFINITY, -INFINITY}, {1, NAN, 2, 3, 4},         {1e30f, 1e30f * 0.999f, -1e30f},
};
static const size_t extreme_size[] = {6, 4, 3, 9, 3, 4, 3, 5, 3};
enum { EXTREMES = sizeof extreme_size / sizeof extreme_size[0] };

static float input[MAX_VALUES], dy[MAX_VALUES], output[MAX_VALUES];
static double expected[MAX_VALUES];

/* The worst error seen on the path being checked, in tolerance units. */
static double worst;
static size_t checked, failed;

static void check(const float *actual, size_t count)
{
    for (size_t i = 0; i < count; ++i) {
        double a = actual[i], e = expected[i];
        if (a == e || (isnan(a) && isnan(e))) continue;
        double error = fabs(a - e) / (ATOL + RTOL * fabs(e));
        if (!(error <= 1)) {
            if (failed < 5) printf("    value %zu: got %.9g, expected %.9g\n", i, a, e);
            ++failed;
        }
        if (error > worst || isnan(error)) worst = error;
    }
    checked += count;
}

/* The reference over one group: softmax, log_softmax, or the backward
   product added to what expected holds. */
enum kernel { SOFTMAX, LOG_SOFTMAX, BACKWARD };

static void reference_group(enum kernel k, const float *x, const float *g, size_t n, size_t stride,
                            float temp, double *out)
{
    double largest = -INFINITY, sum = 0, dot = 0;
    int nan = 0;
    for (size_t i = 0; i < n; ++i) {
        nan |= isnan(x[i * stride]);
        if (x[i * stride] > largest) largest = x[i * stride];
    }
    if (nan) largest = NAN;
    for (size_t i = 0; i < n; ++i) sum += exp((x[i * stride] - largest) / temp);
    for (size_t i = 0; i < n; ++i) dot += (double)g[i * stride] * x[i * stride];
    for (size_t i = 0; i < n; ++i) {
        double shifted = (x[i * stride] - largest) / temp;
        double *o = out + i * stride;
        if (k == SOFTMAX) *o = exp(shifted) / sum;
        else if (k == LOG_SOFTMAX) *o = shifted - log(sum);
        else *o += x[i * stride] * (g[i * stride] - dot) / temp;
    }
}

/* One kernel on one layout: for BACKWARD, input holds y and output starts
   as a copy of dy (what the kernel adds to). */
static void run_case(enum kernel k, struct layout s, float temp)
{
    size_t size = layout_size(s);
    for (size_t i = 0; i < size; ++i) {
        output[i] = k == BACKWARD ? dy[i] : NAN;
        expected[i] = output[i];
    }
    for (size_t b = 0; b < s.batch; ++b) {
        for (size_t g = 0; g < s.groups; ++g) {
            size_t at = b * s.batch_offset + g * s.group_offset;
            reference_group(k, input + at, dy + at, s.n, s.stride, temp, expected + at);
        }
    }
    if (k == SOFTMAX) {
        softmax_cpu(input, s.n, s.batch, s.batch_offset, s.groups, s.group_offset, s.stride, temp,
                    output);
    } else if (k == LOG_SOFTMAX) {
        log_softmax_cpu(input, s.n, s.batch, s.batch_offset, s.groups, s.group_offset, s.stride,
                        temp, output);
    } else {
        softmax_backward_cpu(input, dy, s.n, s.batch, s.batch_offset, s.groups, s.group_offset,
                             s.stride, temp, output);
    }
    check(output, size);
}

/* A standard normal times 3 (Box-Muller over a fixed LCG: the same values
   on every target). */
static unsigned long long state = 12345;
static float normal3(void)
{
    double u[2];
    for (int i = 0; i < 2; ++i) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        u[i] = ((state >> 11) + 0.5) / 9007199254740992.0;
    }
    return (float)(3 * sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]));
}

/* A probability-like y for the backward check: the softmax of the input. */
static void softmax_of_input(struct layout s)
{
    softmax_cpu(input, s.n, s.batch, s.batch_offset, s.groups, s.group_offset, s.stride, 1, input);
}

static void run_kernel(enum kernel k)
{
    static const float temps[] = {1.0f, 0.5f, 3.0f};
    struct layout sweep[] = {
        rows(1, 1),
        rows(3, 5),
        rows(7, 9),
        rows(8, 8),
        rows(9, 3),
        rows(17, 2),
        rows(64, 1),
        rows(1000, 64),
        rows(1003, 3),
        spatial(5, 2, 7),
        spatial(8, 1, 24),
        spatial(81, 2, 33),
        spatial(3, 1, 1),
        {12, 2, 48, 4, 12, 1},   /* four groups of 12 in rows of 48 */
        {5, 3, 1003, 200, 5, 1}, /* 200 groups of 5 end to end in rows of 1003 */
        {3, 4, 70, 21, 3, 1},    /* 21 groups of 3 in rows of 70 */
    };
    for (size_t c = 0; c < sizeof sweep / sizeof sweep[0]; ++c) {
        size_t size = layout_size(sweep[c]);
        for (size_t i = 0; i < size; ++i) {
            input[i] = normal3();
            dy[i] = normal3();
        }
        if (k == BACKWARD) softmax_of_input(sweep[c]);
        for (size_t t = 0; t < sizeof temps / sizeof temps[0]; ++t) {
            run_case(k, sweep[c], temps[t]);
        }
    }
    for (size_t e = 0; e < EXTREMES; ++e) {
        struct layout s = rows(extreme_size[e], 1);
        memcpy(input, extremes[e], s.n * sizeof(float));
        for (size_t i = 0; i < s.n; ++i) dy[i] = normal3();
        if (k == BACKWARD) softmax_of_input(s);
        run_case(k, s, 1.0f);
        run_case(k, s, 0.5f);
    }
}

static int check_path(const char *path)
{
    static const char *names[] = {"softmax", "log_softmax", "softmax_backward"};
    size_t failures = 0;
    for (int k = SOFTMAX; k <= BACKWARD; ++k) {
        for (size_t threads = 1; threads <= 2; ++threads) {
            worst = 0;
            checked = failed = 0;
            ds_set_num_threads(threads);
            run_kernel((enum kernel)k);
            printf("%-9s %-17s %zu thread%s %6zu values, worst %.3g of the tolerance%s\n", path,
                   names[k], threads, threads > 1 ? "s" : " ", checked, worst,
                   failed ? ": FAILED" : "");
            failures += failed;
        }
    }
    return failures != 0;
}

int main(void)
{
    static const struct {
        const char *name;
        int isa;
    } isas[] = {{"portable", DS_ISA_PORTABLE}, {"avx2", DS_ISA_AVX2}, {"avx512", DS_ISA_AVX512}};
    int failures = 0;
    ds_set_kernel(DS_KERNEL_SCALAR);
    failures += check_path("scalar");
    ds_set_kernel(DS_KERNEL_VECTOR);
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; ++i) {
        if (ds_set_isa(isas[i].isa) == DS_OK) failures += check_path(isas[i].name);
    }
    puts(failures ? "FAILED" : "all within the tolerance");
    return failures != 0;
}
