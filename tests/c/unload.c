/* unload: a host can unload libtapir.
 *
 * Each cycle dlopens the library, uses every part that starts threads or keeps
 * per-thread state (the pool, the timer thread, blocking waits, a cancellation
 * that waits for a running callback, a manual scheduler, locks contended by several
 * user threads), releases everything, calls tapir_shutdown and dlcloses it. After each
 * cycle the library must be gone from /proc/self/maps and the thread count back to
 * where it started; over the cycles the resident set must stay flat (what one load
 * allocated is returned when it is unloaded).
 *
 *   unload LIBRARY [CYCLES]
 *
 * Prints "N passed, N failed" last, like the other C test programs: one case per
 * cycle, and one for the resident set. */

#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tapir.h"

/* The functions this program calls, looked up in each load. */
#define TAPIR_FUNCTIONS(X)                                                     \
    X(tapir_source_new) X(tapir_source_task) X(tapir_source_set_result)       \
    X(tapir_source_set_error) X(tapir_source_release) X(tapir_task_release)    \
    X(tapir_task_wait) X(tapir_task_continue_with) X(tapir_task_on_complete)   \
    X(tapir_run) X(tapir_delay) X(tapir_when_all) X(tapir_error_new)           \
    X(tapir_error_release) X(tapir_cancel_source_new)                          \
    X(tapir_cancel_source_token) X(tapir_cancel_source_cancel)                 \
    X(tapir_cancel_source_release) X(tapir_cancel_token_register)              \
    X(tapir_cancel_token_release) X(tapir_cancel_registration_unregister_wait) \
    X(tapir_cancel_registration_release) X(tapir_scheduler_new_manual)         \
    X(tapir_scheduler_run_pending) X(tapir_scheduler_release)                  \
    X(tapir_lock_new) X(tapir_lock_acquire_async) X(tapir_lock_try_acquire)    \
    X(tapir_lock_guard_release) X(tapir_lock_release) X(tapir_semaphore_new)   \
    X(tapir_semaphore_wait_async) X(tapir_semaphore_signal)                    \
    X(tapir_semaphore_release) X(tapir_channel_new) X(tapir_channel_try_write) \
    X(tapir_channel_read_async) X(tapir_channel_release)                       \
    X(tapir_shutdown) X(tapir_debug_live_objects)

struct api {
#define FIELD(name) __typeof__(&name) name;
    TAPIR_FUNCTIONS(FIELD)
#undef FIELD
};

static int passed, failed;

/* Counts failures; a cycle passes when none of its checks failed. */
#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            failed++;                                                           \
            fprintf(stderr, "unload.c:%d: ", __LINE__);                         \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

#define OK(call) CHECK((call) == TAPIR_STATUS_OK, "%s failed", #call)

static int load(void **lib, struct api *api, const char *path) {
    *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (*lib == NULL) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return 0;
    }
#define LOOKUP(name)                                                            \
    {                                                                           \
        void *sym = dlsym(*lib, #name);                                         \
        if (sym == NULL) {                                                      \
            fprintf(stderr, "dlsym %s: %s\n", #name, dlerror());                \
            return 0;                                                           \
        }                                                                       \
        memcpy(&api->name, &sym, sizeof sym); /* ISO C has no object-to-function cast */ \
    }
    TAPIR_FUNCTIONS(LOOKUP)
#undef LOOKUP
    return 1;
}

static long count_threads(void) {
    DIR *dir = opendir("/proc/self/task");
    long n = 0;
    if (dir == NULL) return -1;
    for (struct dirent *e; (e = readdir(dir)) != NULL;)
        if (e->d_name[0] != '.') n++;
    closedir(dir);
    return n;
}

/* Whether a mapping of `path`'s file is still in /proc/self/maps. */
static int mapped(const char *path) {
    char real[4096], line[8192];
    if (realpath(path, real) == NULL) return -1;
    FILE *maps = fopen("/proc/self/maps", "r");
    int found = 0;
    if (maps == NULL) return -1;
    while (!found && fgets(line, sizeof line, maps) != NULL) {
        char *name = strchr(line, '/');
        if (name != NULL) {
            name[strcspn(name, "\n")] = '\0';
            found = strcmp(name, real) == 0;
        }
    }
    fclose(maps);
    return found;
}

static long resident_kib(void) {
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- the workload ---- */

static const struct api *A; /* the current load's functions, for the callbacks */

static void run_body(void *user_data, const struct tapir_source *source) {
    A->tapir_source_set_result(source, user_data, NULL);
}

static void then_succeed(void *user_data, const struct tapir_task *antecedent, const struct tapir_source *next) {
    (void)antecedent;
    A->tapir_source_set_result(next, user_data, NULL);
}

static atomic_int cancel_callback_running, cancel_callback_done;

static const struct tapir_error *slow_cancel(void *user_data) {
    (void)user_data;
    atomic_store(&cancel_callback_running, 1);
    usleep(2000); /* long enough that unregister_wait must block on it */
    atomic_store(&cancel_callback_done, 1);
    return NULL;
}

static void *cancel_from_another_thread(void *source) {
    A->tapir_cancel_source_cancel(source, 0, NULL);
    return NULL;
}

/* Several user threads create, complete and release tasks at once, so the library's
 * locks are contended and user threads block on them. */
static void *churn(void *arg) {
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        const struct tapir_task *task = NULL;
        if (A->tapir_run(NULL, run_body, NULL, NULL, NULL, &task) == TAPIR_STATUS_OK) {
            A->tapir_task_wait(task, -1);
            A->tapir_task_release(task);
        }
    }
    return NULL;
}

static void workload(const struct api *api) {
    A = api;
    /* The pool and a continuation on it. */
    const struct tapir_task *ran = NULL, *next = NULL;
    OK(api->tapir_run(NULL, run_body, (void *)1, NULL, NULL, &ran));
    OK(api->tapir_task_continue_with(ran, then_succeed, NULL, NULL, NULL, &next));
    OK(api->tapir_task_wait(next, -1));

    /* The timer thread, and a blocking wait on this thread. */
    const struct tapir_task *delay = NULL;
    OK(api->tapir_delay(1, NULL, &delay));
    OK(api->tapir_task_wait(delay, -1));

    /* when_all over a failed task; errors. */
    const struct tapir_source *source = NULL;
    const struct tapir_task *failing = NULL, *all = NULL;
    const struct tapir_error *error = NULL;
    OK(api->tapir_source_new(0, NULL, &source));
    OK(api->tapir_source_task(source, &failing));
    const struct tapir_task *inputs[] = {ran, failing};
    OK(api->tapir_when_all(inputs, 2, &all));
    OK(api->tapir_error_new(7, (const uint8_t *)"x", 1, NULL, NULL, &error));
    OK(api->tapir_source_set_error(source, error));
    CHECK(api->tapir_task_wait(all, -1) == TAPIR_STATUS_FAULTED, "when_all fails with its input");

    /* A cancellation whose callback runs while this thread waits for it. */
    const struct tapir_cancel_source *cancel = NULL;
    const struct tapir_cancel_token *token = NULL;
    const struct tapir_cancel_registration *registration = NULL;
    OK(api->tapir_cancel_source_new(&cancel));
    OK(api->tapir_cancel_source_token(cancel, &token));
    OK(api->tapir_cancel_token_register(token, slow_cancel, NULL, NULL, 0, &registration));
    atomic_store(&cancel_callback_running, 0);
    atomic_store(&cancel_callback_done, 0);
    pthread_t canceler;
    pthread_create(&canceler, NULL, cancel_from_another_thread, (void *)cancel);
    while (!atomic_load(&cancel_callback_running)) usleep(100);
    CHECK(api->tapir_cancel_registration_unregister_wait(registration) == TAPIR_STATUS_ALREADY_COMPLETED,
          "the callback had started");
    CHECK(atomic_load(&cancel_callback_done), "unregister_wait returned before the running callback did");
    pthread_join(canceler, NULL);

    /* A manual scheduler pumped here. */
    const struct tapir_scheduler *manual = NULL;
    const struct tapir_task *pumped = NULL;
    size_t ran_count = 0;
    OK(api->tapir_scheduler_new_manual(&manual));
    OK(api->tapir_run(manual, run_body, NULL, NULL, NULL, &pumped));
    OK(api->tapir_scheduler_run_pending(manual, 0, -1, &ran_count));
    CHECK(ran_count == 1, "the manual scheduler ran %zu items", ran_count);

    /* Primitives: a lock whose release hands it to a waiter on this thread (the guard
     * drop runs the hand-over), a semaphore wait that completes later, a channel read
     * that a write completes. */
    const struct tapir_lock *lock = NULL;
    const struct tapir_lock_guard *guard = NULL;
    const struct tapir_task *acquired = NULL, *acquired2 = NULL;
    OK(api->tapir_lock_new(&lock));
    CHECK(api->tapir_lock_try_acquire(lock, &guard), "a free lock is taken");
    OK(api->tapir_lock_acquire_async(lock, -1, NULL, &acquired));
    OK(api->tapir_lock_acquire_async(lock, -1, NULL, &acquired2));
    OK(api->tapir_lock_guard_release(guard));
    OK(api->tapir_task_wait(acquired, -1));
    api->tapir_task_release(acquired); /* unlocks: the second waiter gets it */
    OK(api->tapir_task_wait(acquired2, -1));
    api->tapir_task_release(acquired2);
    api->tapir_lock_release(lock);

    const struct tapir_semaphore *semaphore = NULL;
    const struct tapir_task *permit = NULL;
    OK(api->tapir_semaphore_new(0, 1, &semaphore));
    OK(api->tapir_semaphore_wait_async(semaphore, 1, -1, NULL, &permit));
    OK(api->tapir_semaphore_signal(semaphore, 1, NULL));
    OK(api->tapir_task_wait(permit, -1));
    api->tapir_task_release(permit);
    api->tapir_semaphore_release(semaphore);

    const struct tapir_channel *channel = NULL;
    const struct tapir_task *read = NULL;
    OK(api->tapir_channel_new(NULL, &channel));
    OK(api->tapir_channel_read_async(channel, -1, NULL, &read));
    CHECK(api->tapir_channel_try_write(channel, (void *)7, NULL), "an unbounded channel takes an item");
    OK(api->tapir_task_wait(read, -1));
    api->tapir_task_release(read);
    api->tapir_channel_release(channel);

    /* Contention from several user threads. */
    pthread_t churners[3];
    for (int i = 0; i < 3; i++) pthread_create(&churners[i], NULL, churn, NULL);
    churn(NULL);
    for (int i = 0; i < 3; i++) pthread_join(churners[i], NULL);

    api->tapir_task_release(ran);
    api->tapir_task_release(next);
    api->tapir_task_release(delay);
    api->tapir_task_release(failing);
    api->tapir_task_release(all);
    api->tapir_task_release(pumped);
    api->tapir_source_release(source);
    api->tapir_error_release(error);
    api->tapir_cancel_registration_release(registration);
    api->tapir_cancel_token_release(token);
    api->tapir_cancel_source_release(cancel);
    api->tapir_scheduler_release(manual);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: unload LIBRARY [CYCLES]\n");
        return 2;
    }
    const char *path = argv[1];
    int cycles = argc > 2 ? atoi(argv[2]) : 100;
    long threads_before = count_threads();
    long rss_warm = 0;
    int warm_cycle = cycles / 5;

    for (int cycle = 0; cycle < cycles; cycle++) {
        int failed_before = failed;
        void *lib = NULL;
        struct api api;
        if (!load(&lib, &api, path)) {
            failed++;
            break;
        }
        workload(&api);
        OK(api.tapir_shutdown());
        size_t live = api.tapir_debug_live_objects(0);
        CHECK(live == 0, "cycle %d: %zu objects live after release and shutdown", cycle, live);
        CHECK(dlclose(lib) == 0, "dlclose: %s", dlerror());
        int still = mapped(path);
        CHECK(still == 0, "cycle %d: the library is still mapped after dlclose", cycle);
        long threads = count_threads();
        CHECK(threads == threads_before, "cycle %d: %ld threads, %ld before the first load", cycle, threads,
              threads_before);
        if (failed == failed_before) passed++;
        if (still != 0) break; /* every later cycle would reuse the pinned copy */
        if (cycle == warm_cycle) rss_warm = resident_kib();
    }
    long rss_end = resident_kib();
    /* A load that kept what it allocated (its pools, its queues, a dependency's
     * process-wide state) grows the resident set by several KiB per cycle at least;
     * allocator noise stays in the tens of KiB over the whole run. */
    long growth = rss_end - rss_warm;
    int failed_before = failed;
    CHECK(growth < 512, "resident set grew by %ld KiB from cycle %d to cycle %d", growth, warm_cycle, cycles);
    if (failed == failed_before) passed++;
    printf("unload: %d cycles, resident set %ld KiB after cycle %d, %ld KiB at the end\n", cycles, rss_warm,
           warm_cycle, rss_end);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
