#ifndef DARKNET_SOFTMAX_STATUS_H
#define DARKNET_SOFTMAX_STATUS_H

/* Marks the public API, the functions the cffi cdef declares: the library is
   built with -fvisibility=hidden, so only these are exported. The build
   script drops the token from the cdef. */
#if defined(_MSC_VER)
#define DS_API
#else
#define DS_API __attribute__((visibility("default")))
#endif

/* Every entry point that can fail returns one of these; 0 is success.
   The Python side turns each into an exception, so C never aborts. */
enum ds_status {
    DS_OK = 0,
    DS_ERR_ARG = 1,   /* an argument is out of range */
    DS_ERR_NOMEM = 2, /* an allocation failed or its size overflows */
    DS_ERR_IO = 3,    /* a file could not be opened or read */
    DS_ERR_FORMAT = 4 /* a file is malformed */
};

#endif
