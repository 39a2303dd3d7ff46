/* SIGINT/SIGTERM set a stop flag (a second one exits at once with code 1);
 * SIGPIPE and SIGXFSZ are ignored.  Loops wait at most 250 ms and then check the flag. */
#ifndef DS_SIGNAL_H
#define DS_SIGNAL_H

#include <stdbool.h>

void ds_signal_install(void);
bool ds_signal_stop_requested(void);
/* Sleeps up to ms milliseconds in slices of at most 250 ms, returning early
 * (false) once a stop is requested. */
bool ds_signal_sleep_ms(long ms);

#endif
