/*
 * be.h — big-endian integers in byte buffers, for every format of ours
 * that is read by another process: the wire protocol (proto.h) and the
 * cache entries (cache.h).  The put functions return the byte after what
 * they wrote.
 */
#ifndef SF_BE_H
#define SF_BE_H

#include <stdint.h>

static inline uint8_t *
sf_be_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static inline uint8_t *
sf_be_put32(uint8_t *p, uint32_t v)
{
	sf_be_put16(p, (uint16_t)(v >> 16));
	return sf_be_put16(p + 2, (uint16_t)v);
}

static inline uint8_t *
sf_be_put64(uint8_t *p, uint64_t v)
{
	sf_be_put32(p, (uint32_t)(v >> 32));
	return sf_be_put32(p + 4, (uint32_t)v);
}

static inline uint16_t
sf_be_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
sf_be_get32(const uint8_t *p)
{
	return (uint32_t)sf_be_get16(p) << 16 | sf_be_get16(p + 2);
}

static inline uint64_t
sf_be_get64(const uint8_t *p)
{
	return (uint64_t)sf_be_get32(p) << 32 | sf_be_get32(p + 4);
}

#endif
