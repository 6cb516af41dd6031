/* A program that finds tapir the way a user's build does (pkg-config): completes a
 * task from another thread and prints its value. Exits 0 only if it saw 42. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include <tapir.h>

static void *produce(void *source) {
  tapir_source_set_result((const tapir_source *)source, (void *)(intptr_t)42, NULL);
  return NULL;
}

int main(void) {
  const tapir_source *source = NULL;
  const tapir_task *task = NULL;
  void *value = NULL;
  pthread_t producer;
  int ok;

  if (tapir_source_new(0, NULL, &source) != TAPIR_STATUS_OK) return 1;
  if (tapir_source_task(source, &task) != TAPIR_STATUS_OK) return 1;
  if (pthread_create(&producer, NULL, produce, (void *)source) != 0) return 1;
  ok = tapir_task_wait(task, TAPIR_INFINITE) == TAPIR_STATUS_OK &&
       tapir_task_result(task, &value) == TAPIR_STATUS_OK && (intptr_t)value == 42;
  pthread_join(producer, NULL);
  tapir_task_release(task);
  tapir_source_release(source);
  tapir_shutdown();
  printf("consumer (tapir %s): %s\n", tapir_version(), ok ? "42" : "wrong value");
  return ok ? 0 : 1;
}
