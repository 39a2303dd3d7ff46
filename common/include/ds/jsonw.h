/* ds_jsonw: the one JSON writer.  Every JSON text we send (HTTP bodies,
 * MQTT status events) is written through it, so spacing and escaping are the
 * same everywhere: {"a": 1, "b": [1, 2]} -- a space after ':' and ',', none
 * inside brackets.  A small state machine over a caller's ds_buf that places
 * the commas and checks the nesting.
 *
 * Errors are sticky: the first failure (buffer full, out of memory, a value
 * where a key is due, a non-finite double, nesting deeper than
 * DS_JSONW_DEPTH) is kept, later calls do nothing, and ds_jsonw_finish
 * returns it.  Writing code therefore reads as the JSON it produces, with one
 * check at the end.
 *
 *   struct ds_jsonw w;
 *   ds_jsonw_init(&w, &buf);
 *   ds_jsonw_object_begin(&w);
 *   ds_jsonw_key_int64(&w, "count", 3);
 *   ds_jsonw_key(&w, "ids");
 *   ds_jsonw_array_begin(&w);
 *   ds_jsonw_str(&w, "dev-7");
 *   ds_jsonw_array_end(&w);
 *   ds_jsonw_object_end(&w);
 *   rc = ds_jsonw_finish(&w);      // {"count": 3, "ids": ["dev-7"]}
 */
#ifndef DS_JSONW_H
#define DS_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/buf.h"
#include "ds/err.h"

/* Deepest nesting of objects and arrays a writer accepts. */
#define DS_JSONW_DEPTH 32

struct ds_jsonw {
  struct ds_buf *out;         /* borrowed; appended to */
  int err;                    /* first error, DS_OK while all is well */
  int depth;                  /* open containers */
  bool done;                  /* a complete top-level value has been written */
  bool after_key;             /* in an object: a key was written, its value is due */
  char kind[DS_JSONW_DEPTH];  /* per open container: '{' or '[' */
  bool first[DS_JSONW_DEPTH]; /* per open container: nothing written in it yet */
};

/* Starts a writer appending one JSON value to out (borrowed; it must outlive
 * the writer).  What out already holds is kept. */
void ds_jsonw_init(struct ds_jsonw *w, struct ds_buf *out);

/* Returns the sticky error: DS_OK, DS_ERANGE (out's maximum reached or
 * nesting too deep), DS_ENOMEM, or DS_EINVAL (misuse: unbalanced or
 * misplaced calls, a non-finite double, or a top-level value left open). */
DS_MUSTCHECK int ds_jsonw_finish(const struct ds_jsonw *w);
/* The sticky error so far (DS_OK while all is well); unlike finish it does
 * not require the value to be complete. */
int ds_jsonw_error(const struct ds_jsonw *w);

void ds_jsonw_object_begin(struct ds_jsonw *w);
void ds_jsonw_object_end(struct ds_jsonw *w);
void ds_jsonw_array_begin(struct ds_jsonw *w);
void ds_jsonw_array_end(struct ds_jsonw *w);

/* A member name inside an object (key borrowed, NUL-terminated, escaped as
 * a JSON string); a value must follow. */
void ds_jsonw_key(struct ds_jsonw *w, const char *key);

/* Values: in an array, after a key, or as the one top-level value. */
/* s borrowed, NUL-terminated; NULL writes null. */
void ds_jsonw_str(struct ds_jsonw *w, const char *s);
/* s[0..len) borrowed (may hold NUL bytes); escaped as by
 * ds_buf_append_json_str (invalid UTF-8 becomes U+FFFD). */
void ds_jsonw_strn(struct ds_jsonw *w, const char *s, size_t len);
void ds_jsonw_int64(struct ds_jsonw *w, int64_t v);
/* The shortest form that reads back to the same double (ds_double_format:
 * 4.0, 0.1, -0.0, 1e+300); DS_EINVAL when v is not finite. */
void ds_jsonw_double(struct ds_jsonw *w, double v);
void ds_jsonw_bool(struct ds_jsonw *w, bool v);
void ds_jsonw_null(struct ds_jsonw *w);
/* json[0..len) (borrowed) copied as is: a complete JSON value the caller
 * has already built (e.g. with another writer, or stored JSON text). */
void ds_jsonw_raw(struct ds_jsonw *w, const char *json, size_t len);

/* key + value in one call, for objects. */
void ds_jsonw_key_str(struct ds_jsonw *w, const char *key, const char *s);
void ds_jsonw_key_int64(struct ds_jsonw *w, const char *key, int64_t v);
void ds_jsonw_key_double(struct ds_jsonw *w, const char *key, double v);
void ds_jsonw_key_bool(struct ds_jsonw *w, const char *key, bool v);
void ds_jsonw_key_null(struct ds_jsonw *w, const char *key);

#endif
