/* Stop flag set by SIGINT/SIGTERM; a second signal exits at once. */
#include "ds/signal.h"

#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig)
{
  (void)sig;
  if (g_stop) {
    static const char msg[] = "second signal: exiting at once\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
  }
  g_stop = 1;
}

void ds_signal_install(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);
  /* A file-size limit reached makes write(2) fail with EFBIG, which the
   * caller handles (ingest's spool: the message is not acknowledged),
   * rather than kill the process. */
  sigaction(SIGXFSZ, &sa, NULL);
}

bool ds_signal_stop_requested(void)
{
  return g_stop != 0;
}

bool ds_signal_sleep_ms(long ms)
{
  while (ms > 0) {
    if (g_stop)
      return false;
    long slice = ms > 250 ? 250 : ms;
    struct timespec ts = {slice / 1000, (slice % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    ms -= slice;
  }
  return !g_stop;
}
