/* Command-line number parsing shared by the load tools. */
#ifndef LOAD_ARGS_H
#define LOAD_ARGS_H

#include <errno.h>
#include <stdlib.h>

/* Parses s as a whole base-10 integer in [lo, hi]: 0 with *out set, or -1. */
static inline int parse_ll(const char *s, long long lo, long long hi, long long *out)
{
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

#endif
