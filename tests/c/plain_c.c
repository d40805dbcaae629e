/* The portable kernels as a compiler without GCC's and Clang's extensions
   builds them (one float a part, no vector types), for tools/cross_check.sh
   to link in place of csrc/vector_kernels_portable.c. The C library's
   headers come first, while they still see the compiler they were made for. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#undef __GNUC__
#undef __clang__
#include "vector_kernels_portable.c"
