#if defined(__linux__)
#define _GNU_SOURCE /* sched_getaffinity */
#endif

#include <stdint.h>
#include <stdlib.h>

#include "runtime.h"
#include "threadpool.h"

/* The count from the environment, or 0 when it is unset or not a number
   from 1 to DS_MAX_THREADS. */
static size_t threads_from_environment(void)
{
    const char *text = getenv("DARKNET_SOFTMAX_NUM_THREADS");
    if (!text || *text < '0' || *text > '9') return 0;
    char *end;
    unsigned long value = strtoul(text, &end, 10);
    if (*end || value < 1 || value > DS_MAX_THREADS) return 0;
    return (size_t)value;
}

#if (defined(__unix__) || defined(__APPLE__)) && (defined(__GNUC__) || defined(__clang__))

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

/* A worker that found nothing to do spins this long before it sleeps, so
   back-to-back calls (a training loop, a benchmark) find it awake. */
#define SPIN_NS 200000L

/* Parts are claimed, not assigned: each thread, the caller included, takes
   the next unclaimed part until none is left. So a worker that is slow to
   wake (on a busy machine, say) delays nothing: the others take its share,
   and the caller waits only for parts already claimed. */
static struct {
    pthread_mutex_t lock; /* guards sleepers, stop and the condvars */
    pthread_cond_t wake;  /* a new run, or stop */
    pthread_cond_t done;  /* the last part of the run is done */
    pthread_mutex_t busy; /* held by the one pool_run in progress */
    pthread_t thread[DS_MAX_THREADS];
    size_t workers; /* threads running, the caller not counted */
    size_t wanted;  /* the setting, the caller counted */
    int sleepers;
    int stop;
    /* Atomic: the run number in the high 32 bits, the next part to claim in
       the low 32, so that a claim can only succeed within its own run. */
    unsigned long long claim;
    unsigned long long first_claim; /* the word when the workers started */
    size_t finished;                /* parts of this run done; atomic */
    pool_task task;
    void *context;
    size_t parts;
} pool;

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static size_t cpus_available(void)
{
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) {
        return (size_t)CPU_COUNT(&set);
    }
#endif
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (size_t)online : 1;
}

static void init_sync(void)
{
    pthread_mutex_init(&pool.lock, NULL);
    pthread_mutex_init(&pool.busy, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done, NULL);
}

/* A forked child has none of the parent's workers: start afresh there. */
static void after_fork_in_child(void)
{
    init_sync();
    pool.workers = 0;
    pool.sleepers = 0;
    pool.stop = 0;
}

static void init_pool(void)
{
    init_sync();
    size_t wanted = threads_from_environment();
    if (!wanted) wanted = cpus_available();
    pool.wanted = wanted < DS_MAX_THREADS ? wanted : DS_MAX_THREADS;
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

#define RUN_SHIFT 32
#define PART_MASK ((1ULL << RUN_SHIFT) - 1)

/* Claims and runs parts of run `run` until none is left. The task and its
   context are read only after a claim succeeds, while the run cannot end. */
static void run_claimed_parts(unsigned long long run)
{
    unsigned long long word = __atomic_load_n(&pool.claim, __ATOMIC_ACQUIRE);
    for (;;) {
        /* parts may already be the next run's (atomic, then): this run is
           closed by then, and its PART_MASK is beyond any count of parts. */
        size_t parts = __atomic_load_n(&pool.parts, __ATOMIC_RELAXED);
        if (word >> RUN_SHIFT != run || (word & PART_MASK) >= parts) return;
        if (!__atomic_compare_exchange_n(&pool.claim, &word, word + 1, 0, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE)) {
            continue;
        }
        pool.task(pool.context, (size_t)(word & PART_MASK), parts);
        if (__atomic_add_fetch(&pool.finished, 1, __ATOMIC_ACQ_REL) == parts) {
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.lock);
        }
        word = __atomic_load_n(&pool.claim, __ATOMIC_ACQUIRE);
    }
}

/* Waits for a run other than seen: spins first, then sleeps. */
static unsigned long long await_run(unsigned long long seen)
{
    long long start = now_ns();
    for (unsigned spins = 1;; ++spins) {
        unsigned long long run = __atomic_load_n(&pool.claim, __ATOMIC_ACQUIRE) >> RUN_SHIFT;
        if (run != seen) return run;
        cpu_relax();
        if (spins % 256 == 0 && now_ns() - start > SPIN_NS) break;
    }
    pthread_mutex_lock(&pool.lock);
    pool.sleepers++;
    while (__atomic_load_n(&pool.claim, __ATOMIC_ACQUIRE) >> RUN_SHIFT == seen) {
        pthread_cond_wait(&pool.wake, &pool.lock);
    }
    pool.sleepers--;
    pthread_mutex_unlock(&pool.lock);
    return __atomic_load_n(&pool.claim, __ATOMIC_ACQUIRE) >> RUN_SHIFT;
}

static void *worker(void *unused)
{
    (void)unused;
    unsigned long long run = pool.first_claim >> RUN_SHIFT;
    for (;;) {
        run = await_run(run);
        /* stop is set only between runs, before the run that announces it. */
        if (__atomic_load_n(&pool.stop, __ATOMIC_ACQUIRE)) return NULL;
        run_claimed_parts(run);
    }
}

/* Starts a new run with part 0 unclaimed and wakes the sleepers. */
static unsigned long long publish(void)
{
    unsigned long long run = (__atomic_load_n(&pool.claim, __ATOMIC_RELAXED) >> RUN_SHIFT) + 1;
    run &= PART_MASK;
    __atomic_store_n(&pool.claim, run << RUN_SHIFT, __ATOMIC_RELEASE);
    pthread_mutex_lock(&pool.lock);
    if (pool.sleepers) pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    return run;
}

static void stop_workers(void)
{
    if (!pool.workers) return;
    __atomic_store_n(&pool.stop, 1, __ATOMIC_RELEASE);
    publish();
    for (size_t i = 0; i < pool.workers; ++i) pthread_join(pool.thread[i], NULL);
    pool.workers = 0;
    pool.stop = 0;
}

/* Brings the workers to wanted - 1; keeps however many it could start.
   Workers block signals, which stay with the interpreter's threads. */
static void resize(void)
{
    size_t target = __atomic_load_n(&pool.wanted, __ATOMIC_RELAXED) - 1;
    if (pool.workers == target) return;
    stop_workers();
    pool.first_claim = pool.claim;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (pool.workers < target) {
        if (pthread_create(&pool.thread[pool.workers], NULL, worker, NULL) != 0) break;
        pool.workers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void await_parts(void)
{
    long long start = now_ns();
    for (unsigned spins = 1; __atomic_load_n(&pool.finished, __ATOMIC_ACQUIRE) != pool.parts;
         ++spins) {
        cpu_relax();
        if (spins % 256 == 0 && now_ns() - start > SPIN_NS) break;
    }
    pthread_mutex_lock(&pool.lock);
    while (__atomic_load_n(&pool.finished, __ATOMIC_ACQUIRE) != pool.parts) {
        pthread_cond_wait(&pool.done, &pool.lock);
    }
    pthread_mutex_unlock(&pool.lock);
}

void pool_run(pool_task task, void *context, size_t parts)
{
    pthread_once(&pool_once, init_pool);
    if (parts > 1 && parts < PART_MASK && pthread_mutex_trylock(&pool.busy) == 0) {
        resize();
        if (pool.workers) {
            pool.task = task;
            pool.context = context;
            __atomic_store_n(&pool.parts, parts, __ATOMIC_RELAXED);
            __atomic_store_n(&pool.finished, 0, __ATOMIC_RELAXED);
            run_claimed_parts(publish());
            await_parts();
            /* Close the run before the next one's fields change: a worker late
               to this one must see nothing left to claim, whatever parts says. */
            unsigned long long word = __atomic_load_n(&pool.claim, __ATOMIC_RELAXED);
            __atomic_store_n(&pool.claim, word | PART_MASK, __ATOMIC_RELEASE);
            pthread_mutex_unlock(&pool.busy);
            return;
        }
        pthread_mutex_unlock(&pool.busy);
    }
    for (size_t p = 0; p < parts; ++p) task(context, p, parts);
}

size_t pool_threads(void)
{
    pthread_once(&pool_once, init_pool);
    return __atomic_load_n(&pool.wanted, __ATOMIC_RELAXED);
}

void pool_set_threads(size_t threads)
{
    pthread_once(&pool_once, init_pool);
    __atomic_store_n(&pool.wanted, threads, __ATOMIC_RELAXED);
}

#else /* no POSIX threads here (MSVC, say): the caller runs every part */

static size_t wanted;

void pool_run(pool_task task, void *context, size_t parts)
{
    for (size_t p = 0; p < parts; ++p) task(context, p, parts);
}

size_t pool_threads(void)
{
    if (!wanted) wanted = threads_from_environment() ? threads_from_environment() : 1;
    return wanted;
}

void pool_set_threads(size_t threads)
{
    wanted = threads;
}

#endif

void pool_share(size_t count, size_t part, size_t parts, size_t *begin, size_t *end)
{
    *begin = count / parts * part + (part < count % parts ? part : count % parts);
    *end = *begin + count / parts + (part < count % parts);
}
