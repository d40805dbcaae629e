#ifndef DARKNET_SOFTMAX_THREADPOOL_H
#define DARKNET_SOFTMAX_THREADPOOL_H

/* Internal: a persistent pool of worker threads. The kernels split their work
   into parts; pool_run runs every part and returns when all are done. */

#include <stddef.h>

typedef void (*pool_task)(void *context, size_t part, size_t parts);

/* Runs task(context, p, parts) for every p < parts, spread over up to
   pool_threads() threads (the caller is one of them). With fewer threads than
   parts, a thread runs several parts in turn; when threads cannot be had (no
   thread support, pthread_create fails, or another call holds the pool), the
   caller runs them all. It never fails. */
void pool_run(pool_task task, void *context, size_t parts);

/* The share [*begin, *end) of count items that part of parts takes: equal
   shares, the first count % parts one item larger. */
void pool_share(size_t count, size_t part, size_t parts, size_t *begin, size_t *end);

/* The thread count, caller included. It starts as DARKNET_SOFTMAX_NUM_THREADS
   when that is a number from 1 to max_threads, else the CPUs this process may
   use. Setting it takes effect at the next pool_run. */
size_t pool_threads(void);
void pool_set_threads(size_t threads);

#endif
