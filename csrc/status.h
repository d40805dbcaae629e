#ifndef DARKNET_SOFTMAX_STATUS_H
#define DARKNET_SOFTMAX_STATUS_H

/* Every entry point that can fail returns one of these; 0 is success.
   The Python side turns each into an exception, so C never aborts. */
enum ds_status {
    DS_OK = 0,
    DS_ERR_ARG = 1,      /* an argument is out of range */
    DS_ERR_NOMEM = 2,    /* an allocation failed or its size overflows */
    DS_ERR_IO = 3,       /* a file could not be opened or read */
    DS_ERR_FORMAT = 4    /* a file is malformed */
};

#endif
