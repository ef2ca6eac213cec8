#include "CNetShim.h"
int cns_placeholder(void) { return 0; }
