#ifndef CNETSHIM_H
#define CNETSHIM_H
int cns_placeholder(void);
#endif
