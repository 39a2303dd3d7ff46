/* What the store's files share (store.c, store_fetch.c, store_batch.c):
 * the prepared statements (store.c) and the value arrays' growth
 * (store_fetch.c).  Internal to the library. */
#ifndef DS_STORE_STMT_H
#define DS_STORE_STMT_H

#include <libpq-fe.h>

#include "ds/err.h"
#include "ds/store.h"

enum ds_store_stmt {
  DS_ST_DEVICE_KEY,
  DS_ST_SAMPLES,
  DS_ST_SAMPLES_CACHED,
  DS_ST_N,
};

/* The name statement s is prepared under. */
const char *ds_store_stmt_name(enum ds_store_stmt s);

/* Prepares statement s on conn unless st says it is already.  st belongs
 * to conn (its owner keeps it beside it); a different backend pid means a
 * new connection, on which nothing is prepared yet.  DS_OK or DS_EDB with
 * the reason in err. */
DS_MUSTCHECK int ds_store_prepare(PGconn *conn, struct ds_store_stmts *st, enum ds_store_stmt s,
                                  char err[DS_ERRLEN]);

/* Makes room in v for extra more values (and times when want_ts): grows
 * the arrays (doubling from 1024, capped at v->max), or in flush mode
 * hands the window to the flush function.  DS_ERANGE past max, counting
 * the values flushed; DS_ENOMEM.  (store_fetch.c; store_batch.c too.) */
DS_MUSTCHECK int ds_store_values_reserve(struct ds_values *v, size_t extra, bool want_ts);

#endif
