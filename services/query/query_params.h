/* Parsing of query-string and path inputs of the HTTP API: time ranges,
 * identifiers, limits and series buckets.  Pure functions. */
#ifndef QUERY_PARAMS_H
#define QUERY_PARAMS_H

#include <stdint.h>

#include "ds/err.h"
#include "query_http.h"

/* The range [start, end) from start/end or their aliases start_date/
 * end_date (giving both a name and its alias is an error); an absent bound
 * is DS_TIME_NONE.  DS_EINVAL with detail for a malformed time or start
 * after end. */
DS_MUSTCHECK int query_params_range(const struct query_http_req *req, int64_t *start_us,
                                    int64_t *end_us, char err[DS_ERRLEN]);

/* A decimal integer in [min, max], nothing else (no sign, spaces or
 * leading '+').  DS_EINVAL otherwise. */
DS_MUSTCHECK int query_params_int(const char *s, long long min, long long max, long long *out);

/* The "limit" query parameter: def when absent, else a decimal integer
 * in [1, max] into *limit.  DS_EINVAL with the detail of a 400 in err. */
DS_MUSTCHECK int query_params_limit(const struct query_http_req *req, long long def, long long max,
                                    long long *limit, char err[DS_ERRLEN]);

/* The buckets of a series: interval-aligned (multiples of interval_us since
 * the Unix epoch) buckets covering [start, end).  *first gets the start of
 * the first bucket and *n how many; DS_ERANGE when more than max_buckets. */
DS_MUSTCHECK int query_params_buckets(int64_t start_us, int64_t end_us, int64_t interval_us,
                                      int64_t max_buckets, int64_t *first, int64_t *n);

/* Floor division for bucket numbers (ts may be before the epoch). */
int64_t query_params_floor_div(int64_t a, int64_t b);

#endif
