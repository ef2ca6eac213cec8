#ifndef CFUZZSHIM_H
#define CFUZZSHIM_H
#include <stdint.h>
#include <stddef.h>
/* libFuzzer's entry for a custom main (compiler-rt FuzzerInterface.h). */
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
#endif
