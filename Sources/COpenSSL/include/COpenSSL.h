#ifndef COPENSSL_H
#define COPENSSL_H
#include <openssl/evp.h>
#endif
