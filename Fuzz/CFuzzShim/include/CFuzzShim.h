#ifndef CFUZZSHIM_H
#define CFUZZSHIM_H
#include <stdint.h>
#include <stddef.h>
/* libFuzzer's entry for a custom main (compiler-rt FuzzerInterface.h). */
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
/* LeakSanitizer (sanitizer/lsan_interface.h): allocations between disable and enable are never
   reported. For state built once per process that Swift reaches through tagged pointers. */
void __lsan_disable(void);
void __lsan_enable(void);
#endif
