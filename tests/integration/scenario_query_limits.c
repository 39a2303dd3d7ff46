/* Hostile HTTP clients against devicestats-query, over raw sockets (issue
 * 9, items 7 and 8):
 *  - oversized and odd requests are answered with the contract's JSON
 *    error object (414 request target, 431 headers, 413 body declared past
 *    the limit, 404/405 for odd methods and paths, HTTP/1.0 without Host);
 *  - 500 slow clients (half idle after connecting, half sending a request
 *    byte by byte) from ten client addresses stay connected while a normal
 *    client's requests keep succeeding quickly;
 *  - one address opening more than QUERY_MAX_CONNECTIONS_PER_IP (64)
 *    connections gets the rest closed, while others are still served;
 *  - an instance with QUERY_CONN_TIMEOUT_S=2 closes an idle connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "it_lib.h"

#define SLOW_CLIENTS 500
#define SLOW_ADDRS 10 /* 127.0.0.10 .. 127.0.0.19, 50 connections each */
#define PER_IP_LIMIT 64

static int http_port; /* of the main query instance */

static int port_of(const char *url)
{
  const char *c = strrchr(url, ':');
  return c != NULL ? (int)strtol(c + 1, NULL, 10) : 0;
}

/* A TCP connection from 127.0.0.<src> (0: any) to 127.0.0.1:port; -1 on
 * failure. */
static int dial(int src, int port)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  if (src != 0) {
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(0x7f000000u | (unsigned)src);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
      close(fd);
      return -1;
    }
  }
  struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  d.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&d, sizeof d) != 0) {
    close(fd);
    return -1;
  }
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

/* Case-insensitive search for needle in hay (both NUL-terminated). */
static const char *find_ci(const char *hay, const char *needle)
{
  size_t n = strlen(needle);
  for (; *hay != '\0'; hay++)
    if (strncasecmp(hay, needle, n) == 0)
      return hay;
  return NULL;
}

static bool send_all(int fd, const char *p, size_t n)
{
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0)
      return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

/* Whether the server has closed fd (EOF or reset) as far as can be seen
 * now, without waiting. */
static bool closed_by_peer(int fd)
{
  char c;
  ssize_t r = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* Sends req (len bytes) on a new connection and reads the answer until the
 * server closes or Content-Length is complete; the status and the body are
 * checked: JSON object with "error" == code and a "detail" string,
 * Content-Type application/json. */
static void expect_json_error(const char *what, const char *req, size_t len, int status,
                              const char *code)
{
  int fd = dial(0, http_port);
  IT_ASSERT(fd >= 0, "%s: connect", what);
  (void)send_all(fd, req, len); /* the server may answer (and close) before all is sent */
  static char buf[65536];
  size_t got = 0;
  while (got < sizeof buf - 1) {
    ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
    if (r <= 0)
      break;
    got += (size_t)r;
    buf[got] = '\0';
    const char *hend = strstr(buf, "\r\n\r\n");
    const char *cl = find_ci(buf, "\r\nContent-Length:");
    if (hend != NULL && cl != NULL && cl < hend &&
        got >= (size_t)(hend + 4 - buf) + (size_t)strtoul(cl + 17, NULL, 10))
      break;
  }
  buf[got] = '\0';
  close(fd);
  int st = strncmp(buf, "HTTP/1.", 7) == 0 && got > 12 ? (int)strtol(buf + 9, NULL, 10) : 0;
  IT_EXPECT(st == status, "%s: status %d, want %d: %.200s", what, st, status, buf);
  const char *hend = strstr(buf, "\r\n\r\n");
  IT_EXPECT(hend != NULL && find_ci(buf, "\r\nContent-Type: application/json") != NULL &&
                find_ci(buf, "\r\nContent-Type: application/json") < hend,
            "%s: not application/json: %.300s", what, buf);
  struct json_object *o = hend != NULL ? json_tokener_parse(hend + 4) : NULL, *e = NULL, *d = NULL;
  IT_EXPECT(o != NULL && json_object_object_get_ex(o, "error", &e) &&
                json_object_object_get_ex(o, "detail", &d) &&
                json_object_is_type(d, json_type_string) &&
                strcmp(json_object_get_string(e), code) == 0,
            "%s: body is not {\"error\": \"%s\", \"detail\": ...}: %.300s", what, code,
            hend != NULL ? hend + 4 : buf);
  json_object_put(o);
}

/* A request of n bytes: line + filler header lines + end. */
static char *build(const char *line, size_t header_bytes, size_t *len)
{
  size_t cap = strlen(line) + header_bytes + 12 * (header_bytes / 1000 + 1) + 256;
  char *r = malloc(cap);
  IT_ASSERT(r != NULL, "malloc");
  size_t n = (size_t)snprintf(r, cap, "%s\r\nHost: it\r\n", line);
  while (header_bytes > 0) {
    size_t v = header_bytes > 1000 ? 1000 : header_bytes;
    n += (size_t)snprintf(r + n, cap - n, "X-Filler: ");
    memset(r + n, 'f', v);
    n += v;
    n += (size_t)snprintf(r + n, cap - n, "\r\n");
    header_bytes -= v;
  }
  n += (size_t)snprintf(r + n, cap - n, "\r\n");
  *len = n;
  return r;
}

static void error_pages(void)
{
  size_t len;
  /* A request target past 8192 bytes (MHD's own pool is 64 KiB). */
  char *line = malloc(20000);
  IT_ASSERT(line != NULL, "malloc");
  int k = snprintf(line, 20000, "GET /devices/");
  memset(line + k, 'a', 9000);
  snprintf(line + k + 9000, 20000 - (size_t)k - 9000, "/data/all HTTP/1.1");
  char *r = build(line, 0, &len);
  expect_json_error("uri 9 KiB", r, len, 414, "uri_too_long");
  free(r);
  /* 30 KiB of header lines (past 16384). */
  r = build("GET /devices HTTP/1.1", 30000, &len);
  expect_json_error("headers 30 KiB", r, len, 431, "headers_too_large");
  free(r);
  /* A body declared past QUERY_BODY_MAX, and one past 64 KiB sent chunked. */
  static const char big[] = "POST /users HTTP/1.1\r\nHost: it\r\nContent-Length: 1000000\r\n"
                            "Content-Type: application/json\r\n\r\n{";
  expect_json_error("body 1 MB declared", big, sizeof big - 1, 413, "too_large");
  /* Odd methods and paths. */
  static const char brew[] = "BREW /devices HTTP/1.1\r\nHost: it\r\n\r\n";
  expect_json_error("unknown method", brew, sizeof brew - 1, 405, "method_not_allowed");
  static const char nul[] = "GET /dev\x01"
                            "ces HTTP/1.1\r\nHost: it\r\n\r\n";
  expect_json_error("control byte in path", nul, sizeof nul - 1, 404, "not_found");
  static const char pct[] = "GET /devices/%ff%fex/data/all HTTP/1.1\r\nHost: it\r\n\r\n";
  expect_json_error("percent-encoded garbage", pct, sizeof pct - 1, 400, "bad_device_id");
  static const char old[] = "GET /devices/%2e%2e/data/all HTTP/1.0\r\n\r\n";
  expect_json_error("HTTP/1.0 without Host", old, sizeof old - 1, 404, "not_found");
  static const char nulq[] = "GET /devices/a%00b/data/all HTTP/1.1\r\nHost: it\r\n\r\n";
  expect_json_error("percent-encoded NUL", nulq, sizeof nulq - 1, 404, "not_found");
  static const char q[] = "GET /devices/x/data?start=%ff%fe&end=\x7f HTTP/1.1\r\nHost: it\r\n\r\n";
  expect_json_error("bad query bytes", q, sizeof q - 1, 400, "bad_request");
  free(line);
}

/* ---- slow clients ---- */

static void raise_fd_limit(void)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* One normal request; its status and duration. */
static long normal_request(long long *ms)
{
  long long t0 = it_mono_ms();
  struct it_http_resp r;
  (void)it_http("GET", "/devices", NULL, false, &r);
  *ms = it_mono_ms() - t0;
  long st = r.status;
  it_http_resp_cleanup(&r);
  return st;
}

static void slow_clients(void)
{
  raise_fd_limit();
  static int fds[SLOW_CLIENTS];
  static const char req[] = "GET /devices HTTP/1.1\r\nHost: it\r\nX-Slow: ";
  int opened = 0;
  for (int i = 0; i < SLOW_CLIENTS; i++) {
    fds[i] = dial(10 + i % SLOW_ADDRS, http_port);
    if (fds[i] >= 0)
      opened++;
  }
  IT_ASSERT(opened == SLOW_CLIENTS, "opened %d of %d slow connections", opened, SLOW_CLIENTS);
  /* Held for 8 s: the odd ones send one byte of their request every
   * 200 ms; the normal client asks every 400 ms. */
  long long end = it_mono_ms() + 8000, worst = 0;
  int asked = 0, ok = 0;
  size_t pos = 0;
  while (it_mono_ms() < end) {
    for (int i = 1; i < SLOW_CLIENTS; i += 2)
      (void)send(fds[i], pos < sizeof req - 1 ? req + pos : "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    pos++;
    if (pos % 2 == 0) {
      long long ms;
      long st = normal_request(&ms);
      asked++;
      ok += st == 200;
      if (ms > worst)
        worst = ms;
    }
    it_sleep_ms(200);
  }
  int still = 0;
  for (int i = 0; i < SLOW_CLIENTS; i++)
    still += !closed_by_peer(fds[i]);
  it_note(
      "slow clients: %d of %d still connected after 8 s; normal client %d/%d ok, slowest %lld ms",
      still, SLOW_CLIENTS, ok, asked, worst);
  IT_EXPECT(still == SLOW_CLIENTS, "only %d of %d slow connections held", still, SLOW_CLIENTS);
  IT_EXPECT(asked >= 10 && ok == asked, "normal client: %d of %d requests ok", ok, asked);
  IT_EXPECT(worst < 2000, "normal client: slowest request %lld ms", worst);
  for (int i = 0; i < SLOW_CLIENTS; i++)
    close(fds[i]);
}

/* One address past the per-address limit: the extra connections are
 * closed at once, another address is still served. */
static void per_ip_limit(void)
{
  enum { N = PER_IP_LIMIT + 16 };
  int fds[N];
  for (int i = 0; i < N; i++) {
    fds[i] = dial(30, http_port);
    IT_ASSERT(fds[i] >= 0, "connect %d", i);
  }
  it_sleep_ms(500);
  int closed = 0;
  for (int i = 0; i < N; i++)
    closed += closed_by_peer(fds[i]);
  long long ms;
  long st = normal_request(&ms);
  it_note("per-address limit: %d of %d connections from 127.0.0.30 closed", closed, N);
  IT_EXPECT(closed == N - PER_IP_LIMIT, "%d of %d closed, want %d", closed, N, N - PER_IP_LIMIT);
  IT_EXPECT(st == 200, "normal client during the flood: %ld", st);
  for (int i = 0; i < N; i++)
    close(fds[i]);
}

/* A second instance with a 2 s connection timeout closes an idle client. */
static void idle_timeout(void)
{
  int port = 0;
  {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
      port = ntohs(a.sin_port);
    close(fd);
  }
  IT_ASSERT(port > 0, "free port");
  IT_ASSERT(it_stackctl("start-extra query query-t2 HTTP_PORT=%d QUERY_CONN_TIMEOUT_S=2", port) ==
                0,
            "start-extra");
  int idle = dial(0, port), partial = dial(0, port);
  IT_ASSERT(idle >= 0 && partial >= 0, "connect");
  IT_ASSERT(send_all(partial, "GET /devices HTTP/1.1\r\nHo", 26), "send");
  long long t0 = it_mono_ms();
  struct pollfd p[2] = {{.fd = idle, .events = POLLIN}, {.fd = partial, .events = POLLIN}};
  bool closed[2] = {false, false};
  while ((!closed[0] || !closed[1]) && it_mono_ms() - t0 < 10000) {
    if (poll(p, 2, 250) > 0)
      for (int i = 0; i < 2; i++)
        if (p[i].revents != 0 && closed_by_peer(p[i].fd))
          closed[i] = true, p[i].fd = -1;
  }
  long long took = it_mono_ms() - t0;
  it_note("QUERY_CONN_TIMEOUT_S=2: idle and half-sent connections closed after %lld ms", took);
  IT_EXPECT(closed[0] && closed[1] && took >= 1500 && took < 6000,
            "idle %d, partial %d closed after %lld ms", closed[0], closed[1], took);
  close(idle);
  close(partial);
}

int main(void)
{
  http_port = port_of(it_env_str("DS_TEST_HTTP_URL"));
  IT_ASSERT(http_port > 0, "DS_TEST_HTTP_URL");
  error_pages();
  slow_clients();
  per_ip_limit();
  idle_timeout();
  return it_finish();
}
