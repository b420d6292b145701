/*
 * clock.h — the one clock of deadlines and timers: CLOCK_MONOTONIC, so a
 * wall-clock step (NTP, a suspended laptop's catch-up) never fires or
 * postpones a timeout.
 */
#ifndef SF_CLOCK_H
#define SF_CLOCK_H

/* sf_clock_ms / sf_clock_us — now, in milliseconds / microseconds. */
long long sf_clock_ms(void);
long long sf_clock_us(void);

/*
 * sf_clock_left — what remains until deadline (sf_clock_ms units), as a
 * poll(2) timeout: -1 when deadline is -1 (none), 0 once it has passed,
 * else the milliseconds left, capped to fit an int.
 */
int sf_clock_left(long long deadline);

/* sf_clock_passed — deadline is set and has passed. */
int sf_clock_passed(long long deadline);

#endif
