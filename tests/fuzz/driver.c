/*
 * driver.c — replay files through a fuzz target without libFuzzer, so the
 * corpus (seeds and every crash ever found) runs in `make check` with the
 * ordinary compiler.  Usage: driver FILE...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char *argv[])
{
	static uint8_t buf[1 << 20];
	int i, n = 0;

	for (i = 1; i < argc; i++) {
		FILE *fp = fopen(argv[i], "rb");
		size_t len;
		if (fp == NULL) {
			perror(argv[i]);
			return 1;
		}
		len = fread(buf, 1, sizeof(buf), fp);
		fclose(fp);
		LLVMFuzzerTestOneInput(buf, len);
		n++;
	}
	printf("# replayed %d inputs\n", n);
	return 0;
}
