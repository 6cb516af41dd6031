/* One task, four languages.
 *
 * This C program makes a completion source, hands its task to four awaiters — a C
 * continuation, a C++20 coroutine (co_await through tapir.hpp), a C# async method
 * (await through the C# binding, hosted here with Mono's embedding API) and a Rust
 * async block (.await through the Rust API) — and completes the source later, from a
 * thread of its own, once all four are waiting. Each awaiter reports what it saw; all
 * four must see the same outcome:
 *
 *   value       42
 *   c_error     an error made in C (code, message)
 *   cs_error    an error made in C# from an exception object: the C# side gets that
 *               very object back, the others its code and message
 *   cpp_error   an error made in C++ from an exception: the C++ side catches that very
 *               object, the others see its code and message
 *   rust_error  an error made in Rust with a payload: the Rust side gets that payload
 *   canceled    cancellation
 *
 * At the end the live-object count is back to zero. Prints one line per scenario and
 * "conformance: N passed, N failed". */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mono/jit/jit.h>
#include <mono/metadata/assembly.h>
#include <mono/metadata/mono-config.h>
#include <mono/metadata/object.h>

#include "conformance.h"

enum { SIDE_C, SIDE_CPP, SIDE_CS, SIDE_RUST, SIDES };
static const char *const SIDE_NAME[SIDES] = {"C", "C++", "C#", "Rust"};

typedef enum { VALUE, C_ERROR, CS_ERROR, CPP_ERROR, RUST_ERROR, CANCELED, SCENARIOS } scenario;
static const char *const SCENARIO_NAME[SCENARIOS] = {"value",     "c_error",    "cs_error",
                                                     "cpp_error", "rust_error", "canceled"};

static int failures;

static void fail(const char *what) {
    fprintf(stderr, "conformance: %s\n", what);
    failures++;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- the C# side, through Mono's embedding API ---- */

static MonoMethod *cs_await, *cs_make_error, *cs_reset;

static MonoMethod *cs_method(MonoClass *cls, const char *name, int params) {
    MonoMethod *m = mono_class_get_method_from_name(cls, name, params);
    if (!m) {
        fprintf(stderr, "conformance: CSharpSide.%s not found\n", name);
        exit(2);
    }
    return m;
}

static void cs_start(const char *assembly) {
    mono_config_parse(NULL);
    MonoDomain *domain = mono_jit_init("tapir-conformance");
    MonoAssembly *a = mono_domain_assembly_open(domain, assembly);
    if (!a) {
        fprintf(stderr, "conformance: cannot load %s\n", assembly);
        exit(2);
    }
    MonoClass *cls = mono_class_from_name(mono_assembly_get_image(a), "Conformance", "CSharpSide");
    if (!cls) {
        fprintf(stderr, "conformance: class Conformance.CSharpSide not found\n");
        exit(2);
    }
    cs_await = cs_method(cls, "Await", 2);
    cs_make_error = cs_method(cls, "MakeError", 0);
    cs_reset = cs_method(cls, "Reset", 0);
}

static MonoObject *cs_invoke(MonoMethod *m, void **args) {
    MonoObject *exc = NULL;
    MonoObject *ret = mono_runtime_invoke(m, NULL, args, &exc);
    if (exc) {
        fail("a C# method threw");
        return NULL;
    }
    return ret;
}

static int cs_await_task(const tapir_task *task, conf_report *report) {
    void *t = (void *)task, *r = report;
    void *args[2] = {&t, &r};
    int before = failures;
    cs_invoke(cs_await, args); /* void: returns NULL */
    return failures == before ? 0 : -1;
}

static const tapir_error *cs_make(void) {
    MonoObject *ret = cs_invoke(cs_make_error, NULL);
    return ret ? *(const tapir_error **)mono_object_unbox(ret) : NULL;
}

/* ---- the C side ---- */

static const tapir_error *c_made; /* the error of the c_error scenario */

static void describe(const tapir_task *task, char *out, size_t n) {
    void *v;
    const tapir_error *e;
    size_t len = 0;
    switch (tapir_task_get_status(task)) {
    case TAPIR_TASK_STATUS_SUCCEEDED:
        tapir_task_result(task, &v);
        snprintf(out, n, "value %ld", (long)(intptr_t)v);
        break;
    case TAPIR_TASK_STATUS_FAULTED: {
        tapir_task_error(task, &e);
        const uint8_t *m = tapir_error_message(e, &len);
        snprintf(out, n, "error %d %.*s%s", tapir_error_code(e), (int)len, (const char *)m,
                 e == c_made ? " original" : "");
        tapir_error_release(e);
        break;
    }
    case TAPIR_TASK_STATUS_CANCELED:
        snprintf(out, n, "canceled");
        break;
    default:
        snprintf(out, n, "not completed");
    }
}

static void c_on_complete(void *user_data, const tapir_task *task) {
    conf_report *r = user_data;
    describe(task, r->text, CONF_TEXT);
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
}

/* ---- the completer thread ---- */

typedef struct {
    const tapir_source *source;
    const tapir_task *task;
    scenario sc;
    const tapir_error *error; /* the error to set, for the error scenarios */
    bool registered;          /* all four awaiters were seen waiting */
} completer;

static void *complete_later(void *arg) {
    completer *c = arg;
    /* Wait until the four awaiters wait (each registers one continuation). */
    for (int i = 0; i < 10000 && tapir_debug_task_continuations(c->task) < SIDES; i++)
        sleep_ms(1);
    c->registered = tapir_debug_task_continuations(c->task) >= SIDES;
    switch (c->sc) {
    case VALUE:
        tapir_source_set_result(c->source, (void *)(intptr_t)42, NULL);
        break;
    case CANCELED:
        tapir_source_set_canceled(c->source, NULL);
        break;
    default:
        tapir_source_set_error(c->source, c->error);
    }
    return NULL;
}

/* ---- one scenario ---- */

static void expected(scenario sc, int side, char *out, size_t n) {
    static const int owner[SCENARIOS] = {-1, SIDE_C, SIDE_CS, SIDE_CPP, SIDE_RUST, -1};
    const char *original = owner[sc] == side ? " original" : "";
    switch (sc) {
    case VALUE: snprintf(out, n, "value 42"); break;
    case C_ERROR: snprintf(out, n, "error 1234 boom from C%s", original); break;
    case CS_ERROR: snprintf(out, n, "error 5151 from C#%s", original); break;
    case CPP_ERROR: snprintf(out, n, "error 5150 from C++%s", original); break;
    case RUST_ERROR: snprintf(out, n, "error 4321 from Rust%s", original); break;
    default: snprintf(out, n, "canceled");
    }
}

static int run(scenario sc) {
    int before = failures;
    const tapir_source *s;
    const tapir_task *t;
    if (tapir_source_new(0, NULL, &s) != TAPIR_STATUS_OK || tapir_source_task(s, &t) != TAPIR_STATUS_OK) {
        fail("tapir_source_new");
        return 0;
    }
    completer c = {s, t, sc, NULL, false};
    static const char boom[] = "boom from C";
    switch (sc) {
    case C_ERROR:
        tapir_error_new(1234, (const uint8_t *)boom, strlen(boom), NULL, NULL, &c.error);
        c_made = c.error;
        break;
    case CS_ERROR: c.error = cs_make(); break;
    case CPP_ERROR: c.error = cpp_make_error(); break;
    case RUST_ERROR: c.error = rust_make_error(); break;
    default: break;
    }

    conf_report reports[SIDES];
    memset(reports, 0, sizeof reports);
    tapir_continuation_options opts = {sizeof opts, 0, NULL, NULL};
    if (tapir_task_on_complete(t, c_on_complete, &reports[SIDE_C], NULL, &opts, NULL) != TAPIR_STATUS_OK)
        fail("C: tapir_task_on_complete");
    if (cpp_await(t, &reports[SIDE_CPP]) != 0) fail("C++: cpp_await");
    if (cs_await_task(t, &reports[SIDE_CS]) != 0) fail("C#: Await");
    if (rust_await(t, &reports[SIDE_RUST]) != 0) fail("Rust: rust_await");

    pthread_t th;
    pthread_create(&th, NULL, complete_later, &c);
    pthread_join(th, NULL);
    if (!c.registered) fail("not every awaiter was waiting before the task completed");

    for (int side = 0; side < SIDES; side++) {
        conf_report *r = &reports[side];
        for (int i = 0; i < 10000 && !__atomic_load_n(&r->done, __ATOMIC_ACQUIRE); i++) sleep_ms(1);
        char want[CONF_TEXT], line[512];
        expected(sc, side, want, sizeof want);
        if (!__atomic_load_n(&r->done, __ATOMIC_ACQUIRE)) {
            snprintf(line, sizeof line, "%s/%s: no report (the await never finished)", SCENARIO_NAME[sc], SIDE_NAME[side]);
            fail(line);
        } else if (strcmp(r->text, want) != 0) {
            snprintf(line, sizeof line, "%s/%s: saw \"%s\", expected \"%s\"", SCENARIO_NAME[sc], SIDE_NAME[side], r->text, want);
            fail(line);
        }
    }
    tapir_error_release(c.error);
    c_made = NULL;
    tapir_task_release(t);
    tapir_source_release(s);
    bool ok = failures == before;
    printf("%-10s C, C++, C#, Rust: %s\n", SCENARIO_NAME[sc], ok ? "ok" : "FAILED");
    return ok;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CSharpSide.dll\n", argv[0]);
        return 2;
    }
    cs_start(argv[1]);
    int passed = 0;
    for (int sc = 0; sc < SCENARIOS; sc++) passed += run((scenario)sc);

    /* Nothing may be left: every side released what it held. */
    cs_invoke(cs_reset, NULL);
    rust_reset();
    size_t live = 0;
    for (int i = 0; i < 10000 && (live = tapir_debug_live_objects(0)) != 0; i++) sleep_ms(1);
    int leak_ok = live == 0;
    if (!leak_ok) {
        char line[128];
        snprintf(line, sizeof line, "%zu tapir objects still live at the end", live);
        fail(line);
    }
    printf("%-10s live objects back to zero: %s\n", "leaks", leak_ok ? "ok" : "FAILED");
    passed += leak_ok;
    int total = SCENARIOS + 1;
    printf("conformance: %d passed, %d failed\n", passed, total - passed);
    fflush(stdout);
    /* Mono's threads are not joined: leave without running its teardown. */
    _exit(passed == total ? 0 : 1);
}
