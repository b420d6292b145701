/* clock.c — deadlines on CLOCK_MONOTONIC; see clock.h. */
#include <limits.h>
#include <time.h>

#include "clock.h"

long long
sf_clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

long long
sf_clock_ms(void)
{
	return sf_clock_us() / 1000;
}

int
sf_clock_left(long long deadline)
{
	long long left;

	if (deadline < 0)
		return -1;
	left = deadline - sf_clock_ms();
	return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

int
sf_clock_passed(long long deadline)
{
	return deadline >= 0 && sf_clock_ms() >= deadline;
}
