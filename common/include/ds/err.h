/* Error codes shared by every DeviceStats module: fallible functions return
 * an int from enum ds_err (DS_OK is 0); ds_strerror() names it. */
#ifndef DS_ERR_H
#define DS_ERR_H

#include <stdlib.h>

#define DS_MUSTCHECK __attribute__((warn_unused_result))
/* Size of the caller-supplied buffers that carry error detail. */
#define DS_ERRLEN 256
/* Free p and set it to NULL. */
#define DS_FREE(p)                                                                                 \
  do {                                                                                             \
    free(p);                                                                                       \
    (p) = NULL;                                                                                    \
  } while (0)

enum ds_err {
  DS_OK = 0,
  DS_ENOMEM,    /* allocation failed */
  DS_EINVAL,    /* bad input (detail in err[]) */
  DS_ERANGE,    /* value out of range, or a bounded buffer is full */
  DS_ENOTFOUND, /* no such thing */
  DS_EDB,       /* database error or database unreachable */
  DS_EMQTT,     /* broker error or broker unreachable */
  DS_EIO,       /* file or socket error */
  DS_ETIMEOUT,  /* gave up waiting */
  DS_ESTOPPED,  /* a stop was requested while waiting */
  DS_ECONFLICT, /* the thing exists already, or is held by someone else */
};

/* Returns a static, human-readable name for code. */
const char *ds_strerror(int code);

#endif
