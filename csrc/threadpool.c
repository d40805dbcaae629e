#if defined(__linux__)
#define _GNU_SOURCE   /* sched_getaffinity */
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

static struct {
    pthread_mutex_t lock;            /* guards sleepers, stop and the condvars */
    pthread_cond_t wake;             /* a new run, or stop */
    pthread_cond_t done;             /* the last worker finished its parts */
    pthread_mutex_t busy;            /* held by the one pool_run in progress */
    pthread_t thread[DS_MAX_THREADS];
    size_t workers;                  /* threads running, the caller not counted */
    size_t wanted;                   /* the setting, the caller counted */
    int sleepers;
    int stop;
    /* Atomic: a run number, bumped for every run, above 16 bits that say how
       many workers take part, so that a worker reads both at once. */
    unsigned long long ticket;
    unsigned long long first_ticket; /* the ticket when the workers started */
    size_t pending;                  /* workers still running this run; atomic */
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

#define ACTIVE_BITS 16
#define ACTIVE_MASK ((1ULL << ACTIVE_BITS) - 1)

static void run_parts(size_t first, size_t step)
{
    for (size_t p = first; p < pool.parts; p += step) pool.task(pool.context, p, pool.parts);
}

/* Waits for a ticket other than seen: spins first, then sleeps. */
static unsigned long long await_ticket(unsigned long long seen)
{
    long long start = now_ns();
    for (unsigned spins = 1;; ++spins) {
        unsigned long long now = __atomic_load_n(&pool.ticket, __ATOMIC_ACQUIRE);
        if (now != seen) return now;
        cpu_relax();
        if (spins % 256 == 0 && now_ns() - start > SPIN_NS) break;
    }
    pthread_mutex_lock(&pool.lock);
    pool.sleepers++;
    while (__atomic_load_n(&pool.ticket, __ATOMIC_ACQUIRE) == seen) {
        pthread_cond_wait(&pool.wake, &pool.lock);
    }
    pool.sleepers--;
    pthread_mutex_unlock(&pool.lock);
    return __atomic_load_n(&pool.ticket, __ATOMIC_ACQUIRE);
}

static void *worker(void *argument)
{
    size_t id = (size_t)(uintptr_t)argument;     /* 1 .. workers */
    unsigned long long seen = pool.first_ticket;
    for (;;) {
        seen = await_ticket(seen);
        size_t active = (size_t)(seen & ACTIVE_MASK);
        /* A worker left out of a run touches nothing: the caller may already
           be filling in the next one. */
        if (id > active) continue;
        if (pool.stop) return NULL;
        run_parts(id, active + 1);
        if (__atomic_sub_fetch(&pool.pending, 1, __ATOMIC_ACQ_REL) == 0) {
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.lock);
        }
    }
}

static void publish(size_t active)
{
    unsigned long long run = (__atomic_load_n(&pool.ticket, __ATOMIC_RELAXED) >> ACTIVE_BITS) + 1;
    __atomic_store_n(&pool.ticket, run << ACTIVE_BITS | active, __ATOMIC_RELEASE);
    pthread_mutex_lock(&pool.lock);
    if (pool.sleepers) pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
}

static void stop_workers(void)
{
    if (!pool.workers) return;
    pool.stop = 1;
    publish(pool.workers);
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
    pool.first_ticket = pool.ticket;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (pool.workers < target) {
        void *id = (void *)(uintptr_t)(pool.workers + 1);
        if (pthread_create(&pool.thread[pool.workers], NULL, worker, id) != 0) break;
        pool.workers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void await_workers(void)
{
    long long start = now_ns();
    for (unsigned spins = 1; __atomic_load_n(&pool.pending, __ATOMIC_ACQUIRE); ++spins) {
        cpu_relax();
        if (spins % 256 == 0 && now_ns() - start > SPIN_NS) break;
    }
    pthread_mutex_lock(&pool.lock);
    while (__atomic_load_n(&pool.pending, __ATOMIC_ACQUIRE)) {
        pthread_cond_wait(&pool.done, &pool.lock);
    }
    pthread_mutex_unlock(&pool.lock);
}

void pool_run(pool_task task, void *context, size_t parts)
{
    pthread_once(&pool_once, init_pool);
    if (parts > 1 && pthread_mutex_trylock(&pool.busy) == 0) {
        resize();
        if (pool.workers) {
            pool.task = task;
            pool.context = context;
            pool.parts = parts;
            size_t active = parts - 1 < pool.workers ? parts - 1 : pool.workers;
            __atomic_store_n(&pool.pending, active, __ATOMIC_RELAXED);
            publish(active);
            run_parts(0, active + 1);
            await_workers();
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

#else  /* no POSIX threads here (MSVC, say): the caller runs every part */

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
