/* The deterministic sample stream shared by the load tools: the publisher,
 * the COPY loader and the bench all see the same rows for the same
 * (device, index), so the ceilings and DeviceStats store identical data.
 * Header-only: every function is static inline and pure. */
#ifndef DS_LOAD_GEN_H
#define DS_LOAD_GEN_H

#include <stdint.h>

/* 2026-11-28T00:00:00Z: the default first timestamp, Unix milliseconds. */
#define LOAD_TS_BASE_MS INT64_C(1795824000000)

struct load_sample {
  int64_t ts_ms; /* Unix milliseconds */
  double x, y, z;
};

/* splitmix64: a well-mixed 64-bit hash of a 64-bit counter. */
static inline uint64_t load_mix(uint64_t v)
{
  v += UINT64_C(0x9E3779B97F4A7C15);
  v = (v ^ (v >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  v = (v ^ (v >> 27)) * UINT64_C(0x94D049BB133111EB);
  return v ^ (v >> 31);
}

/* A value in [-100, 100] with three decimals, exactly what "%.3f" prints
 * and strtod reads back (k / 1000.0 is the double nearest to the decimal). */
static inline double load_value(uint64_t h)
{
  int64_t k = (int64_t)(h % UINT64_C(200001)) - 100000;
  return (double)k / 1000.0;
}

/* Sample number idx (0-based) of device dev: timestamps step_ms apart from
 * base_ms, values hashed from (dev, idx). */
static inline struct load_sample load_sample_at(uint32_t dev, uint64_t idx, int64_t base_ms,
                                                int64_t step_ms)
{
  struct load_sample s;
  uint64_t seed = ((uint64_t)dev << 40) ^ idx;
  s.ts_ms = base_ms + (int64_t)idx * step_ms;
  s.x = load_value(load_mix(seed * 3 + 0));
  s.y = load_value(load_mix(seed * 3 + 1));
  s.z = load_value(load_mix(seed * 3 + 2));
  return s;
}

#endif
