/*
 * hash: FNV-1a, 64 bits. Not cryptographic: it spreads ids over hash buckets
 * (emit) and writers (store), and makes the deterministic output ids of
 * workers/decision.c (two different bases give 128 bits).
 */
#ifndef RD_HASH_H
#define RD_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV1A_BASIS UINT64_C(0xcbf29ce484222325) /* the standard offset basis */

/* Continues hash h (start from HASH_FNV1A_BASIS, or another basis) over len bytes. */
static inline uint64_t hash_fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

#endif
