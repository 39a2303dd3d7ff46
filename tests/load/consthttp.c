/* devicestats-consthttp: the HTTP ceiling of the query bench.  A minimal
 * libmicrohttpd server with the same thread model and daemon flags as
 * devicestats-query (internal polling thread pool, epoll) that answers every
 * request with a constant small JSON body.  Prints "consthttp ready port=N"
 * once listening; SIGINT or SIGTERM stops it. */
#include <errno.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;
static void on_signal(int sig)
{
  (void)sig;
  g_stop = 1;
}

static const char BODY[] = "{\"status\":\"ok\",\"database\":\"up\",\"broker\":\"up\"}";

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
  (void)cls, (void)url, (void)method, (void)version, (void)data, (void)data_size;
  /* First call: headers only; answer on the second, like the service. */
  if (*con_cls == NULL) {
    *con_cls = (void *)1;
    return MHD_YES;
  }
  struct MHD_Response *r =
      MHD_create_response_from_buffer(sizeof BODY - 1, (void *)BODY, MHD_RESPMEM_PERSISTENT);
  if (r == NULL)
    return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "application/json");
  MHD_add_response_header(r, "Cache-Control", "no-store");
  enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return ret;
}

static long parse_long(const char *s, long lo, long hi)
{
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
    return -1;
  return v;
}

int main(int argc, char **argv)
{
  if (argc != 3) {
    fprintf(stderr, "usage: devicestats-consthttp PORT THREADS\n");
    return 2;
  }
  long port = parse_long(argv[1], 0, 65535), threads = parse_long(argv[2], 1, 64);
  if (port < 0 || threads < 0) {
    fprintf(stderr, "consthttp: bad port or thread count\n");
    return 2;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  unsigned flags =
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_EPOLL;
  struct MHD_Daemon *d = MHD_start_daemon(
      flags, (uint16_t)port, NULL, NULL, on_request, NULL, MHD_OPTION_THREAD_POOL_SIZE,
      (unsigned)threads, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 1024u,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_LISTENING_ADDRESS_REUSE,
      1u, MHD_OPTION_END);
  if (d == NULL) {
    fprintf(stderr, "consthttp: cannot listen on port %ld: %s\n", port, strerror(errno));
    return 1;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  printf("consthttp ready port=%u\n", info != NULL ? (unsigned)info->port : (unsigned)port);
  fflush(stdout);
  while (!g_stop)
    usleep(100 * 1000);
  MHD_stop_daemon(d);
  return 0;
}
