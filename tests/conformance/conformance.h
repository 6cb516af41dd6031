/* The cross-language conformance test: what every side shares with the C program.
 *
 * A report is written once by the side that awaited the task: the text first, then
 * `done` set to 1 (a release store, or a full barrier before a plain store). */
#ifndef TAPIR_CONFORMANCE_H
#define TAPIR_CONFORMANCE_H

#include <stdint.h>

#include "tapir.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CONF_TEXT 252

typedef struct conf_report {
    int32_t done;          /* offset 0: 1 once `text` is written */
    char text[CONF_TEXT];  /* offset 4: NUL-terminated */
} conf_report;

/* Each side's awaiter: borrows `task`, awaits it in that language's own way, and
 * writes what it saw to `report` ("value N", "error CODE MESSAGE[ original]",
 * "canceled"). "original" means the side got back the very error object (exception,
 * payload) that the same language made. Returns 0 once the await is under way. */
int cpp_await(const tapir_task *task, conf_report *report);
int rust_await(const tapir_task *task, conf_report *report);

/* Each side's own error, as a new tapir_error reference: C++ a std::exception-derived
 * object, Rust an Error with a payload. */
const tapir_error *cpp_make_error(void);
const tapir_error *rust_make_error(void);

/* Forgets the Rust side's original payload (the end of the run). */
void rust_reset(void);

#ifdef __cplusplus
}
#endif

#endif
