/* Charts of a load run (see load_plot.h). */
#include "load_plot.h"

#include <errno.h>
#include <json-c/json.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

static const char *const columns[] = {"t",       "published", "stored",   "http",
                                      "errors",  "http_p50",  "http_p95", "http_p99",
                                      "e2e_p50", "e2e_p95",   "e2e_p99"};
#define NCOL (sizeof columns / sizeof columns[0])

static const char script[] =
    "set terminal pngcairo size 1000,420 noenhanced font ',10'\n"
    "set datafile missing 'NaN'\n"
    "set grid\n"
    "set key outside right top\n"
    "set xlabel 'seconds since the start'\n"
    "set output 'throughput.png'\n"
    "set title '%s: samples per second, published vs stored'\n"
    "set ylabel 'samples/s'\n"
    "plot 'timeline.dat' using 1:2 with lines lw 2 title 'published', "
    "'' using 1:3 with lines lw 2 title 'stored'\n"
    "set output 'latency.png'\n"
    "set title '%s: latency percentiles per second'\n"
    "set ylabel 'ms'\n"
    "set logscale y\n"
    "plot 'timeline.dat' using 1:6 with lines title 'HTTP p50', "
    "'' using 1:7 with lines title 'HTTP p95', '' using 1:8 with lines title 'HTTP p99', "
    "'' using 1:11 with linespoints pt 7 ps 0.6 lw 2 title 'publish->visible (markers, max)'\n"
    "unset logscale y\n"
    "set output 'errors.png'\n"
    "set title '%s: errors per second'\n"
    "set ylabel 'errors'\n"
    "set yrange [0:1<*]\n"
    "set style fill solid 0.6\n"
    "plot 'timeline.dat' using 1:5 with boxes title 'errors'\n";

/* Writes dir/name; -1 with err set on failure. */
static int write_file(const char *dir, const char *name, const char *text, char *err, size_t errlen)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

static int write_data(struct json_object *timeline, const char *dir, char *err, size_t errlen)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/timeline.dat", dir);
  FILE *f = fopen(path, "w");
  if (!f) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  fprintf(f, "#");
  for (size_t c = 0; c < NCOL; c++)
    fprintf(f, " %s", columns[c]);
  fprintf(f, "\n");
  size_t n = json_object_array_length(timeline);
  for (size_t i = 0; i < n; i++) {
    struct json_object *row = json_object_array_get_idx(timeline, i), *v;
    for (size_t c = 0; c < NCOL; c++) {
      if (json_object_object_get_ex(row, columns[c], &v) && v != NULL)
        fprintf(f, "%s%.6g", c ? " " : "", json_object_get_double(v));
      else
        fprintf(f, "%sNaN", c ? " " : "");
    }
    fprintf(f, "\n");
  }
  if (fclose(f) != 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

/* Runs gnuplot plot.gp in dir and waits for it. */
static int run_gnuplot(const char *dir, char *err, size_t errlen)
{
  char script_path[4096];
  snprintf(script_path, sizeof script_path, "%s/plot.gp", dir);
  /* gnuplot writes the PNGs where it runs: cd through sh, no shell text
   * from outside (the directory is an argument). */
  char *argv[] = {"sh", "-c", "cd \"$1\" && exec gnuplot plot.gp", "sh", (char *)dir, NULL};
  pid_t pid;
  int rc = posix_spawnp(&pid, "sh", NULL, NULL, argv, environ);
  if (rc != 0) {
    snprintf(err, errlen, "cannot run gnuplot: %s", strerror(rc));
    return -1;
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) {
      snprintf(err, errlen, "waitpid: %s", strerror(errno));
      return -1;
    }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    snprintf(err, errlen,
             "gnuplot failed (exit %d) on %s (is gnuplot installed? scripts/deps.sh installs "
             "gnuplot-nox)",
             WIFEXITED(st) ? WEXITSTATUS(st) : -1, script_path);
    return -1;
  }
  return 0;
}

int load_plot_mkdir(const char *dir, char *err, size_t errlen)
{
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "%s: %s", dir, strerror(errno));
    return -1;
  }
  return 0;
}

int load_plot(const char *report_path, const char *dir, char *err, size_t errlen)
{
  struct json_object *j = json_object_from_file(report_path), *timeline, *sc;
  int rc = -1;
  if (!j) {
    snprintf(err, errlen, "%s: not a readable JSON report", report_path);
    return -1;
  }
  if (!json_object_object_get_ex(j, "timeline", &timeline) ||
      !json_object_is_type(timeline, json_type_array)) {
    snprintf(err, errlen, "%s: no timeline", report_path);
    goto out;
  }
  const char *name =
      json_object_object_get_ex(j, "scenario", &sc) && json_object_is_type(sc, json_type_string)
          ? json_object_get_string(sc)
          : "load";
  if (strcmp(name, "seed") != 0 && strcmp(name, "devices") != 0)
    name = "load"; /* only known words go into the script */
  if (load_plot_mkdir(dir, err, errlen) != 0)
    goto out;
  char text[sizeof script + 64];
  snprintf(text, sizeof text, script, name, name, name);
  if (write_data(timeline, dir, err, errlen) != 0 ||
      write_file(dir, "plot.gp", text, err, errlen) != 0 || run_gnuplot(dir, err, errlen) != 0)
    goto out;
  static const char *const pngs[] = {"throughput.png", "latency.png", "errors.png"};
  for (size_t i = 0; i < 3; i++) {
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, pngs[i]);
    if (stat(p, &st) != 0 || st.st_size == 0) {
      snprintf(err, errlen, "%s: missing or empty after gnuplot", p);
      goto out;
    }
  }
  rc = 0;
out:
  json_object_put(j);
  return rc;
}
