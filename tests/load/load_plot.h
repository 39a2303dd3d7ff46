/* Charts of a load run: reads the JSON report (load_report.c), writes its
 * timeline as a gnuplot data file and script into a directory and runs
 * gnuplot, which draws throughput.png (published vs stored per second),
 * latency.png (HTTP and publish->visible percentiles per second) and
 * errors.png (errors per second). */
#ifndef LOAD_PLOT_H
#define LOAD_PLOT_H

#include <stddef.h>

/* 0 when the three PNGs exist and are not empty; -1 with the reason in err
 * (unreadable report, gnuplot missing or failing). */
int load_plot(const char *report_path, const char *dir, char *err, size_t errlen);

/* Creates dir (one level) unless it exists.  0, or -1 with err set. */
int load_plot_mkdir(const char *dir, char *err, size_t errlen);

#endif
