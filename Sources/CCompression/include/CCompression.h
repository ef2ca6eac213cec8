#ifndef CCOMPRESSION_H
#define CCOMPRESSION_H
#include <zlib.h>
#endif
