/* Names for enum ds_err. */
#include "ds/err.h"

const char *ds_strerror(int code)
{
  switch (code) {
  case DS_OK:
    return "ok";
  case DS_ENOMEM:
    return "out of memory";
  case DS_EINVAL:
    return "invalid input";
  case DS_ERANGE:
    return "out of range";
  case DS_ENOTFOUND:
    return "not found";
  case DS_EDB:
    return "database error";
  case DS_EMQTT:
    return "broker error";
  case DS_EIO:
    return "i/o error";
  case DS_ETIMEOUT:
    return "timed out";
  case DS_ESTOPPED:
    return "stop requested";
  case DS_ECONFLICT:
    return "conflict";
  default:
    return "unknown error";
  }
}
