/* The vector kernels in plain C: correct on any CPU and compiler. */
#include "vector.h"

#define VK(name) name##_portable
#include "vector_kernels_impl.h"
