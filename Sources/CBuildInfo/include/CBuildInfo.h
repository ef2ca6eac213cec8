#ifndef CBUILDINFO_H
#define CBUILDINFO_H
// The version string baked in at build time. `make` writes build_version.h (git describe) next to
// build_info.c; a plain `swift build` without it reports "0.0.0-unknown". Kept in C so a new version
// recompiles one file instead of every Swift module (Swift's -D defines carry no values).
const char *cbi_version(void);
#endif
